"""Content type and character set of a fetched page, and decoding its body safely.

Used by the link extractor (the fetch stage only looks at the media type).  The
charset comes, in this order of precedence, from a byte order mark, the HTTP
``Content-Type`` header, ``<meta charset>`` or ``<meta http-equiv=Content-Type>`` in
the first few KB of the body; ``decode_body`` then falls back to UTF-8 and finally
to a lossy decode, so it never raises whatever the server sent.
"""
import codecs
import re

#: How much of the body is searched for a ``<meta>`` charset declaration.
_PRESCAN_BYTES = 4096

_META_CHARSET = re.compile(rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([a-z0-9_:.+-]+)""", re.I)
_HTML_START = re.compile(rb"^\s*<(?:!doctype\s+html|html|head|body)[\s>]", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
#: How a body starting with a BOM is decoded (the BOM itself is dropped).
_BOM_CODECS = {"utf-8": "utf-8-sig", "utf-16-le": "utf-16", "utf-16-be": "utf-16"}
#: Labels browsers decode as windows-1252 (the WHATWG encoding standard).
_AS_CP1252 = {"iso8859-1", "ascii"}


def _media_type_and_charset(value):
    content_type, charset = "", ""
    for part in value.split(";"):
        part = part.strip()
        if part[:7].lower() == "charset":
            charset = part.partition("=")[2].strip().strip("\"'").lower()
        elif part and "=" not in part:
            content_type = part.lower()
    return content_type, charset


def extract_content_type_encoding(value):
    """``"text/html; charset=ISO-8859-1"`` -> ``("text/html", "iso-8859-1")``.

    Both parts are lower-cased; a missing part is ``""``.  Repeated headers, joined
    with commas as ``rep_header`` keeps them, count as browsers count them: the last
    media type wins, with its own charset or, if it repeats the type before it, that
    one's.
    """
    content_type, charset = "", ""
    for piece in (value or "").split(","):
        piece_type, piece_charset = _media_type_and_charset(piece)
        if piece_type and piece_type != content_type:
            content_type, charset = piece_type, piece_charset
        elif piece_charset:
            charset = piece_charset
    return content_type, charset


def _bom(body):
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    return None


def sniff_charset(body):
    """The charset named by a BOM or a ``<meta>`` tag near the start of ``body``, or ``""``."""
    if not body:
        return ""
    bom = _bom(body)
    if bom:
        return bom
    match = _META_CHARSET.search(body, 0, _PRESCAN_BYTES)
    return match.group(1).decode("ascii").lower() if match else ""


def get_content_type_encoding(curi):
    """``(content_type, charset)`` of a fetched CrawlUri; ``""`` where unknown.

    A response without a Content-Type header counts as ``text/html`` if its body
    starts like an HTML document, else as ``text/plain``.
    """
    header = curi.rep_header.get("Content-Type")
    content_type, charset = extract_content_type_encoding(header)
    body = curi.content_body or b""
    if not content_type:
        content_type = "text/html" if _HTML_START.match(body[:256].lstrip(codecs.BOM_UTF8)) \
            else "text/plain"
    bom = _bom(body)
    return content_type, bom or charset or sniff_charset(body)


def _codec(label):
    """The Python codec for a charset label, or ``None`` if Python does not know it."""
    if not label:
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in ("idna", "punycode"):
        return None  # base64, rot13, ...: not a character set
    return "cp1252" if info.name in _AS_CP1252 else info.name


def decode_body(body, charset=""):
    """Decode ``body`` as ``(text, codec)``; never raises.

    A BOM wins; then the declared ``charset``, then UTF-8, each tried strictly;
    if none fits, the declared charset (or windows-1252) with replacement characters.
    Latin-1 and ASCII labels mean windows-1252, as in browsers; a UTF-16/32 label
    without a BOM is ignored.
    """
    if not body:
        return "", _codec(charset) or "utf-8"
    bom = _bom(body)
    if bom:
        return body.decode(_BOM_CODECS[bom], "replace"), bom
    declared = _codec(charset)
    if declared and declared.startswith(("utf-16", "utf-32")):
        declared = None  # without a BOM such a label is a mistake (browsers use UTF-8)
    for codec in dict.fromkeys((declared, "utf-8")):
        if codec is None:
            continue
        try:
            return body.decode(codec), codec
        except (UnicodeError, LookupError):
            continue
    if declared:
        try:
            return body.decode(declared, "replace"), declared
        except (UnicodeError, LookupError):
            pass
    return body.decode("cp1252", "replace"), "cp1252"
