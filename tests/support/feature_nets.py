"""Small randomly initialised stand-ins for torch-fidelity's standard networks, saved in each
network's own weight format, so tests build real extractors with no download."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

TINY_DINOV2_HUBCONF = '''
dependencies = ["torch"]
import torch
from torch import nn


class TinyViT(nn.Module):
    """Patchify (14 px) and pool: the shape of a DINOv2 backbone's CLS output, not its maths."""

    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, 6, 14, stride=14)
        self.norm = nn.LayerNorm(6)

    def forward(self, x):
        return self.norm(self.patch_embed(x).mean((2, 3)))


def dinov2_vits14(pretrained=True, **kwargs):
    if pretrained:
        raise RuntimeError("the test hub repository has no pretrained weights")
    return TinyViT()
'''


class TinyCLIP(nn.Module):
    """CLIP's visual tower at toy size (width 64, 1 layer, 32 px) plus its text projection,
    which torch-fidelity reads the embedding width from."""

    def __init__(self) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_clip import VisionTransformer

        self.visual = VisionTransformer(
            input_resolution=32, patch_size=16, width=64, layers=1, heads=1, output_dim=8
        )
        self.text_projection = nn.Parameter(torch.randn(16, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def save_clip_torchscript(path: Path) -> Path:
    """A TorchScript archive, the format OpenAI publishes CLIP in."""
    import warnings

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(TinyCLIP(), torch.randn(1, 3, 32, 32))
        torch.jit.save(traced, str(path))
    return path


class TinyVGG(nn.Module):
    """torchvision VGG16's layout (features, avgpool, a 7-entry classifier) at toy width."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(32))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(16, 12), nn.ReLU(), nn.Dropout(), nn.Linear(12, 10), nn.ReLU(),
            nn.Dropout(), nn.Linear(10, 5),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def dinov2_repo(root: Path) -> Path:
    """A torch hub repository laid out like facebookresearch/dinov2's, with a toy model."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hubconf.py").write_text(TINY_DINOV2_HUBCONF)
    return root


def save_dinov2_weights(repo: Path, path: Path) -> Path:
    """The toy model's state dict, as DINOv2's ``*_pretrain.pth`` files hold one."""
    torch.manual_seed(0)
    model = torch.hub.load(str(repo), "dinov2_vits14", source="local", pretrained=False)
    torch.save(model.state_dict(), path)
    return path
