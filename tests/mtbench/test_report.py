"""Reports say exactly what the tables say; compare shows spec and metric differences; plots.

Reports never rank runs of different protocols together, never average two domain
evaluators' accuracies, and mark timings measured under contention.
"""

from __future__ import annotations

import io
import json
from itertools import takewhile

import numpy as np
import pandas as pd
import pytest
from fake_runs import FAKE, fake_run, fake_suite
from PIL import Image
from scipy import stats as scipy_stats

from mtbench import results
from mtbench.cli import main
from mtbench.report import flatten, leaderboard_markdown

METRICS = ["fid", "precision", "accuracy", "intra_fid/red"]


@pytest.fixture
def suite(tmp_path):
    return fake_suite(tmp_path / "res")


def expected(variant: str, metric: str) -> tuple[float, float]:
    """Mean and std (ddof 1) over the variant's done seeds, straight from the fake values."""
    vals = np.array([m[metric] for (v, _), m in FAKE.items() if v == variant])
    return vals.mean(), (vals.std(ddof=1) if len(vals) > 1 else np.nan)


def seed_values(variant: str, metric: str) -> np.ndarray:
    return np.array([m[metric] for (v, _), m in FAKE.items() if v == variant])


def expected_cell(variant: str, metric: str) -> str:
    """mean ± std [95% t-interval], computed here with scipy; one seed says it has none."""
    vals = seed_values(variant, metric)
    mean, std = expected(variant, metric)
    if np.isnan(std):
        return f"{mean:.4g} (1 seed: no interval)"
    lo, hi = scipy_stats.t.interval(0.95, len(vals) - 1, loc=mean, scale=std / np.sqrt(len(vals)))
    return f"{mean:.4g} ± {std:.2g} [{lo:.3g}, {hi:.3g}]"


def bold(best: str, variant: str, metric: str) -> bool:
    """The best variant, and those scipy's Welch test cannot tell from it at 0.05."""
    a, b = seed_values(best, metric), seed_values(variant, metric)
    if variant == best:
        return True
    if len(a) < 2 or len(b) < 2:
        return False
    return scipy_stats.ttest_ind(a, b, equal_var=False).pvalue >= 0.05


def test_csv_and_json_reports_carry_the_tables_numbers_unrounded(suite, capsys):
    assert main(["report", str(suite), "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("variant")
    assert main(["report", str(suite), "--format", "json"]) == 0
    recs = {r["variant"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(csv.index) == list(recs) == ["proj", "ac", "unc"]
    for variant in ("ac", "proj", "unc"):
        for m in METRICS:
            mean, std = expected(variant, m)
            assert csv.loc[variant, f"{m}_mean"] == pytest.approx(mean, rel=1e-12)
            assert recs[variant][f"{m}_mean"] == pytest.approx(mean, rel=1e-12)
            if np.isnan(std):
                assert np.isnan(csv.loc[variant, f"{m}_std"]) and recs[variant][f"{m}_std"] is None
            else:
                assert recs[variant][f"{m}_std"] == pytest.approx(std, rel=1e-12)
                n = len(seed_values(variant, m))
                lo, hi = scipy_stats.t.interval(0.95, n - 1, loc=mean, scale=std / np.sqrt(n))
                assert (recs[variant][f"{m}_lo"], recs[variant][f"{m}_hi"]) == pytest.approx(
                    (lo, hi), rel=1e-12
                )


def _md_table(md: str, first_header: str) -> list[dict[str, str]]:
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in ln.strip("|").split("|")))))
    return rows


def test_markdown_leaderboard_cells_are_the_tables_means_and_stds(suite):
    md = leaderboard_markdown(results.read_runs([suite]), "fake")
    rows = _md_table(md, "#")
    assert [r["variant"] for r in rows] == ["proj", "ac", "unc"]
    assert "intra_fid/red ↓" not in rows[0]  # per-class values stay in the tables
    best = {"fid ↓": "proj", "precision ↑": "unc", "accuracy ↑": "ac"}
    for r in rows:
        for col, metric in (
            ("fid ↓", "fid"),
            ("precision ↑", "precision"),
            ("accuracy ↑", "accuracy"),
        ):
            cell = expected_cell(r["variant"], metric)
            assert r[col] == (f"**{cell}**" if bold(best[col], r["variant"], metric) else cell)
    ac = next(r for r in rows if r["variant"] == "ac")
    assert ac["seeds"] == "0,1,2" and ac["img/s"] == f"{1010.0:.4g} ± {10.0:.2g}"
    timing = {r["variant"]: r for r in _md_table(md, "variant")}
    assert timing["unc"]["d_fwd"] == f"{np.median([0.01, 0.03, 0.02]) * 1000:.3g}"
    assert "- proj-s2: failed (RuntimeError: boom)" in md
    assert "- unc-s1: diverged (loss term x became non-finite)" in md
    assert "2000 generated vs 600 real images (eval split)" in md


