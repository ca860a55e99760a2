"""Choosing the batch source: by budget, forced, recorded in spec.json meta, bad budgets."""

from __future__ import annotations

import json

import torch
from helpers import tiny_spec, write_spec
from small_data import small_set

from mtbench.cli import main
from mtbench.data import BatchSource
from mtbench.source_choice import budget, decide, make_source, split_bytes
from mtbench.spec import RunSpec
from mtbench.stream import StreamSource


def spec_with(**data) -> RunSpec:
    return RunSpec.model_validate(tiny_spec(data=data))


def test_split_bytes_and_decision():
    data, _ = small_set()
    assert split_bytes(data) == 40 * 16 + 40 * 8 + 40 * 8
    assert decide(10, 20, "x", "auto")[0] == "memory"
    kind, reason = decide(30, 20, "x", "auto")
    assert kind == "stream" and "exceeds the budget (20 bytes, x)" in reason
    assert decide(10, 20, "x", "stream") == ("stream", "data.source is stream")
    limit, origin = budget(torch.device("cpu"), None)
    assert limit > 0 and "available RAM" in origin


def test_make_source_by_budget_and_forced():
    data, info = small_set()
    cpu = torch.device("cpu")
    assert isinstance(make_source(data, info, cpu, spec_with()), BatchSource)
    small = make_source(data, info, cpu, spec_with(device_bytes=1000, workers=0))
    assert isinstance(small, StreamSource) and small.describe()["source"] == "stream"
    forced = make_source(data, info, cpu, spec_with(source="memory", device_bytes=1000))
    assert (
        isinstance(forced, BatchSource) and forced.describe()["reason"] == "data.source is memory"
    )


def test_run_records_the_stream_choice_in_meta(tmp_path):
    out = tmp_path / "run"
    s = tiny_spec(out=str(out), data={"source": "stream", "workers": 2})
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    meta = json.loads((out / "spec.json").read_text())["meta"]
    assert meta["data_source"]["source"] == "stream" and meta["data_source"]["workers"] == 2
    assert meta["data_source"]["reason"] == "data.source is stream"


def test_a_budget_below_one_batch_is_one_line_exit_2(tmp_path, capsys):
    s = tiny_spec(out=str(tmp_path / "run"), data={"device_bytes": 100})
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("data.device_bytes: the budget (100 bytes")
    assert not (tmp_path / "run").exists()
