"""README: the Quick start has two commands, CI runs the second verbatim, and its facts hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import REPO


def quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_has_two_commands_run_then_test():
    run, test = quick_start_commands()
    assert run.endswith("mtbench run examples/quickstart.json")
    assert test.endswith("pytest")
    assert (REPO / "examples" / "quickstart.json").exists()


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in ci


# ----------------------------------------------------------------------------- facts


def _readme() -> str:
    return (REPO / "README.md").read_text()


def _section(title: str) -> str:
    return _readme().split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix, obj


def test_the_commented_quickstart_is_the_shipped_one():
    import json

    text = _section("The spec")
    block = re.search(r"```jsonc\n(.*?)```", text, re.S).group(1)
    shown = json.loads(re.sub(r"//[^\n]*", "", block))
    shipped = json.loads((REPO / "examples" / "quickstart.json").read_text())
    shown_leaves = dict(_leaves(shown))
    differ = [k for k, v in _leaves(shipped) if shown_leaves.get(k) != v]
    assert not differ


def test_every_metric_key_is_named_in_the_evaluation_section():
    from mtbench.evaluate import catalogue

    text = _section("Evaluation")
    for name in catalogue.names():
        assert f"`{name}`" in text, name


def test_inception_weights_file_and_its_download_address_are_torch_fidelitys():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from mtbench.evaluate.spec import INCEPTION_FILE

    text = _section("Evaluation")
    assert f"`{INCEPTION_FILE}`" in text and URL_INCEPTION_V3 in text
    assert URL_INCEPTION_V3.endswith(INCEPTION_FILE)
    assert "hub/checkpoints" in text


def test_domain_fid_is_not_inception_fid_and_kid_scale_is_given():
    text = _section("Evaluation")
    assert "Domain FID and\nKID are not Inception FID and KID" in text
    assert "raw value" in text


def test_profile_is_a_flag_of_bench_ensemble_not_of_mtbench_run():
    import bench_ensemble  # benchmarks/ is on pytest's pythonpath

    from mtbench.cli import build_parser

    text = _readme()
    for m in re.finditer(r"--profile", text):
        assert "bench_ensemble.py" in text[max(0, m.start() - 60) : m.start()]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "x.json", "--profile"])
    assert "--profile" in Path(bench_ensemble.__file__).read_text()


def test_the_suite_format_is_linked_and_exists():
    link = re.search(r"\]\((benchmarks/README\.md)#suites\)", _readme())
    assert link and "\n## Suites\n" in (REPO / link.group(1)).read_text()


def test_every_shipped_example_has_an_expected_run_time():
    text = _section("Plugins")
    for path in sorted((REPO / "examples").glob("*.json")):
        row = re.search(rf"^\| `{path.stem}` \| ([^|]+) \|", text, re.M)
        assert row and re.search(r"\d", row.group(1)), path.stem


def test_validate_says_what_it_cannot_check_without_the_data():
    text = _section("Commands")
    assert "What it cannot check without the data" in text
    for field in ("eval.real_split", "eval.kid_subset_size", "intra_fid"):
        assert field in text
