"""Files mtbench reads for evaluation never run code: planted pickles in the statistics and
evaluator cache, and as ``eval.weights``, are ignored or refused in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.evaluate.extractor import ImageDataset
from mtbench.evaluate.networks import inception_extractor
from mtbench.io import load_torch

# A cached real set's name: mtbench-real-<data digest>-domain-<evaluator digest>[-class<k>]
REAL_NAME = re.compile(r"^(mtbench-real-[0-9a-f]+-domain-([0-9a-f]+)(-class\d+)?)")


class Payload:
    """Unpickling this (``weights_only=False``) creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path: Path, marker: Path) -> Path:
    """Write a .pt at ``path`` that would create ``marker`` when loaded as a full pickle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"mu": Payload(marker), "sigma": Payload(marker)}, path)
    return path


def eval_spec(tmp_path: Path, **over) -> dict:
    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"]["steps"] = 2
    s["eval"] = {
        "metrics": ["fid", "kid", "prc", "isc", "intra_fid"],
        "n_samples": 60,
        "kid_subset_size": 10,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
        **over,
    }
    return s


@pytest.fixture
def evaluated(tmp_path) -> tuple[Path, dict]:
    """A finished run with metrics, its real statistics and evaluator cached."""
    s = eval_spec(tmp_path)
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    return tmp_path / "run", s


def test_planted_cache_files_never_run_and_are_replaced(evaluated, tmp_path, capsys):
    """Every cached .pt replaced by a payload (as a run folder sent with its cache could be):
    ``mtbench eval`` and a new ``mtbench run`` on that cache run no code and still succeed."""
    run, s = evaluated
    marker = tmp_path / "marker"
    cached = sorted((tmp_path / "cache").rglob("*.pt"))
    assert cached
    for path in cached:
        plant(path, marker)
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0, capsys.readouterr().err
    assert not marker.exists()
    s["out"] = str(tmp_path / "run2")
    assert main(["run", str(write_spec(tmp_path / "s2.json", s))]) == 0
    assert not marker.exists()
    for path in sorted((tmp_path / "cache").rglob("*.pt")):
        assert isinstance(load_torch(path), dict)  # ours again: plain data


def test_torch_fidelity_cache_names_are_never_read(tmp_path, capsys):
    """Payloads under the names torch-fidelity's own cache would look up are never loaded."""
    marker = tmp_path / "marker"
    cache = tmp_path / "cache"
    s = eval_spec(tmp_path, metrics=["fid", "kid"])
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    names = {m[0] for p in cache.rglob("*.pt") if (m := REAL_NAME.findall(p.name))}
    assert names
    for real, digest, _cls in names:
        for item in ("features-domain-feat", "stat-fid-domain-feat"):
            tf_name = f"{real}-mtbench-domain-{digest}-{item}.pt"
            plant(cache / "fidelity" / tf_name, marker)
    s["out"] = str(tmp_path / "run2")
    assert main(["run", str(write_spec(tmp_path / "s2.json", s))]) == 0
    assert not marker.exists()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_inception_weights_payload_is_refused_in_one_line(tmp_path, capsys):
    marker = tmp_path / "marker"
    weights = plant(tmp_path / "weights-inception.pth", marker)
    s = eval_spec(
        tmp_path,
        metrics=["fid"],
        feature_extractor="inception-v3-compat",
        weights=str(weights),
    )
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"eval.weights: {weights} is not a plain weights file")
    assert not marker.exists()


def test_eval_of_a_run_whose_spec_names_a_payload_as_weights_is_refused(
    evaluated, tmp_path, capsys
):
    run, _ = evaluated
    marker = tmp_path / "marker"
    weights = plant(tmp_path / "weights-inception.pth", marker)
    spec = json.loads((run / "spec.json").read_text())
    spec["eval"].update(feature_extractor="inception-v3-compat", weights=str(weights))
    (run / "spec.json").write_text(json.dumps(spec))
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2
    assert "eval.weights:" in _one_line(capsys.readouterr().err)
    assert not marker.exists()


def test_weights_that_are_not_inception_are_one_line(tmp_path):
    from mtbench.errors import UserError

    path = tmp_path / "w.pth"
    torch.save({"conv.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(UserError, match="does not fit inception-v3-compat"):
        inception_extractor(str(path))
    torch.save([1, 2, 3], path)
    with pytest.raises(UserError, match="no state dict of tensors"):
        inception_extractor(str(path))


@pytest.mark.slow
def test_inception_built_by_mtbench_matches_torch_fidelitys_own(tmp_path, monkeypatch):
    """Same (random, local) weights: the network mtbench builds from its weights_only load gives
    the features torch-fidelity's own loader gives."""
    import torch_fidelity.feature_extractor_inceptionv3 as inc

    monkeypatch.setattr(inc.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 80)  # speed only
    with monkeypatch.context() as m:  # a randomly initialised network saved as "weights"
        m.setattr(inc, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(inc.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = inc.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception.pth"
    torch.save(net.state_dict(), weights)
    images = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8)
    ours = inception_extractor(str(weights)).features(images, ["2048"], torch.device("cpu"), 3)
    theirs = inc.FeatureExtractorInceptionV3("x", ["2048"], feature_extractor_weights_path=weights)
    batch = torch.stack([ImageDataset(images, rgb=True)[i] for i in range(3)])
    with torch.no_grad():
        (expected,) = theirs.eval()(batch)
    assert torch.equal(ours["2048"], expected)
