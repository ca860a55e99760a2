"""The plugin contract: what every dataset, generator, trunk, head, loss, regularizer and weighting
provides.

Plugins subclass one of the bases below, set ``name``, ``description`` and ``Config``, and
are returned from a hook in ``mtbench.hookspecs`` (marked ``@mtbench.hookimpl``). The core
only ever talks to these bases. What the README's plugin section leaves out:

- Registration checks each class: ``name`` a non-empty string of letters, digits and
  ``_ . -``; ``kind`` that of its hook; ``description`` a string; ``Config`` a subclass of
  ``PluginConfig`` with no field named ``type`` (heads: nor ``weight``, ``g_weight``,
  ``label``). A misspelt or unmarked hook, or a bad class, is listed broken by ``mtbench list``.
- Every head's spec section takes ``weight``, ``g_weight`` and ``label`` besides its own
  Config (``mtbench.spec.HeadSpec``); the core consumes them (term weights, term-name prefix)
  and the head never sees them.
- A trunk sets ``self.feature_dim`` (int) in ``__init__``; heads are sized from it, and
  forward must return (B, feature_dim). A generator sets ``self.z_dim`` likewise.
- Images: data sets return uint8 (N, C, H, W) in [0, 255] of ``info()``'s size; the core
  scales them to float [-1, 1]. Trunks and heads receive float (B, C, H, W) images (autocast
  may lower the dtype): reals in [-1, 1]; fakes as the generator returned them (meant to be in
  [-1, 1], e.g. by tanh, not clamped); with DiffAugment both are augmented, and its
  brightness and contrast can leave [-1, 1].
- A data set with image targets may override ``DatasetPlugin.derive(images, target)`` to say
  how each target is made from the primary image; evaluation probes it on 2 real images
  before training (uint8, ``(N, *info().targets[target].shape)``, else one line, exit 2).
- Compose checks these once, on a probe pass of 2 samples (eval mode, no gradients, its own
  random generator), with head terms float scalars; a violation is one line naming the
  plugin and its package, exit 2.
- Evaluation (in a run and ``mtbench eval``) on a data set without class labels
  (``num_classes == 0``) has no domain evaluator: it is a classifier trained on the labels.
  Use ``eval.feature_extractor: "inception-v3-compat"`` with ``eval.weights`` a local
  copy of torch-fidelity's Inception weights (weights-inception-2015-12-05-6726825d.pth), or
  another torch-fidelity network (DINOv2, CLIP, VGG16), for fid, kid, prc and isc; ``accuracy`` and
  ``intra_fid`` need labels and are unavailable (evaluate a labelled variant of the data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from mtbench.dist import SINGLE, Dist
from mtbench.kinds import KINDS  # noqa: F401  (re-exported: part of the plugin contract)


class PluginConfig(BaseModel):
    """Base of every plugin's Config: unknown fields are errors, never silent defaults."""

    model_config = ConfigDict(extra="forbid")


