"""robots.txt: fetched through the normal path, parsed in the master, enforced before dispatch."""
import pytest

from spyder.core import constants as C
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.frontiers import MultipleHostFrontier, SingleHostFrontier
from spyder.core.frontier.robots import RobotsRules, product_token
from spyder.core.store.protocol import RobotsRow
from test_frontier_support import store_kinds, Clock, RecordingSink, Site, crawl, deliver, drain, make_settings


@pytest.fixture(autouse=True, params=["sqlite", "memory", "redis"])
def store_kind(request, monkeypatch):
    """Every test here runs on both frontier stores (``test_frontier_support.store_kinds``)."""
    return store_kinds(request, monkeypatch)

ROBOTS = "http://a.test/robots.txt"


def robots_frontier(tmp_path, clock=None, cls=MultipleHostFrontier, **overrides):
    clock = clock or Clock()
    overrides.setdefault("ROBOTSTXT_OBEY", True)
    settings = make_settings(tmp_path, **overrides)
    return cls(settings, clock=clock), clock


def page(body):
    return (200, (), {"Content-Type": "text/plain"}, body.encode())


@pytest.mark.parametrize("user_agent,token", [
    ("Mozilla/5.0 (compatible; spyder/0.3; +https://github.com/retresco/spyder)", "spyder"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
    ("MyCrawler/1.0 (+http://example.com/bot)", "MyCrawler"),
    ("plainname", "plainname"),
])
def test_product_token(user_agent, token):
    assert product_token(user_agent) == token


def test_rules():
    rules = RobotsRules("User-agent: spyder\nDisallow: /x\nRequest-rate: 1/20s\n"
                        "Crawl-delay: 3\nSitemap: http://a.test/s.xml\n", "spyder", 10.0)
    assert not rules.allowed("http://a.test/x/1") and rules.allowed("http://a.test/y")
    assert rules.delay == 10.0  # 20 s per request, capped
    assert rules.sitemaps == ["http://a.test/s.xml"]
    assert RobotsRules("", "spyder", 10.0).allowed("http://a.test/x")


@pytest.mark.parametrize("cls", [SingleHostFrontier, MultipleHostFrontier])
def test_robots_txt_comes_first_and_disallowed_urls_are_dropped(tmp_path, cls):
    frontier, clock = robots_frontier(tmp_path, cls=cls)
    sink = RecordingSink()
    frontier.add_sink(sink)
    site = Site({ROBOTS: page("User-agent: *\nDisallow: /private\n"),
                 "http://a.test/": (200, ["http://a.test/private/y", "http://a.test/public"]),
                 "http://a.test/public": (200,)})
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    frontier.add_uri(CrawlUri(url="http://a.test/private/x"))
    trace = crawl(frontier, clock, site)
    first = trace.dispatched[0][1]
    assert (first.url, first.optional_vars, first.depth) == (
        ROBOTS, {C.CURI_ROBOTS_FETCH: C.CURI_OPTIONAL_TRUE}, 0)
    assert trace.urls == [ROBOTS, "http://a.test/", "http://a.test/public"]
    stats = frontier.stats()
    assert stats["robots_disallowed"] == 2 and stats["known"] == 4
    assert frontier.crawl_done()
    assert sorted(url for _, url, _ in sink.calls) == ["http://a.test/", "http://a.test/public"]
    frontier.close()


def test_a_long_run_of_disallowed_urls_is_dropped_in_slices(tmp_path):
    frontier, clock = robots_frontier(tmp_path, FRONTIER_CHECKPOINTING=100000)
    for i in range(2500):
        frontier.add_uri(CrawlUri(url="http://a.test/private/%d" % i))
    frontier.add_uri(CrawlUri(url="http://a.test/public"))
    deliver(frontier, frontier.get_next(), 200, body=b"User-agent: *\nDisallow: /private\n")
    assert drain(frontier) == []  # one call drops no more than a slice
    assert frontier.stats()["robots_disallowed"] == 1000
    assert frontier.next_due() <= clock.t + 0.01
    trace = crawl(frontier, clock, Site({"http://a.test/public": (200,)}))
    assert trace.urls == ["http://a.test/public"]
    assert frontier.stats()["robots_disallowed"] == 2500 and frontier.crawl_done()
    frontier.close()


def test_the_user_agent_product_token_is_matched(tmp_path):
    rules = page("User-agent: spyder\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    for user_agent, expected in (("Mozilla/5.0 (compatible; spyder/0.3)", [ROBOTS]),
                                 ("OtherBot/1.0", [ROBOTS, "http://a.test/"])):
        path = tmp_path / user_agent.split("/")[0]
        path.mkdir()
        frontier, clock = robots_frontier(path, USER_AGENT=user_agent)
        frontier.add_uri(CrawlUri(url="http://a.test/"))
        trace = crawl(frontier, clock, Site({ROBOTS: rules, "http://a.test/": (200,)}))
        assert trace.urls == expected
        frontier.close()


def test_crawl_delay_is_the_hosts_minimum_delay_within_the_cap(tmp_path):
    for delay, cap, expected in ((7, 300.0, 7.0), (1000, 30.0, 30.0)):
        path = tmp_path / str(delay)
        path.mkdir()
        frontier, clock = robots_frontier(path, FRONTIER_MAX_CRAWL_DELAY=cap)
        urls = ["http://a.test/%d" % i for i in range(3)]
        for url in urls:
            frontier.add_uri(CrawlUri(url=url))
        site = Site(dict({ROBOTS: page("User-agent: *\nCrawl-delay: %d\n" % delay)},
                         **{url: (200,) for url in urls}))
        trace = crawl(frontier, clock, site, slots=5)
        starts = [t for t, _ in trace.dispatched]
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert gaps == [expected] * 3
        frontier.close()


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_4xx_means_allow_all(tmp_path, status):
    frontier, clock = robots_frontier(tmp_path)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    trace = crawl(frontier, clock, Site({ROBOTS: (status,), "http://a.test/": (200,)}))
    assert trace.urls == [ROBOTS, "http://a.test/"]
    frontier.close()


@pytest.mark.parametrize("status", [500, 503, 599, 429])
def test_5xx_and_network_errors_hold_the_host_and_retry(tmp_path, status):
    frontier, clock = robots_frontier(tmp_path, RETRY_BACKOFF=10.0, MAX_RETRIES=3)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    answers = [(status,), (status,), page("User-agent: *\nDisallow:\n")]
    site = Site({ROBOTS: lambda curi: answers.pop(0), "http://a.test/": (200,)})
    start = clock.t
    trace = crawl(frontier, clock, site)
    assert trace.urls == [ROBOTS, ROBOTS, ROBOTS, "http://a.test/"]
    assert [t - start for t, _ in trace.dispatched] == [0.0, 10.0, 30.0, 30.0]
    assert [curi.attempt for _, curi in trace.dispatched[:3]] == [0, 1, 2]
    frontier.close()


def test_robots_retry_after_is_honoured(tmp_path):
    frontier, clock = robots_frontier(tmp_path, RETRY_BACKOFF=10.0, FRONTIER_CHECKPOINTING=1)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    deliver(frontier, frontier.get_next(), 503, headers={"Retry-After": "600"})
    assert drain(frontier) == [] and not frontier.crawl_done()
    assert frontier.next_due() == clock.t + 600.0
    frontier.close()


def test_a_host_waiting_long_for_its_robots_retry_gives_up_its_active_slot(tmp_path):
    frontier, clock = robots_frontier(tmp_path, RETRY_BACKOFF=600.0, MAX_RETRIES=1,
                                      FRONTIER_ACTIVE_QUEUES=1,
                                      QUEUE_SELECTOR_CLASS="test_frontier.FirstQueueSelector")
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    frontier.add_uri(CrawlUri(url="http://b.test/"))
    answers = [(503,), page("")]
    site = Site({ROBOTS: lambda curi: answers.pop(0), "http://a.test/": (200,),
                 "http://b.test/robots.txt": page(""), "http://b.test/": (200,)})
    start = clock.t
    trace = crawl(frontier, clock, site)
    assert [(t - start, curi.url) for t, curi in trace.dispatched] == [
        (0.0, ROBOTS), (0.0, "http://b.test/robots.txt"), (0.0, "http://b.test/"),
        (600.0, ROBOTS), (600.0, "http://a.test/")]
    frontier.close()


@pytest.mark.sqlite_only
def test_unreachable_robots_txt_means_wait_with_capped_backoff_never_drop(tmp_path):
    frontier, clock = robots_frontier(tmp_path, RETRY_BACKOFF=1.0, MAX_RETRIES=2,
                                      ROBOTSTXT_RETRY_MAX_WAIT=10.0)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    answers = [(503,)] * 8
    site = Site({ROBOTS: lambda curi: answers.pop(0) if answers else page(""),
                 "http://a.test/": (200,)})
    start = clock.t
    trace = crawl(frontier, clock, site, until=lambda t: len(t.dispatched) == 8)
    assert trace.urls == [ROBOTS] * 8
    assert [t - start for t, _ in trace.dispatched] == [0, 1, 3, 7, 15, 25, 35, 45]
    stats = frontier.stats()
    assert (stats["robots_waiting"], stats["robots_disallowed"], stats["queued"]) == (1, 0, 1)
    assert not frontier.crawl_done()
    frontier.close()
    frontier, clock = robots_frontier(tmp_path, clock, RETRY_BACKOFF=1.0, MAX_RETRIES=2,
                                      ROBOTSTXT_RETRY_MAX_WAIT=10.0)  # a restart: still waiting
    assert frontier.stats()["robots_waiting"] == 1
    trace = crawl(frontier, clock, site)
    assert trace.urls == [ROBOTS, "http://a.test/"]
    assert frontier.stats()["robots_waiting"] == 0 and frontier.crawl_done()
    frontier.close()


def test_disallow_all_cached_by_an_older_spyder_is_fetched_again(tmp_path):
    frontier, clock = robots_frontier(tmp_path)
    frontier._store.put_robots("http://a.test", RobotsRow(503, "User-agent: *\nDisallow: /\n",
                                                          clock.t + 86400, 0, None))
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    trace = crawl(frontier, clock, Site({ROBOTS: page(""), "http://a.test/": (200,)}))
    assert trace.urls == [ROBOTS, "http://a.test/"]
    frontier.close()


def test_rules_expire_after_the_ttl(tmp_path):
    frontier, clock = robots_frontier(tmp_path, ROBOTSTXT_TTL=3600.0)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    site = Site({ROBOTS: page("User-agent: *\nDisallow:\n"), "http://a.test/": (200,)})
    assert crawl(frontier, clock, site).urls == [ROBOTS, "http://a.test/"]
    clock.advance(86400)  # the page is due again and the rules are stale
    site.pages[ROBOTS] = page("User-agent: *\nDisallow: /\n")
    assert crawl(frontier, clock, site).urls == [ROBOTS]
    assert frontier.stats()["robots_disallowed"] == 1
    frontier.close()


@pytest.mark.sqlite_only
def test_rules_are_kept_in_the_state_file(tmp_path):
    frontier, clock = robots_frontier(tmp_path)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    site = Site({ROBOTS: page("User-agent: *\nDisallow: /no\n"), "http://a.test/": (200,),
                 "http://a.test/yes": (200,)})
    crawl(frontier, clock, site)
    frontier.close()
    frontier, clock = robots_frontier(tmp_path, clock)
    frontier.add_uri(CrawlUri(url="http://a.test/yes"))
    frontier.add_uri(CrawlUri(url="http://a.test/no"))
    assert crawl(frontier, clock, site).urls == ["http://a.test/yes"]
    frontier.close()


def test_redirects_are_followed_up_to_five_hops(tmp_path):
    frontier, clock = robots_frontier(tmp_path)
    target = "https://a.test/robots.txt"
    frontier.add_uri(CrawlUri(url="http://a.test/x"))
    frontier.add_uri(CrawlUri(url="http://a.test/y"))
    site = Site({ROBOTS: (301, [target], {"Location": target}),
                 target: page("User-agent: *\nDisallow: /x\n"), "http://a.test/y": (200,)})
    assert crawl(frontier, clock, site).urls == [ROBOTS, target, "http://a.test/y"]
    frontier.close()

    loop = tmp_path / "loop"
    loop.mkdir()
    frontier, clock = robots_frontier(loop)
    frontier.add_uri(CrawlUri(url="http://b.test/"))
    hops = {"http://b.test/robots.txt": (302, ["http://b.test/r1"])}
    hops.update({"http://b.test/r%d" % i: (302, ["http://b.test/r%d" % (i + 1)])
                 for i in range(1, 10)})
    hops["http://b.test/"] = (200,)
    trace = crawl(frontier, clock, Site(hops))
    assert len(trace.urls) == 7 and trace.urls[-1] == "http://b.test/"  # 6 tries, allow all
    frontier.close()


def test_sitemaps_are_added_when_asked(tmp_path):
    for wanted in (True, False):
        path = tmp_path / str(wanted)
        path.mkdir()
        frontier, clock = robots_frontier(path, ROBOTSTXT_SITEMAPS=wanted)
        frontier.add_uri(CrawlUri(url="http://a.test/"))
        site = Site({ROBOTS: page("Sitemap: http://a.test/sitemap.xml\n"),
                     "http://a.test/": (200,), "http://a.test/sitemap.xml": (200,)})
        trace = crawl(frontier, clock, site)
        assert ("http://a.test/sitemap.xml" in trace.urls) is wanted
        frontier.close()


def test_not_obeying_fetches_no_robots_txt(tmp_path):
    frontier, clock = robots_frontier(tmp_path, ROBOTSTXT_OBEY=False)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    assert crawl(frontier, clock, Site({"http://a.test/": (200,)})).urls == ["http://a.test/"]
    frontier.close()


def test_one_robots_fetch_per_origin_even_with_concurrency(tmp_path):
    frontier, clock = robots_frontier(tmp_path, FRONTIER_HOST_CONCURRENCY=3)
    for url in ("http://a.test/1", "http://a.test/2", "https://a.test/3"):
        frontier.add_uri(CrawlUri(url=url))
    [robots] = drain(frontier)
    assert robots.url == ROBOTS
    deliver(frontier, robots, 404)
    trace = crawl(frontier, clock, Site({"https://a.test/robots.txt": (404,),
                                         "http://a.test/1": (200,), "http://a.test/2": (200,),
                                         "https://a.test/3": (200,)}), slots=5)
    assert sorted(trace.urls) == ["http://a.test/1", "http://a.test/2", "https://a.test/3",
                                  "https://a.test/robots.txt"]
    frontier.close()


def test_a_crawled_robots_txt_url_and_the_robots_fetch_never_overlap(tmp_path):
    frontier, clock = robots_frontier(tmp_path, FRONTIER_HOST_CONCURRENCY=3, ROBOTSTXT_TTL=10.0)
    frontier.add_uri(CrawlUri(url=ROBOTS))
    site = Site({ROBOTS: page("User-agent: *\nDisallow:\n")})
    trace = crawl(frontier, clock, site, slots=5, latency=1.0)
    assert trace.urls == [ROBOTS, ROBOTS]
    assert trace.dispatched[0][1].optional_vars and not trace.dispatched[1][1].optional_vars
    frontier.close()


def test_a_cross_host_robots_redirect_takes_a_slot_and_the_delay_of_the_target_queue(tmp_path):
    frontier, clock = robots_frontier(tmp_path, FRONTIER_MIN_DELAY=10.0)
    target = "http://b.test/robots.txt"
    pages = ["http://b.test/%d" % i for i in range(3)]
    for url in pages + ["http://a.test/x"]:
        frontier.add_uri(CrawlUri(url=url))
    site = Site(dict({ROBOTS: (301, [target], {"Location": target}),
                      target: page("User-agent: *\nDisallow: /x\n")},
                     **{url: (200,) for url in pages}))
    start = clock.t
    trace = crawl(frontier, clock, site, slots=5)
    on_b = [(t - start, curi.url) for t, curi in trace.dispatched if "b.test" in curi.url]
    assert [t for t, _ in on_b] == [0.0, 10.0, 20.0, 30.0, 40.0]  # a's hop is one of them
    assert [url for _, url in on_b].count(target) == 2
    assert "http://a.test/x" not in trace.urls and frontier.crawl_done()  # b's rules for a
    frontier.close()


# ---------------------------------------------- issue 18 item 7: a bounded parse and check
def _hostile_robots(size=512 * 1024):
    """512 KiB of wildcard rules for every user agent, plus others' groups."""
    import random
    rnd = random.Random(7)
    lines, total = ["User-agent: otherbot", "Disallow: /o*"] * 500 + ["User-agent: *"], 0
    while total < size:
        parts = ["".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(1, 4)))
                 for _ in range(rnd.randint(2, 6))]
        lines.append("Disallow: /" + "*".join(parts) + ("$" if rnd.random() < 0.3 else ""))
        total += len(lines[-1]) + 1
    lines.append("Disallow: /private")
    return "\n".join(lines) + "\nSitemap: http://a.test/sitemap.xml\n"


