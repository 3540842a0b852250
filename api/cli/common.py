"""What every `leian` command module shares: the one error type, the operator's name, settings, paths.

Command modules import this and nothing of each other, so that ``api.cli.main`` alone assembles them.
Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad input (message on stderr).
"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from api.service.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SAMPLES = REPO_ROOT / "corpus_samples"
DEFAULT_DEMO_HOME = REPO_ROOT / "build" / "demo-index"
DEMO_DATA = REPO_ROOT / "build" / "demo-data"


class CliError(Exception):
    """A user-facing failure with its exit code (2 bad usage or input, 1 the operation failed)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def os_user() -> str:
    """Who ran the command, as the audit log names an operator (a shell has no account token)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers without a passwd entry
        return f"uid:{os.getuid()}"


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings with the command's ``--data``, ``--index``, ``--signing-key``."""
    return Settings.from_env().with_overrides(
        data_dir=getattr(args, "data", None),
        index_home=getattr(args, "index", None),
        signing_key=getattr(args, "signing_key", None),
    )
