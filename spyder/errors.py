"""The errors every Spyder process shares.

``StartupError`` is what a process raises when it cannot start (a bad setting, a
busy address, a locked state file): its message is the one line the operator sees
on stderr before the non-zero exit, never a traceback alone.
"""


class StartupError(RuntimeError):
    """A process cannot start; the message is the one line shown to the operator."""
