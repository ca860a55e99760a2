"""One run from a resolved spec: folder, seeding, resume, the loop, and what it leaves behind."""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import time
from pathlib import Path

import pandas as pd
import torch

from mtbench import contention
from mtbench import dist as D
from mtbench.compose import compose
from mtbench.data import to_uint8
from mtbench.dist import Dist
from mtbench.errors import NonFiniteLoss, UserError, first_line
from mtbench.evaluate.final import is_live
from mtbench.io import (
    remove_leftovers,
    temp_files,
    write_json,
    write_parquet,
)
from mtbench.latent import generator_input
from mtbench.layout import LIVE
from mtbench.registry import Registry
from mtbench.rundir import RunDir, default_out, provenance, spec_hash
from mtbench.spec import Resolved, read_json
from mtbench.train.checkpoint import CorruptCheckpoint, load_checkpoint, save_checkpoint
from mtbench.train.loop import RunHooks, Trainer, per_rank_batch
from mtbench.train.samples import fixed_inputs, save_grid
from mtbench.train.state import seed_everything
from mtbench.train.tensorboard import Board, wanted

log = logging.getLogger("mtbench")


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """The device of this process; under torchrun on CUDA, the rank's local GPU."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "train.device: cuda was asked for but no CUDA device is available; "
            "use --device auto or cpu"
        )
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and Dist.from_env().world_size > 1:
        return torch.device("cuda", local_rank)
    return torch.device(choice)


class RunFiles(RunHooks):
    """Writes a run's tables, checkpoints, samples and evaluations as the loop advances."""

    def __init__(
        self,
        r: Resolved,
        rd: RunDir,
        trainer: Trainer,
        evaluator,
        rows: list[dict],
        board: Board | None = None,
    ):
        self.r, self.rd, self.trainer, self.evaluator = r, rd, trainer, evaluator
        self.board = board or Board(None)
        self.main = trainer.dist.is_main()  # only rank 0 writes; every rank runs collectives
        self.rows = rows
        here = _read_rows(rd.evals, trainer.step) if self.main else None
        self.eval_rows: list[dict] = trainer.dist.all_objects(here)[0]  # rank 0's, everywhere
        self.best: float | None = _best_so_far(self.eval_rows, r.spec.eval.best_metric)
        self.saved_step: int | None = trainer.step if rd.last.is_file() else None
        p = trainer.p
        self.inputs = fixed_inputs(
            p.source,
            trainer.G.z_dim,
            p.codes,
            p.conditions,
            r.spec.log.samples_per_class,
            r.spec.seed,
        )

    def on_log(self, row: dict) -> None:
        self.rows.append({"run_id": self.rd.root.name, **row})
        self.board.row(row)

    def after_step(self, trainer: Trainer) -> None:
        """Samples, evaluation and checkpoints when due: decided by the step, so every rank
        takes part in the same collectives; only rank 0 writes."""
        log, step = self.r.spec.log, trainer.step
        sample = step % log.sample_every == 0
        every = self.r.spec.eval.every if self.evaluator is not None else 0
        evaluate = bool(every) and step % every == 0
        checkpoint = step % log.checkpoint_every == 0
        if sample or evaluate or checkpoint:
            self.check_folder(vote=True)
            trainer.check_health()  # nothing non-finite is ever saved or evaluated
        if sample and self.main:
            self.board.grids(
                save_grid(trainer.sampler(), self.inputs, self.rd.sample_path(step)), step
            )
        if evaluate:
            self.evaluate()
        if checkpoint:
            self.checkpoint()

    def check_folder(self, vote: bool = False) -> None:
        """Stop if the run folder (its spec.json) vanished: writing on would recreate a folder
        without its spec that later looks like a finished run. Rank 0 looks; with ``vote``
        every rank learns the answer, so all stop together."""
        gone = self.main and not self.rd.spec.is_file()
        if self.trainer.dist.any(gone) if vote else gone:
            raise UserError(
                f"{self.rd.root}: the run folder (or its {RunDir.SPEC}) was removed while the run "
                f"trained; stopped at step {self.trainer.step} without writing there; run the "
                "spec again to start over"
            )

    def checkpoint(self) -> None:
        """Tables first, then last.pt: a resume cuts table rows past its checkpoint, so a kill
        between the two writes loses nothing. Every rank calls it (the state gathers each
        rank's random stream); rank 0 writes."""
        state = self.trainer.state_dict()
        if self.main:
            self.write_tables()
            save_checkpoint(self.rd.last, state)
        self.saved_step = self.trainer.step

    def write_tables(self) -> None:
        if not self.main:
            return
        self.check_folder()
        write_parquet(self.rd.steps, _table(self.rows))
        if self.eval_rows:
            write_parquet(self.rd.evals, _table(self.eval_rows))

    def evaluate(self) -> list[dict]:
        """Evaluate the EMA generator (and raw one if asked); keeps best.pt by the chosen metric."""
        t = self.trainer
        gens = [("ema" if t.ema else "raw", t.sampler())]
        if self.r.spec.eval.raw and t.ema is not None:
            gens.append(("raw", t.G))
        new = []
        for tag, g in gens:
            generate = make_generate(t, g, t.seed, self.r.spec.eval.batch_size)
            new += self.evaluator.evaluate(generate, t.step, tag)
        for row in new:
            row.update(run_id=self.rd.root.name, checkpoint=LIVE)
        self.eval_rows += new
        self.board.metrics(new, gens[0][0])
        self._maybe_best(new)
        return new

    def _maybe_best(self, rows: list[dict]) -> None:
        from mtbench.evaluate import is_better

        metric = self.r.spec.eval.best_metric
        for row in rows:
            if row["metric"] == metric:  # rows of this evaluation: all live
                if is_better(metric, row["value"], self.best):
                    self.best = row["value"]
                    state = self.trainer.state_dict()
                    if self.main:
                        self.check_folder()
                        save_checkpoint(self.rd.best, state)
                return


