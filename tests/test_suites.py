"""Shipped suites resolve as shipped (``mtbench bench --dry-run``); none is run here (the
lead runs suites alone). The single-source suite scores every output of every variant
(but its image-only control's)."""

from __future__ import annotations

from helpers import REPO

from mtbench.api import GeneratorContext
from mtbench.bench import load_suite
from mtbench.cli import main
from mtbench.evaluate.outputs import select
from mtbench.spec import resolve

SINGLE_SOURCE = REPO / "benchmarks" / "suites" / "mnist_single_source.json"


def test_single_source_suite_dry_runs_every_weighting_and_seed(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["bench", str(SINGLE_SOURCE), "--dry-run", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = {line.split()[-1].rsplit("/", 1)[-1] for line in lines}
    variants = ("image_only", "fixed", "uncertainty", "dwa", "gradnorm", "mtcgan_fixed")
    for variant in (*variants, "no_task_terms"):
        assert {f"{variant}-s{s}" for s in (0, 1, 2)} <= names
    assert all(line.startswith("start") for line in lines) and len(lines) == 21


def test_single_source_suite_scores_every_output_of_each_run(registry, monkeypatch):
    monkeypatch.chdir(REPO)
    suite = load_suite(SINGLE_SOURCE, registry)
    weightings = set()
    for run in suite.runs:
        r = resolve(run.spec, registry)
        g = r.generator.cls(r.generator.cfg, GeneratorContext(r.data_info))
        scored, problems = select(r.spec.eval.outputs, r.data_info, g.outputs())
        if run.variant == "image_only":  # the control: the image alone, nothing to compare
            assert (scored, problems, list(g.outputs())) == ([], [], ["image"])
            assert "consistency" not in r.spec.eval.metrics
            continue
        assert (scored, problems) == (["image_2x", "edges"], [])
        assert "consistency" in r.spec.eval.metrics
        weightings.add(r.spec.weighting.type)
    assert weightings == {"fixed", "uncertainty", "dwa", "gradnorm"}
