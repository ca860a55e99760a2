"""recipes/cifar10/*.json mirror StudioGAN's CIFAR-10 configurations: each validates, cites
the configuration it mirrors, and trains a few steps on a small synthetic data set in the
CIFAR-10 python-pickle format (made here; no CIFAR data is committed or read)."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from helpers import REPO

from mtbench.cli import main

RECIPES = sorted((REPO / "recipes" / "cifar10").glob("*.json"))


def _networks(path) -> str:
    spec = json.loads(path.read_text())
    return json.dumps([spec["generator"], spec["discriminator"]["trunk"]], sort_keys=True)


# The first recipe (by name) of each distinct shipped G/D pair: recipes sharing the networks
# differ only in heads and losses, which the narrowed 5-step test trains for each recipe.
NETWORKS = list({_networks(p): p for p in reversed(RECIPES)}.values())
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def write_fake_cifar(folder, per_file: int = 20) -> None:
    """Six batches in the official layout (bytes keys, pickle protocol 2): class-coloured
    noise, so a classifier (the domain evaluator) has something to learn."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*TRAIN_FILES, "test_batch"]:
        labels = [i % 10 for i in range(per_file)]
        base = np.array(labels)[:, None] * 25
        data = (rng.integers(0, 30, (per_file, 3072)) + base).astype(np.uint8)
        batch = {b"data": data, b"labels": labels, b"batch_label": name.encode()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar(root / "cifar-10-batches-py")
    return root


@pytest.fixture(scope="module")
def recipe_cache(tmp_path_factory):
    """One cache for the module: the domain evaluator of the fake CIFAR is trained once."""
    return tmp_path_factory.mktemp("cache")


def test_the_six_recipes_exist():
    assert {p.stem for p in RECIPES} == {
        "acgan",
        "projgan",
        "contragan",
        "reacgan",
        "adcgan",
        "biggan",
    }


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_validates_and_cites_studiogan(path, capsys):
    spec = json.loads(path.read_text())
    assert "src/configs/CIFAR10/" in spec["description"]
    assert "Deliberate differences" in spec["description"]
    assert main(["validate", str(path)]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["description"] == spec["description"]


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_trains_on_cifar10_format_data(
    tmp_path, monkeypatch, cifar_root, recipe_cache, path
):
    monkeypatch.setenv("MTBENCH_CACHE", str(recipe_cache))
    out = tmp_path / "run"
    args = ["run", str(path), "--steps", "5", "--out", str(out)]
    args += ["--set", f"dataset.root={cifar_root}"]
    # Narrowed for CPU time only; the layouts (blocks, attention, spectral norm, latent
    # split), losses, heads, weights and optimizer settings run as shipped: a batch of 8
    # instead of 64/128, 64 evaluation samples instead of 10,000, and 8 base channels in G
    # and D instead of 32-128 (2 steps of the shipped BigGAN widths took about a minute
    # on one busy CPU core, evaluation included).
    args += ["--set", "train.batch_size=8", "--set", "eval.n_samples=64"]
    args += ["--set", "generator.width=8", "--set", "discriminator.trunk.width=8"]
    assert main(args) == 0
    steps = pd.read_parquet(out / "steps.parquet")
    assert len(steps) >= 1 and steps.filter(like="loss/").notna().all().all()
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert {"fid", "accuracy"} <= set(metrics) and all(math.isfinite(v) for v in metrics.values())


@pytest.mark.slow
@pytest.mark.parametrize("path", NETWORKS, ids=[p.stem for p in NETWORKS])
def test_recipe_steps_at_its_shipped_widths(tmp_path, monkeypatch, cifar_root, recipe_cache, path):
    """Each shipped network pair (widths, blocks, attention, spectral norm) trains a step with
    its recipe's D steps and optimizers; only the batch (8) and the evaluation samples (64)
    are cut, since one shipped BigGAN step at batch 64 takes about 49 s on one CPU core."""
    monkeypatch.setenv("MTBENCH_CACHE", str(recipe_cache))
    out = tmp_path / "run"
    args = ["run", str(path), "--steps", "1", "--out", str(out)]
    args += ["--set", f"dataset.root={cifar_root}"]
    args += ["--set", "train.batch_size=8", "--set", "eval.n_samples=64"]
    assert main(args) == 0
    spec = json.loads((out / "spec.json").read_text())
    shipped = json.loads(path.read_text())
    assert spec["generator"]["width"] == shipped["generator"]["width"]
    assert spec["discriminator"]["trunk"] == shipped["discriminator"]["trunk"]
    steps = pd.read_parquet(out / "steps.parquet")
    assert len(steps) == 1 and steps.filter(like="loss/").notna().all().all()
