"""The Evaluator: generates samples, runs the spec's metrics, returns rows for evals.parquet."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
import torch_fidelity
from torch import Tensor

from mtbench.api import DataInfo, DatasetPlugin, DataSplits, TensorData
from mtbench.dist import SINGLE, Dist
from mtbench.errors import SpecError
from mtbench.evaluate import catalogue, outputs, per_output, prdc, realstats
from mtbench.evaluate.context import EvalContext
from mtbench.evaluate.domain import DomainModel, load_or_train, primary_accuracy
from mtbench.evaluate.extractor import Extractor, domain_extractor
from mtbench.evaluate.hashing import data_digest
from mtbench.evaluate.networks import resolve_extractor
from mtbench.evaluate.spec import EvalSpec, check_against, needs_domain, resolve_cache_dir

DOMAIN_DIR, REAL_STATS_DIR = "domain", "realstats"  # folders of the cache dir

# generate(labels) -> uint8 images, or a dict of uint8 outputs ("image" and extra outputs);
# with conditioned targets generate(labels, conditions)
Generate = Callable[..., Tensor | dict[str, Tensor]]


def is_better(metric: str, new: float, old: float | None) -> bool:
    """Whether ``new`` beats ``old`` for ``metric`` (for best.pt); NaN never wins."""
    if new is None or math.isnan(new):
        return False
    if old is None or math.isnan(old):
        return True
    return new > old if catalogue.higher_is_better(metric) else new < old


def condition_values(real: TensorData, names: list[str], n: int, seed: int) -> dict[str, Tensor]:
    """Values of conditioned targets for ``n`` samples, drawn (seeded) from the real split."""
    if not names:
        return {}
    gen = torch.Generator().manual_seed(seed + 17)
    idx = torch.randint(len(real), (n,), generator=gen)
    return {k: real.targets[k][idx].cpu() for k in names}


def balanced_labels(n: int, num_classes: int, seed: int) -> Tensor | None:
    """``n`` labels, each class ``n // num_classes`` or one more times, in a seeded order."""
    if num_classes == 0:
        return None
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return (torch.arange(n) % num_classes)[perm]


