"""Feature extractors as torch-fidelity sees them: the domain evaluator registered into its
registry, the standard Inception, and the uint8 image Dataset both are fed through.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch_fidelity
from torch import Tensor
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from mtbench.evaluate.domain import PRIMARY, DomainModel, load_domain
from mtbench.evaluate.hashing import file_digest

FEAT, LOGITS = "domain-feat", "domain-logits"
DOMAIN_PREFIX = "mtbench-domain-"
INCEPTION = "inception-v3-compat"


class DomainFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity view of a cached DomainNet: penultimate features and primary logits.

    Registered once per evaluator under ``mtbench-domain-<weights digest>``; the weights come
    from ``feature_extractor_weights_path`` and must match the digest in the name.
    """

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError(f"{name}: pass feature_extractor_weights_path (the cached evaluator)")
        model = load_domain(feature_extractor_weights_path)
        if name != DOMAIN_PREFIX + model.hash:
            raise ValueError(
                f"{feature_extractor_weights_path} holds evaluator {model.hash}, not {name}"
            )
        self.net = model.net

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
    """One feature extractor's identity: what rows record and what torch-fidelity is passed."""

    label: str  # "domain" or "inception-v3-compat": the feature_extractor column
    name: str  # its torch-fidelity registry name
    weights_path: str
    hash: str  # digest of its weights: the extractor_hash column
    rgb: bool  # whether 1-channel images must be repeated to 3 channels

    def kwargs(self) -> dict:
        """The torch-fidelity arguments that select this extractor."""
        return {"feature_extractor": self.name, "feature_extractor_weights_path": self.weights_path}


def domain_extractor(model: DomainModel) -> Extractor:
    """The domain evaluator as an Extractor, registered under a name carrying its digest."""
    name = DOMAIN_PREFIX + model.hash
    register_once(name, DomainFeatureExtractor)
    return Extractor("domain", name, str(model.path), model.hash, rgb=False)


def inception_extractor(weights_path: str) -> Extractor:
    """torch-fidelity's Inception-v3 with local weights, identified by the weights file digest."""
    return Extractor(INCEPTION, INCEPTION, str(weights_path), file_digest(weights_path), rgb=True)


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
