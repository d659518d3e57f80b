"""RedisStore: the frontier store protocol on a Redis Cluster, shared by any number of masters.

``FRONTIER_STORE = "redis://h1:7000,h2:7001"`` (optionally ``/<crawl name>``: the key
prefix, default ``spyder``) opens it; ``docs/cluster.md`` is the operator's page.
Written against the protocol (``protocol.py``) like ``memory.MemoryStore``; what it adds
for several masters is the queue *lease*.

Keys.  ``{P|x}`` is a hash tag: every key of one host (and of the queue named after it,
which is the same string with the default ``HostBasedQueueAssignment``) lives on one
slot, so the scripts below touch one slot each:

* ``{P|<host>}:u`` -- hash, the host's known URLs: field = the URL's 8-byte BLAKE2b
  fingerprint (the seen test), value = the row (JSON; a row finished for good is stored
  without its URL, which ``find(url)`` knows).
* ``{P|<queue identifier>}:z`` -- sorted set, the queue's scheduled URLs: score =
  ``next_date``, member = priority and rowid (big-endian, so equal scores sort by them)
  + fingerprint + the host when it is not the queue's identifier.  Members are checked
  against the row when read; stale ones are dropped.
* ``{P|<queue identifier>}:q`` -- hash, the queue: ``nd`` next due (absent: nothing to
  do, or taken), ``nb`` not before (politeness), ``own`` the master *run* holding it
  (``<name>@<host>:<pid>:<random>``: the scripts that take, renew, release or hold a
  queue compare the run, not the name, so a script of a dead run of a master that
  reaches Redis late -- written into a cut link, delivered when it came back, after the
  restarted master had taken the queue -- cannot change the new run's lease) and
  ``lease`` until when.
* ``{P|due:<k>}`` -- 16 sorted sets, the due index (queue id -> due time, or the lease
  deadline of a taken queue, so a dead master's queues come due when its leases end).
  Advisory: ``TAKE`` checks the queue's own hash.
* ``{P|meta}:*`` -- queue ids (``qids`` / ``qnames`` / ``qseq``), the rowid counter, the
  seeds' hosts, host controls, the robots.txt failures index, the host statistics
  indexes, the crawl-wide counters and the live masters (``masters``).
* ``{P|<host>}:r`` robots.txt per origin, ``:sm`` sitemaps, ``:st`` host statistics,
  ``:hq`` the host's queue (IP-based assignment), ``:park`` its parked URLs.
* ``{P|m:<master>}:state`` / ``:journal`` / ``:alive`` / ``:held`` -- one master's own
  part: its committed frontier state (counters, sinks' positions), its redo journal,
  its liveness token, the queues it holds.

Leases.  ``take_queue`` is one script (``TAKE``) on the queue's slot: if another master
holds a lease that has not ended, it fails (``None``); otherwise the queue is marked as
this master's until ``now + FRONTIER_QUEUE_LEASE`` and its ``not_before`` returned, so
one host is crawled by one master at a time and every master waits out the politeness
delay the last one stored.  ``tick(now)`` (the frontier's housekeeping) renews the
leases of the queues held every lease/4 and returns those lost; ``put_queue`` releases a
queue with its next due and not-before times.

Commits.  URL-seen tests (``admit``), takes, parking and queue creation go to Redis at
once (another master must see them).  Everything else a result changes -- rows
(``record``), queue releases and due times, robots.txt, sitemaps, scope, host orders and
statistics -- is kept in this process (read back by this store's reads) until
``commit(state)``: the whole batch with the frontier's state is first written as one
value, the master's journal (one key: atomic), then applied with idempotent commands
(statistics and counters carry the journal's sequence number), then the state is stored
and the journal deleted.  A master that dies replays its journal when it starts again;
without it, what it did since its last commit is lost and redone (its queues come back
when their leases end), and its sinks are cut back to the positions it committed, so
every outcome is in the masters' output once.  ``atomic()`` undoes an operation's
buffered writes and its immediate ones.

Replication.  Redis replicates asynchronously; with ``wait_replicas`` (the setting
``FRONTIER_REDIS_WAIT_REPLICAS``, default 1) a take, a renewal, the admissions since the
last commit and the commit's journal and apply count only once ``WAIT`` saw them on that
many replicas of their primary, and admissions a failover may have lost are made again
before the commit (section "replication (WAIT)" below).  ``crawl_done`` does not trust
the crawl-wide counters alone: links a master admitted and never committed are not
counted, so it looks in the queues before it says the crawl is done.
"""
import contextlib
import hashlib
import json
import logging
import os
import socket
import struct
import time
import uuid

from spyder.core.store.protocol import (HOST_STATS_COLUMNS, HOST_STATS_SORTS, RobotsRow,
                                        StoreError, UriRow)
from spyder.core.store.undo import UndoLog
from spyder.core.urls import host_key

log = logging.getLogger("spyder.frontier")

#: Shards of the due index.
DUE_SHARDS = 16
#: Seconds a cached read of what other masters changed (the due index, the crawl-wide
#: counters) is used.
CACHE_SECONDS = 0.5
#: While other masters run, the longest a master waits before it looks for due queues.
POLL_SECONDS = 0.5
#: Order keys (rowids) a master reserves at a time.
ROWID_BLOCK = 1024
#: Seconds a primary's count of connected replicas (``ROLE``) is used before it is read again.
ROLE_SECONDS = 5.0
#: Seconds between two logs of one primary's replicas falling short of a WAIT, and
#: between two logs of one primary having no replica connected.
SHORT_LOG_SECONDS = 10.0
ALONE_LOG_SECONDS = 300.0
#: Milliseconds the scratch key written before each WAIT lives.
WAIT_KEY_MS = 60000

_MISSING = object()
_STATS = {name: i for i, name in enumerate(HOST_STATS_COLUMNS)}

