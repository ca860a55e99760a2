"""Split sizes a data set declares in ``DataInfo.split_sizes`` are checked when a spec is
resolved (``mtbench validate``), before any data is loaded."""

from __future__ import annotations

import pytest
from helpers import tiny_spec, write_spec

from mtbench import spec as S
from mtbench.api import DataInfo
from mtbench.cli import main
from mtbench.errors import SpecError
from mtbench.evaluate.spec import EvalSpec, check_against


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
