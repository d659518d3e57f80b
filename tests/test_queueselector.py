"""BiasedQueueSelector: lower indices are preferred, the result is always valid."""
import random

import pytest

from spyder.core.frontier.queueselector import BiasedQueueSelector


def test_histogram():
    selector = BiasedQueueSelector(10, rng=random.Random(1))
    counts = [0] * 10
    for _ in range(100000):
        counts[selector.get_queue()] += 1
    for i in range(9):
        assert counts[i] > counts[i + 1], counts


def test_result_is_always_a_valid_index():
    rng = random.Random(2)
    for n in (1, 2, 3, 50, 1000, 10 ** 7):
        selector = BiasedQueueSelector(n, rng=rng)
        for _ in range(2000):
            index = selector.get_queue()
            assert isinstance(index, int) and 0 <= index < n


def test_extreme_random_values_stay_in_range():
    class Fixed:
        def __init__(self, value):
            self.value = value

        def random(self):
            return self.value

    for value in (0.0, 0.999999999999):
        assert BiasedQueueSelector(5, rng=Fixed(value)).get_queue() in (0, 4)


def test_no_queues_raise_and_reset_works():
    selector = BiasedQueueSelector(0)
    with pytest.raises(ValueError):
        selector.get_queue()
    selector.reset_queues(1)
    assert selector.get_queue() == 0
    with pytest.raises(ValueError):
        selector.reset_queues(-1)
