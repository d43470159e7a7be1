"""What can go wrong while updating the universe from CCP's SDE."""

from __future__ import annotations

__all__ = ["SdeDownloadError", "SdeError"]


class SdeError(Exception):
    """The SDE archive cannot be used: unreadable, not a zip, a file missing or malformed.

    The message names the file (and line) at fault; nothing has been written when it is raised.
    """


class SdeDownloadError(SdeError):
    """The archive could not be fetched: HTTP error status, timeout, connection lost, too big."""
