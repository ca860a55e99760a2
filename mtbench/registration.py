"""What a plugin module registers, checked before anything uses it: hook names and classes.

A problem found here makes the module (or the one class) broken, listed by ``mtbench list``
with a line saying what to fix; it never stops the other plugins or the command.
"""

from __future__ import annotations

import difflib
import re
from types import ModuleType

import pluggy

from mtbench import api, hookspecs
from mtbench.errors import first_line

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
BASE_OF_KIND = {
    "dataset": "DatasetPlugin",
    "generator": "GeneratorPlugin",
    "trunk": "TrunkPlugin",
    "head": "HeadPlugin",
    "loss": "LossFamily",
    "regularizer": "Regularizer",
    "weighting": "WeightingPlugin",
    "executor": "ExecutorPlugin",
}

# spec-section fields the core consumes before a plugin's Config sees the rest (HeadSpec)
RESERVED_FIELDS = {False: ("type",), True: ("type", "weight", "g_weight", "label")}


def error_line(exc: BaseException) -> str:
    """``Type: first line`` of an exception, as broken-plugin listings show it."""
    return first_line(exc, limit=500)


def hook_problem(pm: pluggy.PluginManager, module: ModuleType) -> str | None:
    """Unknown or unmarked hooks of a registered module (``check_pending``), else None."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        unknown = [c.name for c in pm.get_hookcallers(module) or [] if not c.has_spec()]
        return "; ".join(_unknown_hook(name) for name in unknown) or "unknown hook"
    if pm.get_hookcallers(module):
        return None
    unmarked = sorted(
        n for n in vars(module) if n.startswith("mtbench_") and callable(vars(module)[n])
    )
    if unmarked:
        return (
            f"{', '.join(unmarked)} not marked with @mtbench.hookimpl; decorate "
            f"{'them' if len(unmarked) > 1 else 'it'} so mtbench finds the plugins"
        )
    return f"defines no mtbench hook; implement one of {', '.join(hookspecs.HOOK_OF_KIND.values())}"


def _unknown_hook(name: str) -> str:
    close = difflib.get_close_matches(name, list(hookspecs.HOOK_OF_KIND.values()), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown hook {name}{hint}"


def class_problem(kind: str, cls: object) -> str | None:
    """Why a class returned for ``kind`` cannot be registered, or None if it can."""
    base = BASE_OF_KIND[kind]
    if not (isinstance(cls, type) and issubclass(cls, api.Plugin)):
        return f"{_show(cls)} is not a mtbench plugin class; subclass mtbench.api.{base}"
    who = cls.__qualname__
    if cls.kind != kind:
        return f"{who}.kind is {_show(cls.kind)}, not {kind!r}; subclass mtbench.api.{base}"
    if not (isinstance(cls.name, str) and NAME.match(cls.name)):
        return (
            f"{who}.name is {_show(cls.name)}; set it to a non-empty string of letters, digits "
            "and _ . - (the name specs use as type)"
        )
    if not isinstance(cls.description, str):
        return f"{who}.description is {_show(cls.description)}; set it to a one-line string"
    config = cls.Config
    if not (isinstance(config, type) and issubclass(config, api.PluginConfig)):
        return f"{who}.Config is {_show(config)}; make it a subclass of mtbench.api.PluginConfig"
    taken = sorted(set(config.model_fields) & set(RESERVED_FIELDS[kind == "head"]))
    if taken:
        return (
            f"{who}.Config declares {', '.join(taken)}, which the spec section itself uses; "
            "rename the field"
        )
    return None


def returned_problem(hook: str, value: object) -> str:
    """What to say when a hook returns something other than a list of classes."""
    return f"{hook} returned {_show(value)}; return a list of plugin classes"


def name_of(cls: object) -> str:
    """The registry name a class claims if it is a usable string, else ``?``."""
    name = getattr(cls, "name", None)
    return name if isinstance(name, str) and NAME.match(name) else "?"


def _show(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."
