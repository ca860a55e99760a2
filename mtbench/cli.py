"""The ``mtbench`` command: parses argv, calls the library, prints. Computes nothing itself."""

from __future__ import annotations

import argparse
import json
import os
import sys

from mtbench.allocator import keep_freed_memory
from mtbench.errors import UserError
from mtbench.kinds import KINDS

EXIT_USER = 2
EXIT_INTERRUPTED = 130
SET_HELP = "override a spec field, e.g. train.steps=100 (repeatable)"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a command whose reader closed the pipe reports


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit 2
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USER)


def build_parser() -> Parser:
    from mtbench import __version__

    p = Parser(prog="mtbench", description="Multi-task conditional GAN registry and benchmarks")
    p.add_argument("--version", action="version", version=f"mtbench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    r = sub.add_parser("run", help="train a run from a JSON spec")
    r.add_argument("spec", help="the run spec (JSON file)")
    r.add_argument("--out", help="run folder (default: spec.out or runs/<name>-s<seed>)")
    r.add_argument("--steps", type=int, help="override train.steps")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec field, e.g. discriminator.heads[1].weight=0.5",
    )
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override train.device")
    r.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    v = sub.add_parser("validate", help="validate a spec and print it resolved")
    v.add_argument("spec", help="the run spec (JSON file)")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    ls = sub.add_parser("list", help="installed plugins")
    ls.add_argument(
        "kind",
        nargs="?",
        choices=list(KINDS),
        help="only plugins of this kind",
    )
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_parser("schema", help="JSON Schema of run specs, with every plugin's Config")
    e = sub.add_parser("eval", help="evaluate a finished run's checkpoint")
    e.add_argument("run_dir", help="the run folder")
    e.add_argument(
        "--checkpoint", choices=["last", "best"], default="last", help="which checkpoint file"
    )
    e.add_argument("--metrics", nargs="+", help="default: the run spec's eval.metrics")
    e.add_argument(
        "--n",
        "--n-samples",  # under torchrun, whose own flags take "--n" as an abbreviation
        dest="n",
        type=int,
        help="generated samples (eval.n_samples)",
    )
    b = sub.add_parser("bench", help="run a suite: every variant x seed, resumable")
    b.add_argument("suite", help="the suite spec (JSON file)")
    b.add_argument("--out", help="results folder (default: runs/<suite name>)")
    b.add_argument("--jobs", type=_positive, default=1, help="runs at a time, one process each")
    b.add_argument("--only", nargs="+", metavar="VARIANT", help="run these variants only")
    b.add_argument("--dry-run", action="store_true", help="resolve and list what would run")
    b.add_argument("--executor", default="local", help="where runs execute: local, slurm, ray")
    b.add_argument(
        "--set", action="append", default=[], metavar="executor.KEY=VALUE", help="executor option"
    )
    b.add_argument("--detach", action="store_true", help="submit and return (cluster executors)")
    b.add_argument("--status", action="store_true", help="what is done, running, queued, failed")
    b.add_argument(
        "--cancel", action="store_true", help="cancel the suite's queued and running runs"
    )
    rp = sub.add_parser("report", help="leaderboard of suite results or run folders")
    rp.add_argument("dirs", nargs="+", metavar="DIR", help="run folders or suite results folders")
    rp.add_argument(
        "--format", choices=["md", "csv", "json"], default="md", help="output format (default md)"
    )
    rp.add_argument("--sort", metavar="METRIC", help="rank by this metric (default: fid)")
    rp.add_argument("--plots", action="store_true", help="also write PNG plots")
    rp.add_argument("--plots-dir", help="where plots go (default: --out, else the first DIR)")
    rp.add_argument("--out", help="also write the tables and leaderboard.md into this folder")
    rp.add_argument("--html", metavar="OUT", help="also write one self-contained HTML page")
    _sample_parser(sub)
    x = sub.add_parser(
        "export", help="a run's generator as a torch.export file (.pt2) plus a JSON of its inputs"
    )
    x.add_argument("run_dir", help="the run folder")
    x.add_argument("--out", required=True, help="the program file (.pt2; its JSON beside it)")
    x.add_argument("--checkpoint", choices=["last", "best"], default="last", help="which file")
    x.add_argument("--raw", action="store_true", help="the trained generator, not its EMA")
    x.add_argument("--force", action="store_true", help="overwrite an existing --out")
    c = sub.add_parser("compare", help="two runs (or suite folders) side by side")
    c.add_argument("run_a", help="a run folder, or a suite folder (means over seeds, Welch test)")
    c.add_argument("run_b", help="another run folder, or suite folder")
    return p


