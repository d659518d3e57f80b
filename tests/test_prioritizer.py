"""SimpleTimestampPrioritizer: recrawl interval and level escalation on 304."""
from spyder.core.crawluri import CrawlUri
from spyder.core.frontier.prioritizer import SimpleTimestampPrioritizer
from spyder.core.settings import Settings


def _prioritizer(**overrides):
    settings = Settings()
    for name, value in overrides.items():
        setattr(settings, name, value)
    return SimpleTimestampPrioritizer(settings)


def test_changed_pages_are_recrawled_after_one_delta():
    prioritizer = _prioritizer()
    for status in (200, 301, 302):
        curi = CrawlUri(url="http://a/", current_priority=4, status_code=status)
        assert prioritizer.calculate_priority(curi) == (1, 86400.0)


def test_each_304_raises_the_level_up_to_the_maximum():
    prioritizer = _prioritizer(PRIORITIZER_NUM_PRIORITIES=3, PRIORITIZER_CRAWL_DELTA=10.0)
    curi = CrawlUri(url="http://a/", current_priority=1, status_code=304)
    levels = []
    for _ in range(4):
        level, delta = prioritizer.calculate_priority(curi)
        levels.append((level, delta))
        curi.current_priority = level
    assert levels == [(2, 20.0), (3, 30.0), (3, 30.0), (3, 30.0)]


def test_default_priority_is_the_level_of_new_and_changed_pages():
    prioritizer = _prioritizer(PRIORITIZER_DEFAULT_PRIORITY=2, PRIORITIZER_CRAWL_DELTA=10.0)
    assert prioritizer.default_priority == 2
    curi = CrawlUri(url="http://a/", current_priority=5, status_code=200)
    assert prioritizer.calculate_priority(curi) == (2, 20.0)
    # a 304 without a stored level starts from the default
    assert prioritizer.calculate_priority(CrawlUri(url="http://a/", status_code=304)) == (2, 20.0)
