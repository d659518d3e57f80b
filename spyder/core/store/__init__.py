"""The frontier's storage: the store protocol and its implementations.

``protocol.FrontierStore`` is everything the frontier asks of storage, in the
frontier's words; ``sqlite.SQLiteStore`` is the default (one state file per crawl),
``memory.MemoryStore`` a small in-memory one (tests, throw-away crawls).  ``open_store``
picks one from the ``FRONTIER_STORE`` setting.
"""
