"""Where a feature network's weights come from: ``eval.weights``, else the torch hub cache, else
(only with ``eval.allow_download: true``) a download into that cache.

The extractor's identity is its name and the digest of the weight file's bytes, so a run with
local weights and one that downloaded the same file are the same extractor. Downloads go
through torch.hub's ``download_url_to_file`` (a temp file renamed into place); nothing here
runs unless a spec asks for a torch-fidelity network. The URLs and file names are the ones
torch-fidelity itself uses, so a cache an online torch-fidelity run filled serves mtbench too.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch_fidelity.feature_extractor_clip import MODEL_METADATA as CLIP_FILES
from torch_fidelity.feature_extractor_clip import MODEL_URLS as CLIP_URLS
from torch_fidelity.feature_extractor_dinov2 import MODEL_METADATA as DINOV2_MODELS
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from mtbench.errors import UserError, first_line

INCEPTION = "inception-v3-compat"
VGG16 = "vgg16"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"  # torchvision IMAGENET1K_V1
DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/{m}/{m}_pretrain.pth"  # dinov2's hubconf
DINOV2_REPO = "facebookresearch/dinov2"  # torch hub repository holding DINOv2's model code


def _urls() -> dict[str, str]:
    dinov2 = {k: DINOV2_URL.format(m=m) for k, m in DINOV2_MODELS.items()}
    return {INCEPTION: URL_INCEPTION_V3, VGG16: VGG16_URL, **CLIP_URLS, **dinov2}


URLS = _urls()  # where torch-fidelity (or the network's authors) publish each network's weights


def file_name(name: str) -> str:
    """The weight file's name in the torch hub cache, as torch-fidelity names it."""
    if name in CLIP_FILES:
        return f"{name}-{CLIP_FILES[name]['hash']}.pt"
    return Path(urlparse(URLS[name]).path).name


def hub_file(name: str) -> Path:
    """Where the torch hub cache keeps that file (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name(name)


def download(url: str, dst: Path) -> None:
    """Fetch ``url`` into ``dst`` (torch.hub writes a temp file and renames it)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dst), progress=False)


def resolve(name: str, weights: str | None, allow_download: bool) -> Path:
    """The local weight file of extractor ``name``: given, cached, or downloaded if allowed."""
    if weights:
        return Path(weights).expanduser()
    cached = hub_file(name)
    if cached.is_file():
        return cached
    if not allow_download:
        raise UserError(
            f"eval.weights: {name} needs its weights and downloads are off: give a "
            f"local {file_name(name)} or set eval.allow_download: true"
        )
    try:
        download(URLS[name], cached)
    except Exception as exc:  # offline, refused, truncated: urllib and OSError kinds
        raise UserError(
            f"eval.allow_download: the weights for {name} could not be downloaded from "
            f"{URLS[name]} ({first_line(exc)}); give eval.weights, a local {file_name(name)}"
        ) from None
    return cached


def needs_code(name: str) -> bool:
    """Whether the network's model code comes from a torch hub repository (DINOv2's)."""
    return name in DINOV2_MODELS


def hub_code() -> Path:
    """Where torch hub keeps DINOv2's repository (``<hub dir>/facebookresearch_dinov2_main``)."""
    return Path(torch.hub.get_dir()) / (DINOV2_REPO.replace("/", "_") + "_main")


def resolve_code(name: str, allow_download: bool) -> Path:
    """DINOv2's model code in the torch hub cache: there already, or fetched if allowed."""
    repo = hub_code()
    if (repo / "hubconf.py").is_file():
        return repo
    if not allow_download:
        raise UserError(
            f"eval.allow_download: {name} is built by the {DINOV2_REPO} code, which is not in "
            f"the torch hub cache ({repo}); set eval.allow_download: true once to fetch it"
        )
    try:
        torch.hub.list(DINOV2_REPO, trust_repo=True, verbose=False)
    except Exception as exc:  # offline or refused
        raise UserError(
            f"eval.allow_download: the {DINOV2_REPO} code for {name} could not be downloaded "
            f"({first_line(exc)}); put a copy of that repository at {repo}"
        ) from None
    return repo
