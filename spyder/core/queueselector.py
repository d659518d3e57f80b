"""The original's dotted path of the queue selectors (``QUEUE_SELECTOR_CLASS``); they live
in ``spyder.core.frontier.queueselector``."""
from spyder.core.frontier.queueselector import BiasedQueueSelector

__all__ = ["BiasedQueueSelector"]
