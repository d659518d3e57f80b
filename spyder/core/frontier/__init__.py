"""The crawl frontier and its parts: what the master fetches next, when, and what it remembers.

``frontiers`` holds the contract the master calls and the two frontiers
(``MultipleHostFrontier``, the default ``FRONTIER_CLASS``, and ``SingleHostFrontier``);
the other modules of this package are the parts they are composed of (see
``docs/architecture.md``).  The frontiers are re-exported here so that the original
dotted paths (``spyder.core.frontier.MultipleHostFrontier``) keep working.
"""
from spyder.core.frontier.frontiers import (AbstractBaseFrontier, MultipleHostFrontier,
                                            SingleHostFrontier)

__all__ = ["AbstractBaseFrontier", "MultipleHostFrontier", "SingleHostFrontier"]
