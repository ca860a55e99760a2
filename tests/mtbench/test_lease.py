"""Run-folder leases: exclusive, stale at once on their host when the holder dies, stale after
the TTL when held from another host, released only by their holder, refreshed by the run."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time

from mtbench import lease


def test_a_lease_is_exclusive_and_released_only_by_its_holder(tmp_path):
    path = tmp_path / "run" / ".lock"
    held = lease.claim(path, job="a")
    assert held is not None and lease.alive(path)
    assert lease.claim(path) is None
    assert lease.holder(path)["job"] == "a"
    other = lease.Lease(path, "not-the-token")
    other.release()
    assert path.exists() and lease.alive(path)
    held.release()
    assert not path.exists() and not lease.alive(path)
    again = lease.claim(path)
    assert again is not None
    again.release()


def _hold_forever(path) -> None:
    lease.claim(path, job="child")
    time.sleep(600)


def test_a_killed_holder_frees_the_lease_at_once_on_its_host(tmp_path):
    path = tmp_path / ".lock"
    child = multiprocessing.get_context("fork").Process(target=_hold_forever, args=(path,))
    child.start()
    deadline = time.time() + 30
    while not lease.alive(path):
        assert time.time() < deadline
        time.sleep(0.01)
    assert lease.claim(path) is None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert lease.alive(path) is False  # fresh mtime, but nobody holds the lock
    taken = lease.claim(path, job="me")
    assert taken is not None and lease.holder(path)["job"] == "me"
    taken.release()
    assert not list(tmp_path.glob(".lock.*")), "no stale or temporary files left"


def _foreign(path, age_s: float) -> None:
    info = {"token": "t", "host": "another-node", "job": "slurm:1", "since": 0}
    path.write_text(json.dumps(info))
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_a_lease_from_another_host_holds_until_its_ttl(tmp_path):
    path = tmp_path / ".lock"
    _foreign(path, age_s=lease.TTL_S / 3)
    assert lease.alive(path) and lease.claim(path) is None  # no lock to test: trust the mtime
    _foreign(path, age_s=lease.TTL_S * 2)
    assert not lease.alive(path)
    taken = lease.claim(path)
    assert taken is not None and lease.holder(path)["host"] != "another-node"
    taken.release()


def test_the_run_process_keeps_its_lease_fresh(tmp_path, monkeypatch):
    path = tmp_path / ".lock"
    held = lease.claim(path)
    old = time.time() - 60
    os.utime(path, (old, old))
    monkeypatch.setattr(lease, "HEARTBEAT_S", 0.05)
    monkeypatch.setenv(lease.ENV, held.env()[lease.ENV])
    adopted = lease.adopt_from_env()
    deadline = time.time() + 10
    while path.stat().st_mtime < time.time() - 5:
        assert time.time() < deadline, "the lease was not refreshed"
        time.sleep(0.02)
    adopted._stop.set()
    held.release()