def _sample_parser(sub) -> None:
    sa = sub.add_parser("sample", help="images from a run's checkpoint (EMA generator)")
    sa.add_argument("run_dir", help="the run folder")
    sa.add_argument("--checkpoint", choices=["last", "best"], default="last", help="which file")
    sa.add_argument("--n", type=_positive, help="images (per label with --labels; default 64)")
    which = sa.add_mutually_exclusive_group()
    which.add_argument("--labels", metavar="0,3,7", help="these classes, --n images each")
    which.add_argument("--per-class", type=_positive, metavar="K", help="K images of each class")
    sa.add_argument("--seed", type=int, help="noise seed (default: the run's seed)")
    sa.add_argument("--format", choices=["png", "grid", "npz"], default="grid", help="files")
    sa.add_argument("--raw", action="store_true", help="the trained generator, not its EMA")
    sa.add_argument("--out", required=True, help="a new folder (existing: --force)")
    sa.add_argument("--force", action="store_true", help="write into an existing --out")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()
    main_rank = _is_main_rank()
    if not main_rank:  # under torchrun only rank 0 talks to the user
        _drop_stdout()
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except UserError as exc:
        if main_rank or getattr(exc, "every_rank", False):
            for line in exc.lines():
                print(line, file=sys.stderr)
        return EXIT_USER
    except BrokenPipeError:  # the reader went away (``mtbench list --json | head``)
        _drop_stdout()
        return EXIT_BROKEN_PIPE


