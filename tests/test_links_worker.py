"""Odd and broken hrefs through a real ``spyder worker`` subprocess (fed by a fake
master, fetching a real tornado page on 127.0.0.1): the page is a 200, not a 710; the
good links and the odd ones a browser can follow are extracted as a browser reads
them; the ones that do not parse are dropped and counted in ``links_dropped``."""
import pytest

from spyder.core.crawluri import CrawlUri
from test_worker_process import master  # noqa: F401 -- the fake master fixture
from test_worker_process import WorkerProcess, registered
from test_worker_support import ThreadedSite

pytestmark = pytest.mark.timeout(90)

#: hrefs that made link resolution raise on the whole page, or that were extracted
#: although no browser can follow them
BROKEN = ["javascript://[:1]", "sc://a[b/", "file://[x]/", "http://a b/",
          "http://192.168.0.257/", "https://%zz/", "http://&#0;x/", "http://a:99999/",
          "\\\\[]"]
#: hrefs that were resolved unlike a browser, with what a browser makes of them
ODD = [("ht tp://x/", "/raw/ht%20tp://x/"), ("http://0x7f.1:{port}/hex", "/hex"),
       ("http://127.0.0.1.:{port}/dot", "/dot"), ("///127.0.0.1:{port}/triple", "/triple"),
       ("\\\\127.0.0.1:{port}\\back", "/back")]
IDN = ("http://fa\u00df.example/", "http://xn--fa-hia.example/")
GOOD = [("/good/one", "/good/one"), ("two.html", "/raw/two.html"),
        ("http://127.0.0.1:{port}/good/%3A%2F", "/good/%3A%2F")]


@pytest.fixture
def site(tmp_path):
    pages = {"odd": None}  # filled in once the port is known
    served = ThreadedSite(tmp_path, pages)
    hrefs = BROKEN + [href for href, _ in ODD + GOOD] + [IDN[0]]
    body = "".join("<a href='%s'>link</a>" % href.format(port=served.port) for href in hrefs)
    pages["odd"] = ("text/html; charset=utf-8", body.encode("utf-8"))
    yield served
    served.close()


def test_a_page_full_of_bad_hrefs_still_gives_its_good_links(tmp_path, socket_dir, site,
                                                            master):  # noqa: F811
    worker = WorkerProcess(tmp_path, socket_dir)
    try:
        registered(master)
        url = site.url("/raw/odd")
        master.send(CrawlUri(url=url, effective_url=url))
        curi = master.results_by_url(1)[url].curi
    finally:
        worker.kill()
    assert curi.status_code == 200, curi.optional_vars.get("error")
    assert curi.extracted_urls == [site.url(path) for _, path in ODD + GOOD] + [IDN[1]]
    assert curi.optional_vars["links_dropped"] == str(len(BROKEN))