class _CountingPatterns:
    """Counts Protego's URL patterns built and matched (the work of a parse and a check)."""

    def __init__(self, monkeypatch):
        from protego import _urlpattern
        self.built = self.matched = 0
        original_init, original_match = _urlpattern._URLPattern.__init__, \
            _urlpattern._URLPattern.match

        def init(pattern, *args):
            self.built += 1
            original_init(pattern, *args)

        def match(pattern, url):
            self.matched += 1
            return original_match(pattern, url)

        monkeypatch.setattr(_urlpattern._URLPattern, "__init__", init)
        monkeypatch.setattr(_urlpattern._URLPattern, "match", match)


def test_a_hostile_robots_txt_costs_a_bounded_parse_and_check(tmp_path, monkeypatch):
    """512 KiB of wildcard rules: 1.28 s per parse and 23 ms per check on the master's
    loop.  Only the rules of our group within ROBOTSTXT_MAX_RULES units are parsed, and
    a check looks at no more of them."""
    counting = _CountingPatterns(monkeypatch)
    rules = RobotsRules(_hostile_robots(), "spyder", 10.0)  # the default: 1,000 units
    assert counting.built <= 1000, counting.built
    for i in range(20):
        rules.allowed("http://a.test/abc/def/%d" % i)
    assert counting.matched <= 20 * 1000, counting.matched
    assert rules.sitemaps == ["http://a.test/sitemap.xml"]  # site-wide lines are kept
    assert rules.allowed("http://a.test/private")  # past the budget: ignored
    # the setting reaches the frontier's parser
    from spyder.core.frontier.robots import RobotsTxt
    from spyder.core.settings import Settings
    counting.built = 0
    robots = RobotsTxt(Settings(overrides={"ROBOTSTXT_MAX_RULES": 500}), store=None, retry=None)
    small = robots._parse(_hostile_robots())
    assert counting.built <= 500 and small.ignored > 10000


