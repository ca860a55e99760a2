"""``condition_on``: fakes conditioned on data-set targets, trained on, and scored."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.evaluate import EvalSpec, Evaluator
from mtbench_plugins.datasets.shapes import Shapes


def test_unknown_or_image_condition_is_a_spec_error(tmp_path, capsys):
    s = tiny_spec(condition_on=["size", "colur"])
    assert main(["validate", str(write_spec(tmp_path / "s.json", s))]) == 2
    assert capsys.readouterr().err.startswith(
        "condition_on[1]: 'colur' is not a class or continuous target of this data set; "
        "declared: colour, position, shape, size"
    )


def test_run_conditions_fakes_trains_them_and_scores_them(tmp_path):
    s = tiny_spec(out=str(tmp_path / "run"), condition_on=["size", "position"])
    s["discriminator"]["heads"].append({"type": "attribute", "targets": ["size", "position"]})
    s["train"]["steps"] = 4
    s["eval"] = {
        "metrics": ["accuracy"],
        "n_samples": 60,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert {"loss/g/attribute/size", "loss/g/attribute/position"} <= set(steps.columns)
    evals = pd.read_parquet(tmp_path / "run" / "evals.parquet")
    assert {"accuracy/size", "mae/position"} <= set(evals["metric"])


@pytest.fixture(scope="module")
def shapes_evaluator(tmp_path_factory):
    ds = Shapes(Shapes.Config(size=16, n=3000))
    data, info = ds.load(), ds.info()
    spec = EvalSpec(
        metrics=["accuracy"],
        n_samples=200,
        cache_dir=str(tmp_path_factory.mktemp("cache")),
    )
    ev = Evaluator(spec, data, info, torch.device("cpu"), 0, ["size", "position"])
    ev.prepare()
    return ev, data.eval


def _rows(ev, generate) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in ev.evaluate(generate, step=1)}


def test_mae_is_small_for_a_generator_that_obeys_its_conditions(shapes_evaluator):
    ev, real = shapes_evaluator
    pos = real.targets["position"]

    def obey(labels, cond, shift=0):
        idx = [int(torch.nonzero((pos == p).all(1))[0]) for p in cond["position"]]
        idx = [(i + shift) % len(real) for i in idx]
        return real.images[idx]

    good = _rows(ev, obey)
    bad = _rows(ev, lambda labels, cond: obey(labels, cond, shift=1))
    assert good["mae/position"] < 0.15
    assert bad["mae/position"] > 2 * good["mae/position"]
    assert good["accuracy/size"] > 0.9 and bad["accuracy/size"] < good["accuracy/size"]
