"""``mtbench report --html``: one self-contained page, checked structurally with Python's HTML
parser (one row per variant, best marked, every image file there, no external URL), and, when
Debian's chromium is installed, in a real headless browser (sorting by a click)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fake_runs import fake_suite
from PIL import Image

from mtbench.cli import main


class Page(HTMLParser):
    """Tags and attributes of a page, leaderboard rows with their cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[list[str]] = []
        self.best: list[str] = []
        self._cell: list[str] | None = None
        self._in_board = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table" and "leaderboard" in a.get("class", ""):
            self._in_board = True
        elif tag == "tr" and self._in_board and "data-variant" in a:
            self.rows.append([])
        elif tag == "td" and self._in_board:
            self._cell = []
            if a.get("class") == "best":
                self.best.append(self.rows[-1][1] if len(self.rows[-1]) > 1 else "?")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_board = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def suite(tmp_path) -> Path:
    out = fake_suite(tmp_path / "suite")
    for run in out.iterdir():
        (run / "samples").mkdir(exist_ok=True)
        Image.new("RGB", (20, 20), (200, 30, 30)).save(run / "samples" / "step_000040.png")
    return out


def _report(suite: Path, page: Path, *flags: str) -> Page:
    assert main(["report", str(suite), "--html", str(page), *flags]) == 0
    parsed = Page()
    parsed.feed(page.read_text())
    return parsed


def test_page_has_one_row_per_variant_every_image_and_no_network(suite, tmp_path):
    page = tmp_path / "site" / "report.html"
    parsed = _report(suite, page)
    assert [r[1] for r in parsed.rows] == ["proj", "ac", "unc"]  # by fid, best first
    fid = [r[5] for r in parsed.rows]
    assert fid[0].startswith("8.625 ±") and "1 seed: no interval" in fid[2]
    assert "proj" in parsed.best
    imgs = [a["src"] for t, a in parsed.tags if t == "img"]
    assert {"report_files/samples/ac.png", "report_files/metrics_vs_step.png"} <= set(imgs)
    assert "report_files/step_time.png" in imgs
    for src in imgs:
        assert (page.parent / src).is_file(), src
    links = [a["href"] for t, a in parsed.tags if t == "a"]
    assert len(links) == 8 and all((page.parent / h).is_file() for h in links)
    text = page.read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", text) and "http://" not in text
    assert not [t for t, a in parsed.tags if t in ("link",) or (t == "script" and "src" in a)]
    assert "Protocol" in text and "domain features" in text


def test_html_refuses_to_replace_a_page_it_did_not_write(suite, tmp_path, capsys):
    page = tmp_path / "mine.html"
    page.write_text("<p>my notes</p>")
    assert main(["report", str(suite), "--html", str(page)]) == 2
    assert "--html" in capsys.readouterr().err and page.read_text() == "<p>my notes</p>"
    again = tmp_path / "ours.html"
    _report(suite, again)
    _report(suite, again)  # its own page is rewritten


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)"
)  # fmt: skip
def test_in_headless_chromium_sorting_by_fid_reorders_rows(suite, tmp_path):
    page = tmp_path / "report.html"
    _report(suite, page)
    # a click on the fid heading (twice: descending) and the rows' order, as the DOM says
    probe = page.read_text().replace(
        "</body>",
        "<script>addEventListener('load',()=>{"
        "const th=[...document.querySelectorAll('th')].find(h=>h.textContent"
        ".startsWith('fid'));th.click();th.click();"
        "document.title='ORDER:'+[...document.querySelectorAll('tr[data-variant]')]"
        ".map(r=>r.dataset.variant).join(',')+';IMAGES:'+[...document.images]"
        ".every(i=>i.complete&&i.naturalWidth>0);});</script></body>",
    )
    probed = tmp_path / "probe.html"
    probed.write_text(probe)
    dom, log = _chromium("--dump-dom", probed.as_uri())
    assert "ORDER:unc,ac,proj;IMAGES:true" in dom  # highest fid first after two clicks
    assert ":CONSOLE" not in log and "Uncaught" not in log  # no console errors (nor logs)
    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())  # renders
    assert Image.open(shot).size == (1200, 900)


def _chromium(*args: str) -> tuple[str, str]:
    """stdout (the DOM for --dump-dom) and the browser's log, where console messages go."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr"]
    done = subprocess.run([*cmd, "--v=0", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr
