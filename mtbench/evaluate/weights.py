"""Where a feature network's weights come from: ``eval.inception_weights``, else the torch hub
cache, else (only with ``eval.allow_download: true``) a download into that cache.

The extractor's identity is its name and the digest of the weight file's bytes, so a run with
local weights and one that downloaded the same file are the same extractor. Downloads go
through torch.hub's ``download_url_to_file`` (a temp file renamed into place); nothing here
runs unless a spec asks for a torch-fidelity network.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from mtbench.errors import UserError, first_line

INCEPTION = "inception-v3-compat"
URLS = {INCEPTION: URL_INCEPTION_V3}  # where torch-fidelity itself fetches each network


def file_name(name: str) -> str:
    """The weight file's name torch-fidelity downloads for extractor ``name``."""
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
            f"eval.inception_weights: {name} needs its weights and downloads are off: give a "
            f"local {file_name(name)} or set eval.allow_download: true"
        )
    try:
        download(URLS[name], cached)
    except Exception as exc:  # offline, refused, truncated: urllib and OSError kinds
        raise UserError(
            f"eval.allow_download: the weights for {name} could not be downloaded from "
            f"{URLS[name]} ({first_line(exc)}); give eval.inception_weights, a local "
            f"{file_name(name)}"
        ) from None
    return cached
