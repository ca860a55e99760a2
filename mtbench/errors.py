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
    """A loss term or the training state became NaN or inf; the run stops as diverged.

    ``names`` are what went non-finite (``loss/d/x``, ``G.net.1.running_var``), ``step`` the
    step it was found at. The run adds which checkpoint it kept.
    """

    def __init__(self, message: str, names: list[str] | None = None, step: int = 0) -> None:
        super().__init__(message)
        self.names = list(names or [])
        self.step = step


class ContractError(UserError):
    """A plugin broke the contract of ``mtbench.api`` (found at compose time); names the plugin."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line, ``Type: first line``, for a one-line message;
    ``sys.exit(n)`` reads as what it was."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: the module called sys.exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:limit]
