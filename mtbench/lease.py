"""A run folder's lease: an exclusive claim that holds across machines on a shared filesystem.

One file, made by hard-linking a prepared file into place (``link`` is atomic and fails if
the name exists, on local disks and NFS alike), holding who claimed it. The holder refreshes its
mtime every ``HEARTBEAT_S``; a lease not refreshed for ``TTL_S`` is stale (its holder died with
its machine, or was killed) and the next claimant breaks it. On the holder's own host the
holder also keeps an ``flock`` on the file, inherited by the run process: when every holder has
exited the kernel drops it, so a killed run's lease is stale at once there, without waiting for
the TTL and without comparing process ids. The run process refreshes its own lease
(``MTBENCH_LEASE`` in its environment), so a run keeps its folder for as long as it trains,
whoever launched it and whatever happened to the launcher.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

TTL_S = 90.0  # a lease older than this is stale
HEARTBEAT_S = 10.0
ENV = "MTBENCH_LEASE"  # "<path>\t<token>": the lease a run process keeps fresh


@dataclass
class Lease:
    """A held claim on ``path``; ``token`` tells it apart from a later claim of the same file."""

    path: Path
    token: str
    fd: int | None = None  # the flock holder's descriptor (inherit it to keep the lock)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def refresh(self) -> bool:
        """Touch the file if it is still ours; False once someone broke it."""
        if holder(self.path).get("token") != self.token:
            return False
        os.utime(self.path)
        return True

    def keep_alive(self) -> None:
        """Refresh in a daemon thread until ``release``."""
        threading.Thread(target=self._beat, daemon=True, name="mtbench-lease").start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.refresh()
            except OSError:
                pass

    def release(self) -> None:
        """Stop refreshing and remove the file, only if it is still ours."""
        self._stop.set()
        if holder(self.path).get("token") == self.token:
            self.path.unlink(missing_ok=True)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def env(self) -> dict[str, str]:
        """The environment entry that hands this lease to a child process."""
        return {ENV: f"{self.path}\t{self.token}"}


def claim(path: Path, job: str = "") -> Lease | None:
    """Take the lease at ``path``, breaking a stale one; None while someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        lease = _create(path, job)
        if lease is not None:
            return lease
        if not _break_if_stale(path):
            return None
    return None


def _create(path: Path, job: str) -> Lease | None:
    """Write the claim beside ``path``, lock it, then link it into place (atomic, exclusive)."""
    token = uuid.uuid4().hex
    tmp = path.with_name(f"{path.name}.new-{token[:8]}")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    info = {"token": token, "host": socket.gethostname(), "job": job, "since": time.time()}
    os.write(fd, json.dumps(info).encode())
    try:
        os.link(tmp, path)
    except FileExistsError:
        os.close(fd)
        return None
    finally:
        tmp.unlink(missing_ok=True)
    return Lease(path, token, fd)


def _break_if_stale(path: Path) -> bool:
    """Move a stale lease aside (rename: one breaker wins); whether the path is free now."""
    if alive(path):
        return False
    try:
        os.rename(path, path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:8]}"))
    except FileNotFoundError:
        pass
    for old in path.parent.glob(f"{path.name}.stale-*"):
        old.unlink(missing_ok=True)
    return True


def holder(path: Path) -> dict:
    """What the lease file says of its holder; {} when there is none (or it is half written)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def alive(path: Path, ttl: float = TTL_S) -> bool:
    """Whether a lease is held: on its holder's host, whether its flock is; elsewhere, whether
    it was refreshed within ``ttl`` seconds."""
    try:
        fresh = time.time() - path.stat().st_mtime < ttl
    except FileNotFoundError:
        return False
    if holder(path).get("host") != socket.gethostname():
        return fresh
    return _locked(path)


def _locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def adopt_from_env() -> Lease | None:
    """The lease the launcher handed to this process, kept fresh from now on (or None)."""
    value = os.environ.get(ENV)
    if not value or "\t" not in value:
        return None
    path, token = value.split("\t", 1)
    lease = Lease(Path(path), token)
    lease.keep_alive()
    return lease
