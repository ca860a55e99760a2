"""Errors a user can cause. The CLI prints their message and exits 2, without a traceback."""


class UserError(Exception):
    """A problem the user can fix (bad spec, missing file, unknown plugin, wrong flag)."""

    def lines(self) -> list[str]:
        return [str(self)]


class SpecError(UserError):
    """One or more problems in a spec, each as ``path.to.field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return list(self.problems)


class NonFiniteLoss(Exception):
    """A loss term became NaN or inf; the run stops keeping its last good checkpoint."""


class ContractError(UserError):
    """A plugin broke the contract of ``mtbench.api`` (found at compose time); names the plugin."""
