"""The domain evaluator: accurate, deterministic, cached by content, registered safely."""

from __future__ import annotations

import pytest
import torch
import torch_fidelity

from mtbench.api import TensorData
from mtbench.evaluate import domain as domain_mod
from mtbench.evaluate.domain import (
    architecture,
    cache_path,
    load_or_train,
    predict,
    primary_accuracy,
)
from mtbench.evaluate.extractor import DomainFeatureExtractor, domain_extractor, register_once
from mtbench.evaluate.spec import DomainRecipe

QUICK = DomainRecipe(epochs=1, width=4, feat_dim=8)


def subset(data: TensorData, lo: int, hi: int) -> TensorData:
    return TensorData(data.images[lo:hi], data.labels[lo:hi])


def test_accurate_on_held_out_mnist(mnist, domain):
    data, _ = mnist
    assert primary_accuracy(domain.net, data.eval, torch.device("cpu"), 500) >= 0.97


def test_training_is_deterministic_and_cached(mnist, tmp_path, monkeypatch):
    data, info = mnist
    small = subset(data.train, 0, 600)
    a = load_or_train(small, info, QUICK, tmp_path / "a")
    b = load_or_train(small, info, QUICK, tmp_path / "b")  # trained again from scratch
    assert a.hash == b.hash and a.path.name == b.path.name
    assert [p.name for p in (tmp_path / "a").iterdir()] == [a.path.name]  # no temp files left

    def no_training(*args, **kwargs):
        raise AssertionError("retrained despite a valid cache file")

    monkeypatch.setattr(domain_mod, "train_domain_net", no_training)
    assert load_or_train(small, info, QUICK, tmp_path / "a").hash == a.hash


def test_cache_key_follows_data_and_recipe(mnist, tmp_path):
    data, info = mnist
    small = subset(data.train, 0, 600)
    key = cache_path(small, info, QUICK, tmp_path)
    assert key == cache_path(subset(data.train, 0, 600), info, QUICK, tmp_path)
    assert key != cache_path(subset(data.train, 1, 601), info, QUICK, tmp_path)
    relabelled = TensorData(small.images, small.labels.roll(1))
    assert key != cache_path(relabelled, info, QUICK, tmp_path)
    assert key != cache_path(small, info, QUICK.model_copy(update={"seed": 1}), tmp_path)


def test_corrupt_cache_file_is_retrained(mnist, tmp_path):
    data, info = mnist
    small = subset(data.train, 0, 600)
    good = load_or_train(small, info, QUICK, tmp_path)
    good.path.write_bytes(b"not a checkpoint")
    assert load_or_train(small, info, QUICK, tmp_path).hash == good.hash


def test_extra_heads_for_multi_attribute_data(tmp_path):
    from mtbench_plugins.datasets.shapes import Shapes

    plugin = Shapes(Shapes.Config(size=16, n=300))
    data, info = plugin.load(), plugin.info()
    arch = architecture(data.train, info, QUICK)
    assert arch["class_heads"] == {"colour": 3, "shape": 3, "size": 2}
    assert arch["regress_heads"] == {"position": 2}
    model = load_or_train(data.train, info, QUICK, tmp_path)
    out = predict(model.net, data.eval.images, torch.device("cpu"), 64)
    assert out["feat"].shape == (len(data.eval), 8)
    assert out["class:size"].shape == (len(data.eval), 2)
    assert out["regress:position"].shape == (len(data.eval), 2)


def test_registration_is_guarded_and_bound_to_weights(domain, tmp_path, mnist):
    ext = domain_extractor(domain)
    assert domain_extractor(domain) == ext  # second registration is a no-op
    assert torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY[ext.name] is DomainFeatureExtractor
    with pytest.raises(ValueError, match="already registered"):
        register_once(ext.name, torch_fidelity.feature_extractor_base.FeatureExtractorBase)
    data, info = mnist
    other = load_or_train(subset(data.train, 0, 600), info, QUICK, tmp_path)
    with pytest.raises(ValueError, match="holds evaluator"):
        DomainFeatureExtractor(ext.name, ["domain-feat"], feature_extractor_weights_path=other.path)
