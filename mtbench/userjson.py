"""JSON a user wrote (spec and suite files, ``--set`` values), parsed within bounds.

Strict JSON (no NaN or Infinity), nested at most ``MAX_DEPTH`` levels, numbers of at most
Python's integer-digit limit, files read only when regular and small: every way out is one
``UserError`` line naming the file or flag.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mtbench.errors import UserError
from mtbench.io import read_regular

MAX_DEPTH = 64  # far beyond any spec; well inside Python's and pydantic's recursion limits
MAX_FILE_BYTES = 16 * 2**20


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; write a number or null")


def parse(text: str, where: str) -> Any:
    """``text`` as JSON, or a one-line UserError starting with ``where``."""
    try:
        return _bounded(text, where)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{where}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None


def parse_or_text(text: str, where: str) -> Any:
    """A ``--set`` value: JSON when it is JSON, else the text itself."""
    try:
        return _bounded(text, where)
    except json.JSONDecodeError:
        return text


def _bounded(text: str, where: str) -> Any:
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise UserError(_too_deep(where)) from None
    except ValueError as exc:  # NaN/Infinity, or an integer longer than Python converts
        raise UserError(f"{where}: {_number_problem(exc)}") from None
    check_depth(data, where)
    return data


def _number_problem(exc: ValueError) -> str:
    text = str(exc)
    if "digits" in text:
        return f"a number has more than {sys.get_int_max_str_digits()} digits; shorten it"
    return text


def _too_deep(where: str) -> str:
    return f"{where}: nested more than {MAX_DEPTH} levels deep; a spec is a shallow JSON object"


def check_depth(data: Any, where: str) -> None:
    """Raise if lists and objects nest deeper than ``MAX_DEPTH`` (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise UserError(_too_deep(where))
        items = value.values() if isinstance(value, dict) else value
        stack.extend((v, depth + 1) for v in items)


def read_object(path: str | Path, what: str = "spec") -> dict:
    """Read a JSON object from a regular file, or raise a one-line UserError naming the file."""
    p = Path(path)
    text = read_regular(p, MAX_FILE_BYTES, what).decode("utf-8", errors="replace")
    if not text.strip():
        raise UserError(f"{p}: the file is empty; a {what} is a JSON object")
    data = parse(text, str(p))
    if not isinstance(data, dict):
        raise UserError(f"{p}: a {what} must be a JSON object, got {type(data).__name__}")
    return data
