"""DefaultHtmlLinkExtractor: the links of an HTML page, found with a real HTML parser.

Runs in the worker's extract stage after the limiter.  For an HTML or XHTML
response (see ``HTML_CONTENT_TYPES``) it decodes the body (``encoding.py``: BOM,
header, ``<meta>``; never raises), parses it with selectolax (Lexbor, an HTML5
parser; a body that decoded as UTF-8 without a BOM or a replacement is given to it as
the bytes it is, which Lexbor reads as UTF-8: the text would be encoded back to the same
bytes) and collects, in document order:

* ``<a href>`` and ``<area href>`` -- except ``rel="nofollow"`` ones when
  ``OBEY_NOFOLLOW`` is on (an SVG ``<a href>`` too, not an SVG 1.1 ``xlink:href``);
* ``<frame src>`` and ``<iframe src>``;
* ``<link href>`` with ``rel`` alternate, next or prev;
* the target of ``<meta http-equiv="refresh" content="5; url=...">``.

Entities are decoded by the parser; every value is resolved as browsers do
(``links.LinkResolver``: the WHATWG URL Standard, the query in the page's charset)
against the first ``<base href>`` (itself resolved against the page's URL; ignored
if it does not parse) or else the URL the page was fetched from.  Only http(s)
links are kept (``javascript:``, ``mailto:``, ``data:``, ``tel:`` ... are dropped by
scheme); a value that does not parse is dropped and counted in
``optional_vars["links_dropped"]``, never failing the page.  A page carrying
``<meta name="robots" content="nofollow">`` (or ``none``) yields no links and is marked
``optional_vars["nofollow"] = "1"`` so the master adds none either; ``noindex`` (or
``none``) marks it ``optional_vars["noindex"] = "1"`` (``robotstag.py``, which also
handles the ``X-Robots-Tag`` header).  The links are appended to
``optional_vars["extracted_urls"]`` without duplicates.

Budget: at most ``LINKS_MAX_PER_PAGE`` link values are taken from one page (the
rest are dropped and the result marked ``optional_vars["links_truncated"] = "1"``),
so resolving them is bounded; a large page is parsed only up to the tag that could
carry the link after the first one past the cap, so the parser's tree and the
selector's node list (built in one C call that holds the GIL: 0.25 s for 200,000
links) stay bounded too (a ``<meta name=robots>`` after that point is not seen).  A
page cut there is marked truncated whatever it gave: tags that carry no link (an
``<a>`` without ``href``, a style sheet's ``<link>``) count towards the cut, so it may
give a few links fewer than the cap.
Lexbor builds what the HTML standard says, and two of its rules cost more than linear
time on hostile markup; both are bounded by the number of tags (``<`` characters):

* *Formatting elements are cloned.*  An unclosed ``<b>``, ``<i>``, ``<code>``, ``<font>``
  ... stays in the "list of active formatting elements", and after an end tag has popped
  it every run of text *reconstructs* it: a clone per element in the list, at every text.
  2,000 distinct ``<b id=N>`` then 2,000 ``<p>x`` (a 28 KB page) make four million
  elements: 1.2 s and 1.4 GB.  So a page of more than ``DEFUSE_MIN_TAGS`` (600) ``<`` has
  its formatting start tags *defused* first: one linear pass puts ``x-`` after their
  ``<`` (``<x-b id=1>``), an ordinary element the parser never clones, whose attributes
  are read as before (a ``<script>`` inside a quoted value stays there: made text, it
  would swallow the rest of the page); their end tags are left (with no element of that
  name open they are ignored).  Inside ``<svg>`` or ``<math>`` a formatting tag breaks
  out to HTML and ``<x-b>`` does not, so what follows it there stays foreign content
  (where a ``<style>`` or ``<textarea>`` reads markup): the one place where defusing
  can change a page's links.  ``<a>`` is kept: it carries links, and a new ``<a>``
  closes the open one, so the list holds one at most (past its last table cell,
  template or object).  Below 600 tags the worst is ~20 ms and ~30 MB.
* *The stack of open elements is searched.*  Each ``<div>``, ``<ul>``, ``<section>`` ...
  start tag searches it (6,000 nested ``<div>`` take 23 ms, 20,000 0.7 s, 200,000 two
  minutes), and ``<a>`` inside ``<template>`` runs the adoption agency over a growing
  list.  So a page of more than ``FLATTEN_MIN_TAGS`` ``<`` (the most tags it can have) is
  *flattened* instead, by two linear regular-expression passes: every tag but those that
  carry links or change how the rest is read (``a area base link meta frame frameset
  iframe html head body script style textarea title xmp noembed noframes plaintext
  template select``) is removed (a run of them, with the whitespace between,
  becomes one space, so that nothing on either side joins into a new token), and every
  ``<a`` is preceded by a ``</a>`` (the page's own ``</a>`` dropped), so no ``<a>`` is
  open when the next one starts, no element nests deeply and parsing is linear (about
  0.1 s per MB at worst).

A tag's name ends where the HTML tokenizer ends it (tab, line feed, form feed, carriage
return, space, ``/``, ``>``; not at a vertical tab or a no-break space, which ``re``'s
whitespace class takes: ``<a`` + U+00A0 + ``x>`` is an element of another name, which
nests) and case is folded in ASCII only, so the passes find the same tags in the text
and in its UTF-8 bytes; a UTF-8 page is defused or flattened as bytes.  A removed tag is
read as the tokenizer reads it: a quote opens a value only after ``=`` (``alt="x""`` and
``title='it's'`` end where browsers end them), ``<`` is a character of the tag, and a
tag in a comment (``<!--<br/-->``) leaves the comment's end in place -- each of these
once made the pass take more than the tag and lose the links after it, or let
``<div x<>`` nest.  The passes are written for ``re``'s speed: the names as prefix trees,
the attributes as an unrolled, possessive loop, and the insertions as literal
replacements (a group reference costs a Python call per match on 3.11): ~10 ms per MB of
real documentation pages to flatten, ~2.5 ms to defuse.  The links found are the same but
for contexts that were removed (a ``<frameset>`` after tags that would have made the
parser ignore it takes the page; a ``<script>``, ``<style>``, ``<textarea>`` ... left
open inside ``<svg>`` or ``<math>``, where it reads markup, reads the rest of the page
as text once they are gone), for a tag's text inside an attribute value (an
``href`` holding a literal ``<b>``, which browsers would send as ``%3Cb%3E``), and for a
tag that starts inside another: the pass ends the outer one before an end tag's ``</``
(in script text ``i<n;`` must not take the ``</script>``).  Pages above
``EXTRACT_INLINE_MAX_SIZE`` bytes are processed in the worker's extract thread, off its
event loop (``spyder.core.worker.zmqworker.OffLoop``).
"""
import codecs
import re

