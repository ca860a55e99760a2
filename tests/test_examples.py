"""Every spec in examples/ validates and trains for a few steps (evaluation off)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import MNIST_ROOT, REPO, write_spec

from mtbench.cli import main

EXAMPLES = sorted((REPO / "examples").glob("*.json"))


def test_the_issue_examples_exist():
    names = {p.stem for p in EXAMPLES}
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


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_trains_a_few_steps(tmp_path, path):
    spec = json.loads(path.read_text())
    if "root" in spec["dataset"]:
        if not MNIST_ROOT.exists():
            pytest.skip("MNIST test set not available")
        spec["dataset"]["root"] = str(MNIST_ROOT)
    spec["out"] = str(tmp_path / "run")
    spec["train"].update(steps=2, batch_size=8, threads=1, device="cpu")
    spec["log"] = {"every": 1, "checkpoint_every": 2, "sample_every": 2, "progress": False}
    spec["eval"] = {"metrics": []}
    assert main(["run", str(write_spec(tmp_path / "s.json", spec))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    losses = steps.filter(like="loss/")
    assert len(steps) == 2 and losses.notna().all().all()
    head_types = {h.get("label") or h["type"] for h in spec["discriminator"]["heads"]}
    logged = {c.split("/")[2] for c in losses.columns}
    assert head_types <= logged | {"feature_matching"}
