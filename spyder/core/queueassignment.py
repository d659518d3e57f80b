"""The original's dotted path of the queue assignments (``QUEUE_ASSIGNMENT_CLASS``); they
live in ``spyder.core.frontier.queueassignment``."""
from spyder.core.frontier.queueassignment import HostBasedQueueAssignment, IpBasedQueueAssignment

__all__ = ["HostBasedQueueAssignment", "IpBasedQueueAssignment"]
