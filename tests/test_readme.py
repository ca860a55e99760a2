"""README's Quick start has exactly two commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re

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
