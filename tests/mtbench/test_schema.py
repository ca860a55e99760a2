"""``mtbench schema``: a JSON Schema that accepts every example and rejects typos, per plugin."""

from __future__ import annotations

import json

import jsonschema
import pytest
from helpers import REPO, tiny_spec

from mtbench.cli import main


@pytest.fixture(scope="module")
def schema() -> dict:
    from mtbench.registry import Registry
    from mtbench.schema import run_spec_schema

    return run_spec_schema(Registry.discover())


def test_schema_command_prints_json(capsys):
    assert main(["schema"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["title"] == "RunSpec" and "discriminator" in out["properties"]


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.json")), ids=lambda p: p.stem)
def test_every_example_is_valid_under_the_schema(schema, path):
    jsonschema.validate(json.loads(path.read_text()), schema)


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s["generator"].update(z_dimm=3),  # a plugin Config field typo
        lambda s: s["discriminator"]["heads"][1].update(d_on_fake="yes"),  # wrong type
        lambda s: s.update(loss={"type": "r1"}),  # a regularizer is no loss family
        lambda s: s.update(regularizers=[{"type": "hinge"}]),
        lambda s: s["discriminator"]["heads"].append({"type": "nope"}),
    ],
)
def test_schema_rejects_what_validation_rejects(schema, edit):
    spec = tiny_spec()
    edit(spec)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)
