"""Fixed weighting: weighted sum of named terms, clear error on an unweighted term."""

import pytest
import torch

from mtbench_plugins.weightings import fixed as mod
from mtbench_plugins.weightings.fixed import FixedWeighting

torch.set_num_threads(1)


def make(base: dict[str, float]) -> FixedWeighting:
    return FixedWeighting(FixedWeighting.Config(), base)


def test_registered_through_hook():
    assert mod.mtbench_weightings() == [FixedWeighting]
    assert FixedWeighting.name == "fixed" and FixedWeighting.description


def test_combine_is_the_weighted_sum():
    w = make({"adv": 1.0, "ce_real": 0.5, "ce_fake": 2.0})
    terms = {"adv": torch.tensor(3.0), "ce_real": torch.tensor(4.0), "ce_fake": torch.tensor(-1.0)}
    assert w.combine(terms).item() == pytest.approx(3.0 + 2.0 - 2.0)


def test_weights_absent_terms_are_ignored():
    w = make({"adv": 2.0, "ce": 10.0})
    assert w.combine({"adv": torch.tensor(1.5)}).item() == pytest.approx(3.0)


def test_gradient_is_scaled_by_the_weight():
    a, b = torch.tensor(1.0, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    w = make({"a": 3.0, "b": 0.25})
    w.backward({"a": a * 2, "b": b * 2}, inputs=[a, b], shared=[], scale=lambda x: x)
    assert a.grad.item() == pytest.approx(6.0) and b.grad.item() == pytest.approx(0.5)


def test_missing_term_raises_key_error_naming_it():
    w = make({"adv": 1.0})
    with pytest.raises(KeyError, match="ce_fake"):
        w.combine({"adv": torch.tensor(1.0), "ce_fake": torch.tensor(1.0)})


def test_no_terms_is_an_error():
    with pytest.raises(ValueError):
        make({"adv": 1.0}).combine({})


def test_current_weights_are_the_base_and_a_copy():
    base = {"adv": 1.0, "ce": 0.5}
    w = make(base)
    assert w.current_weights() == base
    w.current_weights()["adv"] = 9.0
    base["ce"] = 7.0
    assert w.current_weights() == {"adv": 1.0, "ce": 0.5}


def test_has_no_parameters():
    assert list(make({"adv": 1.0}).parameters()) == []
