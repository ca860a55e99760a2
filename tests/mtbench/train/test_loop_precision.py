"""Mixed precision (``train.precision``) on the CPU: bf16/fp16 autocast, fp16 loss scaling,
and fused ensembles, whose vmap path needs its own casts under autocast."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_spec

from mtbench import spec as S
from mtbench.compose import compose
from mtbench.train.loop import Trainer
from mtbench_plugins.heads.ensemble import EnsembleHead

ENSEMBLE = {"type": "ensemble", "k": 3, "trunk": {"type": "dcgan", "width": 8}}


def trainer(registry, precision: str, sn: bool) -> Trainer:
    s = tiny_spec()
    s["train"]["precision"] = precision
    head = {**ENSEMBLE, "trunk": {**ENSEMBLE["trunk"], "spectral_norm": sn}}
    s["discriminator"]["heads"] = [head, {"type": "aux_classifier"}]
    r = S.resolve(s, registry)
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    return Trainer.from_spec(r, compose(r, registry, cpu), cpu)


@pytest.mark.parametrize("sn", [False, True], ids=["plain", "sn"])
@pytest.mark.parametrize("vmap_devices", [("cpu", "cuda"), ("cuda",)], ids=["vmap", "sliced"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_steps_train_fused_ensembles(
    registry, monkeypatch, precision, vmap_devices, sn
):
    monkeypatch.setattr(EnsembleHead, "vmap_devices", vmap_devices)
    t = trainer(registry, precision, sn)
    assert t.D.heads["ensemble"].fused
    before = [p.detach().clone() for p in t.D.heads["ensemble"].parameters()]
    for _ in range(3):
        d_terms, g_terms = t.train_step(timed=False)
        assert all(torch.isfinite(v) for v in [*d_terms.values(), *g_terms.values()])
    after = list(t.D.heads["ensemble"].parameters())
    assert all(p.dtype == torch.float32 for p in after)  # master weights stay fp32
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def test_vmap_and_sliced_members_agree_under_autocast(registry):
    t = trainer(registry, "fp32", sn=True)
    head = t.D.heads["ensemble"].eval()  # eval: no power iteration between the two calls
    x = torch.randn(6, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sliced = head.stacked(x, use_vmap=False)
        vmapped = head.stacked(x, use_vmap=True)
    assert vmapped.dtype == sliced.dtype == torch.bfloat16
    assert torch.allclose(vmapped.float(), sliced.float(), atol=2e-2, rtol=2e-2)
