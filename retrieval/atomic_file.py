"""Write a file so that a reader (or a process killed half-way) never sees it half-written.

The bytes go to a temporary file in the same folder (same file system, so the rename is atomic),
are fsynced, and the temporary file is renamed over the target. A crash leaves either the old file
or the new one, plus at most a stray ``.<name>.*.tmp`` that ``remove_stale_temporaries`` clears.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp creates 0600, a written file gets what open() would give it


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete temporaries a killed writer left in ``folder``; returns how many there were."""
    root = Path(folder)
    if not root.is_dir():
        return 0
    stale = [p for p in root.iterdir() if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)
