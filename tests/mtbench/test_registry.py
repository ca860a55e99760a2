"""Registry messages read as English: every kind's plural.

Messages a plugin author needs from the registry: misspelt or unmarked hooks, and specs
naming a plugin that is installed but broken.

Plugin discovery through entry points: built-ins, unknown names, duplicates, broken plugins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest
from fake_plugins import install_plugin, module_with, on_path, registry_of, use_registry
from helpers import REPO, tiny_spec, write_spec

from mtbench import hookimpl
from mtbench.api import KINDS, HeadPlugin, PluginConfig, TrunkPlugin
from mtbench.cli import main
from mtbench.errors import UserError
from mtbench.registry import BrokenPlugin, Origin, Registry, plural


def test_unknown_loss_lists_installed_losses(registry):
    msg = registry.unknown_message("loss", "hinj")
    assert "installed losses: " in msg and "losss" not in msg
    assert "installed heads: " in registry.unknown_message("head", "advers")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_plural(kind):
    assert plural(kind) in {
        "datasets",
        "generators",
        "trunks",
        "heads",
        "losses",
        "regularizers",
        "weightings",
        "executors",
    }


class _Head(HeadPlugin):
    name = "spelled_head"
    description = "a head from a module with a misspelt hook"


class _Trunk(TrunkPlugin):
    name = "spelled_trunk"
    description = "a trunk from a module with a misspelt hook"


def _broken(reg: Registry) -> dict[str, str]:
    return {b.origin.entry_point: b.error for b in reg.broken}


def test_misspelt_hook_makes_the_module_broken_with_did_you_mean():
    mod = module_with(
        "typo",
        mtbench_head=hookimpl(lambda: [_Head]),
        mtbench_trunks=hookimpl(lambda: [_Trunk]),
    )
    reg = registry_of(mod)
    assert _broken(reg) == {
        "typo = typo": "unknown hook mtbench_head (did you mean mtbench_heads?)"
    }
    assert "spelled_trunk" not in reg.names("trunk")  # a broken module registers nothing
    row = next(r for r in reg.rows() if r["status"] == "broken")
    assert row["dist"] == "pkg-typo"
    assert reg.get("head", "adversarial")  # the others still work
    later = registry_of(module_with("fine", mtbench_heads=hookimpl(lambda: [_Head])))
    assert later.get("head", "spelled_head") is _Head  # check_pending does not blame others


def test_hook_without_the_hookimpl_marker_is_broken_not_silently_ignored():
    reg = registry_of(module_with("unmarked", mtbench_heads=lambda: [_Head]))
    assert _broken(reg) == {
        "unmarked = unmarked": "mtbench_heads not marked with @mtbench.hookimpl; decorate it so "
        "mtbench finds the plugins"
    }


def test_module_with_no_hook_at_all_is_broken():
    reg = registry_of(module_with("empty"))
    assert _broken(reg)["empty = empty"].startswith("defines no mtbench hook; implement one of")


def test_misspelt_hook_in_an_installed_package_shows_in_list(tmp_path, monkeypatch, capsys):
    source = """
        from mtbench import hookimpl

        @hookimpl
        def mtbench_weighting():
            return []
    """
    root = install_plugin(tmp_path / "site", "misspelt_pkg", source, dist="misspelt")
    on_path(monkeypatch, root, "misspelt_pkg")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "[BROKEN]" in out
    assert "unknown hook mtbench_weighting (did you mean mtbench_weightings?)" in out


def test_spec_naming_a_plugin_whose_module_failed_to_import_says_so(tmp_path, monkeypatch, capsys):
    root = install_plugin(
        tmp_path / "site",
        "rlw_plugin",
        "import torch_not_installed_anywhere\n",
        dist="mtbench-rlw",
        ep="weightings.rlw",
    )
    on_path(monkeypatch, root, "rlw_plugin")
    spec = tiny_spec(weighting={"type": "rlw"})
    assert main(["validate", str(write_spec(tmp_path / "s.json", spec))]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "weighting.type: weighting 'rlw' is installed but broken: mtbench-rlw 1.0 "
        "(weightings.rlw = rlw_plugin): ModuleNotFoundError: No module named "
        "'torch_not_installed_anywhere'; fix or reinstall that package (mtbench list shows "
        "every broken plugin)"
    )


def test_spec_naming_a_broken_class_by_its_name_says_so():
    bad = type("Bad", (HeadPlugin,), {"name": "wobbly", "description": None})
    reg = registry_of(module_with("wob", mtbench_heads=hookimpl(lambda: [bad])))
    with pytest.raises(UserError) as err:
        reg.get("head", "wobbly")
    assert str(err.value).startswith("head 'wobbly' is installed but broken: pkg-wob 1.0")
    assert "Bad.description is None" in str(err.value)


def test_unknown_name_mentions_broken_entries_without_blaming_them():
    reg = Registry([(None, Origin("other = other_mod", "pkg-other", "1.0"), "ImportError: x")])
    reg.add_module(
        module_with("ok", mtbench_heads=hookimpl(lambda: [_Head])), Origin("ok = ok", "p", "1")
    )
    with pytest.raises(UserError) as err:
        reg.get("head", "spelled_haed")
    msg = str(err.value)
    assert msg.startswith("unknown head 'spelled_haed'; did you mean 'spelled_head'?")
    assert msg.endswith("1 installed plugin entries are broken (see mtbench list)")


def test_describe_names_the_plugin_kind_and_package(registry):
    assert registry.describe("trunk", "dcgan") == "plugin 'dcgan' (trunk, package mtbench)"


def test_cli_run_reports_the_broken_plugin_not_unknown(tmp_path, monkeypatch, capsys):
    reg = Registry.discover()
    reg.broken.append(BrokenPlugin(Origin("x.rlw = x.rlw", "x", "2"), "ImportError: nope"))
    use_registry(monkeypatch, reg)
    spec = tiny_spec(weighting={"type": "rlw"}, out=str(tmp_path / "run"))
    assert main(["run", str(write_spec(tmp_path / "s.json", spec))]) == 2
    assert "weighting 'rlw' is installed but broken: x 2 (x.rlw = x.rlw): ImportError: nope" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "run").exists()


def test_broken_entry_of_another_kind_is_not_blamed():
    @hookimpl
    def mtbench_trunks():
        raise RuntimeError("trunk hook bug")

    reg = registry_of(module_with("rlw", mtbench_trunks=mtbench_trunks))
    assert reg.unknown_message("trunk", "rlw").startswith("trunk 'rlw' is installed but broken")
    assert reg.unknown_message("weighting", "rlw").startswith("unknown weighting 'rlw'")


BUILTIN = {
    "dataset": {"shapes", "digits", "mnist"},
    "generator": {"dcgan"},
    "trunk": {"dcgan"},
    "head": {"adversarial", "aux_classifier", "projection"},
    "loss": {"ns", "hinge"},
    "regularizer": {"r1", "r2", "gradient_penalty", "diffaugment"},
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
