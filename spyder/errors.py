"""The errors every Spyder process shares.

``StartupError`` is what a process raises when it cannot start (a bad setting, a
busy address, a locked state file): its message is the one line the operator sees
on stderr before the non-zero exit, never a traceback alone.  ``ConsoleError`` is the
same for ``spyder status`` and ``spyder ctl`` when the master's console cannot be
reached or refuses a request.
"""


class StartupError(RuntimeError):
    """A process cannot start; the message is the one line shown to the operator."""


class ConsoleError(Exception):
    """``spyder status`` / ``spyder ctl``: the master's console could not be reached or
    refused the request (one line for the operator)."""