class Evaluator:
    """Evaluates generators of one data set under one EvalSpec, with cached evaluator and stats.

    Construction validates the spec against the data (``SpecError``) and, given the
    generator's ``outputs`` (name -> shape), chooses the extra outputs it scores against their
    real targets (``mtbench.evaluate.per_output``), probing ``dataset.derive`` on them;
    ``prepare`` trains or loads the domain evaluators and caches real statistics;
    ``evaluate`` may then run often.
    """

    def __init__(
        self,
        spec: EvalSpec,
        data: DataSplits,
        info: DataInfo,
        device: torch.device,
        seed: int,
        conditions: list[str] = (),
        outputs: dict[str, tuple] | None = None,
        dataset: DatasetPlugin | None = None,
        dist: Dist = SINGLE,
    ) -> None:
        self.scored, problems = self._outputs(spec, info, outputs)
        problems = check_against(spec, info, data) + problems
        if problems:
            raise SpecError(list(dict.fromkeys(problems)))
        self.spec, self.data, self.info, self.dist = spec, data, info, dist
        self.device, self.seed = torch.device(device), seed
        self.cache_dir = resolve_cache_dir(spec)
        self.stats_root = self.cache_dir / REAL_STATS_DIR
        real = data.eval if spec.real_split == "eval" else data.train
        self.real = TensorData(
            real.images.cpu(), None if real.labels is None else real.labels.cpu()
        )
        self.derive = per_output.checked_derive(dataset, real, self.scored, info)
        self._real_targets = real  # the split with its targets (per-output metrics)
        self.targets: dict[str, per_output.Target] = {}
        self.labels = balanced_labels(spec.n_samples, info.num_classes, seed)
        self.conditions = condition_values(real, list(conditions), spec.n_samples, seed)
        self.domain: DomainModel | None = None
        self.extractor: Extractor | None = None
        self.real_digest = ""
        self.real_stats: dict[int | None, realstats.RealStats] = {}
        self._accuracy = math.nan
        self._prepared = False

    @staticmethod
    def _outputs(
        spec: EvalSpec, info: DataInfo, shapes: dict[str, tuple] | None
    ) -> tuple[list[str], list[str]]:
        """The extra outputs to score and the problems with ``eval.outputs``/``best_metric``."""
        if not spec.metrics:
            return [], []
        scored, problems = outputs.select(spec.outputs, info, shapes)
        problems += outputs.best_problems(spec.best_metric, scored, info)
        if "consistency" in spec.metrics and not scored:
            problems.append(
                "eval.metrics: consistency compares extra generator outputs with their real "
                "targets and this generator has none scored (see eval.outputs); remove it"
            )
        return scored, problems

    def _rng(self) -> AbstractContextManager:
        """A forked RNG, so evaluation never shifts the training run's random streams (even
        torch-fidelity's DataLoader draws a seed from the global RNG)."""
        if self.device.type != "cuda":
            return torch.random.fork_rng(devices=[])
        index = self.device.index
        return torch.random.fork_rng(
            devices=[torch.cuda.current_device() if index is None else index]
        )

    def prepare(self) -> None:
        """Train or load the cached domain evaluator and compute or load cached real statistics."""
        if self._prepared:
            return
        with self._rng():
            self._prepare()
        self._prepared = True

    def _prepare(self) -> None:
        spec = self.spec
        if needs_domain(spec):
            self.domain = load_or_train(
                self.data.train, self.info, spec.domain, self.cache_dir / DOMAIN_DIR
            )
            held_out = self.data.eval
            if held_out is not None and held_out.labels is not None:
                self._accuracy = primary_accuracy(
                    self.domain.net, held_out, self.device, spec.batch_size
                )
        if spec.feature_extractor == "domain":
            self.extractor = domain_extractor(self.domain) if self.domain else None
        else:
            self.extractor = resolve_extractor(
                spec.feature_extractor, spec.weights, spec.allow_download
            )
        self.real_digest = data_digest(self.real)
        if self.extractor is not None:
            self._warm(self.real.images, spec.metrics, None)
            if "intra_fid" in spec.metrics:
                for k in range(self.info.num_classes):
                    self._warm(self.real.images[self.real.labels == k], ["fid"], k)
        dirs = (self.cache_dir / DOMAIN_DIR, self.stats_root)
        for k in self.scored:
            self.targets[k] = per_output.prepare(
                k, self.data, self._real_targets, self.info, spec, dirs, self.device, self.derive
            )

    def _warm(self, images: Tensor, metrics: list[str], cls: int | None) -> None:
        """Load or compute (and cache) the real statistics later evaluations read from memory."""
        metrics = catalogue.real_side([m for m in catalogue.fidelity_metrics() if m in metrics])
        if not metrics:
            return
        ext = self.extractor
        self.real_stats[cls] = realstats.real_stats(
            images,
            ext,
            [ext.layer(m) for m in metrics],
            ext.layer("fid") if "fid" in metrics else None,
            device=self.device,
            batch_size=self.spec.batch_size,
            cache_root=self.stats_root,
            name=realstats.real_cache_name(self.real_digest, ext, cls),
        )
        if "dc" in metrics:  # the real k-NN radii, once per real set (prdc.cached_radii)
            prdc.cached_radii(self.real_stats[cls], ext.layer("dc"))

    def evaluator_accuracy(self) -> float:
        """The domain evaluator's accuracy on the held-out (eval) split; NaN without one."""
        self.prepare()
        return self._accuracy

    def generate_samples(self, generate: Generate) -> Tensor:
        """``spec.n_samples`` uint8 images on the CPU (the ``image`` output)."""
        return self.generate_outputs(generate)["image"]

    def generate_outputs(self, generate: Generate) -> dict[str, Tensor]:
        """``spec.n_samples`` uint8 images and scored outputs on the CPU, from one draw of
        ``generate`` in batches of the spec's batch size, under a forked RNG seeded with
        ``seed`` (training RNG untouched).

        Under torchrun, when ``generate`` can ``skip`` a batch (draw its noise only), rank r
        generates batches r, r + W, ... and the outputs are gathered in batch order: the same
        samples as one process. Every rank returns all of them."""
        mine = self._my_batches(generate)
        if mine is None:
            return self._generate_all(generate, lambda i: True)
        return {k: self._gather(v) for k, v in self._generate_all(generate, mine).items()}

    def _my_batches(self, generate: Generate):
        """Which batches this rank runs (None: all of them, one process or no ``skip``)."""
        w, rank = self.dist.world_size, self.dist.rank
        if w == 1 or not hasattr(generate, "skip"):
            return None
        return lambda i: i % w == rank

    def _gather(self, mine: Tensor) -> Tensor:
        """Every rank's batches back in batch order (batch i came from rank i mod W)."""
        bs, w = self.spec.batch_size, self.dist.world_size
        per_rank = self.dist.gather(mine.to(self.device)).cpu()
        sizes = self.dist.all_objects(mine.shape[0])
        chunks = list(per_rank.split(sizes))
        batches = [list(c.split(bs)) for c in chunks]
        out = [batches[i % w][i // w] for i in range(sum(len(b) for b in batches))]
        return torch.cat(out)

    def _shapes(self) -> dict[str, tuple]:
        """Each returned output's shape: the image and every scored output."""
        info = self.info
        shapes = {"image": (info.channels, info.size, info.size)}
        return shapes | {k: tuple(info.targets[k].shape) for k in self.scored}

    def _generate_all(self, generate: Generate, run: Callable[[int], bool]) -> dict[str, Tensor]:
        """The batches ``run(i)`` picks; the others only ``generate.skip``, to draw their noise."""
        n, bs = self.spec.n_samples, self.spec.batch_size
        parts: dict[str, list[Tensor]] = {k: [] for k in self._shapes()}
        with torch.no_grad(), self._rng():
            torch.manual_seed(self.seed)
            got, i = 0, 0
            while got < n:
                args = self._batch_args(got, bs)
                ran = run(i)
                i += 1
                if not ran:
                    generate.skip(*args)
                    got += bs if args[0] is None else len(args[0])
                    continue
                out = self._checked(generate(*args), args[0])
                for k, v in out.items():
                    parts[k].append(v[: n - got].cpu())
                got += parts["image"][-1].shape[0]
        return {k: self._cat(v, self._shapes()[k]) for k, v in parts.items()}

    @staticmethod
    def _cat(parts: list[Tensor], shape: tuple) -> Tensor:
        return torch.cat(parts) if parts else torch.zeros(0, *shape, dtype=torch.uint8)

    def _batch_args(self, got: int, bs: int) -> tuple:
        """(labels, conditions) of the batch starting at sample ``got``, on the device."""
        labels = None if self.labels is None else self.labels[got : got + bs].to(self.device)
        if not self.conditions:
            return (labels,)
        return labels, {k: v[got : got + bs].to(self.device) for k, v in self.conditions.items()}

    def _checked(self, out: Tensor | dict, labels: Tensor | None) -> dict[str, Tensor]:
        """``generate``'s output as {"image", scored outputs}, each checked: uint8 (B, *shape)."""
        out = out if isinstance(out, dict) else {"image": out}
        shapes = self._shapes()
        for k, want in shapes.items():
            got = out.get(k)
            if got is None:
                raise ValueError(f"generate returned no {k!r} output; return a dict holding it")
            if got.dtype != torch.uint8 or got.dim() != 4 or tuple(got.shape[1:]) != tuple(want):
                raise ValueError(
                    f"generate must return uint8 {k} (B, {', '.join(map(str, want))}), "
                    f"got {got.dtype} {tuple(got.shape)}"
                )
        image = out["image"]
        asked = 1 if labels is None else len(labels)  # unconditional: any B >= 1
        if image.shape[0] == 0 or (labels is not None and image.shape[0] != asked):
            raise ValueError(f"generate returned {image.shape[0]} images for {asked} labels")
        uneven = [k for k in shapes if out[k].shape[0] != image.shape[0]]
        if uneven:
            raise ValueError(f"generate returned {', '.join(uneven)} of another batch size")
        return {k: out[k] for k in shapes}

    def evaluate(self, generate: Generate, step: int, tag: str = "ema") -> list[dict]:
        """Rows for evals.parquet: every spec metric of ``generate``'s samples at ``step``.

        ``generate(labels)`` gets int64 labels (B,) on the device (None when unconditional) and
        returns uint8 images (B, C, H, W); ``wall_s`` is this whole call, generation included.
        """
        if not self.spec.metrics:
            return []
        if self.dist.is_main():
            self.prepare()
        with self._rng():
            t0 = time.perf_counter()
            fakes = self.generate_outputs(generate)
            return self._on_main(lambda: self._evaluate(fakes, step, tag, t0))

    def _on_main(self, compute: Callable[[], list[dict]]) -> list[dict]:
        """Rank 0 computes the metrics from the gathered samples; every rank gets its rows
        (or its error, as one line), so all ranks decide alike about best.pt."""
        rows, problem = None, None
        if self.dist.is_main():
            try:
                rows = compute()
            except Exception as exc:  # every rank must learn of it, or the others would wait
                problem = exc
        said = self.dist.all_objects((rows, None if problem is None else str(problem)))[0]
        if problem is not None:
            raise problem
        if said[1] is not None:
            raise RuntimeError(said[1])
        return said[0]

    def _evaluate(self, fakes: dict[str, Tensor], step: int, tag: str, t0: float) -> list[dict]:
        fake = fakes["image"]
        scored = {k: fakes[k] for k in self.scored}
        ctx = EvalContext(
            fake=fake,
            fake_labels=self.labels,
            fake_conditions=self.conditions,
            real=self.real,
            real_digest=self.real_digest,
            info=self.info,
            extractor=self.extractor,
            domain=self.domain,
            metrics=list(self.spec.metrics),
            device=self.device,
            seed=self.seed,
            kid_subset_size=self.spec.kid_subset_size,
            batch_size=self.spec.batch_size,
            cache_root=self.stats_root,
            real_stats=self.real_stats,
            outputs=per_output.OutputSet(scored, self.targets, self.derive) if scored else None,
        )
        rows = [row for m in self.spec.metrics for row in catalogue.calc_metric(m, ctx)]
        if self.domain is not None:
            n_eval = 0 if self.data.eval is None else len(self.data.eval)
            rows.append(
                ctx.row(
                    "evaluator_accuracy",
                    self._accuracy,
                    feature_extractor="domain",
                    extractor_hash=self.domain.hash,
                    n_real=n_eval,
                    n_fake=0,
                )
            )
        wall = time.perf_counter() - t0
        common = {
            "real_split": self.spec.real_split,
            "n_samples": self.spec.n_samples,  # the evaluation's draw (a protocol column)
            "seed": self.seed,
            "wall_s": wall,
        }
        return [{"step": step, **r, **common, **self._network(r), "generator": tag} for r in rows]

    def _network(self, row: dict) -> dict:
        """How a row's features were made: resize + interpolation and torch-fidelity's version
        (the domain evaluator takes images at their own size)."""
        domain = row.get("feature_extractor") == "domain" or self.extractor is None
        return {
            "extractor_resize": "none" if domain else self.extractor.resize(),
            "torch_fidelity": torch_fidelity.__version__,
        }