def _table(rows: list[dict]) -> pd.DataFrame:
    """Rows as a table; with no rows yet, still a ``step`` column for readers to key on."""
    return pd.DataFrame(rows) if rows else pd.DataFrame({"step": pd.Series([], dtype="int64")})


def make_generate(trainer: Trainer, generator: torch.nn.Module, seed: int, batch_size: int):
    """(labels, conditions) -> every output of ``generator`` as uint8 ({"image": ..., ...}),
    from one forward pass, with its own noise stream (seeded from ``seed``, alike on every
    rank). ``generate.skip(labels, conditions)`` draws a batch's noise without running the
    generator: under torchrun each rank runs only its share of the batches, and the samples
    are those of one process."""
    p = trainer.p
    gen = torch.Generator(trainer.device).manual_seed(seed + 7)

    def noise(labels: torch.Tensor | None, conditions: dict | None = None):
        n = len(labels) if labels is not None else batch_size
        if labels is not None:
            labels = labels.to(trainer.device)
        if conditions is not None:
            conditions = {k: v.to(trainer.device) for k, v in conditions.items()}
        return generator_input(
            n, trainer.G.z_dim, p.codes, p.conditions, p.source, gen, labels, conditions
        )

    @torch.no_grad()
    def generate(labels: torch.Tensor | None, conditions: dict | None = None) -> dict:
        x = noise(labels, conditions)
        was = generator.training
        generator.eval()
        try:
            return {k: to_uint8(v) for k, v in generator(x.z, x.labels).items()}
        finally:
            generator.train(was)

    generate.skip = noise
    return generate


def restore(trainer: Trainer, path: Path, device: torch.device) -> None:
    """Load a checkpoint into the trainer; one clear line if it is unreadable or does not fit."""
    try:
        state = load_checkpoint(path, device)
    except CorruptCheckpoint as exc:
        raise UserError(f"{path}: {exc}") from None
    load_into(trainer, state, path)


