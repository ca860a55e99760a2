"""torch-fidelity's standard feature networks (Inception-v3, VGG16, CLIP, DINOv2), built by
mtbench from weights it loads itself.

torch-fidelity's own constructors unpickle their weight files in full (a file that names code
runs it), so each network here is built from tensors mtbench read as data only
(``weights_only=True``) and handed to torch-fidelity's class. Two formats need more than that:

- CLIP's published weights are TorchScript archives (torch-fidelity reads them with
  ``torch.jit.load``); mtbench does the same, keeps only the archive's tensors, and also takes
  a plain state dict. TorchScript's loader builds TorchScript objects, not Python globals.
- DINOv2's architecture lives in its authors' torch hub repository (torch-fidelity loads it
  with ``torch.hub.load``); mtbench builds the model from that repository's code without
  weights (``pretrained=False``) and then loads the weight file as data only.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_clip import MODEL_URLS as CLIP_MODELS
from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP, build_model
from torch_fidelity.feature_extractor_dinov2 import MODEL_METADATA as DINOV2_MODELS
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

from mtbench.errors import UserError, first_line
from mtbench.evaluate import weights
from mtbench.evaluate.extractor import Extractor
from mtbench.evaluate.hashing import file_digest
from mtbench.io import load_torch

INCEPTION, VGG16 = weights.INCEPTION, weights.VGG16


def _via_buffer(state: dict[str, Tensor]) -> io.BytesIO:
    """``state`` serialised by mtbench from plain tensors, for a constructor that wants a file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return buf


class InceptionFromState(FeatureExtractorInceptionV3):
    """torch-fidelity's Inception-v3 from a state dict mtbench loaded as data only."""

    def __init__(self, name: str, features_list: list[str], state: dict[str, Tensor]) -> None:
        super().__init__(name, features_list, feature_extractor_weights_path=_via_buffer(state))


class VGG16FromState(FeatureExtractorVGG16):
    """torch-fidelity's VGG16 (torchvision's, classifier cut after fc2) from a state dict."""

    def __init__(self, name: str, features_list: list[str], state: dict[str, Tensor]) -> None:
        super().__init__(name, features_list, feature_extractor_weights_path=_via_buffer(state))


class CLIPFromState(FeatureExtractorCLIP):
    """torch-fidelity's CLIP image encoder, its shape read from the state dict as theirs is."""

    def __init__(self, name: str, features_list: list[str], state: dict[str, Tensor]) -> None:
        FeatureExtractorBase.__init__(self, name, features_list)
        self.feature_extractor_internal_dtype = torch.float32
        self.model = build_model(dict(state), torch.float32)
        self.resolution = self.model.visual.input_resolution


class DinoV2FromModel(FeatureExtractorDinoV2):
    """torch-fidelity's DINOv2 wrapper (224 px, ImageNet normalisation) around a built model."""

    def __init__(self, name: str, features_list: list[str], model: nn.Module) -> None:
        FeatureExtractorBase.__init__(self, name, features_list)
        self.feature_extractor_internal_dtype = torch.float32
        self.model = model.float()


def is_torchscript(path: str | Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding compiled ``code/``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in n or n.endswith("constants.pkl") for n in z.namelist())


def _torchscript_tensors(path: str | Path) -> dict[str, Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())


def load_state(path: str | Path, name: str) -> dict[str, Tensor]:
    """A network's weights as a state dict of tensors, read as data only; one clear line else."""
    hint = f"give the path of a local {weights.file_name(name)}"
    try:
        ts = name in CLIP_MODELS and is_torchscript(path)
        state = _torchscript_tensors(path) if ts else load_torch(path)
    except Exception as exc:  # holds code, truncated, or not a torch file
        raise UserError(
            f"eval.weights: {path} is not a plain weights file mtbench can read as data "
            f"({first_line(exc)}); {hint}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError(f"eval.weights: {path} holds no state dict of tensors; {hint}")
    return state


def _dinov2_model(name: str, state: dict[str, Tensor], code: Path) -> nn.Module:
    """DINOv2 built by its authors' hub code without weights, then given ``state``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xFormers notices
        model = torch.hub.load(str(code), DINOV2_MODELS[name], source="local", pretrained=False)
    model.load_state_dict(state)
    return model


def _build(name: str, state: dict[str, Tensor], code: Path | None) -> FeatureExtractorBase:
    if name in CLIP_MODELS:
        return CLIPFromState(name, _layers(FeatureExtractorCLIP), state)
    if name in DINOV2_MODELS:
        model = _dinov2_model(name, state, code)
        return DinoV2FromModel(name, _layers(FeatureExtractorDinoV2), model)
    cls = {INCEPTION: InceptionFromState, VGG16: VGG16FromState}[name]
    return cls(name, _layers(cls), state)


def _layers(cls: type[FeatureExtractorBase]) -> list[str]:
    return list(cls.get_provided_features_list())


def buildable() -> tuple[str, ...]:
    """Every torch-fidelity network mtbench builds from data-only weights."""
    return (INCEPTION, VGG16, *CLIP_MODELS, *DINOV2_MODELS)


def standard_extractor(name: str, weights_path: str, code: Path | None = None) -> Extractor:
    """torch-fidelity's network ``name`` from local weights (and, for DINOv2, its hub code),
    identified by the weight file's digest."""
    state = load_state(weights_path, name)
    try:
        net = _build(name, state, code).requires_grad_(False).eval()
    except (RuntimeError, KeyError, ValueError) as exc:  # missing or mis-shaped tensors
        raise UserError(
            f"eval.weights: {weights_path} does not fit {name} ({first_line(exc)}); "
            f"give the path of a local {weights.file_name(name)}"
        ) from None
    digest = file_digest(weights_path)
    return Extractor(name, name, str(weights_path), digest, rgb=True, net=net)


def resolve_extractor(name: str, given: str | None, allow_download: bool) -> Extractor:
    """``standard_extractor`` from the weights (and code) ``mtbench.evaluate.weights`` finds."""
    path = weights.resolve(name, given, allow_download)
    code = weights.resolve_code(name, allow_download) if weights.needs_code(name) else None
    return standard_extractor(name, str(path), code)


def inception_extractor(weights_path: str) -> Extractor:
    """torch-fidelity's Inception-v3 from local weights (kept for the callers that name it)."""
    return standard_extractor(INCEPTION, weights_path)
