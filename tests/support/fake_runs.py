"""Hand-made run folders (spec, summary, steps, evals) for results/report/plot tests: no
training, every number chosen by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

PHASES = ["data", "d_fwd", "d_bwd", "d_opt", "g_fwd", "g_bwd", "g_opt", "ema"]


def fake_run(
    root: Path,
    variant: str,
    seed: int,
    metrics: dict[str, float] | None,
    step_times: list[float] = (0.5, 0.01, 0.02, 0.04),
    weighting: str = "fixed",
    weights: list[float] | None = None,
    status: str = "done",
    heads: tuple[str, ...] = ("adversarial", "aux_classifier"),
    dataset: dict | None = None,
    protocol: dict | None = None,
    contention: list[dict] | None = None,
) -> Path:
    """A run folder with logged steps 10, 20, ... whose phase times are ``step_times`` (each
    phase the same, total 8x) and, when ``metrics`` is given, evals at the last step.

    ``protocol`` overrides the evals' protocol columns; ``contention`` is spec.json's
    ``meta.contention`` (absent by default, as in runs made before it was recorded)."""
    root.mkdir(parents=True)
    n = len(step_times)
    last = 10 * n
    spec = {
        "name": variant,
        "seed": seed,
        "dataset": dataset or {"type": "shapes", "size": 16},
        "generator": {"type": "dcgan"},
        "discriminator": {"trunk": {"type": "dcgan"}, "heads": [{"type": h} for h in heads]},
        "loss": {"type": "hinge"},
        "weighting": {"type": weighting},
        "train": {"steps": last, "batch_size": 8},
        "meta": {
            "spec_hash": f"hash-{variant}",
            "torch": "9.9",
            "device": "cpu",
            "torch_threads": 1,
        },
    }
    if contention is not None:
        spec["meta"]["contention"] = contention
    (root / "spec.json").write_text(json.dumps(spec))
    if status == "failed":
        (root / "error.txt").write_text("Traceback ...\nRuntimeError: boom\n")
        return root
    rows = []
    for i, t in enumerate(step_times):
        row = {"run_id": root.name, "step": 10 * (i + 1)}
        row |= {f"t_{p}": t for p in PHASES} | {"t_total": 8 * t, "imgs_per_s": 8 / (8 * t)}
        row |= {"loss/d/adversarial/adv": 1.0 + i, "loss/g/adversarial/adv": 2.0 - i * 0.1}
        w = 1.0 if weights is None else weights[i]
        row |= {"weight/d/adversarial/adv": w, "weight/g/adversarial/adv": 2 - w}
        rows.append(row)
    pd.DataFrame(rows).to_parquet(root / "steps.parquet", index=False)
    summary = {
        "run_id": root.name,
        "status": status,
        "error": "loss term x became non-finite" if status == "diverged" else None,
        "steps": last,
        "wall_s": 100.0 + seed,
        "train_s": 90.0 + seed,
        "imgs_per_s": 1000.0 + 10 * seed,
        "device": "cpu",
        "metrics": metrics or {},
    }
    (root / "summary.json").write_text(json.dumps(summary))
    if metrics:
        ev = [
            {
                "run_id": root.name,
                "step": s,
                "metric": m,
                "value": v * (1 + (last - s) / last),
                "feature_extractor": "domain",
                "extractor_hash": "abcdef0123456789",
                "n_real": 600,
                "n_fake": 2000,
                "real_split": "eval",
                "seed": seed,
                "generator": "ema",
            }
            | (protocol or {})
            for s in (last // 2, last)
            for m, v in metrics.items()
        ]
        pd.DataFrame(ev).to_parquet(root / "evals.parquet", index=False)
    return root


# metric values per (variant, seed): what the fake suite's runs report
FAKE = {
    ("ac", 0): {"fid": 10.0, "precision": 0.5, "accuracy": 0.9, "intra_fid/red": 3.0},
    ("ac", 1): {"fid": 12.0, "precision": 0.7, "accuracy": 0.8, "intra_fid/red": 4.0},
    ("ac", 2): {"fid": 14.5, "precision": 0.6, "accuracy": 0.85, "intra_fid/red": 5.0},
    ("proj", 0): {"fid": 8.0, "precision": 0.4, "accuracy": 0.95, "intra_fid/red": 1.0},
    ("proj", 1): {"fid": 9.25, "precision": 0.45, "accuracy": 0.7, "intra_fid/red": 2.0},
    ("unc", 0): {"fid": 20.0, "precision": 0.9, "accuracy": 0.5, "intra_fid/red": 9.0},
}
STEP_TIMES = {0: [0.5, 0.01, 0.03, 0.02], 1: [0.9, 0.02, 0.02, 0.05], 2: [0.1, 0.04, 0.01, 0.03]}


def fake_suite(out: Path) -> Path:
    """Three variants (3, 2 and 1 seeds), one adaptive, plus a failed and a diverged run."""
    for (variant, seed), metrics in FAKE.items():
        weighting = "uncertainty" if variant == "unc" else "fixed"
        weights = [1.0, 0.9, 0.8, 0.7] if variant == "unc" else None
        fake_run(
            out / f"{variant}-s{seed}", variant, seed, metrics, STEP_TIMES[seed], weighting, weights
        )
    fake_run(out / "proj-s2", "proj", 2, None, status="failed")
    fake_run(out / "unc-s1", "unc", 1, None, weighting="uncertainty", status="diverged")
    return out