def test_report_writes_tables_leaderboard_and_readable_plots(suite, tmp_path, capsys):
    out = tmp_path / "published"
    assert main(["report", str(suite), "--out", str(out), "--plots"]) == 0
    printed = capsys.readouterr().out
    assert (out / "leaderboard.md").read_text() == printed
    assert {p.name for p in out.iterdir()} >= {
        "runs.parquet",
        "steps.parquet",
        "evals.parquet",
        "runs.csv",
        "final_metrics.png",
        "metrics_vs_step.png",
        "step_time.png",
        "loss_weights.png",
    }
    for png in out.glob("*.png"):
        with Image.open(png) as im:
            assert im.format == "PNG" and im.width > 300 and im.height > 200
            assert len(np.unique(np.asarray(im.convert("L")))) > 10  # something is drawn


def test_no_weight_plot_when_every_weighting_is_fixed(tmp_path):
    from mtbench.plots import write_plots

    res = fake_suite(tmp_path / "res")
    t = results.read_runs([res])
    t = results.Tables(t.runs[t.runs["variant"] != "unc"], t.steps, t.evals)
    names = {p.name for p in write_plots(t, tmp_path / "plots")}
    assert names == {"final_metrics.png", "metrics_vs_step.png", "step_time.png"}


def test_report_of_nothing_is_an_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no run folders found" in capsys.readouterr().err


def test_compare_lists_spec_differences_and_metric_deltas(suite, capsys):
    spec = json.loads((suite / "ac-s1" / "spec.json").read_text())
    spec["discriminator"]["heads"][1]["weight"] = 0.5
    spec["meta"]["spec_hash"] = "other"  # meta is ignored
    (suite / "ac-s1" / "spec.json").write_text(json.dumps(spec))
    assert main(["compare", str(suite / "ac-s0"), str(suite / "ac-s1")]) == 0
    text = capsys.readouterr().out
    rows = {r["field"]: r for r in _md_table(text, "field")}
    assert set(rows) == {"seed", "discriminator.heads[1].weight"}
    assert rows["seed"]["A"] == "0" and rows["seed"]["B"] == "1"
    assert rows["discriminator.heads[1].weight"]["A"] == "(absent)"
    res = {r[""]: r for r in _md_table(text, "")}
    assert res["fid"]["A"] == "10" and res["fid"]["B"] == "12"
    assert res["fid"]["B - A"] == "+2" and res["fid"]["change"] == "+20.0%"
    assert res["fid"]["better"] == "A" and res["precision"]["better"] == "B"
    assert res["imgs_per_s"]["better"] == "B" and res["wall_s"]["better"] == "A"


def test_flatten_uses_dotted_paths_with_list_indices():
    assert flatten({"a": {"b": [1, {"c": 2}]}, "d": []}) == {"a.b[0]": 1, "a.b[1].c": 2, "d": []}


def test_metric_curves_use_each_runs_main_generator():
    from mtbench.plots import _main_generator

    ev = pd.DataFrame(
        {
            "run_id": ["a", "a", "a", "b", "b"],
            "generator": ["ema", "raw", "last", "raw", "best"],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    assert _main_generator(ev)["value"].tolist() == [1.0, 4.0]


def test_published_folder_has_a_readme_with_command_machine_and_duration(suite, tmp_path, capsys):
    import json

    from PIL import Image

    info = {
        "name": "fake",
        "spec": {"description": "A fake suite."},
        "sessions": [
            {
                "argv": ["/x/mtbench", "bench", "s.json", "--jobs", "2"],
                "started": "2026-01-01T10:00:00+00:00",
                "finished": "2026-01-01T11:30:00+00:00",
                "jobs": 2,
                "cpu_count": 2,
                "machine": "x86_64",
                "python": "3.11.7",
                "torch": "2.14.1",
            }
        ],
    }
    (suite / "suite.json").write_text(json.dumps(info))
    first = sorted(p for p in suite.iterdir() if p.is_dir())[0]
    (first / "samples").mkdir(exist_ok=True)
    Image.new("RGB", (4, 4)).save(first / "samples" / "step_000010.png")
    out = tmp_path / "pub"
    assert main(["report", str(suite), "--out", str(out)]) == 0
    readme = (out / "README.md").read_text()
    assert "A fake suite." in readme and "mtbench bench s.json --jobs 2" in readme
    assert "90.0 min wall" in readme and "2 CPU cores" in readme and "torch 2.14.1" in readme
    assert f"mtbench report {suite} --out {out}" in readme
    assert len(list((out / "samples").glob("*.png"))) == 1


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
    one = " (1 seed: no interval)"
    assert md.count(f"**30{one}**") == 1 and md.count(f"**5{one}**") == 1  # a best per protocol
    assert f"**40{one}**" not in md and f"40{one}" in md


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