def resume_state(rd: RunDir, device: torch.device) -> tuple[dict, Path]:
    """The newest checkpoint of the run that reads and matches its checksum: ``last.pt``, else
    the earlier ``best.pt`` (said on stderr); one clear line when neither does."""
    problems = []
    for path in (rd.last, rd.best):
        if not os.path.lexists(path):  # a FIFO or odd file is tried, and refused, below
            continue
        try:
            state = load_checkpoint(path, device)
        except CorruptCheckpoint as exc:
            problems.append(f"{path}: {exc}")
            continue
        if problems:
            log.warning(f"{problems[0]}; resuming from {path} (step {state['step']}) instead")
        return state, path
    first = problems[0] if problems else f"{rd.last}: no checkpoint"
    raise UserError(
        f"{first}; no earlier checkpoint of this run is kept: pass --out to start a new run"
    )


def load_into(trainer: Trainer, state: dict, path: Path) -> None:
    """Load a checkpoint state into the trainer; one clear line if it does not fit.

    A checkpoint fits only the networks that the same spec builds under the mtbench and plugin
    versions that wrote it (``spec.json`` ``meta`` records them).
    """
    try:
        trainer.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise UserError(
            f"{path}: does not fit the networks this spec builds ({first_line(exc)}); it was "
            "written by other mtbench or plugin versions (see meta in spec.json): install "
            "those to resume, or start a new run with --out"
        ) from None


def _read_rows(path: Path, upto: int | None) -> list[dict]:
    """Rows of a table up to a step (the rest belong to steps a resume will redo); all rows
    when ``upto`` is None."""
    if not path.exists():
        return []
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # truncated or not parquet: pyarrow raises its own kinds
        raise UserError(
            f"{path}: not a readable table ({first_line(exc)}); move it aside to resume "
            "without its rows"
        ) from None
    if "step" not in df.columns:  # written before the first logged step: no rows yet
        return []
    return (df if upto is None else df[df["step"] <= upto]).to_dict("records")


def _best_so_far(rows: list[dict], metric: str | None) -> float | None:
    if not rows or metric is None:
        return None
    from mtbench.evaluate import is_better

    best = None
    for row in rows:
        if row["metric"] == metric and is_live(row) and is_better(metric, row["value"], best):
            best = row["value"]
    return best


def prepare_dir(r: Resolved, rd: RunDir, resume: bool, spec_json: dict) -> dict | None:
    """Refuse to overwrite a run, and refuse to resume one made from a different spec; on
    resume, the run's spec.json as written before."""
    if resume:
        if not rd.last.exists():
            raise UserError(f"--resume: no checkpoint at {rd.last}; run without --resume to start")
        old = _old_spec(rd)
        if spec_hash(old) != spec_hash(spec_json):
            raise UserError(
                f"--resume: the spec differs from the one in {rd.spec} (beyond "
                "train.steps); pass --out to start a new run instead"
            )
        return old
    if rd.last.exists() or rd.summary.exists():
        raise UserError(
            f"{rd.root}: already holds a run; pass --resume to continue it or "
            "--out to write elsewhere"
        )
    _refuse_foreign(rd, spec_json)
    return None


def _refuse_foreign(rd: RunDir, spec_json: dict) -> None:
    """A new run writes only into a missing or empty folder, one a bench prepared, or one an
    earlier start of this same spec left before its first checkpoint."""
    if rd.root.exists() and not rd.root.is_dir():
        raise UserError(f"{rd.root}: is a file, not a run folder; pass --out with a new folder")
    if not rd.root.exists():
        return
    names = {p.name for p in rd.root.iterdir()} - {p.name for p in temp_files(rd.root)}
    foreign = sorted(names - set(RunDir.WRITTEN) - set(RunDir.BENCH_FILES))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UserError(
            f"{rd.root}: is not empty and not an mtbench run (it holds {shown}); nothing was "
            "written: pass --out with a new or empty folder"
        )
    ours = rd.file(RunDir.BENCH).is_file() or not (names & set(RunDir.WRITTEN))
    if not ours and not _same_spec(rd, spec_json):
        raise UserError(
            f"{rd.root}: holds files of a run of another spec ({rd.spec.name} differs or is "
            "missing); nothing was written: pass --out with a new or empty folder"
        )


