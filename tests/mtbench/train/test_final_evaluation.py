"""A failing end-of-training evaluation keeps the trained checkpoint and names the command
that evaluates it again."""

from __future__ import annotations

from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.evaluate.evaluator import Evaluator
from mtbench.layout import RunDir
from mtbench.train.checkpoint import load_checkpoint


def test_failing_final_evaluation_keeps_the_checkpoint_and_prints_mtbench_eval(
    tmp_path, monkeypatch, capsys
):
    rd = RunDir(tmp_path / "run")
    ev = {"metrics": ["fid"], "n_samples": 40, "cache_dir": str(tmp_path / "cache")}
    spec = tiny_spec(out=str(rd.root), eval=ev | {"domain": {"epochs": 1}})
    spec["log"]["checkpoint_every"] = 100  # no checkpoint before the end
    evaluate = Evaluator.evaluate

    def failing(self, *a, **kw):
        raise ValueError("density/coverage needs more than k=5 generated samples, got 3")

    monkeypatch.setattr(Evaluator, "evaluate", failing)
    assert main(["run", str(write_spec(tmp_path / "s.json", spec))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "the final evaluation failed (ValueError: density/coverage"
    )
    assert err[0].endswith(f"evaluate it with: mtbench eval {rd.root}")
    assert load_checkpoint(rd.last)["step"] == 6
    monkeypatch.setattr(Evaluator, "evaluate", evaluate)
    assert main(["eval", str(rd.root)]) == 0  # the command it printed works
