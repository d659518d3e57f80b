"""StripSessionIds: remove session-id parameters from extracted links.

Query parameters are removed by *name* (case-insensitive): ``jsessionid``,
``phpsessid``, ``aspsessionid`` (also ASP's ``ASPSESSIONIDxxxxxxxx`` form), ``sid``,
``sessionid`` and every name in ``REMOVE_QUERY_NAMES``.  Path parameters such as
``;jsessionid=...`` go too.  Other parameters keep their order and their exact
spelling; no empty ``&&`` or dangling ``?`` is left behind.
"""
from urllib.parse import unquote_plus

from spyder.core.constants import CURI_EXTRACTED_URLS
from spyder.processor.links import drop_query_params, rewrite_links

#: Parameter names that carry session ids.
SESSION_NAMES = ("jsessionid", "phpsessid", "aspsessionid", "sid", "sessionid")


class StripSessionIds:
    """Remove session ids (and REMOVE_QUERY_NAMES) from every extracted link."""

    def __init__(self, settings):
        self._names = frozenset(SESSION_NAMES) | {n.lower() for n in settings.REMOVE_QUERY_NAMES}

    def _unwanted(self, param):
        name = param.partition("=")[0]
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        name = name.strip().lower()
        return name in self._names or name.startswith("aspsessionid")

    def strip(self, url):
        """``url`` without session-id query and path parameters."""
        if "?" not in url and ";" not in url:
            return url
        rest, hashmark, fragment = url.partition("#")
        path, qmark, query = rest.partition("?")
        if ";" in path:
            segments = []
            for segment in path.split("/"):
                name, *params = segment.split(";")
                segments.append(";".join([name] + [p for p in params if not self._unwanted(p)]))
            path = "/".join(segments)
        return drop_query_params(path + qmark + query + hashmark + fragment, self._unwanted)

    def __call__(self, curi):
        raw = curi.optional_vars.get(CURI_EXTRACTED_URLS) or ""
        if "?" not in raw and ";" not in raw:
            return curi  # nothing to strip: not a link looked at (most pages)
        return rewrite_links(curi, self.strip)
