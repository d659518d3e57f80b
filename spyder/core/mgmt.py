"""The original's dotted path of ``ZmqMgmt``; it lives in ``spyder.core.wire.mgmt``."""
from spyder.core.wire.mgmt import ZmqMgmt

__all__ = ["ZmqMgmt"]
