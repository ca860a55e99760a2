"""Resolved spec + registry -> data source, generator, discriminator, weightings.

The core builds everything through the registry, so it never names a concrete network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

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
    WeightingPlugin,
)
from mtbench.data import BatchSource
from mtbench.discriminator import Discriminator
from mtbench.latent import code_width, condition_width, generator_input
from mtbench.registry import Registry
from mtbench.regularize import Regularizers
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


def compose(r: Resolved, registry: Registry, device: torch.device) -> Parts:
    """Build every part in a fixed order, so a seed fixes every initial weight."""
    splits = r.dataset.cls(r.dataset.cfg).load()
    info = r.data_info
    labels = r.head_labels()
    codes = {
        f"{label}/{name}": code
        for label, h in zip(labels, r.heads)
        for name, code in h.cls.latent_codes(h.cfg).items()
    }
    conditions = r.conditions()
    width = code_width(codes) + condition_width(conditions)
    generator = r.generator.cls(r.generator.cfg, GeneratorContext(info, width))
    trunk = r.trunk.cls(r.trunk.cfg, info)
    loss = r.loss.cls(r.loss.cfg)
    ctx = HeadContext(
        data=info,
        feature_dim=trunk.feature_dim,
        loss=loss,
        trunk=trunk,
        build_trunk=lambda spec: build_trunk(spec, registry, info),
        build_loss=lambda name: build_loss(name, registry),
    )
    heads = {label: h.cls(h.cfg, ctx) for label, h in zip(labels, r.heads)}
    disc = Discriminator(trunk, heads, {name: name.split("/", 1)[0] for name in codes})
    regs = Regularizers(
        {label: b.cls(b.cfg) for label, b in zip(r.regularizer_labels(), r.regularizers)}
    )
    generator.to(device)
    disc.to(device)
    source = BatchSource(splits.train, info, device)
    d_names, g_names = probe_terms(generator, disc, source, codes, conditions, regs)
    d_base, g_base = base_weights(r, labels, d_names, g_names)
    d_base.update({name: 1.0 for name in regs.term_names()})
    d_w = r.weighting.cls(r.weighting.cfg, d_base, disc.unbounded_terms("d")).to(device)
    g_w = r.weighting.cls(r.weighting.cfg, g_base, disc.unbounded_terms("g")).to(device)
    return Parts(info, splits, source, generator, disc, codes, conditions, d_w, g_w, regs)


def build_trunk(spec: dict, registry: Registry, info: DataInfo) -> nn.Module:
    """Another trunk from a ``{"type": ...}`` dict (for heads holding their own: ensembles)."""
    problems: list[str] = []
    built = _build("trunk", "trunk", PluginSpec.model_validate(spec), registry, problems)
    if built is None:
        raise SpecError(problems)
    return built.cls(built.cfg, info)


def build_loss(name: str, registry: Registry) -> LossFamily:
    cls = registry.get("loss", name)
    return cls(cls.Config())


@torch.no_grad()
def probe_terms(
    generator: GeneratorPlugin,
    disc: Discriminator,
    source: BatchSource,
    codes: dict[str, LatentCode],
    conditions: dict[str, TargetInfo],
    regs: Regularizers,
) -> tuple[list[str], list[str]]:
    """Names of every D and G term, from one tiny forward pass in eval mode (no state changes).

    Also checks that penalties have a real/fake score to differentiate.
    """
    gen = torch.Generator(source.device).manual_seed(0)
    modes = [(m, m.training) for m in (generator, disc)]
    generator.eval()
    disc.eval()
    try:
        real = source.sample(2, gen)
        x = generator_input(2, generator.z_dim, codes, conditions, source, gen)
        out = generator(x.z, x.labels)
        rf, ff = disc.features(real.images["image"], out["image"])
        real_side = Side(real.images, real.labels, real.targets, rf)
        fake_side = Side(out, x.labels, source.targets_of(x.labels) | x.conditions, ff, x.codes)
        d_names = list(disc.d_terms(real_side, fake_side))
        g_names = list(disc.g_terms(fake_side, real_side))
        if regs.term_names() and disc.score(real_side) is None:
            raise SpecError(
                [
                    "regularizers: penalties need a head with a real/fake score (adversarial, "
                    "projection or ensemble); add one"
                ]
            )
    finally:
        for m, was_training in modes:
            m.train(was_training)
    return d_names, g_names


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
