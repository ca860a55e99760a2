"""``mtbench compare`` of two suite folders: difference of means, Welch interval and p."""

from __future__ import annotations

from fake_runs import fake_run
from scipy import stats as sp

from mtbench.cli import main

A_FID, B_FID = [10.0, 11.0, 10.5, 9.5], [12.0, 13.5, 12.5, 13.0]


def _suite(root, fids, protocol=None):
    for seed, v in enumerate(fids):
        fake_run(root / f"v-s{seed}", "v", seed, {"fid": v, "precision": 0.5}, protocol=protocol)
    return root


def test_suite_folders_print_difference_interval_and_p(tmp_path, capsys):
    a, b = _suite(tmp_path / "a", A_FID), _suite(tmp_path / "b", B_FID)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    ref = sp.ttest_ind(B_FID, A_FID, equal_var=False)
    ci = ref.confidence_interval(0.95)
    line = next(ln for ln in out.splitlines() if ln.startswith("| fid |"))
    diff = sum(B_FID) / 4 - sum(A_FID) / 4
    assert f"| {diff:.4g} | [{ci.low:.4g}, {ci.high:.4g}] | {ref.pvalue:.4g} |" in line
    assert "(n=4)" in line and "Welch's t-test" in out
    prec = next(ln for ln in out.splitlines() if ln.startswith("| precision |"))
    assert "| 0 |" in prec  # identical values: no difference


def test_different_protocols_get_no_test(tmp_path, capsys):
    a = _suite(tmp_path / "a", A_FID)
    b = _suite(tmp_path / "b", B_FID, protocol={"n_fake": 5})
    assert main(["compare", str(a), str(b)]) == 0
    assert "different evaluation protocols; no test is given" in capsys.readouterr().out


def test_a_folder_without_done_runs_is_one_line(tmp_path, capsys):
    a = _suite(tmp_path / "a", A_FID)
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(a), str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.strip().endswith("no done runs to compare")
