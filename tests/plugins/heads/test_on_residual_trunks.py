"""Every built-in head trains a step on the resnet and biggan trunks (small widths, 32 px
shapes), with the trunk's spectral norm on the head's layers."""

import pytest
import torch
from helpers import tiny_spec
from torch.nn.utils import parametrize

from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer

TRUNKS = {"resnet": {"type": "resnet", "width": 8}, "biggan": {"type": "biggan", "width": 8}}
HEADS = {
    "adversarial": {"type": "adversarial"},
    "aux_classifier": {"type": "aux_classifier"},
    "projection": {"type": "projection"},
    "twin_aux_classifier": {"type": "twin_aux_classifier"},
    "adc": {"type": "adc"},
    "contrastive_2c": {"type": "contrastive_2c", "embed_dim": 16},
    "d2d_ce": {"type": "d2d_ce", "embed_dim": 16},
    "d2d_ce_studiogan": {"type": "d2d_ce", "embed_dim": 16, "variant": "studiogan"},
    "rotation": {"type": "rotation"},
    "latent_regression": {"type": "latent_regression"},
    "attribute": {"type": "attribute"},
    "reconstruction": {"type": "reconstruction", "width": 4},
    "ensemble_shared": {"type": "ensemble", "k": 2, "layout": "shared_trunk"},
    "ensemble_separate": {
        "type": "ensemble",
        "k": 2,
        "trunk": {"type": "resnet", "width": 4},
        "aggregator": "gman",
    },
}


def test_every_builtin_head_is_listed(registry):
    assert {h["type"] for h in HEADS.values()} == set(registry.names("head"))


@pytest.mark.parametrize("trunk", TRUNKS)
@pytest.mark.parametrize("head", HEADS)
def test_head_trains_a_step_on_the_trunk(registry, trunk, head):
    s = tiny_spec()
    s["dataset"] = {"type": "shapes", "size": 32, "n": 32}
    s["discriminator"] = {"trunk": TRUNKS[trunk], "heads": [{"type": "adversarial"}, HEADS[head]]}
    s["train"]["batch_size"] = 6
    r = resolve(s, registry)
    cpu = torch.device("cpu")
    trainer = Trainer.from_spec(r, compose(r, registry, cpu), cpu)
    d_terms, g_terms = trainer.train_step(timed=True)
    assert all(torch.isfinite(v) for v in [*d_terms.values(), *g_terms.values()])
    label = list(trainer.D.heads)[1]
    own = trainer.D.heads[label]
    linears = [m for m in own.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Embedding))]
    assert all(parametrize.is_parametrized(m, "weight") for m in linears), head
