"""Every shipped spec (examples/, recipes/) runs exactly as shipped, with only --steps and --out
changed: resolution, the data checks at the start, a few steps, and the evaluation at the end."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from helpers import MNIST_ROOT, REPO

from mtbench.cli import main
from mtbench.evaluate import catalogue

SHIPPED = sorted([*REPO.glob("examples/*.json"), *REPO.glob("recipes/*.json")])


def test_the_issue_examples_exist():
    names = {p.stem for p in SHIPPED}
    assert {
        "quickstart",
        "mt_cgan_mnist",
        "single_source_multitask",
        "acgan_mnist",
        "projgan_mnist",
        "tacgan_mnist",
        "contragan_mnist",
        "reacgan_mnist",
        "ssgan_shapes",
        "infogan_mnist",
    } <= names


def test_the_quickstart_evaluates_fid_and_accuracy_with_the_domain_evaluator():
    ev = json.loads((REPO / "examples" / "quickstart.json").read_text())["eval"]
    assert {"fid", "accuracy"} <= set(ev["metrics"])
    assert ev.get("feature_extractor", "domain") == "domain"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One evaluator cache for all examples: each data set's domain evaluator trains once."""
    return tmp_path_factory.mktemp("mtbench-cache")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_spec_runs_as_shipped_and_evaluates(tmp_path, monkeypatch, shared_cache, path):
    spec = json.loads(path.read_text())
    if "root" in spec["dataset"] and not MNIST_ROOT.exists():
        pytest.skip("MNIST test set not available")
    monkeypatch.chdir(REPO)  # dataset.root is relative to the repository, as the README says
    monkeypatch.setenv("MTBENCH_CACHE", str(shared_cache))
    out = tmp_path / "run"
    assert main(["run", str(path), "--steps", "2", "--out", str(out)]) == 0
    steps = pd.read_parquet(out / "steps.parquet")
    losses = steps.filter(like="loss/")
    assert len(steps) >= 1 and losses.notna().all().all()
    head_types = {h.get("label") or h["type"] for h in spec["discriminator"]["heads"]}
    logged = {c.split("/")[2] for c in losses.columns}
    assert head_types <= logged | {"feature_matching"}
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert all(math.isfinite(v) for v in metrics.values())
    for name in spec.get("eval", {}).get("metrics", []):
        assert any(catalogue.yields([name], row) for row in metrics), name
    for row in ("precision", "recall") if "prc" in spec.get("eval", {}).get("metrics", []) else ():
        assert row in metrics