# ---------------------------------------------------------------------- server-side scripts
#: Take a queue: KEYS[1] the queue's hash; ARGV master, now, lease end, check due (0/1).
#: Returns {taken (1), refused as held (0) or not due (-1), old nd, old nb, old own, old lease}.
_TAKE = """
local m = redis.call('HMGET', KEYS[1], 'nd', 'nb', 'own', 'lease')
local now = tonumber(ARGV[2])
local own, lease = m[3], tonumber(m[4])
local held = own and own ~= ARGV[1] and lease and lease > now
if held then return {0, m[1], m[2], own, m[4]} end
if ARGV[4] == '1' and own ~= ARGV[1] and not (own and lease and lease <= now) then
  local nd = tonumber(m[1])
  if not nd or nd > now then return {-1, m[1], m[2], own, m[4]} end
end
redis.call('HSET', KEYS[1], 'own', ARGV[1], 'lease', ARGV[3])
redis.call('HDEL', KEYS[1], 'nd')
return {1, m[1], m[2], own, m[4]}
"""
#: Undo a take: KEYS[1] the queue's hash; ARGV master, nd, nb, own, lease ('' = absent).
_UNTAKE = """
if redis.call('HGET', KEYS[1], 'own') ~= ARGV[1] then return 0 end
local names = {'nd', 'nb', 'own', 'lease'}
for i = 1, 4 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], names[i])
  else redis.call('HSET', KEYS[1], names[i], ARGV[i + 1]) end
end
return 1
"""
#: Renew a lease: KEYS[1] the queue's hash; ARGV master, lease end.  1 if still ours.
_RENEW = """
if redis.call('HGET', KEYS[1], 'own') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease', ARGV[2])
return 1
"""
#: Release a queue (put it on hold): KEYS[1] the queue's hash; ARGV master, nd, nb ('' =
#: none), now.  Returns the index score ('' = not due), or false if another master holds it.
_PUT = """
local own = redis.call('HGET', KEYS[1], 'own')
local lease = tonumber(redis.call('HGET', KEYS[1], 'lease'))
if own and own ~= ARGV[1] and lease and lease > tonumber(ARGV[4]) then return false end
redis.call('HDEL', KEYS[1], 'own', 'lease')
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], 'nb')
else redis.call('HSET', KEYS[1], 'nb', ARGV[3]) end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'nd') return '' end
redis.call('HSET', KEYS[1], 'nd', ARGV[2])
return ARGV[2]
"""
#: Make a queue on hold due no later than a new URL: KEYS[1] the queue's hash; ARGV
#: master, due, now.  Returns the new due time, or false (held elsewhere, or not earlier).
_LOWER = """
local m = redis.call('HMGET', KEYS[1], 'nd', 'nb', 'own', 'lease')
local own, lease = m[3], tonumber(m[4])
if own and lease and lease > tonumber(ARGV[3]) then return false end
local due = tonumber(ARGV[2])
local nb = tonumber(m[2])
if nb and nb > due then due = nb end
local nd = tonumber(m[1])
if nd and nd <= due then return false end
local text = string.format('%.17g', due)
redis.call('HSET', KEYS[1], 'nd', text)
return text
"""
#: Store an active queue's politeness delay: KEYS[1] the queue's hash; ARGV master, nb.
_HOLD = """
local own = redis.call('HGET', KEYS[1], 'own')
if own and own ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'nb', ARGV[2])
return 1
"""
#: The URL-seen test of one host's batch: KEYS[1] the host's rows, and when its queue is on
#: the same slot KEYS[2] the queue's sorted set and KEYS[3] the queue's hash; ARGV now, then
#: groups of (fingerprint, row, member, score ('' = not scheduled here)).  Returns 1/0 per
#: row (stored / known), then the queue's new due time ('' = unchanged): a queue on hold
#: that gets new URLs is made due here, with them, so that no crash between the seen test
#: and a commit can leave URLs in a queue that never comes due.
_ADMIT = """
local now = tonumber(ARGV[1])
local out = {}
local low = nil
for i = 2, #ARGV, 4 do
  local new = redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  if new == 1 and ARGV[i + 3] ~= '' and KEYS[2] then
    redis.call('ZADD', KEYS[2], ARGV[i + 3], ARGV[i + 2])
    local due = tonumber(ARGV[i + 3])
    if not low or due < low then low = due end
  end
  out[#out + 1] = new
end
local lowered = ''
if low and KEYS[3] then
  local m = redis.call('HMGET', KEYS[3], 'nd', 'nb', 'own', 'lease')
  local lease = tonumber(m[4])
  if not (m[3] and lease and lease > now) then
    local nb = tonumber(m[2])
    if nb and nb > low then low = nb end
    local nd = tonumber(m[1])
    if not nd or low < nd then
      lowered = string.format('%.17g', low)
      redis.call('HSET', KEYS[3], 'nd', lowered)
    end
  end
end
out[#out + 1] = lowered
return out
"""
#: Add deltas once per journal: KEYS[1] a hash; ARGV master, sequence, then (field, delta)
#: pairs for HINCRBY and (field, value) pairs after a '--' marker for HSET ('' = keep).
#: Returns the hash's named fields after the change (or unchanged if applied already).
_ADD_ONCE = """
local mark = 'j:' .. ARGV[1]
local seq = tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[1], mark) or '-1')
local i = 3
local incr = true
local fields = {}
while i <= #ARGV do
  if ARGV[i] == '--' then incr = false i = i + 1
  else
    local f, v = ARGV[i], ARGV[i + 1]
    if incr then fields[#fields + 1] = f end
    if last < seq and v ~= '' then
      if incr then redis.call('HINCRBYFLOAT', KEYS[1], f, v)
      else redis.call('HSET', KEYS[1], f, v) end
    end
    i = i + 2
  end
end
if last < seq then redis.call('HSET', KEYS[1], mark, ARGV[2]) end
if #fields == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(fields))
"""
#: Get or create a queue id: KEYS[1] ids, KEYS[2] names, KEYS[3] counter; ARGV identifier.
_QUEUE_ID = """
local id = redis.call('HGET', KEYS[1], ARGV[1])
if id then return tonumber(id) end
id = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('HSET', KEYS[2], id, ARGV[1])
return id
"""


def _num(text):
    return None if text is None or text == b"" or text == "" else float(text)


def _text(value):
    return "" if value is None else repr(float(value))


def fingerprint(url):
    """The 8-byte fingerprint of a URL (the seen test's field)."""
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _pack(row):
    fields = list(row)
    if row.next_date is None:
        fields[0] = None     # finished for good: find(url) knows the URL
    return json.dumps(fields, separators=(",", ":"))


def _unpack(data, url=None):
    fields = json.loads(data)
    if fields[0] is None:
        fields[0] = url
    return UriRow._make(fields)


def _member(row, host, identifier):
    tail = b"" if host == identifier else host.encode()
    key = struct.pack(">HQ", (row.priority + 32768) & 0xFFFF, row.rowid)
    return key + fingerprint(row.url) + tail


def parse_url(url):
    """``redis://h1:p1,h2:p2[/prefix]`` -> ``([(host, port)], prefix)``."""
    if not url.startswith("redis://"):
        raise StoreError("not a redis:// URL: %r" % (url,))
    rest = url[len("redis://"):]
    nodes, _, prefix = rest.partition("/")
    out = []
    for node in nodes.split(","):
        host, _, port = node.strip().rpartition(":")
        if not host or not port.isdigit():
            raise StoreError("%r: give the cluster's nodes as host:port[,host:port...]" % url)
        out.append((host.strip("[]"), int(port)))
    return out, (prefix.strip("/") or "spyder")


