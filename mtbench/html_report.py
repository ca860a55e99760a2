"""``mtbench report DIR... --html OUT``: one self-contained page of a suite's results.

Inline CSS and JavaScript, no network; images (each variant's sample grid and the plots of
``mtbench.plots``) are files in ``<OUT stem>_files/`` beside the page. The leaderboard's
cells, the best marks, the notes and the protocol come from ``mtbench.report``; this module
only lays them out as HTML and makes every column sortable by a click.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pandas as pd

from mtbench.errors import UserError
from mtbench.io import atomic_write_bytes
from mtbench.layout import RunDir, SuiteDir
from mtbench.report import (
    CONTENDED,
    _left_out,
    _protocol,
    contention_note,
    copy_sample_grids,
    leaderboard_rows,
    protocol_line,
    stats_note,
)
from mtbench.results import Tables, aggregate, find_run_dirs, headline_metrics, metric_columns

MARK = "<!-- written by mtbench report --html -->"
FOLDER_MARK = ".mtbench-html"  # marks an images folder this module wrote
PLOTS = (
    ("metrics_vs_step.png", "Metrics against training step"),
    ("step_time.png", "Time per training step, by phase"),
    ("final_metrics.png", "Final metrics per variant"),
    ("loss_weights.png", "Loss-term weights of adaptive weightings"),
)

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f3f3;cursor:pointer;user-select:none;white-space:nowrap}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.best{font-weight:bold;background:#e8f6e8}td{font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figure img{image-rendering:pixelated;border:1px solid #ccc;max-width:100%}
.samples img{min-width:192px}
.plots img{max-width:100%}.note{color:#555;font-size:90%}
"""

JS = """
function sortBy(th){
  const table=th.closest('table'), body=table.tBodies[0], i=th.cellIndex;
  const desc=th.classList.contains('asc');
  for(const h of table.tHead.rows[0].cells){h.classList.remove('asc','desc');}
  th.classList.add(desc?'desc':'asc');
  const key=r=>{const c=r.cells[i], v=c.dataset.sort;
    if(v===undefined||v===''){return [1,c.textContent];}
    const n=Number(v); return isNaN(n)?[0,v]:[0,n];};
  const rows=Array.from(body.rows);
  rows.sort((a,b)=>{const x=key(a), y=key(b);
    if(x[0]!==y[0]){return x[0]-y[0];}
    const c=x[1]<y[1]?-1:(x[1]>y[1]?1:0); return desc?-c:c;});
  for(const r of rows){body.appendChild(r);}
}
document.querySelectorAll('table.sortable th')
  .forEach(th=>th.addEventListener('click',()=>sortBy(th)));
"""


def write_html(
    t: Tables, dirs: list[str], out: str | Path, title: str, sort_by: str | None = None
) -> list[Path]:
    """Write the page and its images folder; returns every file written."""
    from mtbench.plots import write_plots

    out = Path(out)
    files = claim(out)
    written = copy_sample_grids(t, dirs, files) + write_plots(t, files)
    agg = aggregate(t, sort_by)
    page = render_page(t, agg, dirs, out, files, title)
    atomic_write_bytes(out, page.encode())
    return [out, *written]


def assets(out: Path) -> Path:
    """The images folder beside the page: ``report.html`` -> ``report_files/``."""
    return out.with_name(f"{out.stem}_files")


def claim(out: Path) -> Path:
    """Refuse to replace a page or folder that this command did not write; mark ours."""
    files = assets(out)
    if out.exists() and (not out.is_file() or MARK not in out.read_text(errors="replace")):
        raise UserError(f"--html: {out} exists and was not written by mtbench report --html")
    if files.exists() and not (files / FOLDER_MARK).is_file():
        raise UserError(f"--html: {files} exists and was not written by mtbench report --html")
    atomic_write_bytes(files / FOLDER_MARK, b"written by mtbench report --html\n")
    return files


def render_page(
    t: Tables, agg: pd.DataFrame, dirs: list[str], out: Path, files: Path, title: str
) -> str:
    """The whole page as one string."""
    body = [f"<h1>{_e(title)}</h1>"]
    if agg.empty:
        body.append("<p>No runs yet.</p>")
    else:
        body += _leaderboards(t, agg, title)
        body += _samples(agg, files, out)
        body += _plots(files, out)
        body += _markdown_section(_protocol(t, agg) + _left_out(t))
        body += _specs(t, dirs, out)
    head = f'<meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style>'
    return (
        f"<!DOCTYPE html>\n{MARK}\n<html><head>{head}</head><body>\n"
        + "\n".join(body)
        + f"\n<script>{JS}</script>\n</body></html>\n"
    )