class Plugin:
    """What all plugin kinds share: a registry name, a one-line description, a Config model."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type[PluginConfig]] = PluginConfig

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        """Problems with using this plugin on ``data`` (empty if none); checked pre-training."""
        return []

    @classmethod
    def require(cls, cfg: PluginConfig, data: DataInfo) -> None:
        """Raise ValueError on ``check`` problems: networks built outside a spec are checked too."""
        problems = cls.check(cfg, data)
        if problems:
            raise ValueError("; ".join(problems))


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TargetInfo:
    """One per-sample task target a data set declares besides the primary class label."""

    kind: Literal["class", "continuous", "image"]
    num_classes: int = 0  # for kind == "class"
    dim: int = 0  # for kind == "continuous"
    shape: tuple[int, int, int] | None = None  # (C, H, W) for kind == "image" (paired outputs)


@dataclass(frozen=True)
class DataInfo:
    """Static facts about a data set that networks and heads are sized from."""

    channels: int
    size: int
    num_classes: int  # 0 means unconditional
    class_names: tuple[str, ...] = ()
    targets: dict[str, TargetInfo] = field(default_factory=dict)
    # Class targets fixed by the primary label: target name -> its value for each class.
    # Lets the core and evaluators know a fake's attributes from its conditioning label.
    label_targets: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # Images per split ("train", "eval"; 0 for none) when known without loading the data: lets
    # ``mtbench validate`` check split sizes (eval.kid_subset_size, say) before any file is read.
    split_sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class TensorData:
    """A whole split held as tensors: uint8 images (N, C, H, W), int64 labels (N,), targets."""

    images: Tensor
    labels: Tensor | None
    targets: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> TensorData:
        labels = None if self.labels is None else self.labels.to(device)
        targets = {k: v.to(device) for k, v in self.targets.items()}
        return TensorData(self.images.to(device), labels, targets)


@dataclass
class DataSplits:
    """Train and held-out splits, plus a record of how they were made (goes into spec.json)."""

    train: TensorData
    eval: TensorData | None
    provenance: dict = field(default_factory=dict)


class DatasetPlugin(Plugin):
    """A data set: its static info and its splits as tensors (small sets live on the device)."""

    kind: ClassVar[str] = "dataset"

    def __init__(self, cfg: PluginConfig) -> None:
        self.cfg = cfg

    def info(self) -> DataInfo:
        raise NotImplementedError

    def load(self) -> DataSplits:
        """Read or build the data; raise ``mtbench.errors.UserError`` for missing files."""
        raise NotImplementedError

    def derive(self, images: Tensor, target: str) -> Tensor | None:
        """Image target ``target`` of uint8 primary ``images`` (N, C, H, W), made exactly as
        ``load()`` makes it (uint8, (N, *shape)); None when it is not derived from the image.

        Evaluation reads it for cross-task consistency (``consistency/<target>``): a
        generated output against the derivation of the generated image. Default: none.
        """
        return None


# ----------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class GeneratorContext:
    """What a generator is sized from: the data, and extra latent code width requested by heads."""

    data: DataInfo
    code_dim: int = 0


class GeneratorPlugin(Plugin, nn.Module):
    """(z, labels) -> dict of named outputs; ``image`` always, more for multi-output generators.

    ``z`` has width ``z_dim + ctx.code_dim``: the core appends heads' latent codes to the noise.
    Outputs are in [-1, 1].
    """

    kind: ClassVar[str] = "generator"
    z_dim: int

    def __init__(self, cfg: PluginConfig, ctx: GeneratorContext) -> None:
        self.require(cfg, ctx.data)
        nn.Module.__init__(self)
        self.cfg = cfg
        self.ctx = ctx

    def outputs(self) -> dict[str, tuple[int, int, int]]:
        """Name -> (C, H, W) of every output."""
        d = self.ctx.data
        return {"image": (d.channels, d.size, d.size)}

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every output depends on, in forward order: gradient-based weightings
        (GradNorm) balance on the last of them. All of them unless outputs have own branches."""
        return list(self.parameters())

    def forward(self, z: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        raise NotImplementedError


class TrunkPlugin(Plugin, nn.Module):
    """Discriminator backbone: images (B, C, H, W) -> shared features (B, feature_dim).

    ``__init__`` must set ``self.feature_dim``. Images are float, nominally in [-1, 1]
    (see the module docstring).
    """

    kind: ClassVar[str] = "trunk"
    feature_dim: int
    has_batch_stats: bool = False  # True forbids running real and fake through it as one batch

    def __init__(self, cfg: PluginConfig, data: DataInfo) -> None:
        self.require(cfg, data)
        nn.Module.__init__(self)
        self.cfg = cfg
        self.data = data

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def uses_spectral_norm(self) -> bool:
        """Whether this trunk's layers are spectrally normalised (heads follow it by default);
        by default its Config's ``spectral_norm`` field, False without one."""
        return bool(getattr(self.cfg, "spectral_norm", False))


# ----------------------------------------------------------------------------- heads


@dataclass
class Side:
    """One side (real or fake) of a step, with everything a head may look at."""

    images: dict[str, Tensor]  # "image" plus paired targets (real) or extra outputs (fake)
    labels: Tensor | None  # primary class labels: data (real) or conditioning (fake)
    targets: dict[str, Tensor]  # per-sample task targets known for this side
    features: Tensor | None  # trunk output on images["image"]; None for real in the G step
    # unless a head sets ``g_needs_real_features``
    codes: dict[str, Tensor] = field(default_factory=dict)  # latent codes fed to G (fake only)


@dataclass(frozen=True)
class LatentCode:
    """A latent code a head asks the core to sample and append to the generator's noise."""

    kind: Literal["categorical", "continuous"]
    dim: int  # categories for categorical (fed one-hot), width for continuous (uniform [-1, 1])


class LossFamily(Plugin):
    """An adversarial loss family: D and G forms on raw discriminator logits."""

    kind: ClassVar[str] = "loss"
    # Whether each player's form is bounded below (hinge G and Wasserstein terms are not);
    # adaptive weightings such as uncertainty weighting must not learn weights for those.
    d_bounded: ClassVar[bool] = True
    g_bounded: ClassVar[bool] = True
    # Whether its terms are squared errors (a Gaussian likelihood, LSGAN) rather than
    # cross-entropies: uncertainty weighting picks Kendall et al.'s form by this.
    regression: ClassVar[bool] = False

    def __init__(self, cfg: PluginConfig) -> None:
        self.cfg = cfg

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake: Tensor) -> Tensor:
        raise NotImplementedError


