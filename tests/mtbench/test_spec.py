"""Spec messages a plugin author needs: a typo in a plugin's Config field says what was meant."""

from __future__ import annotations

import pytest
from helpers import tiny_spec

from mtbench import spec
from mtbench.errors import SpecError


def _problems(data: dict, registry) -> list[str]:
    with pytest.raises(SpecError) as err:
        spec.resolve(data, registry)
    return err.value.problems


def test_typo_in_a_head_config_field_suggests_the_field_and_lists_all(registry):
    data = tiny_spec()
    data["discriminator"]["heads"][1]["d_on_fak"] = True
    assert _problems(data, registry) == [
        "discriminator.heads[1].d_on_fak: Extra inputs are not permitted; did you mean "
        "'d_on_fake'? fields of head 'aux_classifier': type, d_on_fake, spectral_norm, weight, "
        "g_weight, label"
    ]


def test_typo_in_a_trunk_field_lists_its_fields_without_head_ones(registry):
    data = tiny_spec()
    data["discriminator"]["trunk"]["feature_dmi"] = 32
    (line,) = _problems(data, registry)
    assert line.startswith("discriminator.trunk.feature_dmi: Extra inputs are not permitted;")
    assert "did you mean 'feature_dim'?" in line
    assert line.endswith("fields of trunk 'dcgan': type, width, spectral_norm, feature_dim")


def test_field_with_no_close_match_still_lists_the_valid_fields(registry):
    data = tiny_spec()
    data["generator"]["zzzzzz"] = 1
    (line,) = _problems(data, registry)
    assert "did you mean" not in line
    assert "; fields of generator 'dcgan': type, z_dim" in line
