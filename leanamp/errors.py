"""Errors and warnings that reach the user as messages, never as tracebacks."""


class LeanampError(Exception):
    """A problem the user can fix: the message names the file and says what to do.

    The CLI prints the message and exits with `exit_code`, without a traceback.
    """

    exit_code = 2


class Interrupted(LeanampError):
    """Ctrl-C: the message says what was kept and how to go on."""

    exit_code = 130
    prefix = "interrupted"


class DataError(LeanampError):
    """Bad or unusable audio: unreadable, empty, NaN, silent, clipped, mismatched, misaligned."""


class ModelFileError(LeanampError):
    """A model file that is malformed, hostile, or of a kind leanamp cannot read or write."""


class DataWarning(UserWarning):
    """Audio that can be used but deserves a look (mild clipping, small length mismatch...)."""
