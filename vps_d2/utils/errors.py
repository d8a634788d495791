"""The one exception type the command-line tools print as a single line (SPEC §8).

A :class:`UserError` is raised where input is checked (a path, a file's contents, a config key, a
command-line argument) and its message says what is wrong, where, and what was expected. The CLIs
catch only this type: any other exception is a bug in vps_d2 and keeps its traceback.

It derives from ``ValueError`` so that library callers that catch ``ValueError`` keep working.
"""

__all__ = ["UserError"]


class UserError(ValueError):
    """Bad user input; ``str(e)`` is one line naming the file or key and the expectation."""
