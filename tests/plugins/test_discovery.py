"""Every built-in plugin class: returned by its module's hook, described, and found through the
``mtbench`` entry points, and the registry holds no built-in that the package does not define."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import mtbench_plugins
from mtbench.api import Plugin
from mtbench.hookspecs import HOOK_OF_KIND


def builtin_plugins() -> list[tuple[object, type[Plugin]]]:
    """(module, class) for every concrete plugin class defined in a module of the package."""
    found = []
    for info in pkgutil.walk_packages(mtbench_plugins.__path__, "mtbench_plugins."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Plugin) and cls.__module__ == module.__name__ and cls.name:
                found.append((module, cls))
    return found


BUILTIN = builtin_plugins()


@pytest.mark.parametrize("module, cls", BUILTIN, ids=[f"{c.kind}-{c.name}" for _, c in BUILTIN])
def test_builtin_is_hooked_described_and_discovered(registry, module, cls):
    assert cls in getattr(module, HOOK_OF_KIND[cls.kind])()
    assert cls.description and cls.__doc__
    info = registry.info(cls.kind, cls.name)
    assert info.cls is cls and info.origin.dist == "mtbench"


def test_the_registry_holds_exactly_the_builtins_of_every_kind(registry):
    assert {cls.kind for _, cls in BUILTIN} == set(HOOK_OF_KIND)
    ours = {(k, n) for k in registry.plugins for n, i in registry.plugins[k].items()}
    assert ours == {(cls.kind, cls.name) for _, cls in BUILTIN}
    assert not registry.broken and not registry.duplicates
