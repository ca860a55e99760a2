"""Choosing and configuring a suite's executor from the command line (``--executor NAME
--set executor.KEY=VALUE``): the plugin by name, its Config validated with the field named."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from mtbench.api import ExecutorPlugin
from mtbench.errors import SpecError, UserError
from mtbench.registry import Registry

PREFIX = "executor."


def options(settings: list[str]) -> dict:
    """``executor.KEY=VALUE`` items as a dict; a VALUE that is JSON is read as JSON."""
    found = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith(PREFIX) or key == PREFIX:
            raise UserError(
                f"--set {item}: mtbench bench takes executor options only, as "
                "executor.KEY=VALUE (suite fields belong in the suite file's shared or set)"
            )
        found[key[len(PREFIX) :]] = _value(value)
    return found


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def make(
    registry: Registry, name: str, settings: list[str], out: Path, jobs: int
) -> ExecutorPlugin:
    """The executor plugin ``name`` with its options; unknown names and fields in one line."""
    try:
        cls = registry.get("executor", name)
    except UserError as exc:
        raise UserError(f"--executor: {exc}") from None
    try:
        cfg = cls.Config.model_validate(options(settings))
    except ValidationError as exc:
        raise SpecError([_problem(e, name) for e in exc.errors()]) from None
    return cls(cfg, out, jobs)


def _problem(error: dict, name: str) -> str:
    where = ".".join(str(p) for p in error["loc"])
    return f"executor.{where}: {error['msg']} (executor {name}; mtbench list executor)"
