"""Messages a plugin author needs from the registry: misspelt or unmarked hooks, and specs
naming a plugin that is installed but broken."""

from __future__ import annotations

import pytest
from fake_plugins import install_plugin, module_with, on_path, registry_with, use_registry
from helpers import tiny_spec, write_spec

from mtbench import hookimpl
from mtbench.api import HeadPlugin, TrunkPlugin
from mtbench.cli import main
from mtbench.errors import UserError
from mtbench.registry import BrokenPlugin, Origin, Registry


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
    reg = registry_with(mod)
    assert _broken(reg) == {
        "typo = typo": "unknown hook mtbench_head (did you mean mtbench_heads?)"
    }
    assert "spelled_trunk" not in reg.names("trunk")  # a broken module registers nothing
    row = next(r for r in reg.rows() if r["status"] == "broken")
    assert row["dist"] == "pkg-typo"
    assert reg.get("head", "adversarial")  # the others still work
    later = registry_with(module_with("fine", mtbench_heads=hookimpl(lambda: [_Head])))
    assert later.get("head", "spelled_head") is _Head  # check_pending does not blame others


def test_hook_without_the_hookimpl_marker_is_broken_not_silently_ignored():
    reg = registry_with(module_with("unmarked", mtbench_heads=lambda: [_Head]))
    assert _broken(reg) == {
        "unmarked = unmarked": "mtbench_heads not marked with @mtbench.hookimpl; decorate it so "
        "mtbench finds the plugins"
    }


def test_module_with_no_hook_at_all_is_broken():
    reg = registry_with(module_with("empty"))
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
    reg = registry_with(module_with("wob", mtbench_heads=hookimpl(lambda: [bad])))
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

    reg = registry_with(module_with("rlw", mtbench_trunks=mtbench_trunks))
    assert reg.unknown_message("trunk", "rlw").startswith("trunk 'rlw' is installed but broken")
    assert reg.unknown_message("weighting", "rlw").startswith("unknown weighting 'rlw'")