@dataclass
class PenaltyContext:
    """What a regularizer sees in the D step. ``score`` runs trunk + heads on new images.

    ``real_score``/``fake_score`` are computed on first use from the step's own features, so
    a penalty that reads only one side (R1, R2) costs no scoring pass on the other.
    """

    real: Side
    fake: Side
    side_score: Callable[[Side], Tensor | None]  # sum of heads' real/fake scores on a side
    score: Callable[[Tensor, Tensor | None], Tensor]  # (images, labels) -> (B,) score
    # The un-augmented images each side's D input was made from (leaves with requires_grad
    # when a penalty reads that side); None: the side's own image (no augmentation).
    real_source: Tensor | None = None
    fake_source: Tensor | None = None

    def source(self, side: str) -> Tensor:
        """The un-augmented ``"real"`` or ``"fake"`` images: R1/R2 differentiate by these."""
        own = self.real_source if side == "real" else self.fake_source
        return own if own is not None else getattr(self, side).images["image"]

    @cached_property
    def real_score(self) -> Tensor | None:
        return self.side_score(self.real)

    @cached_property
    def fake_score(self) -> Tensor | None:
        return self.side_score(self.fake)


class Regularizer(Plugin):
    """A D-side penalty (WGAN-GP, R1, R2) or a differentiable augmentation (DiffAugment).

    Its own kind ("regularizer", hook ``mtbench_regularizers``), listed under the spec's
    ``regularizers``. Penalties return named terms from ``d_terms``, which weightings never
    re-weight (their gamma/lambda stays as configured); augmentations transform every image D
    sees, real and fake, in both steps.
    """

    kind: ClassVar[str] = "regularizer"
    needs_real_grad: ClassVar[bool] = False  # real images get requires_grad in the D step
    needs_fake_grad: ClassVar[bool] = False

    def __init__(self, cfg: PluginConfig) -> None:
        self.cfg = cfg

    def term_names(self) -> list[str]:
        """Names of the terms ``d_terms`` returns (fixed, so weightings know them up front)."""
        return []

    def active(self, step: int) -> bool:
        """Whether the penalty is computed at this step (lazy regularization)."""
        return True

    def d_terms(self, ctx: PenaltyContext) -> dict[str, Tensor]:
        return {}

    def augment(self, images: Tensor, gen: torch.Generator) -> Tensor:
        return images


@dataclass
class HeadContext:
    """What a head is built from. ``loss`` is the spec's adversarial loss family."""

    data: DataInfo
    feature_dim: int
    loss: LossFamily
    trunk: nn.Module  # the shared trunk, for heads that must run it on transformed images
    build_trunk: Callable[[dict], nn.Module]  # builds another trunk from a {"type": ...} spec
    build_loss: Callable[[str], LossFamily]  # looks up another loss family by name
    # Whether the trunk uses spectral norm: heads then put it on their linear layers and
    # embeddings too (the SNGAN/ProjGAN/StudioGAN convention) unless their option says not.
    spectral_norm: bool = False


