"""Speed of the data path on a generated folder of PNGs (default 20,000 at 64x64 RGB).

Generates random-noise PNGs in 10 class subfolders of a temp folder (never committed), then:

1. cold decode into the decoded-image cache (``mtbench.decode_cache``), images/s, with 1 and
   2 worker processes, each into an empty cache folder;
2. second run: the folder's load with the cache built (in process), and the seconds from
   launching ``mtbench run`` (a fresh process, cache warm, no evaluation) to its first
   training step, as the run's ``summary.json`` records it (``fit_started_at``);
3. ``t_data`` as a share of ``t_total`` (medians over logged steps) while training the
   ``resnet`` generator at the images' size, with the streaming source (2 workers) and with
   the in-memory source.

    OMP_NUM_THREADS=1 python benchmarks/bench_data.py                  # the issue's sizes
    OMP_NUM_THREADS=1 python benchmarks/bench_data.py --n 2000 --steps 20 --width 16   # small
    OMP_NUM_THREADS=1 python benchmarks/bench_data.py --decode-only    # 1 and 2 only
    python benchmarks/bench_data.py --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mtbench import decode_cache as dc

CLASSES = 10


def generate(root: Path, n: int, size: int) -> list[dc.Item]:
    """``n`` random-noise PNGs in ``CLASSES`` class subfolders; returns them in order."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        folder = root / f"c{i % CLASSES}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:06d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), np.uint8)).save(path)
        items.append(dc.Item(str(path)))
    return items


def cold_decode(items: list[dc.Item], size: int, workers: int, cache: Path) -> float:
    """Images per second decoding ``items`` into an empty cache folder."""
    t0 = time.perf_counter()
    dc.load_or_build(items, None, dc.Recipe(size, 3), cache, workers)
    return len(items) / (time.perf_counter() - t0)


def cache_hit(images: Path, size: int, cache: Path) -> float:
    """Seconds of ``image_folder``'s load when its cache is already built (second call)."""
    from mtbench_plugins.datasets.image_folder import ImageFolder

    cfg = ImageFolder.Config(root=str(images), size=size, cache_dir=str(cache))
    ImageFolder(cfg).load()
    t0 = time.perf_counter()
    ImageFolder(cfg).load()
    return time.perf_counter() - t0


def spec(images: Path, out: Path, a: argparse.Namespace, steps: int, source: str) -> dict:
    return {
        "name": "bench_data",
        "dataset": {"type": "image_folder", "root": str(images), "size": a.size},
        "generator": {"type": "resnet", "width": a.width, "z_dim": 64, "embed_dim": 32},
        "discriminator": {
            "trunk": {"type": "dcgan", "width": a.width, "feature_dim": 128},
            "heads": [{"type": "adversarial"}, {"type": "aux_classifier"}],
        },
        "data": {"source": source, "workers": 2},
        "train": {"steps": steps, "batch_size": a.batch, "device": a.device, "threads": 1},
        "log": {"every": 1, "checkpoint_every": 10**6, "sample_every": 10**6, "progress": False},
        "eval": {"metrics": []},
        "out": str(out),
    }


def mtbench_run(s: dict, where: Path, env: dict) -> float:
    """Seconds from launching ``mtbench run`` on ``s`` (a fresh process) to its first
    training step (the run's ``summary.json`` records when ``fit`` began, wall clock)."""
    path = where / f"{Path(s['out']).name}.json"
    path.write_text(json.dumps(s))
    t0 = time.time()
    p = subprocess.run(
        [sys.executable, "-m", "mtbench", "run", str(path)], env=env, text=True, capture_output=True
    )
    if p.returncode:
        raise SystemExit(p.stderr)
    return json.loads((Path(s["out"]) / "summary.json").read_text())["fit_started_at"] - t0


def data_share(out: Path) -> tuple[float, float]:
    """Median t_data / t_total and median t_total (s) over the logged steps but the first."""
    steps = pd.read_parquet(out / "steps.parquet").iloc[1:]
    return float((steps["t_data"] / steps["t_total"]).median()), float(steps["t_total"].median())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000, help="PNGs to generate")
    p.add_argument("--size", type=int, default=64, choices=[16, 32, 64])
    p.add_argument("--steps", type=int, default=50, help="training steps per source")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=64, help="generator and trunk width")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--decode-only", action="store_true", help="skip the mtbench runs (3, 4)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_data-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        items = generate(tmp / "images", a.n, a.size)
        print(f"generated {a.n} PNGs of {a.size}x{a.size} in {time.perf_counter() - t0:.1f} s")
        for w in (1, 2):
            rate = cold_decode(items, a.size, w, tmp / f"cold{w}")
            print(f"cold decode, {w} worker(s): {rate:.0f} images/s")
        hit = cache_hit(tmp / "images", a.size, tmp / "cache")
        print(f"cached load of the folder (ImageFolder.load, cache hit): {hit:.2f} s")
        if a.decode_only:
            return
        env = {**os.environ, "MTBENCH_DATA_CACHE": str(tmp / "cache")}
        first = mtbench_run(spec(tmp / "images", tmp / "warm", a, 1, "memory"), tmp, env)
        second = mtbench_run(spec(tmp / "images", tmp / "second", a, 1, "memory"), tmp, env)
        print(f"mtbench run to its first step, cache built: {first:.1f} s, then {second:.1f} s")
        for source in ("stream", "memory"):
            out = tmp / f"train-{source}"
            mtbench_run(spec(tmp / "images", out, a, a.steps, source), tmp, env)
            share, total = data_share(out)
            print(f"{source}: t_data {100 * share:.2f}% of t_total (median t_total {total:.3f} s)")
        threads = os.environ.get("OMP_NUM_THREADS", "unset")
        print(f"device {a.device}, batch {a.batch}, width {a.width}, OMP_NUM_THREADS={threads}")


if __name__ == "__main__":
    main()
