"""Feature extractors as torch-fidelity sees them: the ``Extractor`` record every row cites,
and the domain evaluator's torch-fidelity view.

mtbench hands torch-fidelity a constructed network, never a weights path (torch-fidelity
unpickles weight files in full); torch-fidelity's standard networks are built in
``mtbench.evaluate.networks``. ``Extractor.features`` runs one on uint8 images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch_fidelity
from torch import Tensor, nn
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import get_featuresdict_from_dataset

from mtbench.evaluate.catalogue import feature_space
from mtbench.evaluate.domain import PRIMARY, DomainModel, load_domain

FEAT, LOGITS = "domain-feat", "domain-logits"
DOMAIN_PREFIX = "mtbench-domain-"


class DomainFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity view of a DomainNet: penultimate features and primary logits.

    Registered once per evaluator under ``mtbench-domain-<weights digest>``. mtbench passes the
    loaded ``net``; torch-fidelity itself passes ``feature_extractor_weights_path``, which is
    loaded as data only and must match the digest in the name.
    """

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | None = None,
        net: nn.Module | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(name, features_list)
        if net is None:
            net = self._load(name, feature_extractor_weights_path)
        self.net = net

    @staticmethod
    def _load(name: str, path: str | None) -> nn.Module:
        if path is None:
            raise ValueError(f"{name}: pass feature_extractor_weights_path (the cached evaluator)")
        model = load_domain(path)
        if name != DOMAIN_PREFIX + model.hash:
            raise ValueError(f"{path} holds evaluator {model.hash}, not {name}")
        return model.net

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return FEAT, LOGITS

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return LOGITS if metric == "isc" else FEAT

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> Tensor:
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"expected uint8 images (B, C, H, W), got {x.dtype} {tuple(x.shape)}")
        feat, out = self.net(x)
        by_name = {FEAT: feat, LOGITS: out[PRIMARY]}
        return tuple(by_name[k] for k in self.features_list)


def register_once(name: str, cls: type[FeatureExtractorBase]) -> None:
    """Register ``cls`` as ``name`` unless already there (torch-fidelity raises on duplicates)."""
    known = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if known is None:
        torch_fidelity.register_feature_extractor(name, cls)
    elif known is not cls:
        raise ValueError(f"feature extractor {name!r} is already registered to {known.__name__}")


@dataclass(frozen=True)
class Extractor:
    """One feature extractor: what rows record, and its network (every layer it provides)."""

    label: str  # "domain" or a torch-fidelity name: the feature_extractor column
    name: str  # its torch-fidelity name
    weights_path: str
    hash: str  # digest of its weights: the extractor_hash column
    rgb: bool  # whether 1-channel images must be repeated to 3 channels
    net: FeatureExtractorBase | None = field(default=None, compare=False, repr=False)

    def resize(self) -> str:
        """The resize torch-fidelity's network applies to its input, and its interpolation."""
        size = getattr(self.net, "resolution", None) or getattr(self.net, "INPUT_IMAGE_SIZE", None)
        return "none" if size is None else f"{size}x{size} bilinear-tf1"

    def layer(self, metric: str) -> str:
        """The feature layer torch-fidelity reads ``metric`` from."""
        space = feature_space(metric)  # density/coverage read FID's layer
        return type(self.net).get_default_feature_layer_for_metric(space)

    def features(
        self, images: Tensor, layers: list[str], device: torch.device, batch_size: int
    ) -> dict[str, Tensor]:
        """``layers`` of uint8 ``images`` (N, C, H, W), on the CPU, as torch-fidelity extracts."""
        cuda = device.type == "cuda"
        net = self.net.cuda() if cuda else self.net.cpu()
        data = ImageDataset(images, self.rgb)
        out = get_featuresdict_from_dataset(data, net, batch_size, cuda, True, False)
        return {k: out[k] for k in layers}


def _ready(net: FeatureExtractorBase) -> FeatureExtractorBase:
    return net.requires_grad_(False).eval()


def domain_extractor(model: DomainModel) -> Extractor:
    """The domain evaluator as an Extractor, registered under a name carrying its digest."""
    name = DOMAIN_PREFIX + model.hash
    register_once(name, DomainFeatureExtractor)
    net = _ready(DomainFeatureExtractor(name, [FEAT, LOGITS], net=model.net))
    return Extractor("domain", name, str(model.path), model.hash, rgb=False, net=net)


class ImageDataset(Dataset):
    """uint8 (N, C, H, W) images as a Dataset of (C, H, W), optionally repeated to 3 channels."""

    def __init__(self, images: Tensor, rgb: bool = False) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if rgb and images.shape[1] not in (1, 3):
            raise ValueError(f"Inception takes 1- or 3-channel images, not {images.shape[1]}")
        self.images = images.cpu().contiguous()
        self.repeat = 3 if rgb and images.shape[1] == 1 else 1

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        img = self.images[i]
        return img.repeat(self.repeat, 1, 1) if self.repeat > 1 else img
