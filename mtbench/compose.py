"""Resolved spec + registry -> data source, generator, discriminator, weightings.

The core builds everything through the registry, so it never names a concrete network, and
checks each plugin's contract once here (``mtbench.contract``), naming the plugin.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mtbench import contract
from mtbench.api import (
    DataInfo,
    DataSplits,
    GeneratorContext,
    GeneratorPlugin,
    HeadContext,
    LatentCode,
    LossFamily,
    Side,
    TargetInfo,
    WeightingContext,
    WeightingPlugin,
)
from mtbench.data import BatchSource
from mtbench.discriminator import Discriminator, prefixed
from mtbench.dist import SINGLE, Dist
from mtbench.latent import code_width, condition_width, generator_input
from mtbench.registry import Registry
from mtbench.regularize import Regularizers
from mtbench.source_choice import make_source
from mtbench.spec import PluginSpec, Resolved, SpecError, _build


@dataclass
class Parts:
    """Everything one run trains, built and on its device."""

    info: DataInfo
    splits: DataSplits
    source: BatchSource
    generator: GeneratorPlugin
    discriminator: Discriminator
    codes: dict[str, LatentCode]
    conditions: dict[str, TargetInfo]
    d_weighting: WeightingPlugin
    g_weighting: WeightingPlugin
    regularizers: Regularizers


def compose(r: Resolved, registry: Registry, device: torch.device, dist: Dist = SINGLE) -> Parts:
    """Build every part in a fixed order, so a seed fixes every initial weight."""
    who = plugin_names(r, registry)
    splits = r.dataset.cls(r.dataset.cfg).load()
    info = r.data_info
    contract.check_splits(splits, info, who["dataset"])
    labels = r.head_labels()
    codes = {
        f"{label}/{name}": code
        for label, h in zip(labels, r.heads)
        for name, code in h.cls.latent_codes(h.cfg).items()
    }
    conditions = r.conditions()
    width = code_width(codes) + condition_width(conditions)
    generator = r.generator.cls(r.generator.cfg, GeneratorContext(info, width))
    contract.check_z_dim(generator, who["generator"])
    trunk = r.trunk.cls(r.trunk.cfg, info)
    loss = r.loss.cls(r.loss.cfg)
    ctx = HeadContext(
        data=info,
        feature_dim=contract.check_feature_dim(trunk, who["trunk"]),
        loss=loss,
        trunk=trunk,
        build_trunk=lambda spec: build_trunk(spec, registry, info),
        build_loss=lambda name: build_loss(name, registry),
        spectral_norm=trunk.uses_spectral_norm(),
    )
    heads = {label: h.cls(h.cfg, ctx) for label, h in zip(labels, r.heads)}
    disc = Discriminator(trunk, heads, {name: name.split("/", 1)[0] for name in codes})
    regs = Regularizers(
        {label: b.cls(b.cfg) for label, b in zip(r.regularizer_labels(), r.regularizers)}
    )
    generator.to(device)
    disc.to(device)
    source = make_source(splits.train, info, device, r.spec, dist.rank, dist.world_size)
    probe = Probe(generator, disc, source, codes, conditions, who)
    d_names, g_names = probe_terms(probe, regs)
    d_base, g_base = base_weights(r, labels, d_names, g_names)
    d_base.update({name: 1.0 for name in regs.term_names()})
    d_w, g_w = (
        r.weighting.cls(
            r.weighting.cfg,
            base,
            disc.unbounded_terms(player),
            ctx=WeightingContext(
                player,
                r.spec.seed,
                device,
                fixed=frozenset(regs.term_names() if player == "d" else ()),
                regression=disc.regression_terms(player),
                dist=dist,
            ),
        ).to(device)
        for player, base in (("d", d_base), ("g", g_base))
    )
    return Parts(info, splits, source, generator, disc, codes, conditions, d_w, g_w, regs)


def plugin_names(r: Resolved, registry: Registry) -> dict[str, str]:
    """How contract messages name each part: "dataset", "generator", "trunk", head labels."""
    who = {
        part: registry.describe(b.cls.kind, b.cls.name)
        for part, b in (("dataset", r.dataset), ("generator", r.generator), ("trunk", r.trunk))
    }
    for label, h in zip(r.head_labels(), r.heads):
        who[label] = registry.describe("head", h.cls.name)
    return who


def build_trunk(spec: dict, registry: Registry, info: DataInfo) -> nn.Module:
    """Another trunk from a ``{"type": ...}`` dict (for heads holding their own: ensembles)."""
    problems: list[str] = []
    built = _build("trunk", "trunk", PluginSpec.model_validate(spec), registry, problems)
    if built is None:
        raise SpecError(problems)
    trunk = built.cls(built.cfg, info)
    contract.check_feature_dim(trunk, registry.describe("trunk", built.cls.name))
    return trunk


def build_loss(name: str, registry: Registry) -> LossFamily:
    cls = registry.get("loss", name)
    return cls(cls.Config())


@dataclass
class Probe:
    """What the probe pass runs, and how its messages name each plugin (``plugin_names``)."""

    generator: GeneratorPlugin
    disc: Discriminator
    source: BatchSource
    codes: dict[str, LatentCode]
    conditions: dict[str, TargetInfo]
    who: dict[str, str]


@torch.no_grad()
def probe_terms(p: Probe, regs: Regularizers) -> tuple[list[str], list[str]]:
    """Names of every D and G term, from one tiny forward pass in eval mode (no state changes,
    its own random generator: the run's random streams are untouched).

    The same pass checks the contract: generator outputs, trunk feature shapes, head terms
    being scalars; and that penalties have a real/fake score to differentiate.
    """
    gen = torch.Generator(p.source.device).manual_seed(0)
    modes = [(m, m.training) for m in (p.generator, p.disc)]
    p.generator.eval()
    p.disc.eval()
    try:
        real_side, fake_side = _probe_sides(p, gen)
        d_by_head = p.disc.head_terms("d", real_side, fake_side)
        g_by_head = p.disc.head_terms("g", real_side, fake_side)
        for player, by_head in (("d", d_by_head), ("g", g_by_head)):
            for label, terms in by_head.items():
                contract.check_terms(terms, player, p.who[label])
        if regs.term_names() and p.disc.score(real_side) is None:
            raise SpecError(
                [
                    "regularizers: penalties need a head with a real/fake score (adversarial, "
                    "projection or ensemble); add one"
                ]
            )
    finally:
        for m, was_training in modes:
            m.train(was_training)
    return list(prefixed(d_by_head)), list(prefixed(g_by_head))


def _probe_sides(p: Probe, gen: torch.Generator) -> tuple[Side, Side]:
    """A real and a fake side of 2 samples, the generator's and trunk's outputs checked."""
    real = p.source.sample(2, gen)
    x = generator_input(2, p.generator.z_dim, p.codes, p.conditions, p.source, gen)
    out = p.generator(x.z, x.labels)
    contract.check_outputs(out, p.generator.outputs(), 2, p.who["generator"])
    rf, ff = p.disc.features(real.images["image"], out["image"])
    dim = p.disc.trunk.feature_dim
    contract.check_features(rf, 2, dim, p.who["trunk"])
    contract.check_features(ff, 2, dim, p.who["trunk"])
    real_side = Side(real.images, real.labels, real.targets, rf)
    targets = p.source.targets_of(x.labels) | x.conditions
    return real_side, Side(out, x.labels, targets, ff, x.codes)


def base_weights(
    r: Resolved, labels: list[str], d_names: list[str], g_names: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each term's fixed weight: its head's ``weight`` (D) or ``g_weight`` (G, default weight)."""
    d_of = {label: h.weight for label, h in zip(labels, r.spec.discriminator.heads)}
    g_of = {
        label: h.weight if h.g_weight is None else h.g_weight
        for label, h in zip(labels, r.spec.discriminator.heads)
    }
    d_base = {n: d_of[n.split("/", 1)[0]] for n in d_names}
    g_base = {n: g_of[n.split("/", 1)[0]] for n in g_names}
    return d_base, g_base
