"""Plugin discovery: a pluggy PluginManager over the ``mtbench`` entry-point group.

Built-in plugins arrive the same way a third-party package's do. A module that fails to
import, or a hook that raises, is recorded as broken; every other plugin still works.
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
    origin: Origin
    error: str


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
            except Exception as exc:  # a broken plugin must not break the others
                found.append((None, origin, f"{type(exc).__name__}: {exc}"))
        return cls(found)

    def add_module(self, module: ModuleType, origin: Origin) -> None:
        """Register one plugin module (entry points do this; tests and notebooks may too)."""
        try:
            self.pm.register(module, name=origin.entry_point)
        except Exception as exc:
            self.broken.append(BrokenPlugin(origin, f"{type(exc).__name__}: {exc}"))
            return
        for kind in KINDS:
            caller = getattr(self.pm.hook, hookspecs.HOOK_OF_KIND[kind])
            for impl in caller.get_hookimpls():
                if impl.plugin is not module:
                    continue
                try:
                    classes = list(impl.function() or [])
                    for plugin_cls in classes:
                        self._add(kind, plugin_cls, origin)
                except Exception as exc:
                    self.broken.append(BrokenPlugin(origin, f"{type(exc).__name__}: {exc}"))

    def _add(self, kind: str, plugin_cls: type, origin: Origin) -> None:
        if not (isinstance(plugin_cls, type) and issubclass(plugin_cls, Plugin)):
            raise TypeError(f"{plugin_cls!r} returned for kind {kind!r} is not a mtbench plugin")
        if plugin_cls.kind != kind or not plugin_cls.name:
            raise TypeError(f"{plugin_cls.__name__} must set kind={kind!r} and a name")
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

    def unknown_message(self, kind: str, name: str) -> str:
        installed = self.names(kind)
        close = difflib.get_close_matches(str(name), installed, n=3, cutoff=0.5)
        hint = f" did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(installed) if installed else "none"
        return f"unknown {kind} {name!r};{hint} installed {plural(kind)}: {listing}"

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
                    "kind": "?",
                    "name": "?",
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
