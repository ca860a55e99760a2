"""TensorBoard events of a run: steps-table scalars, evaluation metrics, sample grids, the spec.

Fed from where the run already produces them (a steps-table row, an evaluation's rows, a
sample grid), so the loop itself knows nothing of TensorBoard and unlogged steps cost nothing.
Only the main process writes. ``log.tensorboard`` null means "on when installed".
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

from torch import Tensor

from mtbench.errors import UserError

INSTALL = "pip install 'mtbench[tensorboard]'"
SKIPPED = ("step", "run_id")  # steps-table columns that are keys, not scalars


def installed() -> bool:
    """Whether the tensorboard package can be imported (without importing it)."""
    return importlib.util.find_spec("tensorboard") is not None


def wanted(setting: bool | None) -> bool:
    """Whether this run writes TensorBoard events; one clear line if asked for but missing.

    Imports the writer now (a second or so), before the run folder is written, so that it
    is not paid between spec.json and the first step, where Ctrl-C is already handled.
    """
    if setting is None:
        setting = installed()
    elif setting and not installed():
        raise UserError(f"log.tensorboard: true but tensorboard is not installed; {INSTALL}")
    if setting:
        import torch.utils.tensorboard  # noqa: F401
    return setting


class Board:
    """What a run writes into ``<run>/tb/``; every method is a no-op when disabled."""

    def __init__(self, folder: Path | None, step: int = 0) -> None:
        """Events past ``step`` (a resumed run's checkpoint) are dropped: they are redone."""
        self.writer, self.grid_step, self.folder = None, None, folder
        if folder is not None:
            from torch.utils.tensorboard import SummaryWriter

            _quiet_writer_threads()
            self.writer = SummaryWriter(str(folder), purge_step=step + 1 if step else None)

    def _add(self, method: str, *args, **kwargs) -> None:
        """One writer call; a writer whose folder was removed is dropped (the run says so in
        its own line), any other failure (disk full) goes up to the run's one-line report."""
        if self.writer is None:
            return
        try:
            getattr(self.writer, method)(*args, **kwargs)
        except OSError:
            if self.folder.is_dir():
                raise
            self.writer = None

    def spec(self, spec_json: dict, step: int = 0) -> None:
        """The resolved spec as text (a JSON code block TensorBoard renders as markdown)."""
        text = json.dumps(spec_json, indent=2)
        self._add("add_text", "spec", f"```json\n{text}\n```", step)

    def row(self, row: dict) -> None:
        """Every numeric column of one steps-table row as a scalar at its step."""
        step = int(row["step"])
        for key, value in row.items():
            if key not in SKIPPED and isinstance(value, (int, float)):
                self._add("add_scalar", key, value, step)

    def metrics(self, rows: list[dict], primary: str) -> None:
        """Evaluation rows as ``eval/<metric>`` (the sampling generator) or ``eval_raw/...``."""
        for r in rows:
            group = "eval" if r.get("generator", primary) == primary else f"eval_{r['generator']}"
            self._add("add_scalar", f"{group}/{r['metric']}", float(r["value"]), int(r["step"]))

    def grids(self, grids: dict[str, Tensor], step: int) -> None:
        """One image per generator output (``samples/image``, ``samples/<output>``), once a
        step (the final grid may repeat the last interval's)."""
        if self.writer is None or step == self.grid_step:
            return
        self.grid_step = step
        for name, grid in grids.items():
            self._add("add_image", f"samples/{name}", grid, step, dataformats="CHW")

    def close(self) -> None:
        """Flush and close; events whose folder is gone (removed mid-run) are dropped, since
        the run's own message already says so."""
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass


def _quiet_writer_threads() -> None:
    """Silence the traceback of tensorboard's writer thread on an OSError: the writer raises the
    same error in the main thread at its next call, where the run reports it in one line.
    Other threads' and other errors' reports are left as they are."""
    try:
        from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread
    except ImportError:  # another tensorboard layout: keep its default reports
        return
    previous = threading.excepthook
    if getattr(previous, "mtbench_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.thread, _AsyncWriterThread) and issubclass(args.exc_type, OSError):
            return
        previous(args)

    hook.mtbench_quiet = True
    threading.excepthook = hook
