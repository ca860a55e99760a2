"""Spec messages a plugin author needs: a typo in a plugin's Config field says what was meant.

Malformed specs: each is one clean line per problem naming the field, exit code 2.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from helpers import tiny_spec, write_spec

from mtbench import spec
from mtbench.cli import main
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


def _with(path: str, value) -> dict:
    """tiny_spec with one dotted path set (``None`` value deletes the key)."""
    spec = copy.deepcopy(tiny_spec())
    keys = path.replace("[", ".").replace("]", "").split(".")
    obj = spec
    for k in keys[:-1]:
        obj = obj[int(k)] if isinstance(obj, list) else obj.setdefault(k, {})
    last = int(keys[-1]) if isinstance(obj, list) else keys[-1]
    if value is None:
        del obj[last]
    else:
        obj[last] = value
    return spec


CASES = [
    # (id, spec-or-raw-text, expected start of the first error line)
    ("missing dataset", _with("dataset", None), "dataset: Field required"),
    ("unknown top field", _with("stepz", 5), "stepz: Extra inputs are not permitted"),
    ("unknown train field", _with("train.stepz", 5), "train.stepz: Extra inputs are not permitted"),
    (
        "head weight not a number",
        _with("discriminator.heads[1].weight", "heavy"),
        "discriminator.heads[1].weight: Input should be a valid number",
    ),
    (
        "negative head weight",
        _with("discriminator.heads[0].weight", -1),
        "discriminator.heads[0].weight: Input should be greater than or equal to 0",
    ),
    (
        "no heads",
        _with("discriminator.heads", []),
        "discriminator.heads: List should have at least 1 item",
    ),
    (
        "zero steps",
        _with("train.steps", 0),
        "train.steps: Input should be greater than or equal to 1",
    ),
    (
        "bad device",
        _with("train.device", "tpu"),
        "train.device: Input should be 'auto', 'cpu' or 'cuda'",
    ),
    ("bad precision", _with("train.precision", "fp8"), "train.precision: Input should be"),
    ("betas of one value", _with("train.g.betas", [0.5]), "train.g.betas[1]: Field required"),
    (
        "ema decay of 1.5",
        _with("train.ema_decay", 1.5),
        "train.ema_decay: Input should be less than 1",
    ),
    ("negative seed", _with("seed", -1), "seed: Input should be greater than or equal to 0"),
    ("name with a slash", _with("name", "a/b"), "name: String should match pattern"),
    (
        "trunk without type",
        _with("discriminator.trunk.type", None),
        "discriminator.trunk.type: Field required",
    ),
    (
        "unknown head",
        _with("discriminator.heads[0].type", "adversarail"),
        "discriminator.heads[0].type: unknown head 'adversarail'; did you mean 'adversarial'?",
    ),
    (
        "unknown loss",
        _with("loss", {"type": "hing"}),
        "loss.type: unknown loss 'hing'; did you mean 'hinge'?",
    ),
    (
        "typo in plugin config",
        _with("generator.z_dimm", 8),
        "generator.z_dimm: Extra inputs are not permitted",
    ),
    (
        "bad plugin config value",
        _with("dataset.size", 17),
        "dataset.size: Input should be 16 or 32",
    ),
    (
        "log interval of 0",
        _with("log.every", 0),
        "log.every: Input should be greater than or equal to 1",
    ),
    ("unknown metric", _with("eval", {"metrics": ["fidd"]}), "eval.metrics[0]: unknown metric"),
    ("spec is a list", "[1, 2]", "s.json: a spec must be a JSON object, got list"),
    ("spec is empty", "  \n", "s.json: the file is empty; a spec is a JSON object"),
    (
        "spec is not JSON",
        '{"name": "x",, }',
        "s.json: not valid JSON (line 1 column 14: Expecting property name",
    ),
]


@pytest.mark.parametrize("spec, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_spec_exits_2_naming_the_field(tmp_path, capsys, spec, expected):
    path = tmp_path / "s.json"
    if isinstance(spec, str):
        path.write_text(spec)
    else:
        write_spec(path, spec)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    first = err[0].replace(str(tmp_path) + "/", "")
    assert first.startswith(expected), err
    assert not any("Traceback" in line for line in err)


def test_every_problem_is_reported_at_once(tmp_path, capsys):
    spec = _with("train.steps", 0)
    spec["generator"]["z_dimm"] = 3
    spec["discriminator"]["heads"][1]["weight"] = "x"
    main(["validate", str(write_spec(tmp_path / "s.json", spec))])
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in err] == ["discriminator.heads[1].weight", "train.steps"]
    # plugin sections are checked once the core shape is valid
    spec = _with("generator.z_dimm", 3)
    spec["dataset"]["size"] = 99
    main(["validate", str(write_spec(tmp_path / "s.json", spec))])
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in err] == ["dataset.size", "generator.z_dimm"]


def test_missing_spec_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: no such spec file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "assignment, expected",
    [
        ("discriminator.heads[5].weight=1", "is not an index of a 2-item list"),
        ("noequals", "expected dotted.key=value"),
        ("train.steps.x=1", "train.steps is not an object"),
    ],
)
def test_bad_set_override(tmp_path, capsys, assignment, expected):
    path = write_spec(tmp_path / "s.json", tiny_spec())
    assert main(["validate", str(path), "--set", assignment]) == 2
    assert expected in capsys.readouterr().err


def test_set_override_applies(tmp_path, capsys):
    path = write_spec(tmp_path / "s.json", tiny_spec())
    assert main(["validate", str(path), "--set", "discriminator.heads.1.weight=0.25"]) == 0
    assert '"weight": 0.25' in capsys.readouterr().out


def test_wrong_flag_is_one_line_exit_2(tmp_path):
    path = write_spec(tmp_path / "s.json", tiny_spec())
    done = subprocess.run(
        [sys.executable, "-m", "mtbench", "run", str(path), "--stepz", "3"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mtbench: unrecognized arguments: --stepz 3 (see mtbench --help)"
    ]


def test_real_cli_prints_no_traceback(tmp_path):
    path = write_spec(tmp_path / "s.json", _with("discriminator.heads[1].weight", "heavy"))
    done = subprocess.run(
        [sys.executable, "-m", "mtbench", "run", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "discriminator.heads[1].weight: Input should be a valid number, unable to parse string "
        "as a number"
    )
