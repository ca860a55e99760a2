"""compose(): a seed fixes every initial weight, term weights come from the spec's heads, and
the probe pass that names the terms changes no state."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from helpers import tiny_spec

from mtbench.compose import Probe, compose, probe_terms
from mtbench.errors import SpecError
from mtbench.spec import resolve

CPU = torch.device("cpu")


def parts(registry, seed: int = 0, **over):
    r = resolve(tiny_spec(**over), registry)
    torch.manual_seed(seed)
    return compose(r, registry, CPU)


def weights(p) -> dict[str, torch.Tensor]:
    return {
        **{f"G.{k}": v for k, v in p.generator.state_dict().items()},
        **{f"D.{k}": v for k, v in p.discriminator.state_dict().items()},
    }


def test_the_seed_fixes_every_initial_weight(registry):
    a, b, c = weights(parts(registry)), weights(parts(registry)), weights(parts(registry, 1))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    floats = [k for k in a if a[k].is_floating_point() and a[k].numel() > 1]
    assert any(not torch.equal(a[k], c[k]) for k in floats)


def test_term_weights_are_the_heads_weight_and_g_weight(registry):
    heads = [
        {"type": "adversarial", "weight": 2.0},
        {"type": "aux_classifier", "weight": 0.5, "g_weight": 3.0, "label": "ac"},
    ]
    disc = {"trunk": {"type": "dcgan", "width": 8, "feature_dim": 32}, "heads": heads}
    p = parts(registry, discriminator=disc)
    assert p.d_weighting.base == {"adversarial/adv": 2.0, "ac/ce_real": 0.5, "ac/ce_fake": 0.5}
    assert p.g_weighting.base == {"adversarial/adv": 2.0, "ac/ce": 3.0}


def test_regularizer_terms_weigh_one_and_unbounded_terms_reach_the_weightings(registry):
    p = parts(registry, loss={"type": "wasserstein"}, regularizers=[{"type": "r1"}])
    r1 = [k for k in p.d_weighting.base if k.startswith("r1/")]
    assert r1 and all(p.d_weighting.base[k] == 1.0 for k in r1)
    assert "adversarial/adv" in p.d_weighting.unbounded
    assert "adversarial/adv" in p.g_weighting.unbounded


def test_heads_latent_codes_are_labelled_fed_to_the_generator_and_owned(registry):
    heads = [{"type": "adversarial"}, {"type": "latent_regression", "label": "info"}]
    disc = {"trunk": {"type": "dcgan", "width": 8, "feature_dim": 32}, "heads": heads}
    p = parts(registry, discriminator=disc)
    assert p.codes and all(k.startswith("info/") for k in p.codes)
    assert p.discriminator.code_owner == {k: "info" for k in p.codes}
    assert p.generator.ctx.code_dim == sum(c.dim for c in p.codes.values())


def test_the_probe_pass_changes_no_weights_buffers_modes_or_global_rng(registry):
    p = parts(registry)
    before, rng = {k: v.clone() for k, v in weights(p).items()}, torch.get_rng_state()
    p.generator.train()
    p.discriminator.eval()
    who = defaultdict(lambda: "a plugin")
    probe = Probe(p.generator, p.discriminator, p.source, p.codes, p.conditions, who)
    d_names, g_names = probe_terms(probe, p.regularizers)
    assert "adversarial/adv" in d_names and "aux_classifier/ce" in g_names
    after = weights(p)
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm stats included
    assert torch.equal(torch.get_rng_state(), rng)
    assert p.generator.training and not p.discriminator.training


def test_a_penalty_without_a_scoring_head_is_a_spec_error(registry):
    disc = {"trunk": {"type": "dcgan", "width": 8}, "heads": [{"type": "aux_classifier"}]}
    with pytest.raises(SpecError, match="regularizers: penalties need a head"):
        parts(registry, discriminator=disc, regularizers=[{"type": "r1"}])
