"""A short hypothesis run per decoder of outside input (issue 18's budgets): frames and
tickets, robots.txt, sitemaps (XML, text, gzip), HTML link extraction, link
resolution, response headers.  Each must never raise on hostile input (only its own
documented refusals) and keep within its memory budget; ``benchmarks/bench_fuzz.py``
runs the same corpus longer and measures time per MiB and memory.  No wall-clock
assertions: hypothesis' deadline is off."""
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings

import fuzzcorpus

pytestmark = pytest.mark.timeout(120)

_FAST = settings(max_examples=60, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much, HealthCheck.large_base_example])


@pytest.mark.parametrize("name,strategy,run", fuzzcorpus.DECODERS,
                         ids=[name for name, _, _ in fuzzcorpus.DECODERS])
def test_decoder_survives_generated_hostile_input(name, strategy, run):
    @_FAST
    @given(strategy)
    def fuzz(value):
        run(value)

    fuzz()


@_FAST
@given(fuzzcorpus.sitemap_bodies)
def test_sitemap_decoding_memory_is_bounded(body):
    """Whatever the sitemap, its decode holds little beyond the URLs it keeps: the
    inflated steps (64 KiB), one <loc> and the list (at most the budget, 4 MiB)."""
    tracemalloc.start()
    try:
        fuzzcorpus.run_sitemap(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