def test_the_reduced_robots_txt_means_what_the_whole_one_means():
    """Within the budget, the reduction changes nothing: random files (groups for
    several agents, merged groups, typos, comments, Crawl-delay, Sitemap) give the
    same answers as Protego on the whole file."""
    import random
    from protego import Protego
    rnd = random.Random(11)
    agents = ["*", "spyder", "Spyder", "googlebot", "spy", "spyder-x", "x-spyder", "spy*der",
              "", "*spyder*", "spyderbot"]
    fields = ["User-agent", "user agent", "Disallow", "Allow", "Crawl-delay", "Sitemap",
              "Host", "Request-rate", "foo", "disalow", "Disallow", "Allow"]
    values = ["", "/", "/a", "/a*", "/a$", "/*b", "/a/b", "/a%2F", "/*.php$", "/index.html",
              "/b*c*d", "/%e4", "/\u00e4"]

    def value(field):
        name = field.lower()
        if "agent" in name:
            return rnd.choice(agents)
        if name == "crawl-delay":
            return rnd.choice(["1", "2.5", "x", ""])
        if name == "request-rate":
            return rnd.choice(["1/5", "3/10s", ""])
        if name in ("sitemap", "host"):
            return "http://a.test/s%d" % rnd.randint(0, 3)
        return rnd.choice(values)

    paths = ["/", "/a", "/a/b", "/ab", "/b", "/xbyc/d", "/index.html", "/x.php", "/%E4",
             "/robots.txt", "/a%2F"]
    for _ in range(1500):
        lines = []
        for _ in range(rnd.randint(0, 14)):
            field = rnd.choice(fields)
            lines.append("%s%s %s%s" % (field, rnd.choice([":", ": ", " :", ""]), value(field),
                                        rnd.choice(["", " # c", "#x"])))
        body = "\n".join(lines)
        whole = Protego.parse(body) if body.strip() else None
        ours = RobotsRules(body, "spyder", 100.0)
        for path in paths:
            url = "http://a.test" + path
            assert ours.allowed(url) == (whole.can_fetch(url, "spyder") if whole else True), \
                (body, path)
        if whole is not None:
            assert ours.sitemaps == list(whole.sitemaps), body
            delay = whole.crawl_delay("spyder")
            assert (ours._parser.crawl_delay("spyder") if ours._parser else None) == delay, body