def _same_spec(rd: RunDir, spec_json: dict) -> bool:
    try:
        return spec_hash(json.loads(rd.spec.read_text())) == spec_hash(spec_json)
    except (OSError, ValueError, AttributeError):
        return False


def _old_spec(rd: RunDir) -> dict:
    from mtbench import spec as S

    try:
        return S.read_json(rd.spec, "run spec")
    except UserError as exc:
        raise UserError(
            f"--resume: {exc}; resuming needs the run's spec.json: restore it, or start a new "
            "run with --out"
        ) from None


def run(
    r: Resolved,
    registry: Registry,
    out: str | Path | None = None,
    resume: bool = False,
) -> dict:
    """Train a run to completion (or Ctrl-C, or a non-finite loss); returns its summary.

    Under torchrun (``RANK``/``WORLD_SIZE`` set) every rank calls this: it joins the
    process group, trains its share of each global batch and leaves the group at the end.
    """
    dist = D.Dist.from_env()
    device = resolve_device(r.spec.train.device, dist.local_rank)
    check_device(r, device)
    per_rank_batch(r.spec.train, dist)
    dist = D.start(device.type)
    try:
        return _run(r, registry, out, resume, device, dist)
    finally:
        D.stop()


def check_device(r: Resolved, device: torch.device) -> None:
    """Settings the device cannot honour, each one line naming its field."""
    if r.spec.train.precision == "fp16" and device.type != "cuda":
        raise UserError("train.precision: fp16 needs CUDA; use bf16 or fp32 on the CPU")
    if r.spec.train.sync_batchnorm and device.type != "cuda":
        raise UserError(
            "train.sync_batchnorm: SyncBatchNorm runs only on CUDA (torch has no CPU kernel "
            "for it); set it to false on the CPU"
        )
    if r.spec.train.compile and device.type != "cuda":
        raise UserError(
            "train.compile: on the CPU torch.compile made the step slower (0.94x for "
            "mt_cgan_mnist, after 44 s of compiling; README, Many devices); it is for CUDA: "
            "set it to false on the CPU"
        )


def channels_last(module: torch.nn.Module) -> None:
    """Every 4-d weight (convolutions) in channels-last layout, which cuDNN's fast kernels
    take; stacked ensemble weights (5-d) and the rest stay as they are."""
    with torch.no_grad():
        for q in module.parameters():
            if q.ndim == 4:
                q.data = q.data.contiguous(memory_format=torch.channels_last)


def sync_batchnorm(parts) -> None:
    """Batch norm over the global batch: every BatchNorm of G and D becomes a SyncBatchNorm
    (plain batch norm again on one process)."""
    convert = torch.nn.SyncBatchNorm.convert_sync_batchnorm
    parts.generator = convert(parts.generator)
    parts.discriminator = convert(parts.discriminator)


