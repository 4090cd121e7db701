"""Is the data directory usable? Every command (``serve`` included) asks before it starts, so a full
or read-only directory is one line naming the directory and the problem, not a traceback later.

The check writes (and removes) a small file with ``fsync``, so a read-only mount, missing permissions
and a full disk all show as they would to the database; the free space is checked as well, since
SQLite needs room for its journal before the first write fails.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

#: Less free space than this in the data directory counts as full.
MIN_FREE_BYTES = 1024 * 1024
PROBE_BYTES = 4096

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "not a directory",
    errno.EEXIST: "exists and is not a directory",
    errno.EFBIG: "file size limit reached",
}


def reason(error: OSError) -> str:
    """The problem in a few plain words (``read-only file system``, ``no space left on the device``)."""
    found = _REASONS.get(error.errno or 0)
    return found or (error.strerror or str(error)).lower()


def describe(error: OSError) -> str:
    """One line for an ``OSError`` met while opening the data directory (making it, or the secret key
    file in it): ``data directory <path>: <problem>``."""
    path = Path(str(error.filename)) if error.filename else None
    if path is not None and path.name == "secret_key":
        return f"data directory {path.parent}: cannot write {path.name} ({reason(error)})"
    return f"data directory {path}: {reason(error)}" if path is not None else f"data directory: {reason(error)}"


def problem(directory: Path, files: Sequence[Path] = ()) -> str | None:
    """What keeps ``directory`` (and ``files`` in it, if they exist) from being written, or None."""
    shown = str(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"data directory {shown}: exists and is not a directory"
    except OSError as error:
        return f"data directory {shown}: cannot be created ({reason(error)})"
    if not directory.is_dir():
        return f"data directory {shown}: not a directory"
    probe = directory / f".twostep-write-check-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            written = 0
            while written < PROBE_BYTES:  # a write may be cut short at a size limit; the next one fails
                written += os.write(fd, b"\0" * (PROBE_BYTES - written))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        return f"data directory {shown}: cannot write ({reason(error)})"
    finally:
        with suppress(OSError):
            probe.unlink()
    try:
        free = shutil.disk_usage(directory).free
    except OSError as error:
        return f"data directory {shown}: {reason(error)}"
    if free < MIN_FREE_BYTES:
        return f"data directory {shown}: full ({free} bytes free)"
    for path in files:
        # access(), not open(): closing any descriptor of an SQLite file drops the POSIX locks this
        # process's connections hold on it (an in-process CLI call in tests), corrupting their view.
        if path.exists() and not os.access(path, os.W_OK):
            return f"{path}: cannot write (read-only file or file system)"
    return None
