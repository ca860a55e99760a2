"""Plugin discovery: a pluggy PluginManager over the ``mtbench`` entry-point group.

Built-in plugins arrive the same way a third-party package's do. A module that fails to
import (or exits), has an unknown hook, or a hook that raises or returns a bad class, is
recorded as broken; every other plugin still works.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
from dataclasses import dataclass
from types import ModuleType

import pluggy

from mtbench import hookspecs
from mtbench.api import KINDS, Plugin
from mtbench.errors import UserError
from mtbench.registration import (
    class_problem,
    error_line,
    hook_problem,
    name_of,
    returned_problem,
)

GROUP = "mtbench"


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from: its entry point and distribution."""

    entry_point: str  # "name = module"
    dist: str
    version: str


@dataclass(frozen=True)
class PluginInfo:
    kind: str
    name: str
    cls: type[Plugin]
    origin: Origin


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point (or one class of it) that cannot be used, and why."""

    origin: Origin
    error: str
    kind: str = "?"  # known when the module imported and a hook ran
    name: str = "?"

    def claims(self, kind: str, name: str) -> bool:
        """Whether this broken entry is (probably) the plugin a spec names: same name, or an
        entry point / module called that when the module never imported."""
        if self.kind not in (kind, "?"):
            return False
        if self.name != "?":
            return self.name == name
        ep_name, _, module = self.origin.entry_point.partition(" = ")
        stems = {ep_name.rsplit(".", 1)[-1], module.split(":")[0].rsplit(".", 1)[-1]}
        return name in stems


class Registry:
    """Name -> plugin class for every kind, plus the broken and the doubly claimed."""

    def __init__(self, modules: list[tuple[ModuleType | None, Origin, str | None]]) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, dict[str, PluginInfo]] = {k: {} for k in KINDS}
        self.duplicates: dict[tuple[str, str], list[PluginInfo]] = {}
        self.broken: list[BrokenPlugin] = []
        for module, origin, load_error in modules:
            if load_error is not None:
                self.broken.append(BrokenPlugin(origin, load_error))
            else:
                self.add_module(module, origin)

    @classmethod
    def discover(cls) -> Registry:
        """Load every module registered under the ``mtbench`` entry-point group."""
        found = []
        for ep in sorted(md.entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            origin = Origin(f"{ep.name} = {ep.value}", dist, version)
            try:
                found.append((ep.load(), origin, None))
            except KeyboardInterrupt:  # the user's Ctrl-C, not the plugin's
                raise
            except BaseException as exc:  # sys.exit() too: a plugin must not end the command
                found.append((None, origin, error_line(exc)))
        return cls(found)

    def add_module(self, module: ModuleType, origin: Origin) -> None:
        """Register one plugin module (entry points do this; tests and notebooks may too)."""
        try:
            self.pm.register(module, name=origin.entry_point)
        except Exception as exc:
            self.broken.append(BrokenPlugin(origin, error_line(exc)))
            return
        problem = hook_problem(self.pm, module)
        if problem is not None:
            self.pm.unregister(module)
            self.broken.append(BrokenPlugin(origin, problem))
            return
        for kind in KINDS:
            caller = getattr(self.pm.hook, hookspecs.HOOK_OF_KIND[kind])
            for impl in caller.get_hookimpls():
                if impl.plugin is module:
                    self._add_all(kind, impl.function, origin)

    def _add_all(self, kind: str, hook, origin: Origin) -> None:
        """Every class one hook returns; a raising hook or a bad class is listed as broken."""
        try:
            classes = hook()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self.broken.append(BrokenPlugin(origin, error_line(exc), kind))
            return
        if not isinstance(classes, list | tuple):
            problem = returned_problem(hookspecs.HOOK_OF_KIND[kind], classes)
            self.broken.append(BrokenPlugin(origin, problem, kind))
            return
        for plugin_cls in classes:
            try:
                problem = class_problem(kind, plugin_cls)
            except Exception as exc:  # a class whose attributes raise
                problem = f"invalid plugin class: {error_line(exc)}"
            if problem is None:
                self._add(kind, plugin_cls, origin)
            else:
                self.broken.append(BrokenPlugin(origin, problem, kind, name_of(plugin_cls)))

    def _add(self, kind: str, plugin_cls: type[Plugin], origin: Origin) -> None:
        info = PluginInfo(kind, plugin_cls.name, plugin_cls, origin)
        key = (kind, info.name)
        if key in self.duplicates:
            self.duplicates[key].append(info)
        elif info.name in self.plugins[kind]:
            self.duplicates[key] = [self.plugins[kind].pop(info.name), info]
        else:
            self.plugins[kind][info.name] = info

    def names(self, kind: str) -> list[str]:
        return sorted(set(self.plugins[kind]) | {n for k, n in self.duplicates if k == kind})

    def info(self, kind: str, name: str) -> PluginInfo:
        """The plugin of this kind and name, or a UserError saying what is installed."""
        if (kind, name) in self.duplicates:
            claims = ", ".join(
                f"{i.origin.dist} {i.origin.version} ({i.origin.entry_point})"
                for i in self.duplicates[(kind, name)]
            )
            raise UserError(
                f"{kind} plugin name {name!r} is claimed by more than one package: {claims}; "
                "uninstall one of them"
            )
        if name not in self.plugins[kind]:
            raise UserError(self.unknown_message(kind, name))
        return self.plugins[kind][name]

    def get(self, kind: str, name: str) -> type[Plugin]:
        return self.info(kind, name).cls

    def describe(self, kind: str, name: str) -> str:
        """``plugin 'x' (head, package pkg)``: how messages about a plugin name it."""
        info = self.plugins[kind].get(name)
        package = f", package {info.origin.dist}" if info else ""
        return f"plugin {name!r} ({kind}{package})"

    def unknown_message(self, kind: str, name: str) -> str:
        broken = [b for b in self.broken if b.claims(kind, str(name))]
        if broken:
            b = broken[0]
            return (
                f"{kind} {name!r} is installed but broken: {b.origin.dist} {b.origin.version} "
                f"({b.origin.entry_point}): {b.error}; fix or reinstall that package "
                "(mtbench list shows every broken plugin)"
            )
        installed = self.names(kind)
        close = difflib.get_close_matches(str(name), installed, n=3, cutoff=0.5)
        hint = f" did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(installed) if installed else "none"
        note = ""
        if self.broken:
            note = f"; {len(self.broken)} installed plugin entries are broken (see mtbench list)"
        return f"unknown {kind} {name!r};{hint} installed {plural(kind)}: {listing}{note}"

    def rows(self) -> list[dict]:
        """Every plugin, duplicate claim and broken entry point, as rows for ``mtbench list``."""
        out = []
        for kind in KINDS:
            for info in self.plugins[kind].values():
                out.append(_row(info, "ok", ""))
        for infos in self.duplicates.values():
            for info in infos:
                out.append(_row(info, "duplicate", "name claimed by more than one package"))
        for b in self.broken:
            out.append(
                {
                    "kind": b.kind,
                    "name": b.name,
                    "dist": b.origin.dist,
                    "version": b.origin.version,
                    "entry_point": b.origin.entry_point,
                    "status": "broken",
                    "description": b.error,
                }
            )
        return sorted(out, key=lambda r: (r["status"] != "ok", r["kind"], r["name"]))


def _row(info: PluginInfo, status: str, note: str) -> dict:
    return {
        "kind": info.kind,
        "name": info.name,
        "dist": info.origin.dist,
        "version": info.origin.version,
        "entry_point": info.origin.entry_point,
        "status": status,
        "description": note or info.cls.description,
    }


def plural(kind: str) -> str:
    """``head`` -> ``heads``, ``loss`` -> ``losses``."""
    return f"{kind}es" if kind.endswith("s") else f"{kind}s"
