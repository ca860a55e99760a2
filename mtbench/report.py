"""Leaderboards (markdown, CSV, JSON) from the results tables, side-by-side run comparisons,
and ``publish``, the one way a results folder is written (``report --out`` and ``bench``).

Every number printed here comes from ``mtbench.results``' tables: the markdown rounds them
for reading; CSV and JSON carry them unrounded. Runs of different evaluation protocols are
ranked in separate tables, and timings measured under contention are marked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from mtbench import stats
from mtbench.errors import UserError
from mtbench.evaluate import final
from mtbench.io import atomic_write_bytes
from mtbench.layout import RunDir, SuiteDir, phase_columns
from mtbench.report_notes import notes_markdown, variant_notes
from mtbench.results import (
    Tables,
    aggregate,
    headline_metrics,
    higher_is_better,
    metric_columns,
)

DASH = "–"


def fmt(v: float | None, digits: int = 4) -> str:
    """A number for reading: ``digits`` significant digits; a dash when missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return f"{v:.{digits}g}"


def fmt_pm(mean: float, std: float) -> str:
    """``mean ± std`` (4 and 2 significant digits); the mean alone without a std."""
    if mean is None or math.isnan(mean):
        return DASH
    return fmt(mean) if std is None or math.isnan(std) else f"{fmt(mean)} ± {fmt(std, 2)}"


def fmt_ci(mean: float, std: float, lo: float | None, hi: float | None) -> str:
    """``mean ± std [lo, hi]`` (the 95% interval over seeds); one seed says it has none."""
    if mean is None or math.isnan(mean):
        return DASH
    if std is None or math.isnan(std):
        return f"{fmt(mean)} (1 seed: no interval)"
    return f"{fmt_pm(mean, std)} [{fmt(lo, 3)}, {fmt(hi, 3)}]"


