"""Speed regression checks (pytest-benchmark): training steps, sampling, evaluator features.

Each benchmark runs on one torch thread with ``benchmark.pedantic`` (fixed rounds after
warm-up rounds, one call per round) and is timed in process CPU time (``time.process_time``),
which time spent waiting for a core does not inflate, so that on a shared 2-core machine the
minimum over rounds is stable to a few percent within a run (less so across runs). CI
compares against the committed baseline of this machine kind and fails when a minimum gets
30% slower twice in a row (see benchmarks/README.md):

    pytest benchmarks --benchmark-compare=benchmarks/baseline/cpu-2core.json \\
        --benchmark-compare-fail=min:30%

Training steps go through the real core, as ``mtbench run`` builds them:
``mtbench.spec.resolve`` -> ``mtbench.compose.compose`` -> ``Trainer.train_step(timed=False)``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
MNIST_ROOT = REPO.parent / "shared" / "data" / "mnist"
CPU = torch.device("cpu")
STEP_ROUNDS, WARMUP = 30, 5

pytestmark = pytest.mark.benchmark(timer=time.process_time)


def example(name: str) -> dict:
    path = REPO / "examples" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{path} does not exist yet")
    return json.loads(path.read_text())


def trainer_for(data: dict, registry) -> Trainer:
    """A Trainer on the CPU for a spec without evaluation, seeded like a run."""
    data = json.loads(json.dumps(data))
    data["eval"] = {"metrics": []}
    data["train"].update(device="cpu", threads=1)
    data.setdefault("log", {})["progress"] = False
    r = resolve(data, registry)
    torch.manual_seed(r.spec.seed)
    return Trainer.from_spec(r, compose(r, registry, CPU), CPU)


def ensemble_spec() -> dict:
    """The quickstart with its discriminator heads replaced by 4 fused discriminators (member
    trunks without spectral norm, whose buffers would keep them from being stacked)."""
    data = example("quickstart")
    head = {"type": "ensemble", "k": 4, "layout": "separate", "fused": True}
    head["trunk"] = {"type": "dcgan", "width": 32}
    data["discriminator"]["heads"] = [head, {"type": "aux_classifier"}]
    return data


def mnist_spec() -> dict:
    data = example("mt_cgan_mnist")
    if not (MNIST_ROOT / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST test set not found at {MNIST_ROOT}")
    data["dataset"]["root"] = str(MNIST_ROOT)
    return data


@pytest.mark.parametrize(
    "spec, fused",
    [
        pytest.param(lambda: example("quickstart"), False, id="quickstart"),
        pytest.param(ensemble_spec, True, id="ensemble4_fused"),
        pytest.param(mnist_spec, False, id="mt_cgan_mnist"),
    ],
)
def test_training_step(benchmark, registry, spec, fused):
    """One D step + G step + EMA update, batch 64 (the specs' own)."""
    trainer = trainer_for(spec(), registry)
    if fused:
        assert trainer.D.heads["ensemble"].fused, "the ensemble's members were not stacked"
    benchmark.group = "training step (1 thread)"
    benchmark.extra_info["batch_size"] = trainer.global_batch
    benchmark.pedantic(
        trainer.train_step, args=(False,), rounds=STEP_ROUNDS, warmup_rounds=WARMUP, iterations=1
    )


def test_generator_sampling(benchmark, registry):
    """500 images (an evaluation batch) from the quickstart's EMA generator, no grad."""
    trainer = trainer_for(example("quickstart"), registry)
    g = trainer.sampler().eval()
    n = 500
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, g.z_dim, generator=gen)
    labels = torch.randint(trainer.p.info.num_classes, (n,), generator=gen)

    @torch.no_grad()
    def sample() -> torch.Tensor:
        return g(z, labels)["image"]

    assert sample().shape == (n, 3, 16, 16)
    benchmark.group = "sampling and features (1 thread)"
    benchmark.extra_info["images"] = n
    benchmark.pedantic(sample, rounds=40, warmup_rounds=5, iterations=1)


def test_domain_evaluator_features(benchmark):
    """Features and logits of 2,000 MNIST-sized images through the domain evaluator network
    (untrained: speed does not depend on the weights), in evaluation batches of 500."""
    from mtbench.evaluate.domain import DomainNet, predict
    from mtbench.evaluate.spec import DomainRecipe

    recipe = DomainRecipe()
    net = DomainNet(1, 28, 10, {}, {}, recipe.width, recipe.feat_dim).eval()
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2000, 1, 28, 28), generator=gen, dtype=torch.uint8)
    out = predict(net, images, CPU, 500)
    assert out["feat"].shape == (2000, recipe.feat_dim)
    benchmark.group = "sampling and features (1 thread)"
    benchmark.extra_info["images"] = len(images)
    benchmark.pedantic(predict, args=(net, images, CPU, 500), rounds=25, warmup_rounds=3)
