"""parse_sitemap's URL limit: a file of exactly the limit is whole, one more is cut."""
from spyder.processor.sitemaps import parse_sitemap

_XML = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        '%s</urlset>')


def _xml(n):
    return (_XML % "".join("<url><loc>http://a.test/%d</loc></url>" % i
                           for i in range(n))).encode()


def _text(n):
    return "".join("http://a.test/%d\n" % i for i in range(n)).encode()


def test_a_sitemap_of_exactly_the_limit_is_read_whole():
    for body in (_xml(3), _text(3)):
        sitemap = parse_sitemap(body, 1 << 20, 3)
        assert sitemap.urls == ["http://a.test/%d" % i for i in range(3)]
        assert not sitemap.cut


def test_a_sitemap_over_the_limit_is_cut_at_it():
    for body in (_xml(4), _text(4)):
        sitemap = parse_sitemap(body, 1 << 20, 3)
        assert sitemap.urls == ["http://a.test/%d" % i for i in range(3)]
        assert sitemap.cut
