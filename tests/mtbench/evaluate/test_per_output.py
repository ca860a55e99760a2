"""Per-output metrics and consistency of stand-in multi-output generators on mnist_tasks
(real outputs, noise edges) and on a third-party data set with its own derivation."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import MNIST_ROOT
from mirrored_bars import MirroredBars

from mtbench.api import DataSplits, TensorData
from mtbench.errors import ContractError, SpecError
from mtbench.evaluate import EvalSpec, Evaluator
from mtbench.evaluate.consistency import PSNR_CAP

CPU = torch.device("cpu")
TINY = {"epochs": 1, "width": 4, "feat_dim": 16}  # a tiny domain evaluator per target
METRICS = ["fid", "kid", "prc", "dc", "accuracy", "consistency"]
TASKS = ("image_2x", "edges", "inverted")


def head(data: TensorData, n: int) -> TensorData:
    targets = {k: v[:n] for k, v in data.targets.items()}
    return TensorData(data.images[:n], data.labels[:n], targets)


@pytest.fixture(scope="module")
def tasks():
    if not (MNIST_ROOT / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test set not found at {MNIST_ROOT}")
    from mtbench_plugins.datasets.mnist_tasks import MNISTTasks

    plugin = MNISTTasks(MNISTTasks.Config(root=str(MNIST_ROOT)))
    splits = plugin.load()
    return plugin, DataSplits(head(splits.train, 2000), head(splits.eval, 1000)), plugin.info()


def shapes(info) -> dict[str, tuple]:
    return {"image": (1, info.size, info.size)} | {k: t.shape for k, t in info.targets.items()}


def spec(tmp, **over) -> EvalSpec:
    fields = {"metrics": METRICS, "n_samples": 500, "kid_subset_size": 100, "batch_size": 250}
    return EvalSpec(**(fields | {"cache_dir": str(tmp), "domain": TINY} | over))


def stand_in(real: TensorData, noisy: tuple[str, ...] = ()):
    """A generator returning real eval images of the asked labels with their real targets;
    outputs in ``noisy`` are uniform noise instead (drawn apart: the images are the same)."""
    pick, noise = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    by_class = [
        torch.nonzero(real.labels == k).flatten() for k in range(int(real.labels.max()) + 1)
    ]

    def generate(labels: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = torch.stack([by_class[k][torch.randint(len(by_class[k]), (), generator=pick)]
                           for k in labels.tolist()])  # fmt: skip
        out = {"image": real.images[idx]} | {k: v[idx] for k, v in real.targets.items()}
        for k in noisy:
            out[k] = torch.randint(0, 256, out[k].shape, generator=noise, dtype=torch.uint8)
        return out

    return generate


def by_metric(rows: list[dict]) -> dict[str, dict]:
    return {r["metric"]: r for r in rows}


@pytest.fixture(scope="module")
def scored(tasks, tmp_path_factory):
    """Rows of the real stand-in and of one whose edges are noise, from one Evaluator."""
    plugin, data, info = tasks
    tmp = tmp_path_factory.mktemp("cache")
    ev = Evaluator(spec(tmp), data, info, CPU, 0, outputs=shapes(info), dataset=plugin)
    good = by_metric(ev.evaluate(stand_in(data.eval), step=1))
    bad = by_metric(ev.evaluate(stand_in(data.eval, ("edges",)), step=1))
    return ev, good, bad


def test_target_evaluators_are_cached_by_content(scored, tasks):
    ev, _, _ = scored
    plugin, data, info = tasks
    assert len(list((ev.cache_dir / "domain").glob("domain-*.pt"))) == 1 + len(TASKS)
    again = Evaluator(spec(ev.cache_dir), data, info, CPU, 0, outputs=shapes(info), dataset=plugin)
    again.prepare()
    for k in TASKS:
        assert again.targets[k].domain.path == ev.targets[k].domain.path
        assert again.targets[k].domain.hash == ev.targets[k].domain.hash


def test_real_outputs_score_near_the_real_floor_with_their_protocol(scored, tasks):
    ev, good, bad = scored
    _, data, _ = tasks
    assert ev.scored == list(TASKS)  # default: every output with a real target
    for k in TASKS:
        row = good[f"fid/{k}"]
        assert (row["output"], row["target"]) == (k, k)
        assert row["extractor_hash"] == ev.targets[k].domain.hash != ev.domain.hash
        assert (row["n_real"], row["n_fake"], row["n_samples"]) == (1000, 500, 500)
        assert good[f"precision/{k}"]["value"] > 0.8 and good[f"coverage/{k}"]["value"] > 0.5
        assert good[f"kid/{k}"]["value"] < 0.01
        acc = good[f"accuracy/{k}"]["value"]  # real outputs: as accurate as on real targets
        assert acc > 0.3 and abs(acc - ev.targets[k].accuracy) < 0.1
        assert good[f"consistency/{k}"]["value"] == 0  # real targets are derived exactly
        assert good[f"consistency_psnr/{k}"]["value"] == PSNR_CAP
        assert good[f"real_consistency/{k}"]["value"] < 1e-3
        assert good[f"real_consistency/{k}"]["n_real"] == len(data.eval)
    assert "fid/image" not in good  # the image is the plain fid row


def test_real_outputs_fid_is_the_real_vs_real_floor(scored, tasks):
    """fid/<k> of the real stand-in vs FID of 500 real targets drawn (with replacement, as the
    stand-in draws) against all 1000."""
    ev, good, _ = scored
    from mtbench.evaluate.context import compute_metrics

    draw = torch.randint(1000, (500,), generator=torch.Generator().manual_seed(3))
    for k in TASKS:
        t = ev.targets[k]
        floor = compute_metrics(t.stats, t.real[draw], t.extractor, ["fid"])["fid"][0]
        assert good[f"fid/{k}"]["value"] < 2 * floor + 1e-3, k


def test_noise_edges_score_far_worse_on_edges_only(scored):
    _, good, bad = scored
    assert bad["fid/edges"]["value"] > 10 * good["fid/edges"]["value"]
    assert bad["consistency/edges"]["value"] > 0.2
    assert bad["consistency_psnr/edges"]["value"] < 15
    assert bad["fid"]["value"] == good["fid"]["value"]  # the image output: no worse
    assert bad["fid/image_2x"]["value"] == good["fid/image_2x"]["value"]
    assert bad["real_consistency/edges"]["value"] == good["real_consistency/edges"]["value"]


def test_a_third_party_derive_gets_consistency_rows(tmp_path):
    plugin = MirroredBars(MirroredBars.Config())
    data, info = plugin.load(), plugin.info()
    s = spec(tmp_path, n_samples=200, kid_subset_size=50)
    ev = Evaluator(s, data, info, CPU, 0, outputs=shapes(info), dataset=plugin)
    rows = by_metric(ev.evaluate(stand_in(data.eval), step=0))
    assert rows["consistency/mirrored"]["value"] == 0
    assert rows["real_consistency/mirrored"]["value"] == 0
    assert math.isfinite(rows["fid/shadow"]["value"])
    for name in ("consistency/shadow", "real_consistency/shadow"):
        assert math.isnan(rows[name]["value"])  # not declared: said so, not a number
        assert "declares no derivation of 'shadow'" in rows[name]["reason"]


def test_bad_outputs_and_derivations_are_one_line_before_evaluating(tasks, tmp_path):
    plugin, data, info = tasks
    only_image = {"image": (1, 28, 28)}
    cases = [
        (spec(tmp_path, outputs=["depth"]), shapes(info), "'depth' has no real target"),
        (spec(tmp_path, outputs=["edges"]), only_image, "the generator has no output 'edges'"),
        (
            spec(tmp_path, outputs=["image_2x"], best_metric="consistency/edges"),
            shapes(info),
            "names output 'edges', which evaluation does not score",
        ),
        (spec(tmp_path), only_image, "eval.metrics: consistency compares extra"),
    ]
    for s, outputs, message in cases:
        with pytest.raises(SpecError) as err:
            Evaluator(s, data, info, CPU, 0, outputs=outputs, dataset=plugin)
        assert len(err.value.problems) == 1 and message in err.value.problems[0]
    broken = MirroredBars(MirroredBars.Config(wrong_shape=True))
    with pytest.raises(ContractError, match=r"derive\(images, 'mirrored'\) returned a torch.uint8"):
        Evaluator(spec(tmp_path), broken.load(), broken.info(), CPU, 0, dataset=broken,
                  outputs=shapes(broken.info()))  # fmt: skip


def test_generate_must_return_every_scored_output(scored, tasks):
    ev, _, _ = scored
    _, data, _ = tasks
    full = stand_in(data.eval)
    with pytest.raises(ValueError, match="no 'image_2x' output"):
        ev.generate_outputs(lambda labels: full(labels)["image"])
    with pytest.raises(ValueError, match="edges of another batch size"):
        ev.generate_outputs(lambda labels: full(labels) | {"edges": full(labels)["edges"][:1]})