class HeadPlugin(Plugin, nn.Module):
    """A task on the trunk's features. Returns named loss terms for the D step and the G step.

    Terms are per-head unweighted float scalars; the spec's head ``weight`` / ``g_weight``
    (spec fields every head takes besides its Config) and the weighting plugin turn them into
    one loss per player. ``Side.images`` are float, nominally in [-1, 1]. The G step
    differentiates only the generator, so a head needs no care to keep D parameters out of G
    terms.
    """

    kind: ClassVar[str] = "head"
    # True makes the G step also run the trunk (without gradients) on the real batch.
    g_needs_real_features: ClassVar[bool] = False
    # False for heads that hold their own networks (separate-discriminator ensembles): when
    # no head reads the shared trunk's features, the core skips the trunk altogether.
    uses_trunk_features: ClassVar[bool] = True
    # True for heads that read the primary class labels (AC, projection, contrastive, ...).
    needs_class_labels: ClassVar[bool] = False

    def __init__(self, cfg: PluginConfig, ctx: HeadContext) -> None:
        self.require(cfg, ctx.data)
        nn.Module.__init__(self)
        self.cfg = cfg
        self.ctx = ctx

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        if cls.needs_class_labels and data.num_classes == 0:
            return [
                f"head {cls.name!r} needs class labels; the data set has none (num_classes == 0)"
            ]
        return []

    @classmethod
    def latent_codes(cls, cfg: PluginConfig) -> dict[str, LatentCode]:
        """Codes this head wants fed to the generator (InfoGAN-style); none by default."""
        return {}

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        raise NotImplementedError

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        raise NotImplementedError

    def g_parameters(self) -> list[nn.Parameter]:
        """Parameters of this head that the generator's optimizer trains (GMAN's learned lambda)."""
        return []

    def score(self, side: Side) -> Tensor | None:
        """This head's real/fake logit per sample, for gradient penalties; None if it has none."""
        return None

    def unbounded_terms(self, player: Literal["d", "g"]) -> set[str]:
        """Names of this head's terms of ``player`` that can go below zero (see LossFamily)."""
        return set()

    def regression_terms(self, player: Literal["d", "g"]) -> set[str]:
        """Names of this head's terms of ``player`` that are regression losses (squared or
        absolute errors, Gaussian NLL); the rest count as classification (cross-entropy)."""
        return set()


# ----------------------------------------------------------------------------- weighting


@dataclass(frozen=True)
class WeightingContext:
    """Where a weighting sits in its run: the player it weights, the run's seed and device,
    and the process group (``dist``).

    Built by the core for each of the two instances; the default is for tests and notebooks.
    Under torchrun each rank sees its own share of the batch; the core averages the players'
    gradients after ``backward``, but a weighting that decides from per-term gradients or
    losses (GradNorm, PCGrad) must first average those across ranks itself, with
    ``ctx.dist.mean_([...])`` (the identity on one process), so every rank decides alike.
    """

    player: Literal["d", "g"] = "d"
    seed: int = 0  # the run's seed (spec ``seed``)
    device: torch.device | str = "cpu"  # where the player's terms live
    # Regularizer penalties: they keep their base weight (1; gamma/lambda is inside the term),
    # whatever the weighting, so a penalty's configured strength never drifts.
    fixed: frozenset[str] = frozenset()
    # Terms that are regression losses (``HeadPlugin.regression_terms``), for weightings whose
    # form depends on the kind of likelihood (uncertainty weighting).
    regression: frozenset[str] = frozenset()
    dist: Dist = SINGLE  # the process group: rank, world size, cross-rank means


PLAYER_STREAM = {"d": 1, "g": 2}


def weighting_seed(seed: int, player: str, step: int) -> int:
    """The seed of a weighting's random numbers at one update: distinct per run, player, step."""
    return ((seed * 1_000_003 + PLAYER_STREAM[player]) * 1_000_000_007 + step) % 2**63


