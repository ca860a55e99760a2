"""Plugin discovery through entry points: built-ins, unknown names, duplicates, broken plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest
from helpers import REPO, tiny_spec, write_spec

from mtbench import hookimpl
from mtbench.api import HeadPlugin, PluginConfig
from mtbench.cli import main
from mtbench.errors import UserError
from mtbench.registry import Origin, Registry

BUILTIN = {
    "dataset": {"shapes", "digits", "mnist"},
    "generator": {"dcgan"},
    "trunk": {"dcgan"},
    "head": {"adversarial", "aux_classifier", "projection"},
    "loss": {"ns", "hinge"},
    "weighting": {"fixed"},
}


def _head(name: str) -> type[HeadPlugin]:
    return type(name.title(), (HeadPlugin,), {"name": name, "description": f"test {name}"})


def _module(name: str, *heads: type[HeadPlugin]) -> types.ModuleType:
    mod = types.ModuleType(name)

    @hookimpl
    def mtbench_heads():
        return list(heads)

    mod.mtbench_heads = mtbench_heads
    return mod


def _origin(dist: str, ep: str = "x = y") -> Origin:
    return Origin(ep, dist, "1.0")


def test_builtins_are_found_through_entry_points(registry):
    for kind, names in BUILTIN.items():
        assert names <= set(registry.names(kind)), kind
        for name in names:
            info = registry.info(kind, name)
            assert info.origin.dist == "mtbench"
            assert info.cls.__module__.startswith("mtbench_plugins.")
            assert issubclass(info.cls.Config, PluginConfig) and info.cls.description


def test_no_installed_plugin_is_broken(registry):
    assert registry.broken == [], registry.broken
    assert registry.duplicates == {}


def test_core_never_imports_concrete_plugins():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "mtbench").rglob("*.py")
        if "mtbench_plugins" in p.read_text()
    ]
    assert offenders == []


def test_unknown_name_names_kind_close_matches_and_installed(registry):
    with pytest.raises(UserError) as err:
        registry.get("head", "aux_clasifier")
    msg = str(err.value)
    assert "unknown head 'aux_clasifier'" in msg
    assert "did you mean 'aux_classifier'" in msg
    assert "adversarial" in msg and "projection" in msg  # the installed list


def test_unknown_plugin_in_spec_is_a_clean_exit_2(tmp_path, capsys):
    spec = tiny_spec()
    spec["generator"]["type"] = "dcgam"
    code = main(["validate", str(write_spec(tmp_path / "s.json", spec))])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("generator.type: unknown generator 'dcgam'; did you mean 'dcgan'?")


def test_two_plugins_claiming_one_name_is_an_error_naming_both_distributions():
    reg = Registry(
        [
            (_module("a", _head("twin")), _origin("pkg-one", "a = a"), None),
            (_module("b", _head("twin")), _origin("pkg-two", "b = b"), None),
        ]
    )
    with pytest.raises(UserError) as err:
        reg.get("head", "twin")
    assert "pkg-one" in str(err.value) and "pkg-two" in str(err.value)
    statuses = {r["dist"]: r["status"] for r in reg.rows()}
    assert statuses == {"pkg-one": "duplicate", "pkg-two": "duplicate"}


def test_broken_import_and_raising_hook_are_listed_and_others_still_work():
    bad_hook = types.ModuleType("bad")

    @hookimpl
    def mtbench_heads():
        raise RuntimeError("boom in hook")

    bad_hook.mtbench_heads = mtbench_heads
    reg = Registry(
        [
            (None, _origin("pkg-import", "imp = missing.module"), "ModuleNotFoundError: missing"),
            (bad_hook, _origin("pkg-hook", "hook = bad"), None),
            (_module("good", _head("fine")), _origin("pkg-good"), None),
        ]
    )
    assert reg.get("head", "fine").name == "fine"
    broken = {r["entry_point"]: r["description"] for r in reg.rows() if r["status"] == "broken"}
    assert broken == {
        "imp = missing.module": "ModuleNotFoundError: missing",
        "hook = bad": "RuntimeError: boom in hook",
    }


def test_list_shows_broken_plugins(monkeypatch, capsys):
    reg = Registry([(None, _origin("pkg-x", "x = nowhere"), "ImportError: nope")])
    monkeypatch.setattr(Registry, "discover", classmethod(lambda cls: reg))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "[BROKEN]" in out and "x = nowhere" in out and "ImportError: nope" in out


def test_list_json_has_every_field(capsys):
    assert main(["list", "head", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"adversarial", "aux_classifier", "projection"} <= names
    assert set(rows[0]) == {
        "kind",
        "name",
        "dist",
        "version",
        "entry_point",
        "status",
        "description",
    }


@pytest.mark.slow
def test_third_party_package_installed_for_real_registers_a_head(tmp_path):
    """pip-installs examples/mtbench_example_head into a folder and trains with its head."""
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(target), str(REPO / "examples" / "mtbench_example_head")],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    listed = subprocess.run(
        [sys.executable, "-m", "mtbench", "list", "head", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "feature_matching")
    assert row["dist"] == "mtbench-example-head" and row["status"] == "ok"
    spec = tiny_spec()
    spec["discriminator"]["heads"].append({"type": "feature_matching", "weight": 0.5})
    spec["train"]["steps"] = 2
    spec["out"] = str(tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "-m", "mtbench", "run", str(write_spec(tmp_path / "s.json", spec))],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    import pandas as pd

    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert "loss/g/feature_matching/fm" in steps.columns
    assert (steps["weight/g/feature_matching/fm"] == 0.5).all()
