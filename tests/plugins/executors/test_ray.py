"""The Ray executor: each run a Ray task with the resources asked for, the same suite as the
local pool, an address that does not answer in one line within its timeout, and a missing Ray
named with the extra to install."""

from __future__ import annotations

import sys

import fake_ray
import pandas as pd
import pytest

from mtbench.cli import main


def _bench(suite, out, *extra) -> int:
    return main(
        ["bench", str(suite), "--out", str(out), "--jobs", "2", "--executor", "ray", *extra]
    )


@pytest.mark.slow
def test_ray_tasks_give_the_same_suite_as_the_local_pool(
    tmp_path, suite_2x2, outcome, local_outcome, monkeypatch
):
    ray = fake_ray.make()
    monkeypatch.setitem(sys.modules, "ray", ray)
    assert _bench(suite_2x2, tmp_path / "ray", "--set", "executor.cpus_per_run=1") == 0
    for a, b in zip(local_outcome, outcome(tmp_path / "ray"), strict=True):
        pd.testing.assert_frame_equal(a, b)
    (init,) = ray.calls["init"]
    assert init["num_cpus"] == 2 and init["include_dashboard"] is False and "address" not in init
    assert ray.calls["remote"] == [{"num_cpus": 1.0, "num_gpus": 0.0, "max_retries": 1}]
    assert not ray.is_initialized(), "the bench shuts its Ray instance down"


def test_an_address_that_does_not_answer_is_one_line_within_the_timeout(
    tmp_path, suite_2x2, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "ray", fake_ray.make(hang=True))
    out = tmp_path / "out"
    args = ["--set", "executor.address=127.0.0.1:1", "--set", "executor.connect_timeout_s=0.5"]
    assert _bench(suite_2x2, out, *args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("executor.address: no Ray cluster answers at 127.0.0.1:1 within 0.5 s")
    assert not out.exists()


def test_a_refused_address_is_one_line(tmp_path, suite_2x2, capsys, monkeypatch):
    monkeypatch.setitem(
        sys.modules, "ray", fake_ray.make(refuse="Could not find any running Ray instance")
    )
    assert _bench(suite_2x2, tmp_path / "out", "--set", "executor.address=auto") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "executor.address: no Ray cluster answers at auto" in line
    assert "Could not find any running Ray instance" in line


def test_ray_not_installed_names_the_extra(tmp_path, suite_2x2, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert _bench(suite_2x2, tmp_path / "out") == 2
    assert capsys.readouterr().err.strip() == "executor ray needs Ray: pip install 'mtbench[ray]'"


@pytest.mark.skip(
    reason="Ray cannot be kept on the loopback address: with _node_ip_address=127.0.0.1 and "
    "RAY_NODE_IP_ADDRESS=127.0.0.1, Ray 2.60 still binds its GCS and workers to every "
    "interface (ss -ltn shows *:PORT); tests may start servers on 127.0.0.1 only"
)
def test_a_real_local_ray_instance():  # pragma: no cover
    """Kept so the reason shows in every test report."""
