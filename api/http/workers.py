"""``leian serve --workers N``: N server processes on one listening socket, one audit chain.

A process runs one search at a time (one SQLite connection, and Python's GIL would gain nothing
from a second thread), so more cores need more processes. They share the data folder: each audit
append takes SQLite's write lock and first reads what the others appended (``AuditLog.append``),
so the log stays one chain in commit order.
"""

from __future__ import annotations

import os
import socket

from api.service.config import Settings

APP = "api.app:app"


def worker_environment(settings: Settings) -> dict[str, str]:
    """What the workers need to open the same index, data folder and key as the command chose.

    The index files were checked once, before the workers start.
    """
    env = {
        "LEIAN_DATA": str(settings.data_dir),
        "LEIAN_SIGNING_KEY": str(settings.signing_key_path),
        "LEIAN_VERIFY_INDEX_CHECKSUMS": "true" if settings.verify_index_checksums else "false",
    }
    if settings.index_home is not None:
        env["LEIAN_INDEX"] = str(settings.index_home)
    return env


def tcp_listener(host: str, port: int) -> socket.socket:
    """The listening socket the workers share, created as TCP (protocol IPPROTO_TCP).

    uvicorn's own for ``--workers`` leaves the protocol 0, and asyncio then never sets TCP_NODELAY
    on the connections it accepts: every keep-alive answer waits for the client's delayed ACK
    (uvicorn issue #3149; measured here, /healthz took 44 ms with two workers, 1 ms with one).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve_workers(settings: Settings, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Run ``workers`` uvicorn processes until interrupted; each imports the app and reads the
    settings from the environment."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ.update(worker_environment(settings))
    config = uvicorn.Config(APP, host=host, port=port, log_level=log_level, workers=workers)
    listener = tcp_listener(host, port)
    try:
        Multiprocess(config, sockets=[listener]).run()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