class RedisStore:
    """A ``FrontierStore`` on a Redis Cluster (see the module docstring).

    ``url``: ``redis://h1:p1,h2:p2[/prefix]``; ``clock`` the UTC epoch source; ``master``
    this master's name (its own keys, its leases; stable across restarts, unique among
    the running masters); ``lease`` seconds a taken queue stays this master's without a
    renewal; ``client``: an open ``redis.cluster.RedisCluster`` (tests); ``on_broken``:
    called once if this store can commit nothing any more (a lost lease on a queue with
    uncommitted outcomes, a commit that cannot be applied): the master stops itself.
    """

    #: Other masters write to this store while this one runs (``Admission`` reads the
    #: seeds' hosts again when it meets an unknown one).
    shared = True

    def __init__(self, url, clock=time.time, master=None, lease=10.0, client=None,
                 wait_alive=None, on_broken=None, wait_replicas=1, wait_timeout=1.0):
        self._clock = clock
        nodes, prefix = parse_url(url)
        self.url = url
        self.prefix = prefix
        self.master = master or "master"
        self.lease = float(lease)
        #: replicas each acknowledged take, renewal, admission and commit must reach (WAIT)
        self.wait_replicas = max(0, int(wait_replicas or 0))
        self.wait_timeout = float(wait_timeout)
        self._token = "%s:%d:%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])
        #: this run of the master, as a queue's ``own`` names it (see the module docstring)
        self._owner = "%s@%s" % (self.master, self._token)
        self.uncommitted_since = None
        self.recovered = False
        self.lost = []                 # queues whose lease was lost (tick), for the frontier
        self._undo = UndoLog()
        self._client = client or _connect(nodes, url)
        self._r = self._client
        self._scripts = {}
        for name, body in (("take", _TAKE), ("untake", _UNTAKE), ("renew", _RENEW),
                           ("put", _PUT), ("lower", _LOWER), ("hold", _HOLD),
                           ("admit", _ADMIT), ("add_once", _ADD_ONCE), ("queue_id", _QUEUE_ID)):
            self._scripts[name] = (body, hashlib.sha1(body.encode()).hexdigest())
        # the queue ids (immutable once made)
        self._qid = {}                 # identifier -> id
        self._qname = {}               # id -> identifier
        # what this master holds
        self._held = {}                # queue id -> lease end
        self._from_index = set()       # queue ids due_queues took from the shared index
        self._refused = {}             # queue id -> time before which it is not asked again
        self._renewed = None
        # buffered until commit (each read here before Redis)
        self._rows = {}                # url -> UriRow recorded
        self._puts = {}                # queue -> (next_due, not_before) released
        self._lows = {}                # queue -> lowered due
        self._holds = {}               # queue -> not_before of an active queue
        self._robots = {}              # origin -> RobotsRow
        self._sitemaps = {}            # url -> level
        self._scope = {}               # host -> True
        self._controls = {}            # host -> (until, delay) or None (removed)
        self._stats = {}               # host -> [queue, queued, fetched, errors, bytes,
        #                                          last status, last time]
        self._buffers = (self._rows, self._puts, self._lows, self._holds, self._robots,
                         self._sitemaps, self._scope, self._controls, self._stats)
        # caches of what other masters change (``clock`` times)
        self._due_cache = None         # (time read, [(score, id)] of the due index's head)
        self._crawl_cache = None       # (time read, crawl-wide counters, masters)
        self._rowid_next = self._rowid_end = 0   # the reserved block of order keys
        self._committed = {}           # this master's last committed state
        self._seq = 0
        self._broken = None            # why this store cannot commit any more
        self._on_broken = on_broken    # called once when it happens
        # replication (WAIT): see the section "replication (WAIT)" below
        self._replicas = {}            # primary's name -> (replicas connected, time read)
        self._node_keys = {}           # primary's name -> a key of ours on one of its slots
        self._short = {}               # (primary's name, alone) -> when last logged
        self._admits = []              # (keys, args, queue) of the ADMITs since the last commit
        self._primaries = None         # the primaries' names when the last commit was safe
        self._left_cache = None        # (time read, URLs left?) -- see ``crawl_done``
        self._warned_left = set()
        self._open(wait_alive if wait_alive is not None else self.lease + 2.0)

    # ------------------------------------------------------------------ keys
    def _tag(self, name):
        return "{%s|%s}" % (self.prefix, name)

    def _k(self, name, suffix):
        return "{%s|%s}:%s" % (self.prefix, name, suffix)

    def _meta(self, suffix):
        return self._k("meta", suffix)

    def _mine(self, suffix):
        return self._k("m:" + self.master, suffix)

    def _due_key(self, queue):
        return self._k("due:%d" % (queue % DUE_SHARDS), "i")

    # ------------------------------------------------------------------ scripts
    def _call(self, target, name, keys, args):
        """Run script ``name`` on ``target`` (the client or a ``_pipe``) by its SHA1,
        loading it where a node does not have it (a new node, a promoted replica)."""
        body, sha = self._scripts[name]
        if isinstance(target, _Pipe):
            target.scripts.append((target.n, name, keys, args))
            return target.evalsha(sha, len(keys), *keys, *args)
        try:
            return target.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            return target.eval(body, len(keys), *keys, *args)

    def _pipe(self):
        return _Pipe(self)

    # ------------------------------------------------------------------ replication (WAIT)
    # Redis replicates asynchronously: a primary that dies may take with it writes it had
    # acknowledged.  A take, a renewal, the links admitted since the last commit and the
    # commit itself count only once WAIT has seen them on ``wait_replicas`` replicas of
    # their primary.  WAIT covers the writes its own connection made; so that it covers
    # every write the primary acknowledged before it, whatever connection made them, each
    # WAIT follows a write of this master's scratch key on that primary on the same
    # connection (one pipeline: a connection per node, in order): the connection's
    # replication offset is then the primary's offset at that moment.
    def _primary_names(self):
        return frozenset(node.name for node in self._r.get_primaries())

    def _replica_counts(self, nodes):
        """``{name: replicas connected}`` of the primaries ``nodes`` (``ROLE``, read at most
        every ``ROLE_SECONDS``): a WAIT asks for no more replicas than a primary has, so a
        primary left without its replica (after a failover) does not hold every write up
        for the WAIT's timeout."""
        now = time.monotonic()
        stale = [n for n in nodes
                 if now - self._replicas.get(n.name, (0, -1e9))[1] > ROLE_SECONDS]
        if stale:
            p = self._pipe()
            for node in stale:
                p.execute_command("ROLE", target_nodes=node)
            for node, role in zip(stale, p.execute()):
                if isinstance(role, dict):
                    role = next(iter(role.values()), None)
                kind = role[0] if role else b""
                kind = kind.decode() if isinstance(kind, bytes) else kind
                count = len(role[2]) if kind == "master" and len(role) > 2 else 0
                self._replicas[node.name] = (count, now)
        return {n.name: self._replicas[n.name][0] for n in nodes}

    def _node_key(self, node):
        """A scratch key of this crawl on one of primary ``node``'s slots."""
        key = self._node_keys.get(node.name)
        if key is not None and self._r.get_node_from_key(key).name == node.name:
            return key
        for i in range(1 << 20):
            key = self._k("w%d" % i, "w")
            if self._r.get_node_from_key(key).name == node.name:
                self._node_keys[node.name] = key
                return key
        raise StoreError("no slot of the Redis primary %s was found" % node.name)

    def _nodes_of(self, keys):
        out = {}
        for key in keys:
            node = self._r.get_node_from_key(key)
            out.setdefault(node.name, node)
        return list(out.values())

    def _queue_waits(self, p, nodes):
        """Queue on ``p``, for each primary of ``nodes``, a write of the scratch key and a
        WAIT after it; returns what ``_check_waits`` needs (nothing when WAIT is off)."""
        waits = []
        if not self.wait_replicas or not nodes:
            return waits
        counts = self._replica_counts(nodes)
        for node in nodes:
            want = min(self.wait_replicas, counts.get(node.name, 0))
            if want <= 0:
                self._shortfall(node, 0, self.wait_replicas, "any write", alone=True)
                continue
            p.set(self._node_key(node), self.master, px=WAIT_KEY_MS)
            waits.append((p.n, node, want))
            p.execute_command("WAIT", want, max(1, int(self.wait_timeout * 1000)),
                              target_nodes=node)
        return waits

    def _check_waits(self, waits, results, what):
        """True if every WAIT of ``waits`` reached its replicas; logs those that did not."""
        ok = True
        for position, node, want in waits:
            got = results[position]
            if isinstance(got, dict):
                got = next(iter(got.values()), 0)
            if int(got) < want:
                ok = False
                self._replicas.pop(node.name, None)      # read its replicas again
                self._shortfall(node, int(got), want, what)
        return ok

    def _shortfall(self, node, got, want, what, alone=False):
        """Log that ``what`` reached ``got`` of ``want`` replicas of primary ``node`` (or,
        ``alone``, that it has none to reach), at most every ``SHORT_LOG_SECONDS`` (every
        ``ALONE_LOG_SECONDS``)."""
        now = time.monotonic()
        key = (node.name, alone)
        if now - self._short.get(key, -1e9) < (ALONE_LOG_SECONDS if alone
                                               else SHORT_LOG_SECONDS):
            return
        self._short[key] = now
        if alone:
            log.warning("frontier::the Redis primary %s has no replica connected: %s there "
                        "is not replicated, and its death would lose it (WAIT skipped)",
                        node.name, what)
        else:
            log.warning("frontier::WAIT timed out: %s reached %d of %d replica(s) of the Redis "
                        "primary %s within FRONTIER_REDIS_WAIT_TIMEOUT=%.3g s; if that primary "
                        "died now, its failover could lose it", what, got, want, node.name,
                        self.wait_timeout)

    def _wait_all(self, what):
        """WAIT on every primary (the writes each acknowledged so far); True if all did."""
        if not self.wait_replicas:
            return True
        p = self._pipe()
        waits = self._queue_waits(p, self._r.get_primaries())
        return self._check_waits(waits, p.execute(), what)

    def _secure_admits(self):
        """Before a commit counts the pages whose links were admitted since the last one:
        those admissions are on the replicas (WAIT); if the primaries changed meanwhile (a
        failover, which may have lost some), they are admitted again (idempotent: a link
        known stays as it is) and waited for."""
        if not self.wait_replicas:
            self._admits = []
            return
        self._wait_all("the links admitted since the last commit")
        names = self._primary_names()
        if self._primaries is not None and names != self._primaries and self._admits:
            log.warning("frontier::the Redis primaries changed (a failover) since this master's "
                        "last commit: admitting again the %d link batch(es) admitted since, "
                        "which the failover may have lost", len(self._admits))
            self._replay_admits()
            self._wait_all("the links admitted again after a failover")
        self._primaries = self._primary_names()
        self._admits = []

    def _replay_admits(self):
        p = self._pipe()
        queues = []
        for keys, args, queue in self._admits:
            self._call(p, "admit", keys, args)
            queues.append(queue)
        later = self._pipe()
        for queue, result in zip(queues, p.execute()):
            lowered = result[-1]
            if queue is not None and lowered not in (b"", ""):
                later.zadd(self._due_key(queue), {str(queue): float(lowered)}, lt=True)
        later.execute()
        self._due_cache = None

    # ------------------------------------------------------------------ opening
    def _open(self, wait_alive):
        r = self._r
        alive = self._mine("alive")
        deadline = time.monotonic() + wait_alive
        while not r.set(alive, self._token, nx=True, px=int(self.lease * 1000)):
            if time.monotonic() >= deadline:
                raise StoreError("a master named %r is running on this crawl (%s); give each "
                                 "master its own FRONTIER_MASTER_NAME"
                                 % (self.master, (r.get(alive) or b"?").decode()))
            time.sleep(0.2)
        saved = r.get(self._mine("state"))
        saved = json.loads(saved) if saved else {}
        self._committed = saved.get("state", {})
        self._seq = saved.get("seq", 0)
        journal = r.get(self._mine("journal"))
        if journal is not None:
            log.warning("frontier::master %s did not finish its last commit; applying its "
                        "journal", self.master)
            for attempt in range(3):     # again if a failover happens meanwhile
                try:
                    self._apply(json.loads(journal))
                    break
                except StoreError:
                    if attempt == 2:
                        raise
            self.recovered = True
        elif saved and not saved.get("clean", True):
            self.recovered = True
        held = [int(q) for q in r.smembers(self._mine("held"))]
        if held:
            log.warning("frontier::master %s stopped without releasing %d host queues; "
                        "releasing them", self.master, len(held))
            self._release_stale(held)
            self.recovered = True
        self._store_state(dict(saved, clean=False, state=self._committed, seq=self._seq))
        self._primaries = self._primary_names()
        self._opened = self._renewed_ok = self._clock()
        self._heartbeat(self._opened)

    def _release_stale(self, queues):
        """Queues this master's last run held: on hold again, due now (their URLs' own
        due times decide), their politeness delays kept."""
        now = self._clock()
        self._idents(queues)
        p = self._pipe()
        for q in queues:
            self._call(p, "put", [self._k(self._ident(q), "q")], [self._owner, _text(now), "", now])
        results = p.execute()
        p = self._pipe()
        for q, result in zip(queues, results):
            if result is not None and result is not False:
                p.zadd(self._due_key(q), {str(q): now})
                log.warning("frontier::host queue %s released: this master's last run held it "
                            "(what it did there since its last commit is done again)",
                            self._ident(q))
            p.srem(self._mine("held"), q)
        p.execute()

    def _store_state(self, saved):
        self._r.set(self._mine("state"), json.dumps(saved, separators=(",", ":")))

    # ------------------------------------------------------------------ writes, undo
    def _touch(self):
        if self.uncommitted_since is None:
            self.uncommitted_since = self._clock()
            self._heartbeat(self.uncommitted_since)   # the others see this master busy

    def _put(self, table, key, value):
        self._touch()
        self._undo.put(table, key, value)

    def _on_undo(self, func):
        self._undo.on_undo(func)

    @contextlib.contextmanager
    def atomic(self):
        """All writes inside happen together or, if an exception escapes, not at all."""
        try:
            with self._undo.atomic():
                yield
        except BaseException:
            self._due_cache = None
            raise

    # ------------------------------------------------------------------ commits
    def commit(self, state):
        """Make every buffered write durable together with ``state`` (see the module
        docstring: journal, apply, state)."""
        if self._broken:
            raise StoreError(self._broken)
        counters = state.get("counters") or {}
        before = self._committed.get("counters") or {}
        delta = {k: v - before.get(k, 0) for k, v in counters.items()
                 if isinstance(v, (int, float)) and v != before.get(k, 0)}
        journal = {
            "seq": self._seq + 1, "state": state, "counters": delta,
            "rows": [list(row) for row in self._rows.values()],
            "puts": [[q, nd, nb] for q, (nd, nb) in self._puts.items()],
            "lows": [[q, due] for q, due in self._lows.items()],
            "holds": [[q, nb] for q, nb in self._holds.items()],
            "robots": [[o, list(row)] for o, row in self._robots.items()],
            "sitemaps": [[u, level] for u, level in self._sitemaps.items()],
            "scope": list(self._scope),
            "controls": [[h, c] for h, c in self._controls.items()],
            "stats": [[h] + list(d) for h, d in self._stats.items()],
        }
        busy = any(self._buffers) or delta
        finished_here = {row.queue for row in self._rows.values()} & set(self._held)
        if finished_here:
            # the outcomes of a queue count only while this master holds it: renewing its
            # lease first also keeps it ours while the journal is applied
            lost = set(self._renew(sorted(finished_here), self._clock()))
            if lost:
                self._stop("the leases on %d host queue(s) with outcomes not committed were "
                           "lost; this master stops without committing and must be restarted"
                           % len(lost))
                raise StoreError(self._broken)
        if busy:
            # nothing is written if this fails: the buffers stay for the next commit
            self._secure_admits()
            p = self._pipe()
            p.set(self._mine("journal"), json.dumps(journal, separators=(",", ":")))
            waits = self._queue_waits(p, self._nodes_of([self._mine("journal")]))
            self._check_waits(waits, p.execute(), "the commit's journal")
            self._apply_or_stop(journal)
        else:
            self._committed = dict(state)
            self._store_state({"state": state, "seq": self._seq, "clean": False})
            self._admits = []
        for table in self._buffers:
            table.clear()
        self.uncommitted_since = None
        self._due_cache = None
        self._crawl_cache = None
        now = self._clock()
        self._refused = {q: t for q, t in self._refused.items() if t > now}
        self._heartbeat(now)

    def _apply_or_stop(self, journal):
        """Apply a journal that is written; if Redis fails meanwhile, try the same journal
        again (it is idempotent) for up to half a lease, then give up for good: the master
        must be restarted, and replays the journal when it starts."""
        deadline = time.monotonic() + self.lease / 2
        for attempt in range(1000):
            try:
                self._apply(journal)
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    self._stop("a commit could not be applied (%s); restart this master: it "
                               "applies the commit's journal when it starts" % (exc,))
                    raise StoreError(self._broken) from exc
                log.warning("frontier::applying a commit failed (%s); trying again", exc)
                time.sleep(min(0.5, 0.05 * (attempt + 1)))

    def _apply(self, j):
        """Apply a journal (idempotent: a replay after a crash does the same)."""
        r = self._r
        now = self._clock()
        primaries = self._primary_names()
        seq = j["seq"]
        rows = [UriRow._make(f) for f in j["rows"]]
        queues = {row.queue for row in rows if row.queue is not None}
        queues.update(q for q, _, _ in j["puts"])
        queues.update(q for q, _ in j["lows"])
        queues.update(q for q, _ in j["holds"])
        self._idents(queues)
        # 1. the rows as they are now (their old queue members go)
        p = self._pipe()
        for row in rows:
            p.hget(self._k(host_key(row.url), "u"), fingerprint(row.url))
        olds = p.execute() if rows else []
        # 2. statistics and counters (once per journal), rows, robots.txt, sitemaps, scope,
        #    controls
        p = self._pipe()
        stat_hosts = []
        for host, queue, queued, fetched, errors, size, status, when in j["stats"]:
            stat_hosts.append(host)
            self._call(p, "add_once", [self._k(host, "st")], [
                self.master, seq, "queued", queued, "fetched", fetched, "errors", errors,
                "bytes", size, "--", "queue", "" if queue is None else queue,
                "last_status", "" if status is None else status,
                "last_time", "" if when is None else repr(float(when))])
        if j["counters"]:
            args = [self.master, seq]
            for name, value in sorted(j["counters"].items()):
                args += [name, value]
            self._call(p, "add_once", [self._meta("counters")], args)
        for row, old in zip(rows, olds):
            host = host_key(row.url)
            if old is not None:
                old = _unpack(old, row.url)
                if row.rowid is None:
                    row = row._replace(rowid=old.rowid)
            if row.rowid is None:
                continue
            p.hset(self._k(host, "u"), fingerprint(row.url), _pack(row))
            if old is not None and old.queue is not None and old.next_date is not None:
                ident = self._ident(old.queue)
                member = _member(old, host, ident)
                if old.queue != row.queue or member != _member(row, host, ident) \
                        or row.next_date is None:
                    p.zrem(self._k(ident, "z"), member)
            if row.queue is not None and row.next_date is not None:
                ident = self._ident(row.queue)
                p.zadd(self._k(ident, "z"), {_member(row, host, ident): row.next_date})
        for origin, fields in j["robots"]:
            row = RobotsRow(*fields)
            p.hset(self._k(host_key(origin), "r"), origin, json.dumps(list(row)))
            if row.failures > 0:
                p.sadd(self._meta("robots_waiting"), origin)
            else:
                p.srem(self._meta("robots_waiting"), origin)
        for url, level in j["sitemaps"]:
            p.hsetnx(self._k(host_key(url), "sm"), url, level)
        if j["scope"]:
            p.sadd(self._meta("scope"), *j["scope"])
        for host, control in j["controls"]:
            if control is None:
                p.hdel(self._meta("controls"), host)
            else:
                p.hset(self._meta("controls"), host, json.dumps(control))
        results = p.execute()
        # 3. the queues: delays, releases, due times (after the rows they depend on)
        p = self._pipe()
        ops = []
        for q, nb in j["holds"]:
            self._call(p, "hold", [self._k(self._ident(q), "q")], [self._owner, repr(float(nb))])
            ops.append(("hold", q))
        for q, nd, nb in j["puts"]:
            self._call(p, "put", [self._k(self._ident(q), "q")],
                       [self._owner, _text(nd), _text(nb), now])
            ops.append(("put", q))
        for q, due in j["lows"]:
            self._call(p, "lower", [self._k(self._ident(q), "q")], [self.master, _text(due), now])
            ops.append(("lower", q))
        queue_results = p.execute() if ops else []
        # 4. the shared indexes: due queues, held queues, host statistics
        p = self._pipe()
        stat_results = results[:len(stat_hosts)]
        for host, values in zip(stat_hosts, stat_results):
            queued, fetched, errors = (float(v or 0) for v in values[:3])
            p.zadd(self._meta("st:queued"), {host: queued})
            p.zadd(self._meta("st:fetched"), {host: fetched})
            p.zadd(self._meta("st:errors"), {host: errors})
        for (kind, q), result in zip(ops, queue_results):
            if kind == "put":
                if result is None or result is False:
                    log.warning("frontier::host queue %s was taken by another master before "
                                "this one released it (its lease had ended)", self._ident(q))
                elif result in (b"", ""):
                    p.zrem(self._due_key(q), str(q))
                else:
                    p.zadd(self._due_key(q), {str(q): float(result)})
                p.srem(self._mine("held"), q)
                self._held.pop(q, None)
            elif kind == "lower" and result not in (None, False):
                p.zadd(self._due_key(q), {str(q): float(result)}, lt=True)
        # every write above on the replicas before the journal goes (WAIT)
        waits = self._queue_waits(p, self._r.get_primaries())
        self._check_waits(waits, p.execute(), "a commit")
        if self.wait_replicas and self._primary_names() != primaries:
            raise StoreError("the Redis primaries changed (a failover) while a commit was "
                             "applied: it is applied again")
        # 5. the state, and the journal is done with
        self._seq = seq
        self._committed = dict(j["state"])
        p = r.pipeline(transaction=True)   # one slot: both or neither
        p.set(self._mine("state"), json.dumps({"state": j["state"], "seq": seq, "clean": False},
                                              separators=(",", ":")))
        p.delete(self._mine("journal"))
        p.execute()

    def state(self):
        return dict(self._committed)

    def close(self):
        """Mark this master's part closed cleanly; the buffered writes not committed are
        dropped (the frontier commits before it closes)."""
        try:
            if self._broken is not None:   # nothing more is written: a restart recovers
                self._r.delete(self._mine("alive"))
                return
            saved = {"state": self._committed, "seq": self._seq, "clean": True}
            p = self._r.pipeline(transaction=True)
            p.set(self._mine("state"), json.dumps(saved, separators=(",", ":")))
            p.delete(self._mine("alive"))
            p.execute()
            self._r.hdel(self._meta("masters"), self.master)
        finally:
            self.uncommitted_since = None
            try:
                self._r.close()
            except Exception:
                pass

    def abandon(self):
        """Close without committing, as a crash would: the buffered writes are dropped, this
        master's state stays at its last commit and the queues it holds are released
        when it starts again (or when their leases end)."""
        for table in self._buffers:
            table.clear()
        self.uncommitted_since = None
        try:
            self._r.delete(self._mine("alive"))
        finally:
            try:
                self._r.close()
            except Exception:
                pass

    # ------------------------------------------------------------------ URLs
    def admit(self, rows):
        rows = list(rows)
        if not rows:
            return []
        known = [row.url in self._rows for row in rows]
        rows = [row._replace(rowid=rowid) for row, rowid in zip(rows, self._rowids(len(rows)))]
        self._idents({row.queue for row in rows if row.queue is not None})
        groups = {}     # (host, queue or None) -> [index]
        seen_here = set()
        for i, row in enumerate(rows):
            if known[i] or row.url in seen_here:
                continue
            seen_here.add(row.url)
            groups.setdefault((host_key(row.url), row.queue), []).append(i)
        p = self._pipe()
        order = []
        calls = []     # kept until the next commit: admitted again after a failover
        for (host, queue), indexes in groups.items():
            ident = self._ident(queue) if queue is not None else None
            same = ident is not None and self._tag(ident) == self._tag(host)
            keys = [self._k(host, "u")] + ([self._k(ident, "z"), self._k(ident, "q")]
                                           if same else [])
            args = [repr(float(self._clock()))]
            for i in indexes:
                row = rows[i]
                scheduled = same and row.next_date is not None
                args += [fingerprint(row.url), _pack(row),
                         _member(row, host, ident) if scheduled else b"",
                         repr(float(row.next_date)) if scheduled else ""]
            self._call(p, "admit", keys, args)
            if self.wait_replicas:     # tuples of atoms: the garbage collector skips them
                calls.append((tuple(keys), tuple(args), queue if same else None))
            order.append((host, queue, ident, same, indexes))
        results = p.execute() if order else []
        new = []
        later = self._pipe()
        later_used = False
        for (host, queue, ident, same, indexes), result in zip(order, results):
            flags, lowered = result[:-1], result[-1]
            if lowered not in (b"", ""):   # the queue came due with these URLs: index it
                later.zadd(self._due_key(queue), {str(queue): float(lowered)}, lt=True)
                later_used = True
                self._due_cache = None
            for i, flag in zip(indexes, flags):
                if not flag:
                    continue
                row = rows[i]
                new.append(row)
                if not same and queue is not None and row.next_date is not None:
                    later.zadd(self._k(ident, "z"), {_member(row, host, ident): row.next_date})
                    later_used = True
        if later_used:
            later.execute()
        if calls:
            self._on_undo(lambda n=len(self._admits): self._admits.__delitem__(slice(n, None)))
            self._admits.extend(calls)
        if new:
            self._touch()
            self._on_undo(lambda new=new: self._unadmit(new))
        new.sort(key=lambda row: row.rowid)
        return new

    def _rowids(self, n):
        """``n`` new order keys: taken from a block this master reserves (``ROWID_BLOCK``
        at a time, one ``INCRBY``), so they grow within a master and interleave by blocks
        across masters."""
        out = []
        while len(out) < n:
            if self._rowid_next >= self._rowid_end:
                size = max(ROWID_BLOCK, n - len(out))
                self._rowid_end = self._r.incrby(self._meta("rowid"), size) + 1
                self._rowid_next = self._rowid_end - size
            take = min(n - len(out), self._rowid_end - self._rowid_next)
            out.extend(range(self._rowid_next, self._rowid_next + take))
            self._rowid_next += take
        return out

    def _unadmit(self, rows):
        p = self._pipe()
        for row in rows:
            host = host_key(row.url)
            p.hdel(self._k(host, "u"), fingerprint(row.url))
            if row.queue is not None and row.next_date is not None:
                ident = self._ident(row.queue)
                p.zrem(self._k(ident, "z"), _member(row, host, ident))
        p.execute()

    def find(self, url):
        row = self._rows.get(url)
        if row is not None:
            return row
        data = self._r.hget(self._k(host_key(url), "u"), fingerprint(url))
        return None if data is None else _unpack(data, url)

    def record(self, row):
        if row.rowid is None:
            old = self.find(row.url)
            if old is not None:
                row = row._replace(rowid=old.rowid)
        self._put(self._rows, row.url, row)

    def queue_head(self, queue, n):
        ident = self._ident(queue)
        pending = [row for row in self._rows.values() if row.queue == queue]
        want = n + len(pending) + 8
        rows = []
        for _ in range(6):   # stale members are dropped; bounded
            raw = self._r.zrange(self._k(ident, "z"), 0, want - 1, withscores=True)
            rows, stale = self._rows_of(queue, ident, raw)
            if stale:
                self._r.zrem(self._k(ident, "z"), *stale)
            if not stale or len(raw) < want:
                break
        rows = [row for row in rows if row.url not in self._rows]
        rows += [row for row in pending if row.next_date is not None]
        rows.sort(key=lambda r: (r.next_date, r.priority, r.rowid))
        return rows[:n]

    def _rows_of(self, queue, ident, raw):
        """The rows the sorted-set members ``raw`` name, and the members that are stale."""
        if not raw:
            return [], []
        p = self._pipe()
        hosts = []
        for member, _ in raw:
            host = member[18:].decode() or ident
            hosts.append(host)
            p.hget(self._k(host, "u"), member[10:18])
        rows, stale = [], []
        for (member, score), host, data in zip(raw, hosts, p.execute()):
            row = None if data is None else _unpack(data)
            if (row is None or row.url is None or row.queue != queue or row.next_date != score
                    or _member(row, host, ident) != member):
                stale.append(member)
            else:
                rows.append(row)
        return rows, stale

    def __len__(self):
        total = 0
        for node in self._r.get_primaries():
            cursor = 0
            for _ in range(100000):
                cursor, keys = self._r.scan(cursor, match=self._k("*", "u"), count=1000,
                                            target_nodes=node)
                for key in keys:
                    total += self._r.hlen(key)
                if cursor == 0:
                    break
        return total

    # ------------------------------------------------------------------ queues
    def queue_id(self, identifier):
        queue = self._qid.get(identifier)
        if queue is None:
            queue = int(self._call(self._r, "queue_id",
                                   [self._meta("qids"), self._meta("qnames"), self._meta("qseq")],
                                   [identifier]))
            self._qid[identifier] = queue
            self._qname[queue] = identifier
        return queue

    def _ident(self, queue):
        """The identifier of queue id ``queue`` (``#<id>`` for an id never made by
        ``queue_id``, as tests use)."""
        ident = self._qname.get(queue)
        if ident is None:
            self._idents([queue])
            ident = self._qname.get(queue)
        return "#%d" % queue if ident is None else ident

    def _idents(self, queues):
        missing = [q for q in queues if q not in self._qname]
        if missing:
            for q, name in zip(missing, self._r.hmget(self._meta("qnames"), missing)):
                if name is not None:
                    self._qname[q] = name.decode()
                    self._qid[name.decode()] = q

    def _queue_meta(self, queue):
        """``(nd, nb, own, lease)`` of a queue as Redis has it."""
        ident = self._ident(queue)
        nd, nb, own, lease = self._r.hmget(self._k(ident, "q"), "nd", "nb", "own", "lease")
        return _num(nd), _num(nb), None if own is None else own.decode(), _num(lease)

    def _index(self, now):
        """``[(score, id)]`` of the due index's head (cached ``CACHE_SECONDS``)."""
        cached = self._due_cache
        if cached is not None and 0 <= now - cached[0] < CACHE_SECONDS:
            return cached[1]
        p = self._pipe()
        extra = 4 + len(self._held) // DUE_SHARDS + len(self._puts) + len(self._lows)
        for k in range(DUE_SHARDS):
            p.zrange(self._k("due:%d" % k, "i"), 0, extra + 64, withscores=True)
        entries = []
        for shard in p.execute():
            entries.extend((score, int(member)) for member, score in shard)
        entries.sort()
        self._due_cache = (now, entries)
        return entries

    def _local_due(self):
        """``{queue: due}`` this master decided and has not committed (None: not due)."""
        out = {}
        for q, due in self._lows.items():
            out[q] = due
        for q, (nd, nb) in self._puts.items():
            low = self._lows.get(q)
            if low is not None and (nd is None or low < nd):
                nd = low if nb is None else max(low, nb)
            out[q] = nd
        return out

    def _due_entries(self, now):
        local = self._local_due()
        indexed = {}
        entries = []
        for score, q in self._index(now):
            if q in local:
                indexed[q] = score
            elif q not in self._held:
                entries.append((score, q))
        for q, due in local.items():
            if due is None:
                continue
            if q in self._lows and q not in self._puts and q in indexed:
                due = min(due, indexed[q])   # the stored due time may be earlier still
            entries.append((due, q))
        entries.sort()
        return entries, local

    def due_queues(self, now, limit):
        entries, local = self._due_entries(now)
        out = []
        refused = self._refused
        for score, q in entries:
            if score > now or len(out) >= limit:
                break
            if (q in self._held and q not in self._puts) or refused.get(q, 0) > now:
                continue
            out.append(q)
        self._idents(out)
        self._from_index = {q for q in out if q not in local}
        return [(q, self._ident(q)) for q in out]

    def earliest_due(self):
        now = self._clock()
        entries, _ = self._due_entries(now)
        earliest = entries[0][0] if entries else None
        if self._others_alive():
            poll = now + POLL_SECONDS
            earliest = poll if earliest is None else min(earliest, poll)
        return earliest

    def take_queue(self, queue):
        now = self._clock()
        ident = self._ident(queue)
        lease_end = now + self.lease
        check = "1" if queue in self._from_index else "0"
        key = self._k(ident, "q")
        p = self._pipe()
        self._call(p, "take", [key], [self._owner, now, repr(lease_end), check])
        waits = self._queue_waits(p, self._nodes_of([key]))
        results = p.execute()
        result = results[0]
        if result and result[0] == 1:
            self._check_waits(waits, results, "taking host queue %s" % ident)
        taken, old_nd, old_nb, old_own, old_lease = (list(result) + [None] * 5)[:5]
        self._due_cache = None
        if taken != 1:
            # not asked again before it may be free: the holder's lease end, or its due time
            until = _num(old_lease) if taken == 0 else _num(old_nd)
            self._refused[queue] = until if until is not None else now + CACHE_SECONDS
            if taken == -1 and queue in self._from_index:   # a stale index entry: mend it
                if until is None:
                    self._r.zrem(self._due_key(queue), str(queue))
                else:
                    self._r.zadd(self._due_key(queue), {str(queue): until}, xx=True)
            if taken == 0:
                log.debug("frontier::host queue %s is held by %s", ident,
                          old_own.decode() if old_own else "?")
            return None
        self._refused.pop(queue, None)
        old_own = None if old_own is None else old_own.decode()
        if old_own and old_own != self._owner:
            log.warning("frontier::host queue %s taken over from master %s, whose lease "
                        "ended at %.3f", ident, old_own, _num(old_lease) or 0.0)
        p = self._pipe()
        p.zadd(self._due_key(queue), {str(queue): lease_end})
        p.sadd(self._mine("held"), queue)
        p.execute()
        self._held[queue] = lease_end
        self._touch()
        pending = self._puts.pop(queue, _MISSING)
        self._on_undo(lambda: self._untake(queue, ident, old_nd, old_nb, old_own, old_lease,
                                           pending))
        self._lows.pop(queue, None)   # taken: its URLs are read from its sorted set
        not_before = _num(old_nb)
        if self._holds.get(queue) is not None:
            not_before = max(not_before or 0.0, self._holds[queue])
        if pending is not _MISSING and pending[1] is not None:
            not_before = max(not_before or 0.0, pending[1])
        return not_before or 0.0

    def _untake(self, queue, ident, nd, nb, own, lease, pending):
        def text(v):
            return "" if v is None else (v.decode() if isinstance(v, bytes) else str(v))
        self._call(self._r, "untake", [self._k(ident, "q")],
                   [self._owner, text(nd), text(nb), text(own), text(lease)])
        p = self._pipe()
        if nd is not None:
            p.zadd(self._due_key(queue), {str(queue): float(nd)})
        else:
            p.zrem(self._due_key(queue), str(queue))
        p.srem(self._mine("held"), queue)
        p.execute()
        self._held.pop(queue, None)
        if pending is not _MISSING:
            self._puts[queue] = pending

    def put_queue(self, queue, next_due, not_before=None):
        self._put(self._puts, queue, (next_due, not_before))
        if queue in self._lows:
            self._put(self._lows, queue, None)
            del self._lows[queue]
        self._due_cache = None

    def lower_queue_due(self, queue, next_due):
        """Buffered without a read: the commit's ``LOWER`` script compares with the stored
        due and not-before times and leaves a queue another master holds alone; until
        then this master sees the queue due no later than ``next_due`` (a take returns its
        real not-before time, which the frontier waits out)."""
        if queue in self._puts:
            due, not_before = self._puts[queue]
            lowered = next_due if not_before is None else max(next_due, not_before)
            if due is None or lowered < due:
                self._put(self._puts, queue, (lowered, not_before))
                self._due_cache = None
            return
        if queue in self._held:
            return   # active here: its URLs are read as they come
        low = self._lows.get(queue)
        if low is None or next_due < low:
            self._put(self._lows, queue, next_due)
            self._due_cache = None

    def hold_queues(self, holds):
        for not_before, queue in holds:
            self._put(self._holds, queue, not_before)

    def queue_not_before(self, queue):
        if queue in self._puts:
            return self._puts[queue][1]
        if queue in self._holds:
            return self._holds[queue]
        meta = self._queue_meta(queue)
        return None if meta is None else meta[1]

    # ------------------------------------------------------------------ leases, peers
    def dispatch_allowed(self, now):
        """False once the last successful renewal of this master's leases is more than half
        a lease ago (the store is unreachable): its queues may be taken by another master
        when the lease ends, so nothing more goes out until a renewal succeeds; the other
        half of the lease is for the fetches already out to end."""
        return self._broken is None and now - self._renewed_ok < self.lease / 2

    def tick(self, now=None):
        """Renew this master's leases every lease/4 and say it is alive; returns the queues
        whose lease was lost (another master holds them now) -- stop crawling them."""
        now = self._clock() if now is None else now
        if self._renewed is not None and now - self._renewed < self.lease / 4:
            return []
        self._renewed = now
        lost = self._renew(list(self._held), now)
        self._renewed_ok = now
        self._heartbeat(now)
        unsure = {row.queue for row in self._rows.values()} & set(lost)
        if unsure:
            # its outcomes there are told to the sinks but not committed, and the other
            # master crawls those URLs again: only a restart (which cuts the sinks back to
            # the last commit) keeps every outcome once in the masters' output
            self._stop("the leases on %d host queue(s) with outcomes not committed were lost; "
                       "this master stops without committing and must be restarted"
                       % len(unsure))
        return lost

    def _renew(self, queues, now):
        """Renew this master's leases on ``queues`` (and its liveness key); returns those
        another master holds now, which are this master's no more."""
        lease_end = now + self.lease
        p = self._pipe()
        p.set(self._mine("alive"), self._token, px=int(self.lease * 1000))
        keys = [self._k(self._ident(q), "q") for q in queues]
        for key in keys:
            self._call(p, "renew", [key], [self._owner, repr(lease_end)])
        waits = self._queue_waits(p, self._nodes_of(keys))
        results = p.execute()
        self._check_waits(waits, results, "renewing %d lease(s)" % len(queues))
        results = results[1:]
        p = self._pipe()
        lost = []
        for q, ok in zip(queues, results):
            if ok == 1:
                self._held[q] = lease_end
                p.zadd(self._due_key(q), {str(q): lease_end}, xx=True)
            else:
                lost.append(q)
                self._held.pop(q, None)
                p.srem(self._mine("held"), q)
                log.error("frontier::the lease on host queue %s was lost (this master could not "
                          "renew it in time); another master crawls it now", self._ident(q))
        p.execute()
        return lost

    def _stop(self, why):
        """This store may commit nothing any more (see ``_broken``); ``on_broken`` is told
        (the master process stops itself)."""
        if self._broken is None:
            self._broken = why
            log.critical("frontier::%s", why)
            if self._on_broken is not None:
                self._on_broken()

    def _heartbeat(self, now):
        self._r.hset(self._meta("masters"), self.master, json.dumps(
            {"t": now, "held": len(self._held), "dirty": self.uncommitted_since is not None,
             "lease": self.lease}))

    def _masters(self):
        now = self._clock()
        cached = self._crawl_cache
        if cached is not None and 0 <= now - cached[0] < CACHE_SECONDS:
            return cached[1], cached[2]
        p = self._pipe()
        p.hgetall(self._meta("counters"))
        p.hgetall(self._meta("masters"))
        counters, masters = p.execute()
        counters = {k.decode(): float(v) for k, v in counters.items()
                    if not k.startswith(b"j:")}
        masters = {k.decode(): json.loads(v) for k, v in masters.items()}
        self._crawl_cache = (now, counters, masters)
        return counters, masters

    def live_masters(self):
        """``{name: heartbeat}`` of the masters whose last heartbeat is within their lease."""
        now = self._clock()
        _, masters = self._masters()
        return {name: beat for name, beat in masters.items()
                if now - beat.get("t", 0) <= beat.get("lease", self.lease) * 1.5}

    def _others_alive(self):
        return any(name != self.master for name in self.live_masters())

    def crawl_counters(self, local=None):
        """The crawl's counters over every master: what they committed, plus this master's
        uncommitted changes (``local``: its counters now)."""
        counters, _ = self._masters()
        out = {k: int(v) for k, v in counters.items()}
        if local:
            before = self._committed.get("counters") or {}
            for k, v in local.items():
                if isinstance(v, (int, float)):
                    out[k] = out.get(k, 0) + v - before.get(k, 0)
        return out

    def others_busy(self):
        """True if another live master holds host queues or has not committed."""
        return any(name != self.master and (beat.get("held") or beat.get("dirty"))
                   for name, beat in self.live_masters().items())

    def crawl_done(self, local):
        """Nothing left to crawl over every master (``local``: this master's counters now;
        its own URLs in flight are the frontier's business): the crawl-wide open count,
        read again before it says so, is 0 and no other live master is busy."""
        if self.crawl_counters(local).get("open", 0) > 0:
            return False
        self._crawl_cache = None
        if self.crawl_counters(local).get("open", 0) > 0 or self.others_busy():
            return False
        return not self._urls_left()

    def _urls_left(self):
        """True if a host queue still holds URLs to crawl although the crawl-wide counters
        say none is left.  The counters are the sum of the masters' *committed* changes,
        and a page's new links are admitted at once: a master that stops before the commit
        that counts them (killed, or stopping itself after losing its leases) leaves them
        scheduled in the store but never counted as open, so the count reaches 0 with them
        still to crawl.  Each queue's head is read (once per ``CACHE_SECONDS``); a queue
        found with URLs to crawl is made due (and indexed) again, with a warning."""
        now = self._clock()
        cached = self._left_cache
        if cached is not None and 0 <= now - cached[0] < CACHE_SECONDS:
            return cached[1]
        names = {int(q): name.decode()
                 for q, name in self._r.hgetall(self._meta("qnames")).items()}
        for q, name in names.items():
            self._qname[q] = name
            self._qid[name] = q
        queues = sorted(names)
        p = self._pipe()
        for q in queues:
            p.zrange(self._k(names[q], "z"), 0, 63, withscores=True)
        heads = p.execute() if queues else []
        left = []
        for q, raw in zip(queues, heads):
            rows, _ = self._rows_of(q, names[q], raw)
            rows = [self._rows.get(row.url, row) for row in rows]
            rows = [row for row in rows if row.is_open and row.next_date is not None]
            if rows:
                left.append((q, min(row.next_date for row in rows), len(rows)))
        for q, due, n in left:
            if q in self._held:
                continue      # crawled here
            if q not in self._warned_left:
                self._warned_left.add(q)
                log.warning("frontier::host queue %s still holds %s URL(s) to crawl although the "
                            "crawl-wide counters say none is left (a master stopped before "
                            "committing the links it had admitted): they are crawled",
                            names[q], "%d" % n if n < 64 else "64 or more")
            key = self._k(names[q], "q")
            self._call(self._r, "lower", [key], [self.master, _text(due), now])
            nd, _, own, lease = self._queue_meta(q)
            score = lease if own and lease is not None and lease > now else (
                nd if nd is not None else due)
            self._r.zadd(self._due_key(q), {str(q): score}, lt=True)
            self._due_cache = None
        self._left_cache = (now, bool(left))
        return bool(left)

    # ------------------------------------------------------------------ hosts
    def host_queue(self, host):
        value = self._r.get(self._k(host, "hq"))
        return None if value is None else int(value)

    def set_host_queue(self, host, queue):
        old = self._r.getset(self._k(host, "hq"), queue)
        self._touch()

        def undo():
            if old is None:
                self._r.delete(self._k(host, "hq"))
            else:
                self._r.set(self._k(host, "hq"), old)
        self._on_undo(undo)

    def park(self, url, host):
        p = self._pipe()
        p.sadd(self._k(host, "park"), url)
        p.sadd(self._meta("parked"), host)
        added = p.execute()[0]
        self._touch()
        if added:
            self._on_undo(lambda: self._r.srem(self._k(host, "park"), url))

    def unpark(self, host):
        p = self._pipe()
        p.smembers(self._k(host, "park"))
        p.delete(self._k(host, "park"))
        p.srem(self._meta("parked"), host)
        urls = sorted(u.decode() for u in p.execute()[0])
        if urls:
            self._touch()

            def undo():
                self._r.sadd(self._k(host, "park"), *urls)
                self._r.sadd(self._meta("parked"), host)
            self._on_undo(undo)
        return urls

    def parked_hosts(self, limit):
        hosts = [h.decode() for h in self._r.srandmember(self._meta("parked"), limit) or []]
        out = []
        for host in hosts:
            urls = sorted(u.decode() for u in self._r.smembers(self._k(host, "park")))
            if urls:
                out.append((host, urls[0]))
        return out

    # ------------------------------------------------------------------ robots.txt, sitemaps, scope
    def robots(self, origin):
        row = self._robots.get(origin)
        if row is not None:
            return row
        data = self._r.hget(self._k(host_key(origin), "r"), origin)
        return None if data is None else RobotsRow(*json.loads(data))

    def put_robots(self, origin, row):
        self._put(self._robots, origin, RobotsRow(*row))

    def robots_waiting(self):
        waiting = {o.decode() for o in self._r.smembers(self._meta("robots_waiting"))}
        for origin, row in self._robots.items():
            if row.failures > 0:
                waiting.add(origin)
            else:
                waiting.discard(origin)
        return len(waiting)

    def add_sitemap(self, url, level):
        if self.sitemap_level(url) is None:
            self._put(self._sitemaps, url, level)

    def sitemap_level(self, url):
        if url in self._sitemaps:
            return self._sitemaps[url]
        value = self._r.hget(self._k(host_key(url), "sm"), url)
        return None if value is None else int(value)

    def scope_hosts(self):
        return {h.decode() for h in self._r.smembers(self._meta("scope"))} | set(self._scope)

    def add_scope_host(self, host):
        if host not in self._scope:
            self._put(self._scope, host, True)

    # ------------------------------------------------------------------ the operator
    def add_host_stats(self, rows):
        for host, queue, queued, fetched, errors, size, status, when in rows:
            old = self._stats.get(host) or [None, 0, 0, 0, 0, None, None]
            self._put(self._stats, host, [
                old[0] if queue is None else queue, old[1] + queued, old[2] + fetched,
                old[3] + errors, old[4] + size, old[5] if status is None else status,
                old[6] if when is None else when])

    def host_stats(self, host):
        data = self._r.hmget(self._k(host, "st"), "queue", "queued", "fetched", "errors",
                             "bytes", "last_status", "last_time")
        pending = self._stats.get(host)
        if all(v is None for v in data) and pending is None:
            return None
        queue = None if data[0] is None else int(data[0])
        counts = [int(float(v)) if v is not None else 0 for v in data[1:5]]
        status = None if data[5] is None else int(data[5])
        when = _num(data[6])
        if pending is not None:
            queue = pending[0] if pending[0] is not None else queue
            counts = [c + d for c, d in zip(counts, pending[1:5])]
            status = pending[5] if pending[5] is not None else status
            when = pending[6] if pending[6] is not None else when
        return (host, queue, *counts, status, when)

    def top_host_stats(self, sort, limit):
        if sort == "host":
            hosts = sorted(set(h.decode() for h in self._r.zrange(self._meta("st:queued"), 0, -1))
                           | set(self._stats))[:limit]
        elif sort in HOST_STATS_SORTS:
            column = _STATS[sort]
            names = [h.decode() for h in self._r.zrevrange(self._meta("st:" + sort), 0,
                                                            limit + len(self._stats) - 1)]
            rows = [self.host_stats(h) for h in dict.fromkeys(names + list(self._stats))]
            rows = sorted((r for r in rows if r is not None), key=lambda r: r[column],
                          reverse=True)
            return rows[:limit]
        else:
            raise ValueError("cannot sort hosts by %r" % (sort,))
        return [row for row in (self.host_stats(h) for h in hosts) if row is not None]

    def host_controls(self):
        out = {h.decode(): tuple(json.loads(v))
               for h, v in self._r.hgetall(self._meta("controls")).items()}
        for host, control in self._controls.items():
            if control is None:
                out.pop(host, None)
            else:
                out[host] = tuple(control)
        return out

    def set_host_control(self, host, blocked_until, delay):
        value = None if blocked_until is None and delay is None else (blocked_until, delay)
        self._put(self._controls, host, value)


