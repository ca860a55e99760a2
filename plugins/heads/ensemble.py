"""Ensemble of K adversarial discriminators, aggregated for the generator (the seed's MultiHeadDis).

Layouts: ``separate`` (K complete discriminators on the images, run fused by default) and
``shared_trunk`` (K adversarial outputs on the one shared trunk). Aggregators for the G step:
mean, max, GMAN's softmax (fixed or learned temperature) and Dropout-GAN's random subsets.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.heads.stacked_members import StackedMembers, can_stack
from mtbench_plugins.layers import head_sn, resolve_loss, trunk_sn

Scale = Annotated[int, Field(ge=1, le=16)]
Width = Annotated[int, Field(ge=1, le=4096)]


class Logits(nn.Module):
    """``n`` linear real/fake outputs on features: (B, F) -> (B, n).

    With ``normalise`` each output's weight row is divided by its L2 norm, which is exactly its
    spectral norm (a 1 x F matrix has one singular value), so no power-iteration buffers are
    needed and the module stays stackable for the fused ensemble.
    """

    def __init__(self, in_dim: int, n: int, normalise: bool) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(n, in_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n).uniform_(-bound, bound))
        self.normalise = normalise

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        if self.normalise:
            w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return F.linear(x, w, self.bias)


class Member(nn.Module):
    """One complete discriminator: average-pool by ``scale``, a trunk, one real/fake logit."""

    def __init__(self, trunk: nn.Module, scale: int, normalise: bool) -> None:
        super().__init__()
        self.trunk = trunk
        self.scale = scale
        self.out = Logits(trunk.feature_dim, 1, normalise)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale > 1:
            x = F.avg_pool2d(x, self.scale)
        return self.out(self.trunk(x)).squeeze(-1)


class EnsembleHead(HeadPlugin):
    """K adversarial discriminators; D trains each on its own loss, G on an aggregate.

    The multi-discriminator D of MT-CGAN's MultiHeadDis. G-step aggregators over the K
    generator losses L_k: ``mean``; ``max``; ``gman`` (GMAN, Durugkar et al. 2017,
    "Generative multi-adversarial networks", ICLR, Sec. 3.1): F = sum_k softmax(lambda * L)_k L_k,
    differentiated whole as the paper's soft-discriminator objective, the softmax weights in
    G's graph (dF/dL_k = w_k (1 + lambda (L_k - F))), lambda = 0 the mean, lambda -> inf the
    max; ``detach_weights`` computes the weights from the detached losses instead, so G follows
    the convex combination sum_k w_k dL_k (mtbench's earlier behaviour); ``gman_learned``
    (GMAN*): lambda =
    softplus(rho) is learned by the generator, which minimises the soft mean minus
    ``gman_reg * lambda`` (the paper's regulariser, so lambda does not collapse to 0; rho is
    listed by ``g_parameters()`` for the core to train with G, not D);
    ``dropout`` (Dropout-GAN, Mordido et al. 2018): each member's term is kept with probability
    1 - d per batch, at least one kept, and the kept ones are averaged (the paper sums them; the
    mean keeps the term's scale independent of how many survive). In eval mode dropout keeps
    all members.

    GMAN checked against the paper and the authors' TensorFlow code (github.com/iDurugkar/GMAN,
    ``GMAN.py`` and ``helper.py``'s ``mix_prediction``: weights exp(lambda * L_k) normalised,
    arithmetic mean, weights not stopped from the gradient, lambda 1.0 by default, as here).
    Deliberate differences: there each of the N discriminators sees its own 1/N share of a
    batch of N x batch_size fakes and reals; here every member sees the whole batch (the
    ensemble's members differ by initialisation and scale, as in MT-CGAN's MultiHeadDis). The
    authors' code keeps lambda fixed; ``gman_learned`` follows the paper's GMAN* (Sec. 3.1)
    instead. Their geometric and harmonic means and the boosted variants are not offered. Each
    member's L_k is the spec's loss (``ns`` is the paper's "modified" objective, their
    ``objective=modified``).

    Layouts: ``separate`` builds K complete discriminators (``trunk`` spec plus a linear
    output each) that look at the images themselves, so the shared trunk is skipped when no
    other head needs it. When all members share one architecture (same width and scale) and
    hold no state but spectral norm's power-iteration vectors (no batch norm), they become
    one ``StackedMembers`` (stacked_members.py): their parameters stacked into real
    parameters of this module, spectral norm run on each member's slice, in one ``torch.vmap``
    over ``torch.func.functional_call`` on CUDA and member by member on the CPU; otherwise,
    or with ``fused: false``, a Python loop runs them (``self.fused`` says which). State
    dicts of the two modes differ in key names. On the CPU fusing gains nothing: the step is
    bound by convolution work, not per-kernel overhead (benchmarks/bench_ensemble.py).
    ``shared_trunk`` puts K linear outputs on the shared trunk's features, the seed's
    model-level sharing; the weighting sums the K D terms, so the trunk gets the sum of the
    members' gradients.
    """

    name = "ensemble"
    description = "K adversarial discriminators with mean/max/GMAN/dropout aggregation for G"

    class Config(PluginConfig):
        k: int = Field(ge=1, le=64, description="number of discriminators")
        layout: Literal["separate", "shared_trunk"] = Field(
            "separate", description="K complete discriminators, or K outputs on the shared trunk"
        )
        aggregator: Literal["mean", "max", "gman", "gman_learned", "dropout"] = Field(
            "mean", description="how the K generator losses become one G term"
        )
        gman_lambda: float = Field(1.0, ge=0, le=1000, description="GMAN softmax temperature")
        detach_weights: bool = Field(
            False, description="gman: softmax weights from detached losses (out of G's graph)"
        )
        gman_reg: float = Field(
            1e-3, ge=0, le=1, description="gman_learned: G minimises soft mean - gman_reg*lambda"
        )
        dropout: float = Field(
            0.5, ge=0, lt=1, description="dropout: probability of dropping each member's G term"
        )
        fused: bool = Field(True, description="separate: run identical members in one vmap")
        trunk: dict[str, Any] = Field(
            default_factory=lambda: {"type": "dcgan"},
            description="separate: each member's trunk spec, {'type': name, ...options}",
        )
        widths: list[Width] | None = Field(
            None, description="separate: per-member trunk 'width' override (length k)"
        )
        scales: list[Scale] | None = Field(
            None, description="separate: per-member input downsampling by average pooling"
        )
        spectral_norm: bool | None = Field(
            None, description="spectral norm on every linear output; default: as the trunk"
        )
        loss: str | None = Field(
            None, min_length=1, description="loss family name; None uses the spec's loss"
        )

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        problems = [
            f"{name} has {len(v)} entries; k is {cfg.k}"
            for name, v in (("widths", cfg.widths), ("scales", cfg.scales))
            if v is not None and len(v) != cfg.k
        ]
        problems += [
            f"scale {s} does not divide the image size {data.size}"
            for s in sorted(set(cfg.scales or []))
            if data.size % s
        ]
        if cfg.aggregator == "gman_learned" and cfg.gman_lambda <= 0:
            problems.append("gman_learned needs an initial gman_lambda > 0")
        if not isinstance(cfg.trunk.get("type"), str):
            problems.append("trunk must name a trunk plugin: {'type': name, ...}")
        if cfg.layout == "shared_trunk":
            unused = sorted({"trunk", "widths", "scales", "fused"} & cfg.model_fields_set)
            problems += [f"{f} applies only to layout 'separate'" for f in unused]
        return problems

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.loss = resolve_loss(cfg.loss, ctx)
        self.uses_trunk_features = cfg.layout == "shared_trunk"  # read per instance by the core
        self.fused = False
        if cfg.layout == "shared_trunk":
            self.logits_layer = Logits(ctx.feature_dim, cfg.k, head_sn(cfg.spectral_norm, ctx))
        else:
            self._build_members(cfg, ctx)
        if cfg.aggregator == "gman_learned":
            rho = math.log(math.expm1(cfg.gman_lambda))  # softplus(rho) = gman_lambda
            self.rho = nn.Parameter(torch.tensor(rho))
        self._seed = int(torch.randint(2**62, ()))  # dropout draws: seed and count, checkpointed
        self._draws = 0

    # ------------------------------------------------------------------ members

    def _build_members(self, cfg: Config, ctx: HeadContext) -> None:
        widths = cfg.widths or [None] * cfg.k
        scales = cfg.scales or [1] * cfg.k
        trunks = [self._member_trunk(cfg.trunk, w, s, ctx) for w, s in zip(widths, scales)]
        members = [
            Member(t, s, trunk_sn(t) if cfg.spectral_norm is None else cfg.spectral_norm)
            for t, s in zip(trunks, scales)
        ]
        same = len(set(widths)) == 1 and len(set(scales)) == 1
        self.fused = cfg.fused and same and can_stack(members)
        if self.fused:
            self.stacked = StackedMembers(members)
        else:
            self.members = nn.ModuleList(members)
        self.batch_stats = bool(getattr(members[0].trunk, "has_batch_stats", False))

    @staticmethod
    def _member_trunk(spec: dict, width: int | None, scale: int, ctx: HeadContext) -> nn.Module:
        """A member's trunk from its spec, with its width and for its input size."""
        trunk = ctx.build_trunk(spec if width is None else {**spec, "width": width})
        if scale == 1:
            return trunk
        size = ctx.data.size // scale
        try:
            return type(trunk)(trunk.cfg, replace(ctx.data, size=size))
        except ValueError as exc:
            raise ValueError(f"ensemble member at scale {scale} ({size}x{size}): {exc}") from None

    # Devices where fused members run as one vmap. On the CPU vmap's grouped convolutions
    # measured slower than a loop (benchmarks/bench_ensemble.py), so there the stacked
    # parameters run member by member; tests add "cpu" to check the vmap path.
    vmap_devices: tuple[str, ...] = ("cuda",)

    def member_logits(self, x: Tensor) -> Tensor:
        """Real/fake logits (K, B) of every member on images x (B, C, H, W)."""
        if self.fused:
            return self.stacked(x, use_vmap=x.device.type in self.vmap_devices)
        return torch.stack([m(x) for m in self.members])

    def logits(self, side: Side) -> Tensor:
        """Logits (K, B) of one side: from its features (shared trunk) or its images."""
        if self.cfg.layout == "shared_trunk":
            return self.logits_layer(side.features).t()
        return self.member_logits(side.images["image"])

    def _both_logits(self, real: Side, fake: Side) -> tuple[Tensor, Tensor]:
        """Logits of both sides; separate members see real and fake as one batch when allowed."""
        if self.cfg.layout == "shared_trunk" or self.batch_stats:
            return self.logits(real), self.logits(fake)
        n = real.images["image"].shape[0]
        both = self.member_logits(torch.cat([real.images["image"], fake.images["image"]]))
        return both[:, :n], both[:, n:]

    # ------------------------------------------------------------------ terms

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        r, f = self._both_logits(real, fake)
        return {f"d{i}": self.loss.d_loss(r[i], f[i]) for i in range(self.cfg.k)}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        f = self.logits(fake)
        losses = torch.stack([self.loss.g_loss(f[i]) for i in range(self.cfg.k)])
        return {"adv": self.aggregate(losses)}

    def score(self, side: Side) -> Tensor:
        """The members' mean real/fake logit per sample, for gradient penalties (R1, R2,
        WGAN-GP): the penalty then constrains the mean discriminator, which G follows with
        the default aggregator. One more member pass on the side's images when separate."""
        return self.logits(side).mean(0)

    def regression_terms(self, player: str) -> set[str]:
        if not self.loss.regression:
            return set()
        return {f"d{i}" for i in range(self.cfg.k)} if player == "d" else {"adv"}

    def unbounded_terms(self, player: str) -> set[str]:
        if player == "d":
            return set() if self.loss.d_bounded else {f"d{i}" for i in range(self.cfg.k)}
        learned = self.cfg.aggregator == "gman_learned"  # - gman_reg * lambda is unbounded
        return {"adv"} if learned or not self.loss.g_bounded else set()

    # ------------------------------------------------------------------ aggregation

    def gman_lambda(self) -> Tensor | float:
        """GMAN's softmax temperature: learned (softplus(rho) >= 0) or the configured one."""
        return (
            F.softplus(self.rho) if self.cfg.aggregator == "gman_learned" else self.cfg.gman_lambda
        )

    def aggregate(self, losses: Tensor) -> Tensor:
        """One G term from the K members' generator losses (K,)."""
        agg = self.cfg.aggregator
        if agg == "mean":
            return losses.mean()
        if agg == "max":
            return losses.max()
        if agg == "dropout":
            keep = self.dropout_mask(losses.shape[0]).to(losses.device, losses.dtype)
            return (losses * keep).sum() / keep.sum()
        lam = self.gman_lambda()
        scores = losses.detach() if self.cfg.detach_weights else losses
        soft = (torch.softmax(lam * scores, 0) * losses).sum()
        return soft - self.cfg.gman_reg * lam if agg == "gman_learned" else soft

    def dropout_mask(self, k: int) -> Tensor:
        """Which members' G terms count this batch: each kept with prob 1 - d, at least one.

        Drawn from a generator seeded by (seed, draw count), both checkpointed, so runs and
        resumed runs reproduce. Eval mode keeps every member and draws nothing.
        """
        if not self.training:
            return torch.ones(k)
        gen = torch.Generator().manual_seed(self._seed + self._draws)
        self._draws += 1
        keep = (torch.rand(k, generator=gen) >= self.cfg.dropout).float()
        if keep.sum() == 0:
            keep[torch.randint(k, (1,), generator=gen)] = 1.0
        return keep

    def g_parameters(self) -> list[nn.Parameter]:
        """Parameters the generator trains (GMAN*'s temperature); the core must route them."""
        return [self.rho] if self.cfg.aggregator == "gman_learned" else []

    def get_extra_state(self) -> dict:
        return {"seed": self._seed, "draws": self._draws}

    def set_extra_state(self, state: dict) -> None:
        self._seed, self._draws = int(state["seed"]), int(state["draws"])


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [EnsembleHead]