def stats_note() -> str:
    """The footnote naming the interval and the test behind the bold cells."""
    return (
        f"[lo, hi]: 95% interval of the mean over seeds (Student t below "
        f"{stats.BOOTSTRAP_FROM} seeds, percentile bootstrap of {stats.RESAMPLES:,} resamples "
        f"from {stats.BOOTSTRAP_FROM}). Bold: per metric the best mean and every variant that "
        f"{stats.TEST_NAME} at {stats.ALPHA} cannot tell from it (a variant with one seed "
        "cannot be tested and is bold only when best)."
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


CONTENDED = "†"  # marks timings measured under contention (see contention_note)


def leaderboard_rows(agg: pd.DataFrame, metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of one protocol's table: the best mean of each metric in bold;
    img/s and wall time marked when measured under contention."""
    arrows = {m: "↑" if higher_is_better(m) else "↓" for m in metrics}
    header = ["#", "variant", "heads", "weighting", "seeds"]
    header += [f"{m} {arrows[m]}" for m in metrics] + ["img/s", "wall (s)"]
    rows = []
    for i, (_, r) in enumerate(agg.iterrows()):
        cells = [str(i + 1), str(r["variant"]), str(r["heads"]), str(r["weighting"]), r["seeds"]]
        for m in metrics:
            cell = fmt_ci(r[f"{m}_mean"], r[f"{m}_std"], r.get(f"{m}_lo"), r.get(f"{m}_hi"))
            cells.append(f"**{cell}**" if bool(r.get(f"{m}_best", False)) else cell)
        mark = CONTENDED if r.get("contended") else ""
        cells += [fmt_pm(r["imgs_per_s_mean"], r["imgs_per_s_std"]) + mark]
        cells += [fmt_pm(r["wall_s_mean"], r["wall_s_std"]) + mark]
        rows.append(cells)
    return header, rows


def timing_rows(agg: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Per-phase milliseconds per step (median after warm-up, mean over seeds)."""
    cols = [c for c in phase_columns() if c in agg.columns]
    header = ["variant"] + [c[2:] for c in cols]
    many = agg["protocol"].nunique() > 1
    rows = [
        [_timing_name(r, many)] + [fmt(r[c] * 1000, 3) for c in cols] for _, r in agg.iterrows()
    ]
    return header, rows


def _timing_name(r: pd.Series, many_protocols: bool) -> str:
    name = str(r["variant"]) + (f" (protocol {r['protocol']})" if many_protocols else "")
    return name + (CONTENDED if r.get("contended") else "")


def leaderboard_markdown(
    t: Tables, title: str = "Leaderboard", sort_by: str | None = None, notes: dict | None = None
) -> str:
    """The leaderboard (one table per evaluation protocol), the suite's variant notes with
    their measured numbers, timing breakdown, evaluation protocol and left-out runs."""
    agg = aggregate(t, sort_by)
    metrics = headline_metrics(metric_columns(t.runs))
    lines = [f"# {title}", ""]
    if agg.empty:
        return "\n".join([*lines, "No runs yet.", ""])
    lines += [
        "Final metrics of each variant's generator (EMA when enabled) at its last step, "
        "mean ± std over seeds (std with ddof 1; none for one seed); ↓ lower is better, "
        "↑ higher is better. Only runs with status done are aggregated. " + FINAL_RULE,
        "",
        stats_note(),
        "",
    ]
    groups = list(agg.groupby("protocol", sort=False))
    if len(groups) > 1:
        lines += [
            f"These runs were evaluated under {len(groups)} different protocols (data set, "
            "feature extractor, sample counts, split, domain evaluator). Each is ranked in its "
            "own table; numbers in different tables are not comparable.",
            "",
        ]
    for pid, g in groups:
        if len(groups) > 1:
            lines += [f"## Protocol {pid}: {protocol_line(g.iloc[0])}", ""]
        shown = [m for m in metrics if g[f"{m}_mean"].notna().any()]
        lines += _table(*leaderboard_rows(g, shown)) + [""]
    lines += contention_note(agg) + unmeasured_note(t.evals)
    lines += notes_markdown(agg, notes or {})
    if any(c.startswith("t_") for c in agg.columns):
        lines += ["## Time per training step (ms)", ""]
        lines += ["Median over logged steps after the first (warm-up), mean over seeds.", ""]
        lines += _table(*timing_rows(agg)) + [""]
    lines += _protocol(t, agg) + _left_out(t)
    return "\n".join(lines)


FINAL_RULE = (
    "Each run's metrics are its rows of `evals.parquet` at its final step under its own "
    "protocol (the spec's `eval.n_samples`), the latest where `mtbench eval` re-evaluated "
    "the final checkpoint; the tables' `evals` marks them `final`."
)


def protocol_line(r: pd.Series) -> str:
    """One protocol in words: data set, extractor [hash], sample counts, split, evaluator."""
    data = _data_words(r.get("data"))
    if r.get("feature_extractor") is None or pd.isna(r.get("feature_extractor")):
        return f"{data}; no final evaluation"
    text = (
        f"{data}; {r['feature_extractor']} features [{str(r['extractor_hash'])[:12]}], "
        f"{_int(r['n_fake'])} generated vs {_int(r['n_real'])} real images "
        f"({r['real_split']} split)"
    )
    if isinstance(r.get("torch_fidelity"), str):  # recorded since torch-fidelity networks
        text += f", resize {r.get('extractor_resize')}, torch-fidelity {r['torch_fidelity']}"
    ev = r.get("evaluator_hash")
    if isinstance(ev, str) and ev != r["extractor_hash"]:
        text += f"; domain evaluator [{ev[:12]}]"
    return text


def _data_words(data) -> str:
    """``shapes (size=16)`` from a data set's spec JSON."""
    if not isinstance(data, str):
        return "unknown data set"
    d = json.loads(data)
    rest = ", ".join(f"{k}={_j(v)}" for k, v in d.items() if k != "type")
    return f"{d.get('type')}" + (f" ({rest})" if rest else "")


def _int(v) -> str:
    return DASH if v is None or pd.isna(v) else str(int(v))


def unmeasured_note(evals: pd.DataFrame) -> list[str]:
    """Rows evaluation wrote as NaN with a ``reason`` (``consistency/<k>`` of a target the
    data set does not derive): named with why, instead of a number."""
    if evals.empty or "reason" not in evals:
        return []
    rows = evals[evals["reason"].notna()].drop_duplicates(["metric", "reason"])
    if rows.empty:
        return []
    lines = ["Not measured (no number, by design):", ""]
    lines += [f"- `{m}`: {why}" for m, why in zip(rows["metric"], rows["reason"])]
    return [*lines, ""]


def contention_note(agg: pd.DataFrame) -> list[str]:
    """The footnote that says which timings were measured under contention, and how."""
    out = []
    if agg["contended"].any():
        out.append(
            f"{CONTENDED} img/s, wall time and step times measured under contention: a run "
            "shared the machine (`mtbench bench --jobs` above 1, more torch threads than "
            "cores, or a 1-minute load average above the CPU count at its start or end; "
            "spec.json `meta.contention`). They are not comparable with unmarked rows."
        )
    unknown = int(agg["unrecorded"].sum())
    if unknown:
        out.append(
            f"{unknown} run(s) recorded no contention (made before mtbench recorded it): "
            "whether their timings were measured on a shared machine is unknown."
        )
    return [line for o in out for line in (o, "")]


def _protocol(t: Tables, agg: pd.DataFrame) -> list[str]:
    out = ["## Protocol", ""]
    done = t.runs[t.runs["status"] == "done"]
    if not done.empty:
        envs = sorted(
            {
                f"torch {r.torch}, {r.device}, {r.threads} thread(s)"
                for r in done.itertuples()
                if r.torch is not None
            }
        )
        out.append(f"- runs: {len(done)} done; steps {_values(done['steps'])}; {'; '.join(envs)}")
    many = agg["protocol"].nunique() > 1
    for pid, g in agg.groupby("protocol", sort=False):
        out.append(
            f"- evaluation{f' (protocol {pid})' if many else ''}: {protocol_line(g.iloc[0])}"
        )
        acc = _evaluator_accuracy(done, g.iloc[0])
        if acc:
            out.append(f"  - domain evaluator accuracy on held-out real images: {acc}")
    later = done[done["metrics_from"].notna() & ~done["metrics_from"].isin(final.TRAINING)]
    for r in later.itertuples():
        out.append(f"- {r.run_id}: final metrics from {r.metrics_from} (`mtbench eval` rows)")
    return [*out, ""]


def _evaluator_accuracy(done: pd.DataFrame, proto: pd.Series) -> str:
    """The held-out accuracy of the one domain evaluator of a protocol (never an average of
    several evaluators: each is listed with its hash)."""
    if "evaluator_accuracy" not in done:
        return ""
    same = done[done["evaluator_hash"] == proto.get("evaluator_hash")]
    accs = same.groupby("evaluator_hash")["evaluator_accuracy"].first().dropna()
    return "; ".join(f"{fmt(v)} [{h[:12]}]" for h, v in accs.items())


def _values(s: pd.Series) -> str:
    return ", ".join(str(v) for v in sorted(s.dropna().unique()))


def _left_out(t: Tables) -> list[str]:
    rest = t.runs[t.runs["status"] != "done"]
    if rest.empty:
        return []
    out = ["## Runs not aggregated", ""]
    for r in rest.itertuples():
        err = str(r.error).strip().splitlines()[-1] if isinstance(r.error, str) and r.error else ""
        out.append(f"- {r.run_id}: {r.status}" + (f" ({err})" if err else ""))
    return [*out, ""]


def _records(agg: pd.DataFrame) -> list[dict]:
    """Rows as plain JSON values, floats at full precision, NaN as null."""
    return [
        {k: None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in agg.to_dict("records")
    ]


def suite_title(dirs: list[str]) -> str:
    """The suite's name when reporting one suite's results folder, else "Leaderboard"."""
    if len(dirs) == 1:
        try:
            return json.loads(SuiteDir(dirs[0]).file(SuiteDir.SUITE).read_text())["name"]
        except (OSError, ValueError, KeyError):
            pass
    return "Leaderboard"


def render(
    t: Tables,
    fmt_name: str = "md",
    title: str = "Leaderboard",
    sort_by: str | None = None,
    dirs: list[str] | None = None,
) -> str:
    """The leaderboard as markdown (with the notes of ``dirs``' suites), CSV (unrounded) or
    JSON (unrounded records)."""
    if fmt_name == "md":
        return leaderboard_markdown(t, title, sort_by, variant_notes(dirs or []))
    agg = aggregate(t, sort_by)
    if fmt_name == "csv":
        return agg.to_csv(index=False)
    if fmt_name == "json":
        return json.dumps(_records(agg), indent=2) + "\n"
    raise UserError(f"--format: {fmt_name!r}; choose md, csv or json")


# ----------------------------------------------------------------------------- compare


def flatten(obj, prefix: str = "") -> dict[str, object]:
    """Dotted paths (``a.b[1].c``) to leaf values."""
    if isinstance(obj, dict) and obj:
        out: dict[str, object] = {}
        for k, v in obj.items():
            out |= flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list) and obj:
        out = {}
        for i, v in enumerate(obj):
            out |= flatten(v, f"{prefix}[{i}]")
        return out
    return {prefix: obj}


def _spec_of(run: Path) -> dict:
    for name in (RunDir.SPEC, RunDir.RUN_SPEC):
        if (run / name).is_file():
            spec = json.loads((run / name).read_text())
            for k in ("meta", "out"):
                spec.pop(k, None)
            return spec
    raise UserError(f"{run}: not a run folder (no spec.json)")


def spec_differences(a: dict, b: dict) -> list[tuple[str, object, object]]:
    fa, fb = flatten(a), flatten(b)
    missing = "(absent)"
    keys = list(dict.fromkeys([*fa, *fb]))
    return [
        (k, fa.get(k, missing), fb.get(k, missing))
        for k in keys
        if fa.get(k, missing) != fb.get(k, missing)
    ]


def compare(run_a: str | Path, run_b: str | Path) -> str:
    """Markdown: the two runs' spec differences (dotted paths) and metrics side by side."""
    from mtbench.results import is_run_dir, read_runs

    a, b = Path(run_a), Path(run_b)
    if not (is_run_dir(a) and is_run_dir(b)):  # suite folders: means over seeds, Welch's test
        from mtbench.compare_suites import compare_suites

        return compare_suites(a, b)
    diffs = spec_differences(_spec_of(a), _spec_of(b))
    t = read_runs([a, b])
    ra, rb = t.runs.iloc[0], t.runs.iloc[1]
    lines = [f"# {a} (A) vs {b} (B)", "", "## Spec differences", ""]
    if diffs:
        lines += _table(["field", "A", "B"], [[k, _j(x), _j(y)] for k, x, y in diffs])
    else:
        lines.append("The specs are identical (meta and out aside).")
    lines += ["", "## Results", ""]
    same = _same_protocol(ra, rb)
    rows = [["status", str(ra["status"]), str(rb["status"]), "", "", ""]]
    for col in ["steps", "wall_s", "imgs_per_s", *metric_columns(t.runs)]:
        better = _better(col, ra[col], rb[col]) if same or col in TIMING else ""
        mark = CONTENDED if col in TIMING and (_contended(ra) or _contended(rb)) else ""
        rows.append([col + mark, *_delta(ra[col], rb[col]), better])
    lines += _table(["", "A", "B", "B - A", "change", "better"], rows) + [""]
    lines += _compare_notes(ra, rb, same)
    return "\n".join(lines)


TIMING = ("wall_s", "imgs_per_s")  # measured, not evaluated: protocol-free


def _same_protocol(ra: pd.Series, rb: pd.Series) -> bool:
    return all(_eq(ra[c], rb[c]) for c in final.PROTOCOL)


def _eq(x, y) -> bool:
    return (pd.isna(x) and pd.isna(y)) if pd.isna(x) or pd.isna(y) else x == y


def _compare_notes(ra: pd.Series, rb: pd.Series, same: bool) -> list[str]:
    """Where each side's metrics came from, and why a verdict may be missing."""
    out = [
        f"Metrics: {FINAL_RULE} A: step {_int(ra['metrics_step'])} ({ra['metrics_from']}); "
        f"B: step {_int(rb['metrics_step'])} ({rb['metrics_from']}).",
        "",
    ]
    if not same:
        out += [
            "A and B were evaluated under different protocols, so their metrics are not "
            f"comparable and no better is given: A: {protocol_line(ra)}; B: {protocol_line(rb)}.",
            "",
        ]
    if _contended(ra) or _contended(rb):
        out += [
            f"{CONTENDED} measured under contention (spec.json `meta.contention`): "
            f"A {_contention_words(ra)}, B {_contention_words(rb)}.",
            "",
        ]
    return out


def _contended(r: pd.Series) -> bool:
    return not pd.isna(r["contended"]) and bool(r["contended"])


def _contention_words(r: pd.Series) -> str:
    if r["contended"] is None or pd.isna(r["contended"]):
        return "unrecorded"
    state = "contended" if r["contended"] else "quiet"
    return f"{state} (jobs {_int(r['jobs'])}, peak load {fmt(r['load_max'], 3)})"


def _better(col: str, x, y) -> str:
    """Which run is better on ``col`` (img/s and metrics by their direction; wall time lower)."""
    if col == "steps" or pd.isna(x) or pd.isna(y):
        return ""
    if x == y:
        return "="
    higher = col == "imgs_per_s" or (col != "wall_s" and higher_is_better(col))
    return "B" if (y > x) == higher else "A"


def _j(v: object) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _delta(x, y) -> list[str]:
    x = float(x) if x is not None and not pd.isna(x) else math.nan
    y = float(y) if y is not None and not pd.isna(y) else math.nan
    d = y - x
    rel = f"{d / abs(x) * 100:+.1f}%" if x and not math.isnan(d) else DASH
    return [fmt(x), fmt(y), DASH if math.isnan(d) else f"{d:+.4g}", rel]


# ----------------------------------------------------------------------------- publishing


def publish(
    t: Tables,
    out: str | Path,
    dirs: list[str],
    argv: list[str] | None,
    title: str,
    sort_by: str | None = None,
) -> list[Path]:
    """Write ``out``'s tables, ``leaderboard.md``, ``README.md`` and ``samples/<variant>.png``:
    the one way results are published, by ``mtbench report --out`` and by ``mtbench bench``
    after every run (``argv`` None: the folder's bench sessions made it)."""
    from mtbench.io import atomic_write_bytes
    from mtbench.results import write_tables

    out = Path(out)
    written = write_tables(t, out)
    for name, text in (
        (SuiteDir.LEADERBOARD, leaderboard_markdown(t, title, sort_by, variant_notes(dirs))),
        (SuiteDir.README, publish_readme(t, dirs, argv)),
    ):
        atomic_write_bytes(out / name, text.encode())
        written.append(out / name)
    return written + copy_sample_grids(t, dirs, out)


REPORT_MARK_TEXT = b"written by mtbench report --out; it may replace every file here\n"


def claim_out(folder: str | Path) -> None:
    """Let ``report --out`` write only into a new or empty folder or one it wrote before (it
    marks it first), so a user's own README.md or tables are never replaced."""
    folder = Path(folder)
    mark = folder / SuiteDir.REPORT_MARK
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out: {folder} is a file; give a new or empty folder")
    if folder.is_dir() and not mark.is_file() and any(folder.iterdir()):
        raise UserError(
            f"--out: {folder} is not empty and was not written by mtbench report; nothing was "
            "written: give a new or empty folder"
        )
    atomic_write_bytes(mark, REPORT_MARK_TEXT)


def publish_readme(t: Tables, dirs: list[str], argv: list[str] | None) -> str:
    """README of a published results folder: what made it, on what machine, in how long."""
    lines = [f"# {suite_title(dirs)}", "", "Every file in this folder was written by mtbench.", ""]
    for d in dirs:
        info = _suite_info(Path(d))
        if info.get("spec", {}).get("description"):
            lines += [info["spec"]["description"], ""]
        sessions = info.get("sessions", [])
        for s in sessions:
            lines += _session_lines(s)
        lines += _overlaps(sessions)
    counts = t.runs["status"].value_counts().to_dict() if not t.runs.empty else {}
    lines += [
        f"Runs: {len(t.runs)} ({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}); "
        f"summed run wall time {fmt(float(t.runs['wall_s'].sum()) / 60, 3)} min.",
        "",
    ]
    if argv is not None:
        lines += ["This folder was written by:", "", f"    mtbench {' '.join(argv)}", ""]
    lines += [
        "`leaderboard.md` has the results; `runs`, `steps` and `evals` (`.parquet`, `.csv`) the",
        "tables; `*.png` the plots (`mtbench report --plots`); `samples/<variant>.png` each",
        "variant's final grid of its lowest seed.",
        "",
    ]
    return "\n".join(lines)


def _overlaps(sessions: list[dict]) -> list[str]:
    """A line for bench sessions that ran at the same time (their runs shared the machine)."""
    from datetime import datetime

    spans = [
        (i + 1, datetime.fromisoformat(s["started"]), datetime.fromisoformat(s["finished"]))
        for i, s in enumerate(sessions)
        if s.get("started") and s.get("finished")
    ]
    pairs = [
        f"{a} and {b}"
        for a, s0, e0 in spans
        for b, s1, e1 in spans
        if a < b and s1 < e0 and s0 < e1
    ]
    if not pairs:
        return []
    return [
        f"Bench sessions {', '.join(pairs)} (in the order above) overlapped in time: their "
        "runs shared the machine, so their timings were measured under contention.",
        "",
    ]


def _suite_info(folder: Path) -> dict:
    try:
        return json.loads(SuiteDir(folder).file(SuiteDir.SUITE).read_text())
    except (OSError, ValueError):
        return {}


def _session_lines(s: dict) -> list[str]:
    from datetime import datetime

    span = ""
    if s.get("started") and s.get("finished"):
        t0, t1 = (datetime.fromisoformat(s[k]) for k in ("started", "finished"))
        span = f", {(t1 - t0).total_seconds() / 60:.1f} min wall"
    return [
        "    " + " ".join(["mtbench", *s.get("argv", [])[1:]]),
        "",
        f"ran {s.get('started')} to {s.get('finished')}{span}, {s.get('jobs')} jobs at a time, "
        f"on {s.get('cpu_count')} CPU cores ({s.get('machine')}), Python {s.get('python')}, "
        f"torch {s.get('torch')}.",
        "",
    ]


def copy_sample_grids(t: Tables, dirs: list[str], out: Path) -> list[Path]:
    """Each variant's last sample grid of its lowest seed, as ``samples/<variant>.png``."""
    from mtbench.results import find_run_dirs

    by_id = {d.name: d for d in find_run_dirs(dirs)}
    written = []
    for variant, runs in t.runs.sort_values("seed").groupby("variant", sort=True):
        folder = by_id.get(runs.iloc[0]["run_id"])
        grids = sorted(RunDir(folder).samples.glob("step_*.png")) if folder else []
        grids = [g for g in grids if g.stem.count("_") == 1]  # the main image, not extra outputs
        if grids:
            path = out / SuiteDir.SAMPLES / f"{variant}.png"
            atomic_write_bytes(path, grids[-1].read_bytes())
            written.append(path)
    return written
