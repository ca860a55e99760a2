"""``mtbench export``: a run's generator as a self-contained ``torch.export`` program file plus
a JSON of its inputs, loadable with torch alone (``torch.export.load(f).module()``), with no
mtbench or plugin installed.

``torch.export`` (not TorchScript, which this torch deprecates) captures the checkpoint's EMA
generator (or the raw one) on the CPU in eval mode, with a dynamic batch size: the file holds
the graph of aten operators and the weights, no Python class. It takes ``(z, labels)`` (``z``
alone for an unconditional run) and returns a tuple of the outputs in the order the JSON
lists them, each in [-1, 1].
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import torch
from torch import Tensor, nn

from mtbench.errors import UserError
from mtbench.io import atomic_write_bytes, write_json
from mtbench.sample import Loaded, load_generator

FORMAT = "mtbench-generator/1"


class _Outputs(nn.Module):
    """The generator with a tuple of outputs (the exported program carries no plugin classes)."""

    def __init__(self, generator: nn.Module, names: list[str], conditional: bool) -> None:
        super().__init__()
        self.generator, self.names, self.conditional = generator, names, conditional

    def forward(self, z: Tensor, labels: Tensor | None = None) -> tuple[Tensor, ...]:
        out = self.generator(z, labels if self.conditional else None)
        return tuple(out[k] for k in self.names)


def inputs_json(loaded: Loaded, generator: str, checkpoint: str) -> dict:
    """What the exported file takes and returns: z's width and layout, classes, outputs."""
    t, r = loaded.trainer, loaded.r
    info = r.data_info
    layout = [{"name": "noise", "kind": "normal", "width": t.G.z_dim}]
    layout += [{"name": k, "kind": c.kind, "width": c.dim} for k, c in t.p.codes.items()]
    for k, c in t.p.conditions.items():
        width = c.num_classes if c.kind == "class" else c.dim
        layout.append({"name": k, "kind": f"condition/{c.kind}", "width": width})
    return {
        "format": FORMAT,
        "run": r.spec.name,
        "seed": r.spec.seed,
        "step": loaded.step,
        "checkpoint": checkpoint,
        "generator": generator,
        "z_dim": sum(part["width"] for part in layout),
        "z_layout": layout,
        "num_classes": info.num_classes,
        "class_names": list(info.class_names),
        "conditions": {k: c.kind for k, c in t.p.conditions.items()},
        "outputs": [{"name": k, "shape": list(s), "range": [-1, 1]} for k, s in _shapes(t)],
        "call": f"torch.export.load(file).module()({'z, labels' if info.num_classes else 'z'})",
    }


def _shapes(trainer) -> list[tuple[str, tuple[int, int, int]]]:
    return list(trainer.G.outputs().items())


def program(loaded: Loaded) -> torch.export.ExportedProgram:
    """The generator exported on the CPU in eval mode, any batch size."""
    t = loaded.trainer
    names = [k for k, _ in _shapes(t)]
    conditional = bool(loaded.r.data_info.num_classes)
    module = _Outputs(copy.deepcopy(loaded.generator).cpu().eval(), names, conditional)
    z = torch.randn(2, inputs_width(t), generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=65536)
    example, dims = (z,), {"z": {0: batch}, "labels": None}
    if conditional:
        example, dims["labels"] = (z, torch.zeros(2, dtype=torch.long)), {0: batch}
    with torch.no_grad():
        return torch.export.export(module, example, dynamic_shapes=dims)


def inputs_width(trainer) -> int:
    from mtbench.latent import code_width, condition_width

    p = trainer.p
    return trainer.G.z_dim + code_width(p.codes) + condition_width(p.conditions)


def sidecar(out: Path) -> Path:
    """The JSON beside the exported file: ``gen.pt2`` -> ``gen.json``."""
    return out.with_suffix(".json")


def export(
    run_dir: str | Path, out: str | Path, checkpoint: str = "last", raw: bool = False,
    force: bool = False,
) -> tuple[Path, Path, dict]:  # fmt: skip
    """Write the exported program file and its JSON; refuses to overwrite unless ``force``."""
    from mtbench.registry import Registry

    out = Path(out)
    for path in (out, sidecar(out)):
        if path.exists() and not force:
            raise UserError(f"--out: {path} already exists; pass --force to overwrite it")
    if out.suffix == ".json":
        raise UserError(f"--out: {out} ends in .json, the name of its inputs file; use .pt2")
    loaded = load_generator(run_dir, Registry.discover(), checkpoint, raw)
    tag = "raw" if raw or loaded.trainer.ema is None else "ema"
    meta = inputs_json(loaded, tag, checkpoint)
    buf = io.BytesIO()
    torch.export.save(program(loaded), buf)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    write_json(sidecar(out), meta)
    return out, sidecar(out), meta


def describe(meta: dict) -> str:
    """One line of what the file takes and gives."""
    outs = ", ".join(f"{o['name']} {tuple(o['shape'])}" for o in meta["outputs"])
    return f"z ({meta['z_dim']}), {meta['num_classes']} classes -> {outs}; {meta['call']}"