def _is_main_rank() -> bool:
    """Whether this process is rank 0 of a torchrun job, or no job at all."""
    from mtbench.dist import Dist

    try:
        return Dist.from_env().is_main()
    except ValueError:  # a malformed RANK: let the command itself say so
        return True


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the final flush at exit cannot fail a second time."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured in-process: nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _overrides(args: argparse.Namespace) -> list[str]:
    out = list(args.set)
    if getattr(args, "steps", None) is not None:
        out.append(f"train.steps={args.steps}")
    if getattr(args, "device", None):
        out.append(f"train.device={args.device}")
    if getattr(args, "out", None):
        out.append(f"out={json.dumps(args.out)}")
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from mtbench import lease, spec
    from mtbench.registry import Registry
    from mtbench.rundir import default_out
    from mtbench.train.run import run

    lease.adopt_from_env()  # a bench's run keeps its folder's lease fresh while it trains
    registry = Registry.discover()
    resolved = spec.load(args.spec, registry, _overrides(args))
    summary = run(resolved, registry, resolved.spec.out, resume=args.resume)
    out = default_out(resolved)
    code = {"diverged": 1, "interrupted": EXIT_INTERRUPTED}.get(summary["status"], 0)
    if not _is_main_rank():  # rank 0 says how the run ended
        return code
    if summary["status"] == "diverged":
        print(summary["error"], file=sys.stderr)
        return 1
    if summary["status"] == "interrupted":
        print(
            f"interrupted at step {summary['steps']}; checkpoint saved in {out}; "
            f"continue with: {resume_command(args, out)}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    rate = summary["imgs_per_s"]
    print(
        f"done: {summary['steps']} steps in {summary['wall_s']:.1f} s "
        f"({rate:.0f} img/s); results in {out}"
    )
    for line in final_lines(summary, out, resolved.spec.eval.feature_extractor):
        print(line)
    return 0


def resume_command(args: argparse.Namespace, out) -> str:
    """The command that continues an interrupted run: every flag it was started with."""
    import shlex

    from mtbench.dist import Dist

    n = Dist.from_env().world_size
    launch = ["mtbench"]
    if n > 1:  # the same number of ranks: each rank's random stream is in the checkpoint
        per_node = os.environ.get("LOCAL_WORLD_SIZE", str(n))
        nodes = [] if per_node == str(n) else [f"--nnodes={n // int(per_node)}"]
        launch = ["torchrun", *nodes, f"--nproc_per_node={per_node}", "-m", "mtbench"]
    words = [*launch, "run", args.spec, "--out", str(out)]
    if args.steps is not None:
        words += ["--steps", str(args.steps)]
    for item in args.set:
        words += ["--set", item]
    if args.device:
        words += ["--device", args.device]
    return shlex.join([*words, "--resume"])


def final_lines(summary: dict, out, extractor: str = "domain") -> list[str]:
    """A short table of the final metrics, then where the samples and tables are."""
    from mtbench.evaluate.catalogue import order
    from mtbench.layout import RunDir

    rd = RunDir(out)
    metrics = summary["metrics"]
    width = max((len(k) for k in metrics), default=0)
    head = f"metrics at step {summary['steps']} ({extractor} features):"
    lines = [head if metrics else "metrics: none (eval.metrics is empty)"]
    lines += [f"  {k:<{width}}  {metrics[k]:.4g}" for k in order(list(metrics))]
    lines.append(f"samples: {rd.sample_path(summary['steps'])}")
    tables = [p for p in (rd.steps, rd.evals) if p.exists()]
    lines.append(f"tables:  {', '.join(str(p) for p in tables)}")
    return lines


def cmd_validate(args: argparse.Namespace) -> int:
    from mtbench import spec
    from mtbench.registry import Registry

    resolved = spec.load(args.spec, Registry.discover(), args.set)
    print(json.dumps(resolved.to_json(), indent=2))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from mtbench.registry import Registry

    rows = Registry.discover().rows()
    if args.kind:
        rows = [r for r in rows if r["kind"] in (args.kind, "?")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        flag = "" if r["status"] == "ok" else f" [{r['status'].upper()}]"
        print(
            f"{r['kind']:<10} {r['name']:<20} {r['dist']} {r['version']}{flag}  {r['description']}"
        )
        if r["status"] != "ok":
            print(f"{'':<10} entry point: {r['entry_point']}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from mtbench.registry import Registry
    from mtbench.schema import run_spec_schema

    print(json.dumps(run_spec_schema(Registry.discover()), indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from mtbench.registry import Registry
    from mtbench.train.run import evaluate_run

    rows, acc = evaluate_run(
        args.run_dir, Registry.discover(), args.checkpoint, args.metrics, args.n
    )
    f = rows[0] if rows else {}
    print(
        f"step {f.get('step')} ({args.checkpoint}.pt), extractor {f.get('feature_extractor')} "
        f"[{str(f.get('extractor_hash', ''))[:12]}], n_fake={f.get('n_fake')}, "
        f"n_real={f.get('n_real')} ({f.get('real_split')} split)"
    )
    if acc == acc:  # not NaN
        print(f"  domain evaluator held-out accuracy = {acc:.4f}")
    for row in rows:
        std = row.get("std")
        pm = f" +- {std:.4g}" if std is not None and std == std else ""
        why = f" ({row['reason']})" if row.get("reason") else ""
        print(f"  {row['metric']} = {row['value']:.4g}{pm}{why}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtbench.bench import executors, load_suite, plan_actions, run_suite, status
    from mtbench.registry import Registry

    registry = Registry.discover()
    suite = load_suite(args.suite, registry, args.only)
    out = Path(args.out or f"runs/{suite.spec.name}")
    executor = executors.make(registry, args.executor, args.set, out, args.jobs)
    if args.dry_run:
        for run_id, action in plan_actions(suite, out):
            print(f"{action:<9} {out / run_id}")
        return 0
    if args.status:
        print(status.render(status.rows(suite, out)), end="")
        return 0
    if args.cancel:
        return _cancel(suite, out, registry, args)
    result = run_suite(suite, out, args.jobs, executor=executor, detach=args.detach)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(result.counts.items()))
    print(f"suite {suite.spec.name}: {counts or 'nothing to do'}; tables in {out}")
    if result.detached:
        print(
            f"{result.detached} runs left queued or running on {args.executor}; "
            f"see them with: mtbench bench {args.suite} --out {out} --status",
            file=sys.stderr,
        )
    if result.interrupted:
        print(
            f"interrupted; continue with: mtbench bench {args.suite} --out {out}", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    return 1 if result.counts.get("failed") else 0


def _cancel(suite, out, registry, args: argparse.Namespace) -> int:
    """Mark the suite's unfinished runs cancelled; cancel their jobs where they were sent."""
    from mtbench.bench import executors, status

    by_executor = status.request_cancel(suite, out)
    for name, ids in by_executor.items():
        settings = args.set if name == args.executor else []
        executors.make(registry, name, settings, out, args.jobs).cancel(ids)
    n = sum(len(v) for v in by_executor.values())
    print(f"cancel requested for the unfinished runs of {suite.spec.name} ({n} jobs)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtbench import results
    from mtbench.report import claim_out, publish, render, suite_title

    tables = results.read_runs(args.dirs)
    if tables.runs.empty:
        raise UserError(f"{', '.join(args.dirs)}: no run folders found")
    results.check_sort(tables.runs, args.sort)
    title = suite_title(args.dirs)
    if args.out:
        claim_out(args.out)
    if args.html:
        from mtbench.html_report import claim

        claim(Path(args.html))
    print(render(tables, args.format, title, args.sort, args.dirs), end="")
    if args.out:
        publish(tables, Path(args.out), args.dirs, args.argv, title, args.sort)
        print(f"tables, leaderboard.md, README.md, samples written to {args.out}", file=sys.stderr)
    if args.html:
        from mtbench.html_report import write_html

        write_html(tables, args.dirs, args.html, title, args.sort)
        print(f"page: {args.html} (images in its _files folder)", file=sys.stderr)
    if args.plots:
        from mtbench.plots import write_plots

        folder = args.plots_dir or args.out or args.dirs[0]
        for path in write_plots(tables, folder):
            print(f"plot: {path}", file=sys.stderr)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from mtbench.sample import sample

    loaded, paths = sample(
        args.run_dir,
        args.out,
        args.checkpoint,
        args.n,
        args.labels,
        args.per_class,
        args.seed,
        args.format,
        args.raw,
        args.force,
    )
    print(f"{len(paths)} file(s) from step {loaded.step} ({args.checkpoint}.pt) in {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mtbench.export import describe, export

    out, meta_path, meta = export(args.run_dir, args.out, args.checkpoint, args.raw, args.force)
    print(f"{out} and {meta_path}: {describe(meta)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from mtbench.report import compare

    print(compare(args.run_a, args.run_b), end="")
    return 0


COMMANDS = {
    "bench": cmd_bench,
    "report": cmd_report,
    "compare": cmd_compare,
    "sample": cmd_sample,
    "export": cmd_export,
    "eval": cmd_eval,
    "run": cmd_run,
    "validate": cmd_validate,
    "list": cmd_list,
    "schema": cmd_schema,
}
