"""Property: however an example spec or suite is mutated, ``mtbench validate`` (and, for
suites, ``mtbench bench --dry-run``) ends with exit 0 or 2, a one-line-per-problem message,
never a traceback. The CLI runs in-process, so a few hundred examples take seconds."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from helpers import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtbench.cli import main

SPECS = sorted((REPO / "examples").glob("*.json"))
SUITES = sorted((REPO / "benchmarks" / "suites").glob("*.json"))
MARK = "\ue000mutation{}\ue000"  # stands where a fragment of raw JSON text goes

# JSON text that a plain value cannot be: over-long numbers, non-JSON constants, deep nests.
HOSTILE_TEXT = [
    "9" * 5000,
    "-" + "9" * 4400,
    "1e999",
    "NaN",
    "-Infinity",
    "[" * 1100 + "]" * 1100,
    '{"a": ' * 200 + "1" + "}" * 200,
    "[[]]",
    "[{}]",
    '"\\u0000"',
    '"' + "a" * 5000 + '"',
    '"/dev/zero"',
    '"../../.."',
    "4294967296",
    "18446744073709551616",
    "2147483648",
    "1e12",
    "-1",
    "0",
    "[1.5, 0.9]",
    "[NaN, 0.9]",
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**31 - 2, max_value=2**66),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["fid", "kid", "adversarial", "shapes", "dcgan", "hinge", "fixed", ""]),
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
fragments = st.one_of(values.map(json.dumps), st.sampled_from(HOSTILE_TEXT))


def _paths(doc, prefix=()):
    """Every place in ``doc``: (path, node) pairs, the root included."""
    yield prefix, doc
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for k, v in items:
        yield from _paths(v, (*prefix, k))


def _at(doc, path: tuple):
    for p in path:
        if isinstance(doc, dict):
            doc = doc.get(p)
        elif isinstance(doc, list) and isinstance(p, int) and p < len(doc):
            doc = doc[p]
        else:
            return None
    return doc


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _mutate(data, doc: dict) -> tuple[str, list[str]]:
    """A mutated copy of ``doc`` as JSON text, plus ``--set`` arguments to apply on top."""
    doc = json.loads(json.dumps(doc))
    fills: list[str] = []
    places = [p for p, _ in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(places), label="path")
        parent = _at(doc, path[:-1])  # None when an earlier mutation removed it
        if not isinstance(parent, dict | list) or (
            isinstance(parent, list) and path[-1] >= len(parent)
        ):
            continue
        op = data.draw(st.sampled_from(["replace", "delete", "add"]), label="op")
        if op == "delete" and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif op == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8), label="key")] = MARK.format(len(fills))
            fills.append(data.draw(fragments, label="value"))
        else:
            parent[path[-1]] = MARK.format(len(fills))
            fills.append(data.draw(fragments, label="value"))
    text = json.dumps(doc)
    for i, fill in enumerate(fills):
        text = text.replace(json.dumps(MARK.format(i)), fill, 1)
    if data.draw(st.integers(0, 9), label="truncate?") == 0:
        text = text[: data.draw(st.integers(0, len(text)), label="cut")]
    sets = []
    for _ in range(data.draw(st.integers(0, 2), label="sets")):
        key = data.draw(st.sampled_from([_dotted(p) for p in places]) | st.text(max_size=10))
        sets += ["--set", f"{key}={data.draw(fragments, label='set value')}"]
    return text, sets


def _exit_code(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return code, err.getvalue()


def _check(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        assert err.strip(), "exit 2 without a message"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mutants")


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_validate_exits_0_or_2_on_mutated_example_specs(work, data):
    source = data.draw(st.sampled_from(SPECS), label="spec")
    text, sets = _mutate(data, json.loads(source.read_text()))
    path = work / "spec.json"
    path.write_text(text)
    _check(*_exit_code(["validate", str(path), *sets]))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_bench_dry_run_exits_0_or_2_on_mutated_suites(work, data):
    source = data.draw(st.sampled_from(SUITES), label="suite")
    text, _ = _mutate(data, json.loads(source.read_text()))
    path = work / "suite.json"  # the example suites hold their base inline
    path.write_text(text)
    _check(*_exit_code(["bench", str(path), "--dry-run", "--out", str(work / "out")]))
    _check(*_exit_code(["validate", str(path)]))  # a suite is not a run spec: exit 2