class WeightingPlugin(Plugin, nn.Module):
    """Turns one player's named terms into gradients; one instance per player (D and G).

    ``base`` holds the spec's fixed weight of each term (the head's ``weight`` in D,
    ``g_weight`` in G; 1 for regularizer penalties, which a weighting must not re-weight: they
    are listed in ``ctx.fixed``).
    ``ctx`` says which player this instance weights, and seeds ``generator()``.

    When the core calls what: once per update of its player (each of ``train.d_steps`` D
    updates, then one G update per step) the trainer calls ``backward`` with that update's
    terms, in training mode, outside autocast; the default ``backward`` calls ``combine``
    once and backpropagates the result; then the trainer calls ``advance()``. ``combine`` is
    not called at logged steps, at evaluation or on resume; weightings that override
    ``backward`` (GradNorm, PCGrad) call it, or not, themselves. ``current_weights`` and
    ``diagnostics`` are read on logged steps only, after the update.

    ``step`` counts this player's updates so far (0 at the first); it is in the state dict,
    so a resumed run continues the same count, and with it the same ``generator()`` numbers.
    """

    kind: ClassVar[str] = "weighting"

    def __init__(
        self,
        cfg: PluginConfig,
        base: dict[str, float],
        unbounded: frozenset[str] = frozenset(),
        ctx: WeightingContext | None = None,
    ) -> None:
        nn.Module.__init__(self)
        self.cfg = cfg
        self.base = dict(base)
        self.unbounded = unbounded  # terms that can be negative: keep them at their base weight
        self.ctx = ctx or WeightingContext()
        self.step = 0
        self._gen: torch.Generator | None = None
        self._gen_step = -1

    @property
    def player(self) -> Literal["d", "g"]:
        return self.ctx.player

    def generator(self) -> torch.Generator:
        """Random numbers for the current update (Lin et al.'s random loss weighting), on the
        run's device: reseeded from (run seed, player, ``step``) at the first call of each
        update, so runs and resumed runs draw the same numbers and the run's own random
        streams are untouched. Draws within one update continue one stream."""
        if self._gen is None:
            self._gen = torch.Generator(self.ctx.device)
        if self._gen_step != self.step:
            self._gen.manual_seed(weighting_seed(self.ctx.seed, self.player, self.step))
            self._gen_step = self.step
        return self._gen

    def advance(self) -> None:
        """Called by the core after each update of this player: counts ``step``."""
        self.step += 1

    def get_extra_state(self) -> dict:
        return {"step": self.step}

    def set_extra_state(self, state: dict) -> None:
        self.step = int(state.get("step", 0))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # checkpoints written before weightings kept a step count load with step 0
        state_dict.setdefault(prefix + "_extra_state", {"step": 0})
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def current_weights(self) -> dict[str, float]:
        """Effective weight of every term now, for the steps table."""
        return dict(self.base)

    def diagnostics(self) -> dict[str, float]:
        """Extra numbers for the steps table (e.g. cosines between term gradients)."""
        return {}

    def backward(
        self,
        terms: dict[str, Tensor],
        inputs: list[Tensor],
        shared: list[Tensor],
        scale: Callable[[Tensor], Tensor],
    ) -> None:
        """Accumulate gradients into ``inputs`` (the player's parameters and this module's).

        ``shared`` are the parameters all terms share (the trunk's), for gradient-based
        weightings; ``scale`` applies the AMP loss scale.
        """
        scale(self.combine(terms)).backward(inputs=inputs)


# ----------------------------------------------------------------------------- executors


class Job:
    """One submitted task, as the executor that took it tracks it."""

    job_id: str = ""

    def done(self) -> bool:
        raise NotImplementedError

    def result(self) -> str:
        """The task's status (``mtbench.bench.task.STATUSES``); ``failed`` if the job crashed."""
        raise NotImplementedError


class ExecutorPlugin(Plugin):
    """Where a suite's runs execute: a local pool, a Slurm cluster, a Ray cluster, ...

    ``submit`` hands each ``RunTask`` to the place it runs, which calls
    ``mtbench.bench.task.execute(task, job_id)`` there; the run folders (on a filesystem the
    workers share) stay the source of truth, so the bench decides nothing the executor could
    get wrong. ``jobs`` is how many runs may run at once (local: processes at a time; Slurm:
    the array's parallelism). ``out`` is the suite's folder; keep executor files under
    ``out/.executor/<name>``.
    """

    kind: ClassVar[str] = "executor"
    # Whether ``stop`` ends the runs (they live in this machine) or only stops waiting for them.
    owns_runs: ClassVar[bool] = False

    def __init__(self, cfg: PluginConfig, out: Path, jobs: int) -> None:
        self.cfg, self.out, self.jobs = cfg, Path(out), jobs

    def check(self) -> None:
        """Raise ``UserError`` (one line) when the executor cannot run anything here."""

    def submit(self, tasks: list) -> list[Job]:
        raise NotImplementedError

    def stop(self, forward: bool) -> None:
        """The bench was interrupted (Ctrl-C, or SIGTERM when ``forward``): let running runs
        checkpoint and stop, if this executor owns them; cluster jobs carry on."""

    def cancel(self, job_ids: list[str]) -> None:
        """Cancel queued and running jobs of this executor by id (``mtbench bench --cancel``)."""

    def close(self) -> None:
        """Release what ``check``/``submit`` opened (pools, cluster connections)."""