def _run(r, registry, out, resume: bool, device: torch.device, dist: Dist) -> dict:
    rd = RunDir(Path(out) if out else default_out(r))
    tensorboard = wanted(r.spec.log.tensorboard)
    spec_json = r.to_json()
    spec_json["out"] = str(rd.root)
    old = _prepare_on_main(r, rd, resume, spec_json, dist)
    t0 = time.perf_counter()
    if r.spec.train.threads:
        torch.set_num_threads(r.spec.train.threads)
    seed_everything(r.spec.seed)  # alike on every rank: initial weights and plugin draws
    parts = compose(r, registry, device, dist)
    if r.spec.train.sync_batchnorm:
        sync_batchnorm(parts)
    if r.spec.train.channels_last:
        channels_last(parts.generator)
        channels_last(parts.discriminator)
    trainer = Trainer.from_spec(r, parts, device, dist)
    if r.spec.train.compile:  # after the EMA copy: samples and evaluation run eagerly
        trainer.G.compile()
        trainer.D.trunk.compile()
    evaluator = _evaluator(r, parts, device, dist)
    if resume:
        load_into(trainer, *resume_state(rd, device))
        parts.source.seek(trainer.step * r.spec.train.d_steps)
    spec_json["meta"] = provenance(r, device, parts.splits.provenance)
    spec_json["meta"]["data_source"] = parts.source.describe()
    spec_json["meta"]["world_size"] = dist.world_size
    spec_json["meta"]["spec_hash"] = spec_hash(spec_json)
    meta = (old or {}).get("meta")
    sessions = list(meta.get("contention") or []) if isinstance(meta, dict) else []
    spec_json["meta"]["contention"] = sessions + [contention.session_start(torch.get_num_threads())]
    rows = _read_rows(rd.steps, trainer.step) if dist.is_main() else []
    files = board = None
    try:
        if dist.is_main():
            rd.root.mkdir(parents=True, exist_ok=True)
            write_json(rd.spec, spec_json)
        board = Board(rd.tb if tensorboard and dist.is_main() else None, trainer.step)
        board.spec(spec_json, trainer.step)
        files = RunFiles(r, rd, trainer, evaluator, rows, board)
        return _train(r, rd, trainer, files, t0, spec_json)
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        saved = files.saved_step if files else (trainer.step if rd.last.is_file() else None)
        raise UserError(_write_failed(exc, rd, saved)) from None
    finally:
        if board is not None:
            board.close()


def _prepare_on_main(r, rd: RunDir, resume: bool, spec_json: dict, dist: Dist) -> dict | None:
    """Rank 0 checks and tidies the run folder; every rank learns whether that failed, so a
    refusal stops the whole job with rank 0's one line (the others exit quietly)."""
    old, problem = None, None
    if dist.is_main():
        try:
            old = prepare_dir(r, rd, resume, spec_json)
            check_world_size(old, dist)
            for folder in rd.write_dirs():  # what a kill during an atomic write left behind
                remove_leftovers(folder)
        except UserError as exc:
            problem = exc
    said = dist.all_objects(None if problem is None else str(problem))[0]
    if problem is not None:
        raise problem
    if said is not None:
        raise UserError(said)
    return old


def check_world_size(old: dict | None, dist: Dist) -> None:
    """Refuse to resume on another number of ranks: each rank's random stream is checkpointed,
    so an exact resume needs the world size the run was trained on."""
    meta = (old or {}).get("meta")
    was = meta.get("world_size", 1) if isinstance(meta, dict) else None
    if old is not None and was is not None and was != dist.world_size:
        raise UserError(
            f"--resume: the run was trained on {was} rank(s) (meta.world_size in spec.json) "
            f"and this job has {dist.world_size}; resume it with torchrun "
            f"--nproc_per_node={was} (or without torchrun for 1), or pass --out to start anew"
        )


WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def _write_failed(exc: OSError, rd: RunDir, saved: int | None) -> str:
    """One line for a write the disk refused: what failed, what was kept, how to go on."""
    where = exc.filename or rd.root
    kept = (
        f"checkpoints/last.pt (step {saved}) was kept: free space or make the folder "
        "writable, then continue exactly from it with --resume"
        if saved is not None
        else "no checkpoint had been written yet: free space or make the folder writable, "
        "then run again"
    )
    return f"{where}: {exc.strerror or exc}; the run stopped; {kept}"


