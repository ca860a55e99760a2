"""Reports never rank runs of different protocols together, never average two domain
evaluators' accuracies, and mark timings measured under contention."""

from __future__ import annotations

import json
from itertools import takewhile

from fake_runs import fake_run

from mtbench import results
from mtbench.cli import main
from mtbench.report import leaderboard_markdown

MNIST = {"type": "mnist", "root": "/data/mnist"}
OTHER = {"extractor_hash": "ffff00001111", "n_real": 1000}


def _tables(md: str) -> list[list[str]]:
    """The variant column of each leaderboard table (those starting ``| # |``), in order."""
    lines = md.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("| # |")]
    bodies = [takewhile(lambda r: r.startswith("|"), lines[i + 2 :]) for i in starts]
    return [[r.split("|")[2].strip() for r in body] for body in bodies]


def _mixed(root):
    fake_run(root / "shapes_a-s0", "shapes_a", 0, {"fid": 30.0, "evaluator_accuracy": 0.9})
    fake_run(root / "shapes_b-s0", "shapes_b", 0, {"fid": 40.0, "evaluator_accuracy": 0.9})
    fake_run(
        root / "mnist_a-s0",
        "mnist_a",
        0,
        {"fid": 5.0, "evaluator_accuracy": 0.5},
        dataset=MNIST,
        protocol=OTHER,
    )
    return root


def test_mixed_protocols_get_one_table_each_with_its_own_best(tmp_path):
    md = leaderboard_markdown(results.read_runs([_mixed(tmp_path / "res")]), "mixed")
    assert "evaluated under 2 different protocols" in md
    # protocols in the order their first run folder is read (sorted: mnist_a-s0 first)
    assert "## Protocol 1: mnist (root=/data/mnist); domain features [ffff00001111]" in md
    assert "## Protocol 2: shapes (size=16); domain features [abcdef012345], 2000 generated" in md
    assert _tables(md) == [["mnist_a"], ["shapes_a", "shapes_b"]]
    assert md.count("**30**") == 1 and md.count("**5**") == 1  # a best per protocol
    assert "**40**" not in md


def test_each_domain_evaluators_accuracy_is_shown_alone(tmp_path):
    md = leaderboard_markdown(results.read_runs([_mixed(tmp_path / "res")]), "mixed")
    assert "0.9 [abcdef012345]" in md and "0.5 [ffff00001111]" in md
    assert "0.7" not in md  # the mean of the two evaluators' accuracies


def test_csv_report_carries_the_protocol_of_each_row(tmp_path, capsys):
    assert main(["report", str(_mixed(tmp_path / "res")), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("protocol,variant,data,feature_extractor,extractor_hash")
    assert [ln.split(",")[0] for ln in lines[1:]] == ["1", "2", "2"]


def test_compare_of_two_protocols_names_no_better_metric(tmp_path, capsys):
    root = _mixed(tmp_path / "res")
    assert main(["compare", str(root / "shapes_a-s0"), str(root / "mnist_a-s0")]) == 0
    out = capsys.readouterr().out
    fid = next(ln for ln in out.splitlines() if ln.startswith("| fid |"))
    assert fid.rstrip().endswith("|  |")
    assert "evaluated under different protocols" in out
    assert "A: step 40 (ema); B: step 40 (ema)" in out


def test_timings_under_contention_are_marked(tmp_path):
    quiet = {"jobs": 1, "torch_threads": 1, "cpu_count": 4, "load_start": [0.2, 0, 0]}
    quiet |= {"load_end": [1.1, 0, 0]}
    fake_run(tmp_path / "calm-s0", "calm", 0, {"fid": 1.0}, contention=[quiet])
    fake_run(tmp_path / "busy-s0", "busy", 0, {"fid": 2.0}, contention=[quiet | {"jobs": 2}])
    md = leaderboard_markdown(results.read_runs([tmp_path]), "t")
    rows = {ln.split("|")[2].strip(): ln for ln in md.splitlines() if ln.startswith("| 1 |")}
    rows |= {ln.split("|")[2].strip(): ln for ln in md.splitlines() if ln.startswith("| 2 |")}
    assert rows["busy"].count("†") == 2 and "†" not in rows["calm"]
    assert "| busy† |" in md and "| calm |" in md  # the per-phase timing table too
    assert "† img/s, wall time and step times measured under contention" in md
    assert "recorded no contention" not in md


def test_bench_sessions_that_overlapped_are_named_in_the_readme(tmp_path):
    root = _mixed(tmp_path / "res")
    sessions = [
        {"argv": ["m", "bench", "s.json"], "started": a, "finished": b, "jobs": j}
        for a, b, j in (
            ("2026-01-01T10:00:00+00:00", "2026-01-01T11:00:00+00:00", 1),
            ("2026-01-01T10:30:00+00:00", "2026-01-01T11:30:00+00:00", 2),
        )
    ]
    (root / "suite.json").write_text(json.dumps({"name": "s", "sessions": sessions}))
    assert main(["report", str(root), "--out", str(tmp_path / "pub")]) == 0
    readme = (tmp_path / "pub" / "README.md").read_text()
    assert "Bench sessions 1 and 2 (in the order above) overlapped in time" in readme
