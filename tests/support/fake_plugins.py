"""Fake plugin packages for registry tests: a module on disk with a real entry point, or a
module object handed to a Registry, and a way to make ``Registry.discover`` return one."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from mtbench.registry import Origin, Registry


def install_plugin(
    root: Path, module: str, source: str, dist: str = "fake-plugin", ep: str | None = None
) -> Path:
    """Write ``module.py`` and a dist-info whose ``mtbench`` entry point names it, under
    ``root``; put ``root`` on sys.path (undone by the caller's monkeypatch) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mtbench]\n{ep or module} = {module}\n")
    return root


def on_path(monkeypatch: pytest.MonkeyPatch, root: Path, module: str) -> None:
    """Make ``root`` importable for one test, and forget the module afterwards."""
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, module, raising=False)


def module_with(name: str, **hooks) -> types.ModuleType:
    """A plugin module object whose attributes are ``hooks`` (mark them with hookimpl)."""
    mod = types.ModuleType(name)
    for key, value in hooks.items():
        setattr(mod, key, value)
    return mod


def registry_of(*modules: types.ModuleType, builtins: bool = True) -> Registry:
    """The installed plugins (or none) plus ``modules``, each from package ``pkg-<name>``."""
    reg = Registry.discover() if builtins else Registry([])
    for mod in modules:
        reg.add_module(
            mod, Origin(f"{mod.__name__} = {mod.__name__}", f"pkg-{mod.__name__}", "1.0")
        )
    return reg


def use_registry(monkeypatch: pytest.MonkeyPatch, reg: Registry) -> None:
    """Every command in this test discovers ``reg``."""
    monkeypatch.setattr(Registry, "discover", classmethod(lambda cls: reg))