class _Pipe:
    """A cluster pipeline that knows its script calls, so that ``execute`` can run again
    the ones a node did not know (``NOSCRIPT``) -- only those: the rest are done."""

    def __init__(self, store):
        self.store = store
        self.pipe = store._r.pipeline(transaction=False)
        self.scripts = []
        self.n = 0             # commands queued

    def __getattr__(self, name):
        method = getattr(self.pipe, name)

        def queue(*args, **kwargs):
            self.n += 1
            return method(*args, **kwargs)
        return queue

    def execute(self):
        if not self.n:
            return []
        results = self.pipe.execute(raise_on_error=False)
        scripts = {position: (name, keys, args) for position, name, keys, args in self.scripts}
        for i, result in enumerate(results):
            if isinstance(result, NoScriptError) and i in scripts:
                name, keys, args = scripts[i]
                body = self.store._scripts[name][0]
                results[i] = self.store._r.eval(body, len(keys), *keys, *args)
            elif isinstance(result, Exception):
                raise result
        return results


try:
    from redis.exceptions import NoScriptError
except ImportError:   # without redis the store cannot open (``_connect`` says so)
    class NoScriptError(Exception):
        pass


def _connect(nodes, url):
    """A ``redis.cluster.RedisCluster`` on ``nodes``; ``StoreError`` saying why not."""
    try:
        from redis.backoff import ExponentialBackoff
        from redis.cluster import ClusterNode, RedisCluster
        from redis.exceptions import RedisClusterException, RedisError
        from redis.retry import Retry
    except ImportError as exc:
        raise StoreError("FRONTIER_STORE=%r needs the redis package (pip install "
                         "'spyder[cluster]')" % url) from exc
    try:
        client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes],
                              socket_connect_timeout=1.0, socket_timeout=2.0,
                              # a failover takes the cluster a few seconds: retry within that,
                              # not for long (the master's loop waits meanwhile)
                              retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 10))
        info = client.cluster_info()
    except RedisClusterException as exc:
        text = str(exc)
        if "not enabled" in text.lower() or "cluster mode" in text.lower():
            raise StoreError("%s is not a Redis Cluster (cluster_enabled:0): %s" % (url, exc))
        raise StoreError("cannot reach the Redis Cluster at %s: %s" % (url, exc)) from exc
    except (RedisError, OSError) as exc:
        raise StoreError("cannot reach the Redis Cluster at %s: %s" % (url, exc)) from exc
    state = info.get("cluster_state") if isinstance(info, dict) else None
    if state not in (None, "ok", b"ok"):
        raise StoreError("the Redis Cluster at %s is not serving (cluster_state:%s)"
                         % (url, state))
    return client
