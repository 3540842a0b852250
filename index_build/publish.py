"""Atomic publication of index builds.

Layout of an index home::

    HOME/builds/<build_id>/   immutable once published
    HOME/builds/.staging-*/   a build in progress (removed when it fails, ignored when killed)
    HOME/current -> builds/<build_id>   swapped with one rename(2), so readers see old or new

A build that fails or is killed never touches ``current``; the next build removes stale staging
folders. A lock file keeps two builds of the same home from interleaving.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.index_layout import BUILDS, CURRENT

STAGING_PREFIX = ".staging-"


class PublishError(RuntimeError):
    pass


def new_build_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@contextmanager
def build_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".build.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PublishError(f"another build is running in {home}") from exc
        yield


def remove_stale_staging(home: Path) -> list[Path]:
    """Staging folders left by killed builds; only called while holding the build lock."""
    removed = []
    builds = home / BUILDS
    if builds.is_dir():
        for path in builds.iterdir():
            if path.name.startswith(STAGING_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def new_staging(home: Path, build_id: str) -> Path:
    staging = home / BUILDS / f"{STAGING_PREFIX}{build_id}"
    staging.mkdir(parents=True)
    return staging


def publish(home: Path, staging: Path, build_id: str) -> Path:
    """Move a finished staging folder into place and point ``current`` at it."""
    final = home / BUILDS / build_id
    os.replace(staging, final)
    _fsync_dir(final.parent)
    link_tmp = home / f".{CURRENT}.{build_id}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    os.symlink(Path(BUILDS) / build_id, link_tmp)
    os.replace(link_tmp, home / CURRENT)
    _fsync_dir(home)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
