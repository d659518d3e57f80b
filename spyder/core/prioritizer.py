"""The original's dotted path of the prioritizers (``PRIORITIZER_CLASS``); they live in
``spyder.core.frontier.prioritizer``."""
from spyder.core.frontier.prioritizer import SimpleTimestampPrioritizer

__all__ = ["SimpleTimestampPrioritizer"]