from selectolax.lexbor import LexborCSSSelector, LexborHTMLParser

from spyder.core.constants import (CURI_EXTRACTION_FINISHED, CURI_LINKS_TRUNCATED,
                                   CURI_NOFOLLOW, CURI_OPTIONAL_TRUE)
from spyder.processor.encoding import decode_body, get_content_type_encoding
from spyder.processor.links import LinkResolver, add_links, count_dropped, document_base
from spyder.processor.robotstag import apply_directives, meta_directives

#: Media types whose bodies are parsed for links.
HTML_CONTENT_TYPES = frozenset([
    "text/html", "application/xhtml+xml", "application/xhtml", "text/vnd.wap.wml",
    "application/vnd.wap.wml", "application/vnd.wap.xhtml+xml"])

#: Every element that can contribute a link (or changes how links are read).
_SELECTOR = ("a[href], area[href], frame[src], iframe[src], link[href], base[href], "
             "meta[http-equiv], meta[name]")
_LINK_RELS = frozenset(["alternate", "next", "prev"])
_UTF8_BOM = codecs.BOM_UTF8

#: Pages with more ``<`` than this have their formatting start tags defused before they
#: are parsed: the clones of formatting elements grow with the square of the tags, and
#: below this they cost ~20 ms and ~30 MB at worst (module docstring).
DEFUSE_MIN_TAGS = 600
#: Pages with more ``<`` than this are flattened before they are parsed: the parser's
#: worst case grows with the square of the tags, and below this it is ~25-35 ms (6,000
#: nested ``<div>``; 3,000 nested elements then 3,000 ``<option>``; a text-heavy page of
#: any size is parsed as it is, in linear time).
FLATTEN_MIN_TAGS = 6000
#: The formatting elements of the HTML standard but ``a``, as a prefix tree (b big code
#: em font i nobr s small strike strong tt u).
_FORMATTING_TAGS = "b(?:ig)?|code|em|font|i|nobr|s(?:mall|trike|trong)?|tt|u"
#: Elements that carry links or change how what follows them is read, as a prefix tree
#: (a area base body frame frameset head html iframe link meta noembed noframes
#: plaintext script select style template textarea title xmp).  Not ``noscript``: the
#: parser runs without scripting, so its content is markup like any other, and kept it
#: nested (``<select><noscript>`` x 40,000: 0.4 s; ``<noscript><a>``, quadratic).
_KEPT_TAGS = ("a(?:rea)?|b(?:ase|ody)|frame(?:set)?|h(?:tml|ead)|iframe|link|meta|"
              "no(?:embed|frames)|plaintext|s(?:cript|tyle|elect)|"
              "t(?:extarea|itle|emplate)|xmp")
