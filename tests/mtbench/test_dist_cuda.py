"""CUDA-only checks of the step and of torchrun on GPUs (NCCL); skipped without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from helpers import tiny_spec, write_spec

from mtbench import spec as S
from mtbench.compose import compose
from mtbench.train.loop import Trainer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")


@cuda
def test_an_unlogged_step_never_waits_for_the_device(registry):
    r = S.resolve(tiny_spec(train={"steps": 6, "batch_size": 8, "device": "cuda"}), registry)
    dev = torch.device("cuda")
    t = Trainer.from_spec(r, compose(r, registry, dev), dev)
    t.train_step(False)  # first-call set-up (allocations, cuDNN plans) may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            t.train_step(False)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@two_gpus
def test_torchrun_on_two_gpus_trains_one_run_over_nccl(tmp_path):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"].update(device="cuda", steps=6)
    spec = write_spec(tmp_path / "spec.json", s)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    r = subprocess.run(
        [*cmd, "-m", "mtbench", "run", str(spec)],
        env={**os.environ, "MTBENCH_DIST_TIMEOUT": "60"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((tmp_path / "run" / "spec.json").read_text())["meta"]
    assert meta["world_size"] == 2 and meta["device"] == "cuda:0"
    assert pd.read_parquet(tmp_path / "run" / "steps.parquet")["step"].tolist() == [2, 4, 6]


@two_gpus
def test_sync_batchnorm_keeps_batch_norm_statistics_of_the_global_batch(tmp_path):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"].update(device="cuda", steps=4, sync_batchnorm=True)
    spec = write_spec(tmp_path / "spec.json", s)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    r = subprocess.run(
        [*cmd, "-m", "mtbench", "run", str(spec)],
        env={**os.environ, "MTBENCH_DIST_TIMEOUT": "60"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "spec.json").read_text())["train"]["sync_batchnorm"]


@cuda
def test_compile_and_channels_last_train_on_cuda(tmp_path, registry):
    from mtbench.train.run import run

    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"].update(device="cuda", compile=True, channels_last=True)
    assert run(S.resolve(s, registry), registry, s["out"])["status"] == "done"
