"""Broken plugins are isolated: a plugin that exits at import, registers a bad class or has a
raising ``check()`` is named in one line, and every command still works."""

from __future__ import annotations

import json

import pytest
from fake_plugins import install_plugin, module_with, on_path, registry_of, use_registry
from helpers import tiny_spec, write_spec

from mtbench import hookimpl
from mtbench.api import HeadPlugin, PluginConfig
from mtbench.cli import main
from mtbench.registry import Registry


def _broken_rows(reg: Registry) -> dict[str, str]:
    return {r["entry_point"]: r["description"] for r in reg.rows() if r["status"] == "broken"}


@pytest.mark.parametrize(
    "source, error",
    [
        ("import sys\nsys.exit(3)\n", "SystemExit: the module called sys.exit(3)"),
        (
            "class Stop(BaseException):\n    pass\nraise Stop('not an Exception')\n",
            "Stop: not an Exception",
        ),
    ],
    ids=["sys.exit", "BaseException"],
)
def test_plugin_ending_the_process_at_import_is_listed_as_broken(
    tmp_path, monkeypatch, capsys, source, error
):
    root = install_plugin(tmp_path / "site", "exiting_plugin", source, dist="exiting")
    on_path(monkeypatch, root, "exiting_plugin")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "[BROKEN]" in out and error in out and "exiting_plugin = exiting_plugin" in out
    assert "adversarial" in out  # the other plugins are still there
    assert main(["validate", str(write_spec(tmp_path / "s.json", tiny_spec()))]) == 0


def test_keyboard_interrupt_during_plugin_import_is_the_users(tmp_path, monkeypatch):
    root = install_plugin(tmp_path / "site", "ctrl_c_plugin", "raise KeyboardInterrupt\n")
    on_path(monkeypatch, root, "ctrl_c_plugin")
    with pytest.raises(KeyboardInterrupt):
        Registry.discover()


def test_hook_calling_sys_exit_is_listed_as_broken():
    @hookimpl
    def mtbench_heads():
        raise SystemExit(4)

    reg = registry_of(module_with("exits_in_hook", mtbench_heads=mtbench_heads))
    assert _broken_rows(reg) == {
        "exits_in_hook = exits_in_hook": "SystemExit: the module called sys.exit(4)"
    }
    assert reg.get("head", "adversarial")


def _head_class(**attrs) -> type:
    base = {"name": "odd", "description": "a test head", "Config": PluginConfig}
    return type("OddHead", (HeadPlugin,), {**base, **attrs})


BAD_CLASSES = {
    "name=123": (_head_class(name=123), "OddHead.name is 123"),
    "name=''": (_head_class(name=""), "OddHead.name is ''"),
    "name with space": (_head_class(name="my head"), "OddHead.name is 'my head'"),
    "kind": (_head_class(kind="trunk"), "OddHead.kind is 'trunk', not 'head'"),
    "Config=dict": (_head_class(Config=dict), "OddHead.Config is <class 'dict'>"),
    "Config=None": (_head_class(Config=None), "OddHead.Config is None"),
    "description=None": (_head_class(description=None), "OddHead.description is None"),
    "Config with weight": (
        _head_class(Config=type("C", (PluginConfig,), {"__annotations__": {"weight": float}})),
        "OddHead.Config declares weight, which the spec section itself uses; rename the field",
    ),
    "not a class": (42, "42 is not a mtbench plugin class; subclass mtbench.api.HeadPlugin"),
}


@pytest.mark.parametrize("cls, error", BAD_CLASSES.values(), ids=BAD_CLASSES)
def test_bad_plugin_class_is_broken_and_list_schema_and_unknown_message_still_work(
    tmp_path, monkeypatch, capsys, cls, error
):
    good = _head_class(name="fine_head")
    mod = module_with("odd_plugin", mtbench_heads=hookimpl(lambda: [cls, good]))
    reg = registry_of(mod)
    use_registry(monkeypatch, reg)
    assert error in _broken_rows(reg)["odd_plugin = odd_plugin"]
    assert reg.get("head", "fine_head") is good  # the module's good class still registers
    assert main(["list"]) == 0 and "[BROKEN]" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0 and json.loads(capsys.readouterr().out)
    assert main(["schema"]) == 0 and json.loads(capsys.readouterr().out)
    spec = tiny_spec()
    spec["discriminator"]["heads"].append({"type": "no_such_head"})
    assert main(["validate", str(write_spec(tmp_path / "s.json", spec))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("discriminator.heads[2].type: unknown head 'no_such_head'")
    assert len(err.strip().splitlines()) == 1


class _RaisingCheckHead(HeadPlugin):
    name = "raising_check"
    description = "a head whose check() has a bug"

    @classmethod
    def check(cls, cfg, data):
        raise ZeroDivisionError("division by zero in check")


def test_plugin_check_that_raises_is_one_line_naming_plugin_and_error(
    tmp_path, monkeypatch, capsys
):
    use_registry(
        monkeypatch,
        registry_of(module_with("chk", mtbench_heads=hookimpl(lambda: [_RaisingCheckHead]))),
    )
    spec = tiny_spec()
    spec["discriminator"]["heads"].append({"type": "raising_check"})
    assert main(["validate", str(write_spec(tmp_path / "s.json", spec))]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "discriminator.heads[2]: plugin 'raising_check' (head, package pkg-chk): check() raised "
        "ZeroDivisionError: division by zero in check; a bug in that plugin: report it to its "
        "authors, or use another plugin"
    ]


@pytest.mark.parametrize("returned", [None, _head_class(name="bare")], ids=["None", "a class"])
def test_hook_returning_something_other_than_a_list_is_broken_saying_so(returned):
    reg = registry_of(module_with("bare", mtbench_heads=hookimpl(lambda: returned)))
    (error,) = _broken_rows(reg).values()
    assert error.startswith("mtbench_heads returned ")
    assert error.endswith("; return a list of plugin classes")