def _leaderboards(t: Tables, agg: pd.DataFrame, title: str) -> list[str]:
    metrics = headline_metrics(metric_columns(t.runs))
    out = [] if title == "Leaderboard" else ["<h2>Leaderboard</h2>"]
    out.append(f'<p class="note">{_e(stats_note())}</p>')
    out.append('<p class="note">Click a column heading to sort by it; bold: best.</p>')
    groups = list(agg.groupby("protocol", sort=False))
    for pid, g in groups:
        if len(groups) > 1:
            out.append(f"<h3>Protocol {pid}: {_e(protocol_line(g.iloc[0]))}</h3>")
        shown = [m for m in metrics if g[f"{m}_mean"].notna().any()]
        out.append(_table(g, shown))
    out += [f'<p class="note">{_e(line)}</p>' for line in contention_note(agg) if line]
    return out


def _table(g: pd.DataFrame, metrics: list[str]) -> str:
    """One protocol's leaderboard: report's cells, each with the number it sorts by."""
    header, rows = leaderboard_rows(g, metrics)
    keys = ["#", "variant", "heads", "weighting", "runs"]  # seeds sort by how many
    keys += [f"{m}_mean" for m in metrics] + ["imgs_per_s_mean", "wall_s_mean"]
    th = "".join(f"<th>{_e(h)}</th>" for h in header)
    trs = []
    for (_, r), cells in zip(g.iterrows(), rows):
        tds = [_cell(cell, _sort_value(r, k, cell)) for k, cell in zip(keys, cells)]
        trs.append(f'<tr data-variant="{_e(str(r["variant"]))}">{"".join(tds)}</tr>')
    return (
        f'<table class="sortable leaderboard"><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(trs)}</tbody></table>"
    )


def _sort_value(r: pd.Series, key: str, cell: str) -> str:
    """What a cell sorts by: its unrounded number (the rank for ``#``), else its text."""
    v = cell if key == "#" else r.get(key)
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    return repr(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def _cell(cell: str, sort: str) -> str:
    best = cell.startswith("**") and cell.endswith("**")
    text = cell.strip("*")
    cls = ' class="best"' if best else ""
    return f'<td{cls} data-sort="{_e(sort)}">{_e(text)}</td>'


def _samples(agg: pd.DataFrame, files: Path, out: Path) -> list[str]:
    figs = []
    for variant in dict.fromkeys(agg["variant"].astype(str)):
        path = files / SuiteDir.SAMPLES / f"{variant}.png"
        if path.is_file():
            figs.append(
                f'<figure><img src="{_rel(path, out)}" alt="samples of {_e(variant)}">'
                f"<figcaption>{_e(variant)}</figcaption></figure>"
            )
    if not figs:
        return []
    note = "Each variant's final sample grid (lowest seed; one row per class)."
    return ["<h2>Samples</h2>", f'<p class="note">{note}</p><div class="samples">', *figs, "</div>"]


def _plots(files: Path, out: Path) -> list[str]:
    figs = [
        f'<figure><img src="{_rel(files / name, out)}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
        for name, caption in PLOTS
        if (files / name).is_file()
    ]
    return ['<h2>Plots</h2><div class="plots">', *figs, "</div>"] if figs else []


def _markdown_section(lines: list[str]) -> list[str]:
    """report's markdown lines (headings, bullets, paragraphs) as simple HTML."""
    out, items = [], []
    for line in lines:
        if line.startswith("- ") or line.startswith("  - "):
            items.append(f"<li>{_inline(line.strip()[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line.startswith("## "):
            out.append(f"<h2>{_e(line[3:])}</h2>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    return out + (["<ul>" + "".join(items) + "</ul>"] if items else [])


def _inline(text: str) -> str:
    """Markdown code spans as <code>, everything else escaped."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", _e(text))


def _specs(t: Tables, dirs: list[str], out: Path) -> list[str]:
    by_id = {d.name: d for d in find_run_dirs(dirs)}
    items = []
    for r in t.runs.sort_values(["variant", "seed"]).itertuples():
        folder = by_id.get(str(r.run_id).rsplit("/", 1)[-1])
        if folder is None:
            continue
        spec = RunDir(folder).spec if RunDir(folder).spec.is_file() else folder / RunDir.RUN_SPEC
        mark = CONTENDED if getattr(r, "contended", False) is True else ""
        items.append(
            f'<li><a href="{_rel(spec, out)}">{_e(str(r.run_id))}</a> '
            f"({_e(str(r.status))}){mark}</li>"
        )
    return ["<h2>Runs</h2>", "<p>Each run's resolved spec:</p>", "<ul>", *items, "</ul>"]


def _rel(path: Path, out: Path) -> str:
    """A link from the page to ``path``, relative, URL-quoted."""
    from urllib.parse import quote

    rel = os.path.relpath(Path(path).resolve(), Path(out).resolve().parent)
    return quote(Path(rel).as_posix())


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
