"""The domain evaluator: a small CNN classifier trained on the real train split, cached by content.

Its penultimate features replace Inception's for FID/KID/PRC and its logits serve IS and
conditional accuracy, so metrics need no download. It is trained once, deterministically, on
the CPU with one thread, and cached under a key made of the train data's digest, the recipe
and ``DOMAIN_VERSION``, so every run on the same data uses the identical network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtbench.api import DataInfo, TensorData
from mtbench.evaluate.hashing import data_digest, json_digest, named_digest
from mtbench.evaluate.spec import DomainRecipe
from mtbench.io import save_torch

DOMAIN_VERSION = 1  # bump when the network or its training changes: invalidates every cache
PRIMARY = "label"  # output name of the primary class head


class DomainNet(nn.Module):
    """uint8 images -> (penultimate features, {output name: logits or regression}).

    Three stride-2 3x3 conv + batch-norm layers and a linear layer: all deterministic kernels.
    """

    def __init__(
        self,
        channels: int,
        size: int,
        num_classes: int,
        class_heads: dict[str, int],
        regress_heads: dict[str, int],
        width: int,
        feat_dim: int,
    ) -> None:
        super().__init__()
        w, s = width, size
        layers: list[nn.Module] = []
        for c_in, c_out in ((channels, w), (w, 2 * w), (2 * w, 4 * w)):
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
            s = (s + 1) // 2
        self.body = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(4 * w * s * s, feat_dim), nn.ReLU()
        )
        outs = {PRIMARY: num_classes} | {f"class:{k}": n for k, n in class_heads.items()}
        outs |= {f"regress:{k}": d for k, d in regress_heads.items()}
        self.heads = nn.ModuleDict({k: nn.Linear(feat_dim, n) for k, n in outs.items()})

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        feat = self.body(x.float() / 127.5 - 1.0)
        return feat, {k: head(feat) for k, head in self.heads.items()}


@dataclass
class DomainModel:
    """A trained domain evaluator on the CPU, its cache file and the digest of its weights."""

    net: DomainNet
    path: Path
    hash: str
    arch: dict


def architecture(train: TensorData, info: DataInfo, recipe: DomainRecipe) -> dict:
    """DomainNet's constructor arguments for this data: a head per class/continuous target."""
    class_heads = {
        k: t.num_classes
        for k, t in sorted(info.targets.items())
        if t.kind == "class" and k in train.targets
    }
    regress_heads = {
        k: t.dim
        for k, t in sorted(info.targets.items())
        if t.kind == "continuous" and k in train.targets
    }
    return {
        "channels": info.channels,
        "size": info.size,
        "num_classes": info.num_classes,
        "class_heads": class_heads,
        "regress_heads": regress_heads,
        "width": recipe.width,
        "feat_dim": recipe.feat_dim,
    }


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the block on one CPU thread, so training is bitwise reproducible across machines."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def train_domain_net(train: TensorData, arch: dict, recipe: DomainRecipe) -> DomainNet:
    """Train a DomainNet on ``train``: seeded init and batch order, Adam, summed task losses."""
    images = train.images.cpu()
    labels = train.labels.cpu()
    targets = {k: v.cpu() for k, v in train.targets.items()}
    with torch.random.fork_rng(devices=[]), _one_thread():
        torch.manual_seed(recipe.seed)
        net = DomainNet(**arch)
        opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
        gen = torch.Generator().manual_seed(recipe.seed)
        steps = recipe.epochs * -(-len(images) // recipe.batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)  # linear decay
        net.train()
        for _ in range(recipe.epochs):
            for idx in torch.randperm(len(images), generator=gen).split(recipe.batch_size):
                _, out = net(images[idx])
                loss = F.cross_entropy(out[PRIMARY], labels[idx])
                for k in arch["class_heads"]:
                    loss = loss + F.cross_entropy(out[f"class:{k}"], targets[k][idx].long())
                for k, d in arch["regress_heads"].items():
                    y = targets[k][idx].float().reshape(-1, d)
                    loss = loss + F.mse_loss(out[f"regress:{k}"], y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return net.eval().requires_grad_(False)


def load_domain(path: str | Path) -> DomainModel:
    """Load a cached evaluator (``weights_only``) and check its weights against their digest."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = DomainNet(**blob["arch"])
    net.load_state_dict(blob["state"])
    digest = named_digest(net.state_dict())
    if digest != blob["hash"]:
        raise ValueError(f"{path}: weights do not match their digest (corrupt cache file)")
    return DomainModel(net.eval().requires_grad_(False), Path(path), digest, blob["arch"])


def cache_path(train: TensorData, info: DataInfo, recipe: DomainRecipe, cache_dir: Path) -> Path:
    """The cache file for this train data, recipe and code version."""
    key = json_digest(
        {
            "version": DOMAIN_VERSION,
            "data": data_digest(train),
            "recipe": recipe.model_dump(),
            "arch": architecture(train, info, recipe),
        }
    )
    return Path(cache_dir) / f"domain-{key}.pt"


def load_or_train(
    train: TensorData, info: DataInfo, recipe: DomainRecipe, cache_dir: Path
) -> DomainModel:
    """The cached evaluator for ``train`` and ``recipe``, training and caching it on a miss."""
    path = cache_path(train, info, recipe, cache_dir)
    if path.is_file():
        try:
            return load_domain(path)
        except Exception:  # unreadable or corrupt: retrain and overwrite
            pass
    arch = architecture(train, info, recipe)
    net = train_domain_net(train, arch, recipe)
    state = net.state_dict()
    save_torch(path, {"arch": arch, "state": state, "hash": named_digest(state)})
    return load_domain(path)


@torch.no_grad()
def predict(
    net: DomainNet, images: Tensor, device: torch.device, batch_size: int
) -> dict[str, Tensor]:
    """Run ``net`` on uint8 ``images`` in batches on ``device``; outputs and "feat" on the CPU."""
    net = net.to(device)
    parts: dict[str, list[Tensor]] = {}
    for batch in images.split(batch_size):
        feat, out = net(batch.to(device))
        for k, v in ({"feat": feat} | out).items():
            parts.setdefault(k, []).append(v.cpu())
    return {k: torch.cat(v) for k, v in parts.items()}


def primary_accuracy(
    net: DomainNet, data: TensorData, device: torch.device, batch_size: int
) -> float:
    """Share of ``data`` whose primary label the evaluator predicts correctly."""
    pred = predict(net, data.images, device, batch_size)[PRIMARY].argmax(1)
    return (pred == data.labels.cpu()).double().mean().item()