#: What ends a tag's name for the HTML tokenizer: its whitespace (tab, line feed, form
#: feed, carriage return, space), ``/`` or ``>`` -- not ``\s``, which also takes ``\v``,
#: ``\xa0`` ...: ``<a\xa0x>`` is an element named ``a\xa0x`` to the parser, and such
#: elements nest (20,000 of them: 1 s), so the flattening must remove them.
_NAME_END = r"[\t\n\f\r />]"
#: A tag's name and attributes as the tokenizer reads them: a quote opens a value only
#: after ``=`` (the stray quotes of ``alt="x""`` or ``title='it's'`` are characters of a
#: name), a quoted value may hold ``<`` and ``>``, and ``<`` is a character like another
#: (``<div x<>`` and ``<x<a href=/y>`` are one element each) -- but for the ``<`` of an
#: end tag (below).  A ``-`` is taken only where it does not begin ``-->`` or ``--!>``:
#: a tag in a comment (``<!--<br/-->``) must leave the comment's end where it is.
#: Possessive: there is only one way to match (a run stops at ``=``, a quote, ``<``,
#: ``>`` or ``-``), so nothing is saved for backtracking.
_ATTRS = (r"""[^"'=<>-]*+(?:(?:=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+')?+|["']|<(?!/[A-Za-z])"""
          r"""|-(?!-!?>))[^"'=<>-]*+)*+""")
#: Where a removed tag ends: at its ``>``; before a comment's end; before an end tag (to
#: the tokenizer its ``</`` is part of this tag, but the pass also reads script text,
#: where ``i<n;`` must not take the ``</script>`` after it); or at the end of the step
#: (the tokenizer takes an unclosed tag to the end of the page, and no attempt fails
#: after a long scan, which would make the pass quadratic).
_TAG_END = r"(?:>|(?=--!?>|</[A-Za-z])|\Z)"
_OTHER_TAG = r"</?(?!(?:%s)%s)[A-Za-z]%s%s|</a[\t\n\f\r ]*>" % (
    _KEPT_TAGS, _NAME_END, _ATTRS, _TAG_END)
#: Consecutive removed tags, with the whitespace between them, as one match: the
#: removal costs ~10 % less than one match per tag (whitespace between tags changes
#: nothing the parser builds from what is left).
_OTHER_TAG_RUN = r"(?:%s)(?:[\t\n\f\r ]*+(?:%s))*+" % (_OTHER_TAG, _OTHER_TAG)
#: Where an ``<a`` start tag begins.
_A_START = r"<(?=[aA]%s)" % _NAME_END
#: The start of a tag that may carry a link.
_LINK_TAG = r"<(?:a|area|i?frame|link)%s" % _NAME_END
#: Where a formatting element's start tag begins (the class first: most ``<`` are
#: turned down by one test, a third less time on documentation pages).
_FORMATTING_START = r"<(?=[bcefinstu])(?=(?:%s)%s)" % (_FORMATTING_TAGS, _NAME_END)


def _literals(text):
    """``text`` for str and for bytes (UTF-8) markup."""
    return {str: text, bytes: text.encode()}


