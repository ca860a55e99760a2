"""Evaluator end to end on MNIST with stand-in generators: rows, caching, determinism."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
import torch_fidelity

from mtbench.api import DataInfo, DataSplits, TensorData
from mtbench.evaluate import EvalSpec, Evaluator
from mtbench.evaluate.catalogue import calc_metric
from mtbench.evaluate.context import EvalContext
from mtbench.evaluate.extractor import DomainFeatureExtractor

CPU = torch.device("cpu")
COLUMNS = {
    "step", "metric", "value", "std", "feature_extractor", "extractor_hash", "n_real",
    "n_fake", "real_split", "n_samples", "seed", "wall_s", "generator",
    "extractor_resize", "torch_fidelity",
}  # fmt: skip


def spec(cache_dir, **over) -> EvalSpec:
    fields = {"n_samples": 1000, "kid_subset_size": 200, "cache_dir": str(cache_dir)} | over
    return EvalSpec(**fields)


def by_metric(rows: list[dict]) -> dict[str, dict]:
    return {r["metric"]: r for r in rows}


def test_real_samples_score_well_and_noise_badly(
    mnist, cache_dir, domain, real_generator, noise_generator
):
    data, info = mnist
    all_metrics = ["fid", "kid", "isc", "prc", "intra_fid", "accuracy"]
    ev = Evaluator(spec(cache_dir, metrics=all_metrics), data, info, CPU, seed=0)
    good = by_metric(ev.evaluate(real_generator, step=100, tag="raw"))
    bad = by_metric(ev.evaluate(noise_generator, step=100))
    assert good["accuracy"]["value"] > 0.95 and bad["accuracy"]["value"] < 0.3
    assert good["fid"]["value"] * 10 < bad["fid"]["value"]
    assert good["intra_fid"]["value"] * 10 < bad["intra_fid"]["value"]
    assert good["kid"]["value"] < bad["kid"]["value"]
    assert good["precision"]["value"] > 0.9 and bad["recall"]["value"] < 0.1
    assert good["isc"]["value"] > 5 > bad["isc"]["value"]
    # protocol columns on every row
    for row in good.values():
        assert set(row) == COLUMNS
        assert row["step"] == 100 and row["generator"] == "raw" and row["seed"] == 0
        assert row["real_split"] == "eval" and row["extractor_hash"] == domain.hash
        assert row["n_samples"] == 1000  # the evaluation's draw, on per-class rows too
        assert row["extractor_resize"] == "none"  # the domain evaluator reads 28x28 as is
        assert row["torch_fidelity"] == torch_fidelity.__version__
    assert (good["fid"]["n_real"], good["fid"]["n_fake"]) == (2000, 1000)
    assert good["isc"]["n_real"] == 0 and good["accuracy"]["n_real"] == 0
    assert math.isnan(good["fid"]["std"]) and good["kid"]["std"] > 0
    per_class = [r for m, r in good.items() if m.startswith("intra_fid/")]
    assert len(per_class) == 10 and {r["n_fake"] for r in per_class} == {100}
    mean = sum(r["value"] for r in per_class) / 10
    assert good["intra_fid"]["value"] == pytest.approx(mean)
    assert good["evaluator_accuracy"]["value"] == ev.evaluator_accuracy() >= 0.97


def test_accuracy_of_real_eval_images_is_evaluator_accuracy(mnist, cache_dir):
    data, info = mnist
    ev = Evaluator(spec(cache_dir, metrics=["accuracy"]), data, info, CPU, seed=0)
    ev.prepare()
    ctx = EvalContext(
        fake=data.eval.images, fake_labels=data.eval.labels, real=data.eval, real_digest="",
        info=info, extractor=ev.extractor, domain=ev.domain, metrics=["accuracy"], device=CPU,
        seed=0, kid_subset_size=2, batch_size=500, cache_root=ev.stats_root,
    )  # fmt: skip
    (row,) = calc_metric("accuracy", ctx)
    assert row["value"] == ev.evaluator_accuracy()


def test_per_task_accuracy_from_label_targets(mnist, cache_dir, real_generator):
    data, info = mnist
    parity = DataInfo(1, 28, 10, info.class_names, label_targets={"odd": (0, 1) * 5})
    ev = Evaluator(spec(cache_dir, metrics=["accuracy"]), data, parity, CPU, seed=0)
    rows = by_metric(ev.evaluate(real_generator, step=0))
    assert rows["accuracy/odd"]["value"] >= rows["accuracy"]["value"] > 0.95


def test_real_features_are_computed_once(mnist, domain, tmp_path, monkeypatch, noise_generator):
    """Counts images through the extractor: reals only on the first prepare of a fresh cache."""
    data, info = mnist
    (tmp_path / "domain").mkdir()
    shutil.copy(domain.path, tmp_path / "domain" / domain.path.name)  # reuse, don't retrain
    seen = []
    forward = DomainFeatureExtractor.forward
    monkeypatch.setattr(
        DomainFeatureExtractor, "forward", lambda self, x: seen.append(len(x)) or forward(self, x)
    )
    s = spec(tmp_path, metrics=["fid", "kid", "prc"], n_samples=500)

    def counted(fn) -> int:
        seen.clear()
        fn()
        return sum(seen)

    ev = Evaluator(s, data, info, CPU, seed=0)
    assert counted(ev.prepare) == 2000  # the real eval split, once
    assert counted(lambda: ev.evaluate(noise_generator, 1)) == 500  # fakes only
    assert counted(lambda: ev.evaluate(noise_generator, 2)) == 500
    again = Evaluator(s, data, info, CPU, seed=0)  # e.g. the next run on the same data
    assert counted(again.prepare) == 0
    assert counted(lambda: again.evaluate(noise_generator, 1)) == 500


def test_same_seed_same_values_and_training_rng_untouched(mnist, cache_dir, noise_generator):
    data, info = mnist
    s = spec(cache_dir, metrics=["fid", "kid", "isc", "prc", "accuracy"], n_samples=500)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    runs = []
    for _ in range(2):
        ev = Evaluator(s, data, info, CPU, seed=5)
        runs.append([(r["metric"], r["value"], r["std"]) for r in ev.evaluate(noise_generator, 0)])
    assert torch.equal(torch.get_rng_state(), state)
    assert str(runs[0]) == str(runs[1])  # str: NaN stds compare equal
    other = Evaluator(s, data, info, CPU, seed=6).evaluate(noise_generator, 0)
    assert other[0]["value"] != runs[0][0][1]


def test_generate_contract(mnist, cache_dir):
    data, info = mnist
    ev = Evaluator(
        spec(cache_dir, metrics=["accuracy"], n_samples=25, batch_size=10), data, info, CPU, 0
    )
    calls = []

    def generate(labels):
        calls.append(labels.clone())
        return torch.zeros(len(labels), 1, 28, 28, dtype=torch.uint8)

    ev.evaluate(generate, 0)
    assert [len(c) for c in calls] == [10, 10, 5] and calls[0].dtype == torch.int64
    assert sorted(torch.bincount(torch.cat(calls)).tolist()) == [2] * 5 + [3] * 5
    with pytest.raises(ValueError, match="uint8"):
        ev.evaluate(lambda labels: torch.zeros(len(labels), 1, 28, 28), 0)


@pytest.mark.slow
def test_inception_path_with_local_weights(tmp_path, monkeypatch):
    """inception-v3-compat from a local file (random weights: no download here), 1-channel
    images repeated to RGB, unconditional data, cached real statistics keyed by the file digest."""
    import torch_fidelity.feature_extractor_inceptionv3 as inc

    monkeypatch.setattr(inc.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 80)  # speed only
    with monkeypatch.context() as m:  # build a randomly initialised network to save as "weights"
        m.setattr(inc, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(inc.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = inc.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception.pth"
    torch.save(net.state_dict(), weights)
    g = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8, generator=g)
    data = DataSplits(TensorData(real, None), TensorData(real, None))
    info = DataInfo(1, 16, 0)
    s = EvalSpec(
        metrics=["fid"], n_samples=4, batch_size=4, cache_dir=str(tmp_path / "cache"),
        feature_extractor="inception-v3-compat", weights=str(weights),
    )  # fmt: skip
    ev = Evaluator(s, data, info, CPU, seed=0)
    rows = ev.evaluate(lambda labels: real[:3], 0)  # unconditional: labels is None
    (row,) = rows
    assert row["feature_extractor"] == "inception-v3-compat" and math.isfinite(row["value"])
    assert row["extractor_resize"] == "80x80 bilinear-tf1"  # the patched INPUT_IMAGE_SIZE
    cached = [p.name for p in (tmp_path / "cache" / "realstats").iterdir()]
    assert cached and all(row["extractor_hash"] in name for name in cached)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load, as torch-fidelity uses it
def test_clip_evaluation_names_its_frechet_distance_and_its_network(tmp_path, monkeypatch):
    """A non-Inception torch-fidelity network end to end: the FD row is ``fd_clip``, best.pt
    follows it, and the row records the exact network and its resize."""
    from feature_nets import save_clip_torchscript

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    weights = save_clip_torchscript(tmp_path / "clip.pt")
    g = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=g)
    data = DataSplits(TensorData(real, None), TensorData(real, None))
    s = EvalSpec(
        metrics=["fid", "prc"], n_samples=6, batch_size=4, cache_dir=str(tmp_path / "cache"),
        feature_extractor="clip-vit-b-32", weights=str(weights),
    )  # fmt: skip
    assert s.best_metric == "fd_clip"
    ev = Evaluator(s, data, DataInfo(3, 16, 0), CPU, seed=0)
    rows = {r["metric"]: r for r in ev.evaluate(lambda labels: real[:6], 0)}
    assert set(rows) == {"fd_clip", "precision", "recall", "f_score"}
    assert rows["fd_clip"]["feature_extractor"] == "clip-vit-b-32"
    assert rows["fd_clip"]["extractor_resize"] == "32x32 bilinear-tf1"
    assert math.isfinite(rows["fd_clip"]["value"]) and rows["precision"]["value"] == 1.0
