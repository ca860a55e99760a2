"""A suite's variant notes reach the published leaderboard with the numbers mtbench measured."""

from __future__ import annotations

import json

import pytest
from fake_runs import FAKE, fake_suite

from mtbench.bench.suite import parse_suite
from mtbench.errors import SpecError
from mtbench.layout import SuiteDir
from mtbench.report import publish
from mtbench.results import read_runs

NOTE = {"text": "Its class signal is weak early.", "metrics": ["accuracy", "fid"]}


def _with_notes(out):
    fake_suite(out)
    spec = {"name": "s", "variants": [{"name": "ac", "note": NOTE}, {"name": "proj"}]}
    SuiteDir(out).file(SuiteDir.SUITE).write_text(json.dumps({"spec": spec}))
    return out


def test_the_note_and_its_measured_numbers_are_in_the_leaderboard(tmp_path):
    out = _with_notes(tmp_path / "runs")
    publish(read_runs([out]), tmp_path / "pub", [str(out)], None, "s")
    board = (tmp_path / "pub" / SuiteDir.LEADERBOARD).read_text()
    notes = board.split("## Notes", 1)[1].split("##", 1)[0]
    line = next(x for x in notes.splitlines() if x.startswith("- **ac**"))
    acc = sum(FAKE[("ac", s)]["accuracy"] for s in range(3)) / 3
    assert "Its class signal is weak early." in line
    assert f"accuracy {acc:.4g} ± 0.05 over 3 seeds (best: ac, {acc:.4g})" in line
    assert "fid 12.17 ± 2.3 over 3 seeds (best: proj, 8.625)" in line  # lower is better
    assert "**proj**" not in notes  # no note, no line


def test_the_printed_leaderboard_has_the_notes_too(tmp_path, capsys):
    from mtbench.cli import main

    out = _with_notes(tmp_path / "runs")
    assert main(["report", str(out)]) == 0
    assert "- **ac**: Its class signal is weak early. Measured here:" in capsys.readouterr().out


def test_no_notes_no_section(tmp_path):
    out = fake_suite(tmp_path / "runs")
    publish(read_runs([out]), tmp_path / "pub", [str(out)], None, "s")
    assert "## Notes" not in (tmp_path / "pub" / SuiteDir.LEADERBOARD).read_text()


def test_a_note_with_an_unknown_field_is_refused_with_its_path():
    bad = {"name": "s", "base": {}, "seeds": [0], "variants": [{"name": "a", "note": {"txt": "x"}}]}
    with pytest.raises(SpecError) as e:
        parse_suite(bad)
    assert str(e.value).splitlines() == [
        "variants[0].note.text: Field required",
        "variants[0].note.txt: Extra inputs are not permitted",
    ]
