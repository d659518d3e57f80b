"""``import_class``: load a class (or function) named by a dotted path in settings.

Every pluggable part of Spyder -- frontier, prioritizer, queue selector and
assignment, processors, sinks, MASTER_CALLBACK -- is named this way.
``load_setting`` loads the one a setting names, with the operator's error.
"""
import importlib

from spyder.errors import StartupError


class ImportClassError(ImportError):
    """A dotted path names nothing importable; the message says what and why."""


def import_class(dotted_path):
    """Return the object named by ``"package.module.Name"``.

    Raises ``ValueError`` for a name without a module part (as the original did)
    and ``ImportClassError`` when the module or attribute cannot be found.
    """
    if not isinstance(dotted_path, str):
        raise ValueError("expected a dotted path string, got %r" % (dotted_path,))
    module_name, _, attr = dotted_path.rpartition(".")
    if not module_name or not attr:
        raise ValueError("%r is not a dotted path (expected 'package.module.Name')"
                         % dotted_path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportClassError("cannot import %r: module %r not found (%s)"
                               % (dotted_path, module_name, exc)) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportClassError("cannot import %r: module %r has no %r"
                               % (dotted_path, module_name, attr)) from None


def load_setting(settings, name):
    """The object the setting ``name`` names; a ``StartupError`` naming the setting if
    it cannot be loaded."""
    path = getattr(settings, name)
    try:
        return import_class(path)
    except (ImportError, ValueError) as exc:
        raise StartupError("%s=%r cannot be loaded: %s" % (name, path, exc)) from exc
