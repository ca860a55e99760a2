"""The mtbench command keeps freed memory in the heap on glibc, unless opted out."""

from __future__ import annotations

import ctypes

import pytest

from mtbench import allocator, cli


def glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallopt")
    except OSError:
        return False


@pytest.mark.skipif(not glibc(), reason="glibc only")
def test_applied_on_glibc_and_skipped_when_opted_out(monkeypatch):
    assert allocator.keep_freed_memory() is True
    monkeypatch.setenv("MTBENCH_KEEP_FREED_MEMORY", "0")
    assert allocator.keep_freed_memory() is False


def test_the_command_applies_it_at_start_up(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1) or True)
    assert cli.main(["list", "head"]) == 0
    assert calls == [1]
