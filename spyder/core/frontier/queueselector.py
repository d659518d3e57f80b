"""The queue selector: which waiting host queue the MultipleHostFrontier activates next.

``BiasedQueueSelector(n)`` picks an index in ``[0, n)`` at random, biased towards
low indices: index *i* is chosen with probability ``ln((i+2)/(i+1)) / ln(n+1)``,
which falls off like the original's ``1/(i+1)`` weights.  The frontier hands it
the candidates in order of how long they have been due (ties: older queues
first), so overdue and early hosts are preferred without starving the rest.

Unlike the original it keeps no per-queue table (O(1) memory for any ``n``), never
returns ``None`` and raises ``ValueError`` when there is nothing to choose from.
"""
import math
import random


class BiasedQueueSelector:
    """Random index in ``[0, n)`` biased towards 0 (see the module docstring)."""

    def __init__(self, number_of_queues, rng=None):
        self._random = (rng or random).random
        self.reset_queues(number_of_queues)

    def reset_queues(self, number_of_queues):
        """Choose among ``number_of_queues`` indices from now on."""
        if number_of_queues < 0:
            raise ValueError("number of queues must be >= 0, got %r" % number_of_queues)
        self._n = int(number_of_queues)
        self._log_span = math.log(self._n + 1)

    def get_queue(self):
        """An index in ``[0, n)``; ``ValueError`` when there are no queues."""
        if self._n <= 0:
            raise ValueError("there are no queues to select from")
        index = int(math.exp(self._random() * self._log_span) - 1.0)
        return min(max(index, 0), self._n - 1)
