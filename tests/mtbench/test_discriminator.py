"""The discriminator: one trunk pass per batch for all heads, prefixed terms, own codes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtbench.api import Side
from mtbench.discriminator import Discriminator


class Trunk(nn.Module):
    """A stand-in trunk that counts its calls and the batch sizes it saw."""

    feature_dim = 3

    def __init__(self, has_batch_stats: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(4, self.feature_dim)
        self.has_batch_stats = has_batch_stats
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return self.linear(x.flatten(1))


class Head(nn.Module):
    """A stand-in head: terms are its side's feature sums; records the codes it was given."""

    def __init__(self, uses_trunk=True, g_needs_real=False, score=True, unbounded=()) -> None:
        super().__init__()
        self.uses_trunk_features, self.g_needs_real_features = uses_trunk, g_needs_real
        self.has_score, self.unbounded = score, set(unbounded)
        self.codes: list[dict] = []

    def d_terms(self, real: Side, fake: Side) -> dict[str, torch.Tensor]:
        self.codes.append(fake.codes)
        return {"real": real.features.sum(), "fake": fake.features.sum()}

    def g_terms(self, fake: Side, real: Side) -> dict[str, torch.Tensor]:
        self.codes.append(fake.codes)
        return {"fake": fake.features.sum()}

    def score(self, side: Side) -> torch.Tensor | None:
        return side.features.sum(1) if self.has_score else None

    def unbounded_terms(self, player: str) -> set[str]:
        return self.unbounded


def images(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 1, 2, 2, generator=torch.Generator().manual_seed(seed))


def side(features: torch.Tensor | None, codes: dict | None = None) -> Side:
    return Side({}, None, {}, features, codes or {})


def test_features_of_both_sides_come_from_one_trunk_pass():
    trunk = Trunk()
    disc = Discriminator(trunk, {"a": Head(), "b": Head()}, {})
    real, fake = images(3, 0), images(2, 1)
    rf, ff = disc.features(real, fake)
    assert trunk.batches == [5]
    assert torch.allclose(rf, trunk(real)) and torch.allclose(ff, trunk(fake))


def test_a_trunk_with_batch_statistics_sees_each_side_alone():
    trunk = Trunk(has_batch_stats=True)
    Discriminator(trunk, {"a": Head()}, {}).features(images(3, 0), images(2, 1))
    assert trunk.batches == [3, 2]


def test_the_trunk_is_skipped_when_no_head_reads_its_features():
    trunk = Trunk()
    disc = Discriminator(trunk, {"a": Head(uses_trunk=False, g_needs_real=True)}, {})
    assert disc.features(images(3, 0), images(2, 1)) == (None, None)
    assert disc.fake_features(images(2, 1)) is None and trunk.batches == []
    assert not disc.g_needs_real


@pytest.mark.parametrize("flags, expected", [((False, False), False), ((False, True), True)])
def test_g_needs_real_if_any_trunk_reading_head_asks(flags, expected):
    heads = {"a": Head(), "b": Head(g_needs_real=flags[1]), "c": Head(g_needs_real=flags[0])}
    assert Discriminator(Trunk(), heads, {}).g_needs_real is expected


def test_terms_are_prefixed_with_each_heads_label():
    disc = Discriminator(Trunk(), {"a": Head(), "b": Head()}, {})
    real, fake = side(torch.ones(2, 3)), side(2 * torch.ones(2, 3))
    assert {k: v.item() for k, v in disc.d_terms(real, fake).items()} == {
        "a/real": 6.0,
        "a/fake": 12.0,
        "b/real": 6.0,
        "b/fake": 12.0,
    }
    assert set(disc.g_terms(fake, real)) == {"a/fake", "b/fake"}


def test_each_head_sees_only_its_own_codes_unprefixed():
    heads = {"a": Head(), "b": Head()}
    disc = Discriminator(Trunk(), heads, {"a/cat": "a", "b/cat": "b", "b/cont": "b"})
    codes = {"a/cat": torch.zeros(2), "b/cat": torch.ones(2), "b/cont": torch.ones(2, 1)}
    feats = side(torch.ones(2, 3))
    disc.d_terms(feats, side(torch.ones(2, 3), codes))
    disc.g_terms(side(torch.ones(2, 3), codes), feats)
    assert [set(c) for c in heads["a"].codes] == [{"cat"}, {"cat"}]
    assert [set(c) for c in heads["b"].codes] == [{"cat", "cont"}, {"cat", "cont"}]
    assert torch.equal(heads["b"].codes[0]["cat"], codes["b/cat"])


def test_score_sums_the_heads_that_have_one():
    feats = side(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]))
    disc = Discriminator(Trunk(), {"a": Head(), "b": Head(score=False), "c": Head()}, {})
    assert disc.score(feats).tolist() == [12.0, 2.0]
    assert Discriminator(Trunk(), {"b": Head(score=False)}, {}).score(feats) is None


def test_score_images_runs_the_trunk_once_on_the_new_images():
    trunk = Trunk()
    disc = Discriminator(trunk, {"a": Head()}, {})
    x = images(4, 2)
    assert torch.allclose(disc.score_images(x, None), trunk(x).sum(1))
    assert trunk.batches == [4, 4]  # score_images' pass, then the reference pass above


def test_unbounded_terms_are_prefixed():
    heads = {"a": Head(unbounded={"fake"}), "b": Head()}
    assert Discriminator(Trunk(), heads, {}).unbounded_terms("g") == {"a/fake"}
