"""Settings: the defaults, then the crawl's settings module, then overrides.

``Settings(user_module, overrides)`` copies every upper-case name of
``spyder.defaultsettings`` (deep-copied, so nobody can mutate the defaults), lays
the user's module over it, then the ``-s KEY=VALUE`` overrides.  Values are type
checked against the defaults; unknown names warn with the closest known one, and
retired ones (``RETIRED``) say why they are gone.

Derived settings (``None`` by default, listed in ``DERIVED``) are resolved each time
they are read, from the merged values: overriding only ``ZEROMQ_MASTER_PUSH``
moves ``ZEROMQ_WORKER_PROC_FETCHER_PULL`` too, and every default ipc address lives
in ``PARENT_SOCKET_DIRECTORY``.

``load_settings(spec, overrides)`` is what the command line uses: ``spec`` is a
``.py`` path or a dotted module name; without one, ``./settings.py`` if present,
else ``$SPYDER_SETTINGS``, else defaults only.
"""
import ast
import copy
import difflib
import importlib
import importlib.util
import os
import sys
import tempfile
import warnings

from spyder import defaultsettings


class SettingsError(ValueError):
    """A setting has a wrong type or value, or the settings module cannot be loaded."""


class UnknownSettingWarning(UserWarning):
    """A settings module names a setting Spyder does not know."""


def _default_socket_directory():
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base) or not os.access(base, os.W_OK):
        base = tempfile.gettempdir()
    return os.path.join(base, "spyder-%d" % os.getuid())


def _ipc(name):
    return lambda s: "ipc://%s/%s" % (s.PARENT_SOCKET_DIRECTORY, name)


#: Derived settings: name -> function(settings) used while the value is None.
#: Each pair of master-side / worker-side addresses derives from the other one, so
#: setting either end moves both.
DERIVED = {
    "PARENT_SOCKET_DIRECTORY": lambda s: _default_socket_directory(),
    "ZEROMQ_MASTER_PUSH": lambda s: (s._raw("ZEROMQ_WORKER_PROC_FETCHER_PULL")
                                     or _ipc("spyder-zmq-master-push.sock")(s)),
    "ZEROMQ_WORKER_PROC_FETCHER_PULL": lambda s: s.ZEROMQ_MASTER_PUSH,
    "ZEROMQ_MASTER_SUB": lambda s: (s._raw("ZEROMQ_WORKER_PROC_EXTRACTOR_PUB")
                                    or _ipc("spyder-zmq-master-sub.sock")(s)),
    "ZEROMQ_WORKER_PROC_EXTRACTOR_PUB": lambda s: s.ZEROMQ_MASTER_SUB,
    "ZEROMQ_MGMT_MASTER": _ipc("spyder-zmq-mgmt-master.sock"),
    "ZEROMQ_MGMT_WORKER": _ipc("spyder-zmq-mgmt-worker.sock"),
    "ZEROMQ_LOGGING": _ipc("spyder-logging.sock"),
    "ZEROMQ_MAX_MESSAGE_SIZE": lambda s: 2 * s.MAX_CONTENT_SIZE + 1024 * 1024,
    "CONNECT_TIMEOUT": lambda s: s.REQUEST_TIMEOUT,
    "LEASE_TIMEOUT": lambda s: 2 * s.REQUEST_TIMEOUT + 30.0,
}

#: Settings of earlier versions that no longer do anything: name -> why.
RETIRED = dict.fromkeys(
    ("ZEROMQ_WORKER_PROC_FETCHER_PUSH", "ZEROMQ_WORKER_PROC_FETCHER_PUSH_HWM",
     "ZEROMQ_WORKER_PROC_EXTRACTOR_PULL"),
    "the worker's fetch stage hands pages to its extract stage directly, without an "
    "inproc socket; remove it")

_NUMBER = (int, float)
#: Accepted types of settings whose default does not tell (None defaults).
_TYPES = {
    "LOGSINK_CONFIG": (str, type(None)),
    "PROXY_HOST": (str, type(None)),
    "PROXY_PORT": (int, type(None)),
    "CONNECT_TIMEOUT": _NUMBER + (type(None),),
    "MASTER_CALLBACK": (str, type(None)),
    "LEASE_TIMEOUT": _NUMBER + (type(None),),
    "CRAWL_MAX_DEPTH": (int, type(None)),
    "PARENT_SOCKET_DIRECTORY": (str, type(None)),
    "ZEROMQ_MASTER_PUSH": (str, type(None)),
    "ZEROMQ_WORKER_PROC_FETCHER_PULL": (str, type(None)),
    "ZEROMQ_WORKER_PROC_EXTRACTOR_PUB": (str, type(None)),
    "ZEROMQ_MASTER_SUB": (str, type(None)),
    "ZEROMQ_MGMT_MASTER": (str, type(None)),
    "ZEROMQ_MGMT_WORKER": (str, type(None)),
    "ZEROMQ_LOGGING": (str, type(None)),
    "ZEROMQ_MAX_MESSAGE_SIZE": (int, type(None)),
    "ZEROMQ_CURVE_KEYS_DIR": (str, type(None)),
    "MASTER_HTTP_ADDRESS": (str, type(None)),
    "MASTER_HTTP_TOKEN": (str, type(None)),
    "FRONTIER_MASTER_NAME": (str, type(None)),
}


def _expected_types(name, default):
    if name in _TYPES:
        return _TYPES[name]
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, float):
        return _NUMBER
    if isinstance(default, int):
        return (int,)
    if isinstance(default, (list, tuple)):
        return (list, tuple)
    if default is None:
        return None  # anything goes
    return (type(default),)


