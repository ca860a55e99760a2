"""Split sizes a data set declares in ``DataInfo.split_sizes`` are checked when a spec is
resolved (``mtbench validate``), before any data is loaded.

EvalSpec validation and the small pure helpers: every bad input is one line naming the field.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import tiny_spec, write_spec
from pydantic import ValidationError

from mtbench import spec as S
from mtbench.api import DataInfo, DataSplits, TensorData
from mtbench.cli import main
from mtbench.errors import SpecError
from mtbench.evaluate import EvalSpec, balanced_labels, check_against, is_better


def test_validate_catches_a_kid_subset_larger_than_the_eval_split(tmp_path, capsys, registry):
    s = tiny_spec(eval={"metrics": ["kid"], "n_samples": 1000, "kid_subset_size": 500})
    path = write_spec(tmp_path / "s.json", s)  # shapes n=400: 40 eval images
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "eval.kid_subset_size: 500 exceeds the 40 images of the eval split; lower it to 40 or less"
    )
    s["eval"]["kid_subset_size"] = 40
    assert S.resolve(s, registry).data_info.split_sizes == {"train": 360, "eval": 40}


def test_validate_catches_a_missing_eval_split(registry):
    s = tiny_spec(eval={"metrics": ["fid"]})
    s["dataset"]["eval_fraction"] = 0.0
    with pytest.raises(SpecError) as exc:
        S.resolve(s, registry)
    assert exc.value.problems == ['eval.real_split: this data set has no eval split; use "train"']


def test_without_declared_sizes_the_check_waits_for_the_data():
    spec = EvalSpec(metrics=["kid"], n_samples=5000, kid_subset_size=1000)
    assert check_against(spec, DataInfo(1, 8, 2)) == []
    sized = DataInfo(1, 8, 2, split_sizes={"train": 10, "eval": 999})
    (problem,) = check_against(spec, sized)
    assert problem.startswith("eval.kid_subset_size: 1000 exceeds the 999 images")


def only_error(**fields) -> tuple[str, str]:
    with pytest.raises(ValidationError) as exc:
        EvalSpec(**fields)
    (err,) = exc.value.errors()
    return ".".join(str(p) for p in err["loc"]), err["msg"]


def test_kid_subset_must_be_below_n_samples():
    loc, msg = only_error(metrics=["kid"], n_samples=1000)  # default subset 1000
    assert loc == "kid_subset_size"
    assert "n_samples (1000)" in msg and "lower kid_subset_size" in msg
    assert EvalSpec(metrics=["fid"], n_samples=500).kid_subset_size == 1000  # no kid: fine
    assert EvalSpec(metrics=["kid"], n_samples=500, kid_subset_size=499).n_samples == 500


def test_inception_needs_local_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no cached copy
    loc, msg = only_error(metrics=["fid"], feature_extractor="inception-v3-compat")
    assert loc == "weights"
    assert "offline" in msg and 'feature_extractor: "domain"' in msg
    loc, msg = only_error(
        feature_extractor="inception-v3-compat", weights=str(tmp_path / "nope.pth")
    )
    assert loc == "weights" and "nope.pth" in msg and "does not exist" in msg
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    spec = EvalSpec(feature_extractor="inception-v3-compat", weights=str(weights))
    assert spec.weights == str(weights)
    cached = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")  # a copy left in the torch hub cache by an online run is used
    assert EvalSpec(feature_extractor="inception-v3-compat").weights == str(cached)


def test_best_metric_must_be_computed():
    loc, msg = only_error(metrics=["kid"], n_samples=2000, best_metric="fid")
    assert loc == "best_metric" and "kid" in msg
    assert EvalSpec().best_metric is None
    assert EvalSpec(metrics=["kid", "fid"], n_samples=2000).best_metric == "fid"
    assert EvalSpec(metrics=["prc"]).best_metric == "precision"
    assert EvalSpec(metrics=["accuracy"], best_metric="accuracy/shape").best_metric
    assert EvalSpec(metrics=["fid"], best_metric=None).best_metric is None


def test_unknown_metric_and_field():
    assert only_error(metrics=["fdi"])[0] == "metrics.0"
    assert only_error(domain={"epoch": 3})[0] == "domain.epoch"
    assert only_error(nsamples=3)[0] == "nsamples"
    assert EvalSpec(metrics=["fid", "fid"]).metrics == ["fid"]


def test_check_against_data():
    info = DataInfo(1, 8, 0)
    spec = EvalSpec(metrics=["fid", "accuracy"])
    problems = check_against(spec, info)
    assert any(p.startswith("eval.feature_extractor:") for p in problems)
    assert any(p.startswith("eval.metrics: accuracy") for p in problems)
    info = DataInfo(1, 8, 2)
    imgs = torch.zeros(10, 1, 8, 8, dtype=torch.uint8)
    labels = torch.arange(10) % 2
    no_eval = DataSplits(TensorData(imgs, labels), None)
    assert check_against(spec, info, no_eval) == [
        'eval.real_split: this data set has no eval split; use "train"'
    ]
    spec = EvalSpec(metrics=["kid"], n_samples=100, kid_subset_size=50)
    (problem,) = check_against(spec, info, DataSplits(TensorData(imgs, labels), no_eval.train))
    assert problem.startswith("eval.kid_subset_size: 50 exceeds the 10 images")


def test_is_better():
    assert is_better("fid", 1.0, None) and is_better("fid", 1.0, 2.0)
    assert not is_better("fid", 3.0, 2.0)
    assert is_better("isc", 3.0, 2.0) and is_better("accuracy/shape", 0.9, 0.8)
    assert not is_better("kid", math.nan, 1.0) and is_better("kid", 1.0, math.nan)


def test_balanced_labels():
    a = balanced_labels(1005, 10, seed=3)
    assert torch.equal(a, balanced_labels(1005, 10, seed=3))
    assert not torch.equal(a, balanced_labels(1005, 10, seed=4))
    counts = torch.bincount(a, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1005
    assert balanced_labels(10, 0, seed=0) is None
