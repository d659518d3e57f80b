"""The realistic benchmark's parts: the documentation site model (``benchmarks/docsite.py``),
the wget2 reference crawl (``wget2ref.py``) against a real nginx on 127.0.0.1, the
grouping of profiled stacks (``profilegroups.py``), the extract stage's page-by-page
output (``extractdump.py``) and the check of its guards on real pages
(``extractguards.py``)."""
import os
import pathlib
import shutil
import sys
import tempfile

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
sys.path.insert(0, BENCHMARKS)

import docsite  # noqa: E402
import extractdump  # noqa: E402
import nginxsite  # noqa: E402
import profilegroups  # noqa: E402
import wget2ref  # noqa: E402

_PAGE = ('<!DOCTYPE html><html><head><title>%s</title>'
         '<link rel="stylesheet" href="_static/site.css"></head>\n'
         '<body class="x">\n<a href="%s">next</a> <a href="#top">top</a> '
         '<a href="%s">search</a> <a href="https://www.python.org/">out</a>'
         '<img src="_static/logo.png"></body></html>\n')


def _doc_root(tmp_path):
    root = tmp_path / "html"
    (root / "library").mkdir(parents=True)
    (root / "_static").mkdir()
    (root / "_sources").mkdir()
    (root / "index.html").write_text(_PAGE % ("index", "library/os.html", "search.html"))
    (root / "library" / "os.html").write_text(_PAGE % ("os", "../index.html", "../search.html"))
    (root / "search.html").write_text(_PAGE % ("search", "index.html", "search.html"))
    (root / "_static" / "site.css").write_text("body {}\n")
    (root / "_static" / "logo.png").write_bytes(b"\x89PNG")
    (root / "_sources" / "index.rst.txt").write_text("index\n")
    return str(root)


def test_docsite_copies_pages_with_a_switcher_and_robots_txt(tmp_path):
    site = docsite.DocSite(3, 2, [40001, 40002, 40003], _doc_root(tmp_path))
    assert sorted(site.html) == ["index.html", "library/os.html", "search.html"]
    assert site.pages == 3 * 3 * 2 + 3
    out = tmp_path / "site"
    site.write(str(out))
    body = (out / "h1" / "v2" / "library" / "os.html").read_text()
    original = _PAGE % ("os", "../index.html", "../search.html")
    # the package's page, unchanged but for the switcher right after <body ...>
    switcher = site.switcher(1, "v2", "library/os.html").decode()
    assert body == original.replace('<body class="x">', '<body class="x">' + switcher, 1)
    assert '<a href="/v1/library/os.html">' in switcher
    assert 'href="http://127.0.0.1:40001/v2/library/os.html"' in switcher
    assert 'href="http://127.0.0.1:40003/v2/library/os.html"' in switcher
    assert "40002" not in switcher and "/v2/library/os.html\">v2" not in switcher
    robots = (out / "h0" / "robots.txt").read_text()
    assert "Disallow: /v1/search.html" in robots and "Disallow: /v2/_sources/" in robots
    assert not (out / "h0" / "v1" / "_sources").exists()
    assert (out / "h2" / "v1" / "_static" / "logo.png").read_bytes() == b"\x89PNG"
    assert 'href="/v1/index.html"' in (out / "h2" / "index.html").read_text()


@pytest.mark.timeout(60)
def test_wget2_crawls_the_pages_spyder_would_and_nothing_else(tmp_path):
    if shutil.which("wget2") is None or not (shutil.which("nginx") or
                                             os.access("/usr/sbin/nginx", os.X_OK)):
        pytest.skip("needs wget2 and nginx")
    # nginx's workers run as nobody when the tests run as root: a world-readable directory
    work = pathlib.Path(tempfile.mkdtemp(prefix="test-wget2ref-"))
    try:
        os.chmod(str(work), 0o755)
        site = docsite.DocSite(2, 1, nginxsite.free_ports(2), _doc_root(work))
        site.write(str(work / "site"))
        run = wget2ref.run(site, str(work / "site"), str(work / "run"),
                           nginxsite.find_nginx(), threads=2, timeout=30)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
    urls = set(run.pop("urls"))
    want = set()
    for host in range(2):
        want |= {site.url(host, "/"), site.url(host, "/v1/index.html"),
                 site.url(host, "/v1/library/os.html")}
    # the roots, the pages and their copies on the other host; no search.html
    # (robots.txt), no style sheet or image (page requisites), nothing off 127.0.0.1
    assert urls == want
    assert run["pages"] == len(want)
    assert run["statuses"] == {"200": len(want) + 2}
    assert run["robots_requests"] == 2
    assert run["fetched_twice"] == 0
    assert run["cpu_s"] >= 0 and run["pages_per_s"] > 0