@pytest.mark.sqlite_only
def test_what_is_kept_of_a_robots_txt_is_its_reduction_for_our_agent(tmp_path):
    """The state file keeps the reduction (rules of our group within the budget, a first
    line naming the product token), not 512 KiB per host; a reduction made for another
    user agent is not used: that robots.txt is fetched again."""
    body = ("User-agent: otherbot\nDisallow: /\n" * 300 + "User-agent: spyder\n"
            "Disallow: /no\n# a comment\nSitemap: http://a.test/s.xml\n")
    frontier, clock = robots_frontier(tmp_path)
    frontier.add_uri(CrawlUri(url="http://a.test/"))
    site = Site({ROBOTS: page(body), "http://a.test/": (200,), "http://a.test/yes": (200,)})
    crawl(frontier, clock, site)
    status, kept = frontier._store.robots("http://a.test")[:2]
    assert status == 200
    assert kept == ("# spyder: the rules for spyder\nSitemap: http://a.test/s.xml\n"
                    "User-agent: spyder\nDisallow: /no")
    frontier.close()
    # the same state file under another product token: fetched again
    frontier, clock = robots_frontier(tmp_path, clock, USER_AGENT="otherbot/1.0")
    frontier.add_uri(CrawlUri(url="http://a.test/yes"))
    # fetched again, and otherbot's "Disallow: /" now applies
    assert crawl(frontier, clock, site).urls == [ROBOTS]
    frontier.close()