def _type_names(types):
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def _public_names(module):
    return [name for name in dir(module) if name.isupper() and not name.startswith("_")]


class Settings:
    """The merged settings of one process, read as attributes (``settings.MAX_CLIENTS``)."""

    def __init__(self, user_module=None, overrides=None):
        values = {name: copy.deepcopy(getattr(defaultsettings, name))
                  for name in _public_names(defaultsettings)}
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_defaults", dict(values))
        source = ("settings module %s" % getattr(user_module, "__file__", user_module)
                  if user_module is not None else "the defaults (no settings module)")
        if overrides:
            source += " with -s %s" % ", ".join(sorted(dict(overrides)))
        #: Where these settings came from, for the start-up log line.
        object.__setattr__(self, "source", source)
        if user_module is not None:
            self._merge({n: getattr(user_module, n) for n in _public_names(user_module)},
                        "settings module %s" % getattr(user_module, "__file__", user_module))
        if overrides:
            self._merge(dict(overrides), "command-line override")

    def _merge(self, new_values, origin):
        for name, value in new_values.items():
            if name in RETIRED:
                warnings.warn("setting %s in %s is no longer used: %s"
                              % (name, origin, RETIRED[name]), UnknownSettingWarning,
                              stacklevel=3)
                continue
            if name not in self._defaults:
                close = difflib.get_close_matches(name, list(self._defaults), n=1)
                hint = " (did you mean %s?)" % close[0] if close else ""
                warnings.warn("unknown setting %s in %s%s" % (name, origin, hint),
                              UnknownSettingWarning, stacklevel=3)
            self._set(name, copy.deepcopy(value), origin)

    def _set(self, name, value, origin="settings"):
        if name in self._defaults:
            types = _expected_types(name, self._defaults[name])
            bad = types is not None and (
                not isinstance(value, types)
                or (isinstance(value, bool) and bool not in types))
            if bad:
                raise SettingsError("%s: setting %s = %r is a %s, expected %s" % (
                    origin, name, value, type(value).__name__, _type_names(types)))
        self._values[name] = value

    def _raw(self, name):
        return self._values.get(name)

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        try:
            value = values[name]
        except KeyError:
            raise AttributeError("no setting named %s" % name) from None
        if value is None and name in DERIVED:
            return DERIVED[name](self)
        return value

    def __setattr__(self, name, value):
        self._set(name, value)

    def __contains__(self, name):
        return name in self._values

    def get(self, name, default=None):
        """The value of ``name`` (derived values resolved), or ``default``."""
        return getattr(self, name) if name in self._values else default

    def as_dict(self):
        """All settings with derived values resolved (a fresh copy)."""
        return {name: copy.deepcopy(getattr(self, name)) for name in sorted(self._values)}

    def overridden(self):
        """The explicitly set values that differ from the defaults (for child processes)."""
        return {n: v for n, v in self._values.items()
                if n not in self._defaults or v != self._defaults[n]}

    def __repr__(self):
        return "<Settings: %d values>" % len(self._values)


def parse_override(text):
    """Parse one ``KEY=VALUE`` override; the value is a Python literal, else a string."""
    if "=" not in text:
        raise SettingsError("override %r is not KEY=VALUE" % text)
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key.isupper():
        raise SettingsError("override %r: setting names are upper case" % text)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


def load_module(spec):
    """Import a settings module from a ``.py`` path or a dotted module name."""
    if spec.endswith(".py") or os.sep in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise SettingsError("settings file %s does not exist" % path)
        name = "spyder_user_settings_%d" % abs(hash(path))
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        # the crawl directory holds the MASTER_CALLBACK and sink modules
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise SettingsError("cannot load settings file %s: %s: %s"
                                % (path, type(exc).__name__, exc)) from exc
        return module
    try:
        return importlib.import_module(spec)
    except Exception as exc:
        raise SettingsError("cannot import settings module %r: %s: %s"
                            % (spec, type(exc).__name__, exc)) from exc


def find_settings_spec(spec=None):
    """The settings module to use: ``spec``, ./settings.py, $SPYDER_SETTINGS, or None."""
    if spec:
        return spec
    if os.path.isfile("settings.py"):
        return os.path.abspath("settings.py")
    return os.environ.get("SPYDER_SETTINGS") or None


def load_settings(spec=None, overrides=()):
    """Build the Settings the command line asked for (see the module docstring)."""
    spec = find_settings_spec(spec)
    module = load_module(spec) if spec else None
    parsed = dict(parse_override(o) if isinstance(o, str) else o for o in overrides)
    return Settings(module, parsed)


def reference_markdown():
    """Every default setting as Markdown tables, one per section of defaultsettings.py.

    The README's settings reference is this text (a test keeps them in step); print
    it with ``spyder settings --reference``.
    """
    path = defaultsettings.__file__
    with open(path, encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines()
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) or not isinstance(node, ast.Assign):
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name) or not target.id.isupper():
            continue
        section = None
        comment = []
        index = node.lineno - 2
        while index >= 0 and lines[index].startswith("#"):
            text = lines[index].lstrip("# ").rstrip()
            if lines[index].startswith("# ---"):
                section = text.strip("- ").strip()
                break
            comment.insert(0, text)
            index -= 1
        if section:
            out += ["", "**%s**" % section.capitalize(), "",
                    "| Setting | Default | Meaning |", "|---|---|---|"]
        value = " ".join(ast.get_source_segment(source, node.value).split())
        value = value.replace("|", "\\|").replace(" ,", ",").replace("[ ", "[").replace(" ]", "]")
        out.append("| `%s` | `%s` | %s |" % (target.id, value, " ".join(comment)))
    return "\n".join(out).strip() + "\n"
