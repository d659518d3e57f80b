"""The frontier's storage: the store protocol and its implementations.

``protocol.FrontierStore`` is everything the frontier asks of storage, in the
frontier's words; ``sqlite.SQLiteStore`` is the default (one state file per crawl),
``memory.MemoryStore`` a small in-memory one (tests, throw-away crawls).  ``open_store``
picks one from the ``FRONTIER_STORE`` setting.
"""
import sqlite3

from spyder.core.filelock import state_file_lock
from spyder.core.store.memory import MemoryStore
from spyder.core.store.protocol import StoreError
from spyder.core.store.sqlite import SQLiteMultipleHostUriQueue, SQLiteSingleHostUriQueue
from spyder.errors import StartupError

#: ``FRONTIER_STORE`` values and what they open (and ``redis://host:port,...``).
STORES = ("sqlite", "memory", "redis://host:port[,host:port...]")


def open_store(settings, clock, single_queue=False):
    """The store ``FRONTIER_STORE`` names, open: ``"sqlite"`` (the state file
    ``FRONTIER_STATE_FILE``, locked against a second master; ``single_queue``: the
    SingleHostFrontier's store) or ``"memory"``.  A ``StartupError`` says what is wrong."""
    kind = settings.FRONTIER_STORE
    if kind == "memory":
        return MemoryStore(clock)
    if isinstance(kind, str) and kind.startswith("redis://"):
        return _open_redis(settings, clock)
    if kind != "sqlite":
        raise StartupError("FRONTIER_STORE=%r is not a store this Spyder knows; use one of %s"
                           % (kind, ", ".join(repr(k) for k in STORES)))
    path = settings.FRONTIER_STATE_FILE
    lock = state_file_lock(path).acquire() if path != ":memory:" else None
    store_class = SQLiteSingleHostUriQueue if single_queue else SQLiteMultipleHostUriQueue
    try:
        return store_class(path, clock=clock, cache_mb=settings.FRONTIER_SQLITE_CACHE_MB,
                           lock=lock, bloom_bits=settings.FRONTIER_BLOOM_BITS_PER_URL)
    except (sqlite3.Error, StoreError) as exc:
        raise StartupError("FRONTIER_STATE_FILE=%r cannot be used: %s" % (path, exc)) from exc


def _open_redis(settings, clock):
    """The Redis Cluster store (``docs/cluster.md``): this master's part of a crawl that
    several masters may share."""
    import os
    import signal

    from spyder.core.store.rediscluster import RedisStore

    def stop_this_master():   # a graceful stop; its last commit is refused: a restart resumes
        os.kill(os.getpid(), signal.SIGTERM)
    try:
        return RedisStore(settings.FRONTIER_STORE, clock=clock,
                          master=settings.FRONTIER_MASTER_NAME or None,
                          lease=float(settings.FRONTIER_QUEUE_LEASE), on_broken=stop_this_master,
                          wait_replicas=int(settings.FRONTIER_REDIS_WAIT_REPLICAS or 0),
                          wait_timeout=float(settings.FRONTIER_REDIS_WAIT_TIMEOUT))
    except StoreError as exc:
        raise StartupError("FRONTIER_STORE=%r cannot be used: %s"
                           % (settings.FRONTIER_STORE, exc)) from exc
