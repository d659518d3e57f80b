"""The masters a worker serves: ``WORKER_MASTERS`` read into one endpoint map per master.

A worker serves one master by default, at the addresses of the ``ZEROMQ_*`` settings.
With ``WORKER_MASTERS`` it serves each master listed (several masters sharing one crawl on
a Redis Cluster, ``docs/cluster.md``), with one *master link* per master in
``workerprocess``: its own four sockets, fetch stage and ``WorkerControl``, over one HTTP
client, one extract pipeline and one ``SlotPool``.

An entry is either a map of that master's four addresses, named as on the master::

    {"ZEROMQ_MASTER_PUSH": "tcp://10.0.0.1:5001", "ZEROMQ_MASTER_SUB": "tcp://10.0.0.1:5002",
     "ZEROMQ_MGMT_MASTER": "tcp://10.0.0.1:5003", "ZEROMQ_MGMT_WORKER": "tcp://10.0.0.1:5004"}

or a string: the master's ``PARENT_SOCKET_DIRECTORY``, for a master on the same machine
with the default ipc addresses there.  ``master_endpoints(settings)`` returns the maps
(``Endpoints``) or raises ``SettingsError`` saying what is wrong with which entry.
"""
import collections

from spyder.core.settings import Settings, SettingsError

#: The keys of an entry, in the order of the link's sockets.
KEYS = ("ZEROMQ_MASTER_PUSH", "ZEROMQ_MASTER_SUB", "ZEROMQ_MGMT_MASTER", "ZEROMQ_MGMT_WORKER")
_SCHEMES = ("tcp://", "ipc://", "inproc://")


class Endpoints(collections.namedtuple("Endpoints", "label push sub mgmt_master mgmt_worker")):
    """One master's addresses as its worker connects to them: ``push`` (the worker's PULL),
    ``sub`` (the result XPUB), ``mgmt_master`` (management SUB), ``mgmt_worker`` (PUB)."""


def directory_addresses(directory):
    """``{key: address}``: the default addresses of a master whose
    ``PARENT_SOCKET_DIRECTORY`` is ``directory``."""
    resolved = Settings(overrides={"PARENT_SOCKET_DIRECTORY": directory})
    return {key: getattr(resolved, key) for key in KEYS}


def _problem(i, entry, text):
    return SettingsError("WORKER_MASTERS[%d] = %r: %s; each entry is a master's "
                         "PARENT_SOCKET_DIRECTORY (a string) or a map of its %s"
                         % (i, entry, text, ", ".join(KEYS)))


def master_endpoints(settings):
    """``[Endpoints]``, one per master this worker serves (see the module docstring)."""
    entries = settings.WORKER_MASTERS
    if not entries:
        return [Endpoints("master", settings.ZEROMQ_WORKER_PROC_FETCHER_PULL,
                          settings.ZEROMQ_WORKER_PROC_EXTRACTOR_PUB,
                          settings.ZEROMQ_MGMT_MASTER, settings.ZEROMQ_MGMT_WORKER)]
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            if not entry or "://" in entry:
                raise _problem(i, entry, "a string must be a directory, not an address")
            addresses = list(directory_addresses(entry).values())
        elif isinstance(entry, dict):
            unknown = sorted(set(map(str, entry)) - set(KEYS))
            missing = [key for key in KEYS if key not in entry]
            if unknown or missing:
                raise _problem(i, entry, "; ".join(
                    part for part in ("unknown key(s) %s" % ", ".join(unknown) if unknown else "",
                                      "missing %s" % ", ".join(missing) if missing else "")
                    if part))
            addresses = [entry[key] for key in KEYS]
            for key, address in zip(KEYS, addresses):
                if not isinstance(address, str) or not address.startswith(_SCHEMES):
                    raise _problem(i, entry, "%s must be a ZeroMQ address (tcp://, ipc://), "
                                   "not %r" % (key, address))
        else:
            raise _problem(i, entry, "a %s" % type(entry).__name__)
        out.append(Endpoints("m%d" % (i + 1), *addresses))
    seen = {}
    for endpoints in out:
        for key, address in zip(KEYS, endpoints[1:]):
            if address in seen:
                raise SettingsError("WORKER_MASTERS: %s appears twice (%s of %s and of %s): "
                                    "every master has addresses of its own"
                                    % (address, key, seen[address], endpoints.label))
            seen[address] = endpoints.label
    return out