def _train(r: Resolved, rd: RunDir, trainer: Trainer, files: RunFiles, t0, spec_json: dict) -> dict:
    """The loop, then the last checkpoint and summary; a non-finite state ends it diverged."""
    status, error, bad = "done", None, []
    log = r.spec.log
    try:
        status = trainer.fit(files, log.every, log.progress, r.spec.name)
        _finish(files, trainer, status)
    except NonFiniteLoss as exc:
        status, error, bad = "diverged", f"{exc}; {_kept(files)}", exc.names
        files.write_tables()
    summary = _summary(r, rd, trainer, files, status, error, time.perf_counter() - t0)
    summary["non_finite"] = bad
    if files.main:
        files.check_folder()
        spec_json["meta"]["contention"][-1] = contention.session_end(
            spec_json["meta"]["contention"][-1]
        )
        write_json(rd.spec, spec_json)
        write_json(rd.summary, summary)
    return summary


def _evaluator(r: Resolved, parts, device, dist: Dist = D.SINGLE):
    if not r.spec.eval.metrics:
        return None
    from mtbench.evaluate import Evaluator

    ev = Evaluator(
        r.spec.eval,
        parts.splits,
        parts.info,
        device,
        r.spec.seed,
        list(parts.conditions),
        outputs=parts.generator.outputs(),
        dataset=r.dataset.cls(r.dataset.cfg),
        dist=dist,
    )
    if dist.is_main():  # the other ranks only generate their share of the samples
        ev.prepare()
    return ev


def _kept(files: RunFiles) -> str:
    """What a diverged run leaves to go back to, as the end of its message."""
    best = "; checkpoints/best.pt holds the best evaluated state" if files.rd.best.is_file() else ""
    if files.saved_step is None:
        every = files.r.spec.log.checkpoint_every
        kept = f"no checkpoint was written (the first was due at step {every}){best}"
    else:
        kept = f"checkpoints/last.pt kept the last finite state (step {files.saved_step}){best}"
    advice = "try a lower learning rate, gradient clipping or another loss family"
    return f"the run stopped; {kept}; {advice}"


def _finish(files: RunFiles, trainer: Trainer, status: str) -> None:
    step = trainer.step
    trainer.check_health()
    if status == "done" and files.evaluator is not None:
        if not _training_metrics(files, step):  # a finished run resumed evaluates no more
            _final_evaluation(files)
    if files.main:
        grids = save_grid(trainer.sampler(), files.inputs, files.rd.sample_path(step))
        files.board.grids(grids, step)
    files.checkpoint()


def _final_evaluation(files: RunFiles) -> None:
    """The end-of-training evaluation; if it fails, the trained state is saved first and the
    message says how to evaluate it again, so no training is lost."""
    try:
        files.evaluate()
    except (UserError, ValueError, RuntimeError, OSError) as exc:
        files.checkpoint()
        raise UserError(
            f"the final evaluation failed ({first_line(exc)}); the trained model is kept in "
            f"{files.rd.last} (step {files.trainer.step}); evaluate it with: "
            f"mtbench eval {files.rd.root}"
        ) from None


def _summary(r, rd, trainer, files, status, error, wall_s) -> dict:
    rows = files.rows
    last = rows[-1] if rows else {}
    rates = [row["imgs_per_s"] for row in rows[1:] or rows]
    return {
        "run_id": rd.root.name,
        "name": r.spec.name,
        "seed": r.spec.seed,
        "status": status,
        "error": error,
        "steps": trainer.step,
        "steps_planned": r.spec.train.steps,
        "wall_s": trainer.wall_before + wall_s,  # all sessions of the run
        "wall_s_session": wall_s,
        "train_s": getattr(trainer, "train_seconds", 0.0),
        "fit_started_at": getattr(trainer, "fit_started_at", None),  # epoch s, this session
        "imgs_per_s": float(pd.Series(rates).median()) if rates else None,
        "device": str(trainer.device),
        "final_losses": {k: v for k, v in last.items() if k.startswith("loss/")},
        "metrics": _training_metrics(files, trainer.step),
    }