def test_profile_groups_put_each_stack_in_the_innermost_kind_of_work():
    loop = ["main (spyder/masterprocess.py:10)",
            "BaseEventLoop._run_once (asyncio/base_events.py:1)",
            "ZmqChannel._service (spyder/core/wire/zmqchannel.py:124)",
            "ZmqMaster._receive (spyder/core/master/zmqmaster.py:1)"]
    admit = loop + ["Intake.add_links (spyder/core/frontier/intake.py:1)",
                    "SQLiteStore.admit (spyder/core/store/sqlite.py:1)",
                    "SQLiteStore._store_new (spyder/core/store/sqlite.py:2)"]
    assert profilegroups.group_stack(admit, "master") == "SQLite: seen test (admit)"
    record = loop + ["Outcomes.record (spyder/core/frontier/outcomes.py:1)",
                     "SQLiteStore.record (spyder/core/store/sqlite.py:562)"]
    assert profilegroups.group_stack(record, "master") == "SQLite: record, queues, commit"
    # the channel is on every stack: only its own time counts as the channel's
    assert profilegroups.group_stack(loop, "master") == "leases, registry, worker channel"
    assert profilegroups.group_stack(loop[:3], "master") == "ZeroMQ channel (Python side)"
    flatten = ["main (spyder/workerprocess.py:122)",
               "DefaultHtmlLinkExtractor.__call__ (spyder/processor/htmllinkextractor.py:140)",
               "flatten (spyder/processor/htmllinkextractor.py:98)",
               "_subx.<locals>.filter (re/__init__.py:321)"]
    assert profilegroups.group_stack(flatten, "worker") == "link extraction: flatten (regex)"
    idle = ["main (spyder/workerprocess.py:122)",
            "BaseEventLoop._run_once (asyncio/base_events.py:1845)"]
    assert profilegroups.group_stack(idle, "worker") == "tornado/asyncio loop overhead"


def test_profile_costs_weigh_each_thread_by_its_own_cpu(tmp_path):
    path = tmp_path / "worker.txt"
    path.write_text(
        "main (spyder/workerprocess.py:1);CurlClient._act (spyder/processor/curlclient.py:350) 30\n"
        "main (spyder/workerprocess.py:1);EpollSelector.select (selectors.py:1) 500\n"
        "Thread._bootstrap (threading.py:988);_worker (concurrent/futures/thread.py:69) 70\n"
        "Thread._bootstrap (threading.py:988);_worker (concurrent/futures/thread.py:69);"
        "flatten (spyder/processor/htmllinkextractor.py:98) 10\n")
    result = profilegroups.costs(str(path), "worker", {"main": 1.0, "thread": 2.0}, 1000,
                                 {"ZMQbg/IO/0": 0.5})
    micros = {(kind, group): us for kind, group, _, us in result["groups"]}
    assert result["left_out"] == 570
    assert micros["main", "libcurl and its callbacks"] == pytest.approx(1000.0)
    assert micros["thread", "link extraction: flatten (regex)"] == pytest.approx(2000.0)
    assert micros["unsampled", "ZMQbg/IO/0"] == pytest.approx(500.0)
    assert "| link extraction: flatten (regex) | 2000 |" in profilegroups.table("w", result)


def test_extractdump_keeps_each_pages_links_and_tells_the_pages_that_differ(tmp_path):
    pages = extractdump.site_pages(_doc_root(tmp_path))
    assert sorted(url for url, _ in pages) == [
        "http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1/index.html",
        "http://127.0.0.1:8000/v1/library/os.html", "http://127.0.0.1:8000/v1/search.html"]
    results, micros = extractdump.run(pages, "text/html", rounds=2)
    links = results["http://127.0.0.1:8000/v1/library/os.html"]["extracted_urls"].split("\n")
    assert "http://127.0.0.1:8000/v1/index.html" in links          # ../index.html
    assert "http://127.0.0.1:8000/v1/library/os.html" in links     # #top, fragment cut
    assert "http://127.0.0.1:8001/v1/library/os.html" in links     # the switcher
    assert set(micros) == {"all", "inline", "off loop"}
    # every test page is below EXTRACT_INLINE_MAX_SIZE: all of them inline, none off the loop
    assert micros["off loop"] == 0 and micros["inline"] == micros["all"]
    changed = dict(results, **{"http://127.0.0.1:8000/": {}})
    assert extractdump.compare(results, results) == []
    assert extractdump.compare(results, changed) == ["http://127.0.0.1:8000/"]


def test_extractguards_reports_pages_whose_links_the_guards_change(tmp_path, capsys,
                                                                   monkeypatch):
    """``extractguards.py`` runs the extractor with and without its guards over HTML
    files: a page of every kind gives the same links (a flattened one with a commented-out
    tag and a stray quote, an SVG link), and a page the extractor raised on is reported
    with a failing exit status."""
    import extractguards
    pages = {
        "small.html": "<a href='/a'>a</a><svg><a xlink:href='/svg'>s</a></svg>",
        "big.html": ("<p>" + "<span class=x>t</span>" * 3500 + "<!--<br/--><img alt=\"x\"\">"
                     "<a href='/after'>after</a>"),
        "sub/defused.htm": "<b id=1>" * 700 + "<a href='/d'>d</a>",
    }
    for name, page in pages.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(page)
    (tmp_path / "notes.txt").write_text("<a href='/not-html'>")
    assert extractguards.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 pages (as is 1, defused 1, flattened 1): 0 raised, "
                          "0 give other links")
    assert extractguards.main([str(tmp_path), "--force", "flatten"]) == 0
    assert "every one flattened: 0 raised, 0 give other links" in capsys.readouterr().out

    def raising(extractor, curi):
        raise KeyError("href")

    monkeypatch.setattr(extractguards.htmllinkextractor.DefaultHtmlLinkExtractor, "__call__",
                        raising)
    assert extractguards.main([str(tmp_path / "small.html")]) == 1
    assert "raised (unguarded): %s: KeyError('href')" % (tmp_path / "small.html") in (
        capsys.readouterr().out)