def _patterns(pattern):
    """``pattern`` compiled for str and for bytes (UTF-8) markup, matching the same
    places: names are ASCII to the tokenizer, so case is ASCII-only (re.ASCII; in
    Unicode mode ``(?i)s`` also matches ``ſ``)."""
    flags = re.IGNORECASE | re.ASCII
    return {kind: re.compile(text, flags) for kind, text in _literals(pattern).items()}


_OTHER_TAGS, _A_STARTS, _LINK_TAGS, _FORMATTING_STARTS = map(
    _patterns, (_OTHER_TAG_RUN, _A_START, _LINK_TAG, _FORMATTING_START))

#: A run of removed tags becomes ``_REMOVED``, a space, so that what was on either side
#: does not join into something else (``<!--`` and ``>`` into the comment ``<!-->``,
#: ``<`` and ``a href`` into a tag); whitespace changes nothing the parser builds.
_A_CLOSED, _DEFUSED, _REMOVED, _LT, _LINE_LT = map(_literals, ("</a><", "<x-", " ", "<",
                                                              "\n<"))


def _cut_after_links(text, most):
    """The position in ``text`` (str, or UTF-8 bytes) where the tag that could carry link
    number ``most + 2`` starts, or ``None`` if there are not that many: the rest of a page
    cannot add a link under the cap, and the parser need not build it (nor the selector
    list it)."""
    for count, match in enumerate(_LINK_TAGS[type(text)].finditer(text)):
        if count > most:
            return match.start()
    return None


#: Characters defused or flattened by one regular-expression call: ``re`` holds the GIL,
#: and the worker's loop must get it back every few milliseconds while its extract
#: thread works.
_STEP = 32 * 1024