def _training_metrics(files: RunFiles, step: int) -> dict:
    """What training's own evaluation at ``step`` measured (never ``mtbench eval``'s rows)."""
    from mtbench.evaluate import final

    rows = final.final_rows(pd.DataFrame(files.eval_rows), step, None, training_only=True)
    return {m: float(v) for m, v in zip(rows["metric"], rows["value"])}


def evaluate_run(
    run_dir: str | Path,
    registry: Registry,
    checkpoint: str = "last",
    metrics: list[str] | None = None,
    n: int | None = None,
) -> tuple[list[dict], float]:
    """Evaluate a finished run's checkpoint and append the rows to its evals.parquet.

    Returns the new rows and the domain evaluator's own held-out accuracy (NaN without one).
    Under torchrun each rank generates its share of the samples and rank 0 writes the rows.
    """
    dist = D.Dist.from_env()
    rd = RunDir(Path(run_dir))
    if not rd.spec.exists():
        raise UserError(f"{rd.root}: not a run folder (no spec.json)")
    ckpt = rd.last if checkpoint == "last" else rd.best
    if not ckpt.exists():
        raise UserError(_missing_checkpoint(rd, checkpoint))
    r = _resolve_for_eval(rd, registry, metrics, n)
    device = resolve_device(r.spec.train.device, dist.local_rank)
    dist = D.start(device.type)
    try:
        return _evaluate_run(r, rd, registry, ckpt, checkpoint, device, dist)
    finally:
        D.stop()


def _evaluate_run(r, rd: RunDir, registry, ckpt: Path, checkpoint: str, device, dist: Dist):
    seed_everything(r.spec.seed)
    parts = compose(r, registry, device, dist)
    train = r.spec.train.model_copy(update={"batch_size": dist.world_size})  # no step is taken
    trainer = Trainer(parts, train, r.spec.seed, device, dist)
    restore(trainer, ckpt, device)
    evaluator = _evaluator(r, parts, device, dist)
    tag = "raw" if trainer.ema is None else "ema"
    generate = make_generate(trainer, trainer.sampler(), r.spec.seed, r.spec.eval.batch_size)
    rows = evaluator.evaluate(generate, trainer.step, tag)
    if not dist.is_main():
        return rows, math.nan
    for row in rows:
        row.update(run_id=rd.root.name, checkpoint=checkpoint)
    old = _read_rows(rd.evals, None) if rd.evals.exists() else []  # eval only adds rows
    write_parquet(rd.evals, pd.DataFrame(old + rows))
    return rows, evaluator.evaluator_accuracy()


def _missing_checkpoint(rd: RunDir, checkpoint: str) -> str:
    """Why a checkpoint file is absent, and what to do instead."""
    if checkpoint == "last":
        return f"{rd.last}: no such checkpoint; the run has not reached its first checkpoint"
    best = (read_json(rd.spec).get("eval") or {}).get("best_metric")
    if best is None:
        return (
            f"{rd.best}: the run had no eval metric to pick a best checkpoint by "
            "(eval.best_metric is null); use --checkpoint last"
        )
    return (
        f"{rd.best}: the run stopped before its first evaluation of {best}; use --checkpoint last"
    )


def _resolve_for_eval(rd: RunDir, registry: Registry, metrics, n) -> Resolved:
    from mtbench import spec as S

    data = S.read_json(rd.spec)
    data.pop("meta", None)
    data["eval"] = dict(data.get("eval") or {})
    if metrics:
        data["eval"]["metrics"] = metrics
        data["eval"].pop("best_metric", None)
    if n is not None:
        data["eval"]["n_samples"] = n
    r = S.resolve(data, registry)
    if not r.spec.eval.metrics:
        raise UserError("--metrics: the run's spec names no eval metrics; pass --metrics fid ...")
    return r
