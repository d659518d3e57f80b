"""The original's dotted path of the SQLite stores; they live in ``spyder.core.store.sqlite``."""
from spyder.core.store.sqlite import (SINGLE_QUEUE, QueueException, SQLiteMultipleHostUriQueue,
                                      SQLiteSingleHostUriQueue, SQLiteStore, UriRow)

__all__ = ["SINGLE_QUEUE", "QueueException", "SQLiteMultipleHostUriQueue",
           "SQLiteSingleHostUriQueue", "SQLiteStore", "UriRow"]