def _in_steps(text, rewrite):
    """``rewrite`` applied to ``text`` (str or bytes) in steps that end before a ``<``,
    one that starts a line where the step's second half has one: a step that ends inside
    a tag (in a quoted value holding ``<``) leaves the rest of that tag to be read as
    markup, and a line seldom starts there."""
    kind = type(text)
    lt, line = _LT[kind], _LINE_LT[kind]
    out = []
    start, size = 0, len(text)
    while start < size:
        end = start + _STEP
        if end < size:
            cut = text.rfind(line, start + _STEP // 2, end) + 1  # (0: there is none)
            if not cut:
                cut = text.rfind(lt, start + 1, end)
            if cut > start:
                end = cut
        out.append(rewrite(text[start:end]))
        start = end
    return kind().join(out)


def flatten(text):
    """``text`` (str, or UTF-8 bytes: the same tags are found in either) without the tags
    of elements that neither carry links nor change how the rest is read, every ``<a>``
    closed before the next one (see the module docstring)."""
    kind = type(text)
    other, removed = _OTHER_TAGS[kind], _REMOVED[kind]
    a_start, closed = _A_STARTS[kind], _A_CLOSED[kind]
    return _in_steps(text, lambda step: a_start.sub(closed, other.sub(removed, step)))


def defuse(text):
    """``text`` (str, or UTF-8 bytes) with ``x-`` after the ``<`` of every formatting
    element's start tag but ``<a>``'s (``<x-b>``: an ordinary element), so the parser
    has no formatting element to clone (see the module docstring)."""
    kind = type(text)
    sub, defused = _FORMATTING_STARTS[kind].sub, _DEFUSED[kind]
    return _in_steps(text, lambda step: sub(defused, step))


def parser_input(body, text, codec):
    """What the parser is given for ``body`` decoded as ``text`` with ``codec``: a UTF-8
    body as it is (the text would be encoded back to the same bytes: decoding it only told
    that it is UTF-8), else the text (a body with a BOM, another charset, or one that was
    not UTF-8 after all and was decoded with replacement characters)."""
    if codec == "utf-8" and not body.startswith(_UTF8_BOM) and "\ufffd" not in text:
        return body
    return text


def parser_markup(markup, most):
    """``(markup as the parser gets it, whether it was cut)``: as it is up to
    ``DEFUSE_MIN_TAGS`` tags, defused up to ``FLATTEN_MIN_TAGS``, else flattened and then
    cut where the tag that could carry link number ``most + 2`` starts (a page has no
    more links than tags; a cut page has links past the cap)."""
    tags = markup.count(_LT[type(markup)])  # (the most tags it can have)
    if tags <= DEFUSE_MIN_TAGS:
        return markup, False
    if tags <= FLATTEN_MIN_TAGS:
        return defuse(markup), False
    markup = flatten(markup)
    cut = _cut_after_links(markup, most) if tags > most + 1 else None
    return (markup, False) if cut is None else (markup[:cut], True)


_REFRESH = re.compile(r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(["']?)(.+?)\1\s*$""",
                      re.IGNORECASE | re.DOTALL)


def _tokens(value):
    return set(value.lower().split()) if value else set()


def meta_refresh_url(content):
    """The URL part of a meta refresh ``content`` (``"5; url=/next"`` -> ``"/next"``)."""
    match = _REFRESH.match(content or "")
    if not match:
        return None
    url = match.group(2).strip()
    return url if url and not url.replace(".", "").isdigit() else None


class DefaultHtmlLinkExtractor:
    """Extract the links of HTML pages into ``optional_vars["extracted_urls"]``."""

    def __init__(self, settings):
        self._obey_nofollow = settings.OBEY_NOFOLLOW
        self._max_links = int(settings.LINKS_MAX_PER_PAGE)
        # one selector engine for every page: ``tree.css`` would set one up per page,
        # which costs more than the query
        self._selector = LexborCSSSelector()

    def __call__(self, curi):
        if (not curi.content_body
                or curi.optional_vars.get(CURI_EXTRACTION_FINISHED) == CURI_OPTIONAL_TRUE):
            return curi
        content_type, charset = get_content_type_encoding(curi)
        if content_type not in HTML_CONTENT_TYPES:
            return curi
        text, codec = decode_body(curi.content_body, charset)
        markup, cut = parser_markup(parser_input(curi.content_body, text, codec),
                                    self._max_links)
        found = self._links(LexborHTMLParser(markup), curi.effective_url or curi.url, codec,
                            curi.optional_vars)
        if found is None:
            curi.optional_vars[CURI_NOFOLLOW] = CURI_OPTIONAL_TRUE
        else:
            base, values = found
            if cut or len(values) > self._max_links:
                del values[self._max_links:]
                curi.optional_vars[CURI_LINKS_TRUNCATED] = CURI_OPTIONAL_TRUE
            resolve = LinkResolver(base, codec)
            add_links(curi, resolve.links(values))
            count_dropped(curi, resolve)
        return curi

    def _links(self, tree, base, codec, optional_vars):
        """``(base URL, link values)`` of ``tree``, or ``None`` when the page says nofollow
        (its robots directives are marked in ``optional_vars``)."""
        found = []
        obey = self._obey_nofollow
        base_seen = False
        root = tree.root
        most = self._max_links  # one more is kept: it tells that the page had more
        for node in self._selector.find(_SELECTOR, root) if root is not None else ():
            tag = node.tag
            if len(found) > most and tag != "meta" and tag != "base":
                continue  # enough links: only the page's robots directives still count
            # (in <svg>, the selector takes ``xlink:href`` for ``[href]``, and the
            # attributes name it so: such an SVG 1.1 link or base is passed over)
            attrs = node.attributes
            if tag == "a" or tag == "area":
                if "href" not in attrs or (obey and "rel" in attrs
                                           and "nofollow" in _tokens(attrs["rel"])):
                    continue
                found.append(attrs["href"])
            elif tag == "iframe" or tag == "frame":
                found.append(attrs.get("src"))
            elif tag == "link":
                if _tokens(attrs.get("rel")) & _LINK_RELS:
                    found.append(attrs.get("href"))
            elif tag == "base":
                if not base_seen and "href" in attrs:
                    base = document_base(base, attrs["href"] or "", codec)
                    base_seen = True
            elif (attrs.get("http-equiv") or "").lower() == "refresh":
                found.append(meta_refresh_url(attrs.get("content")))
            elif ((attrs.get("name") or "").lower() == "robots"
                  and apply_directives(optional_vars, meta_directives(attrs.get("content")),
                                       obey)):
                return None
        return base, [value for value in found if value]
