"""The adversarial, AC and projection heads built by hand on tiny fixed features (D = 8)."""

import torch
from helpers import build_loss
from torch import nn

from mtbench.api import DataInfo, HeadContext, Side
from mtbench_plugins.heads.adversarial import AdversarialHead
from mtbench_plugins.heads.aux_classifier import AuxClassifierHead
from mtbench_plugins.heads.projection import ProjectionHead

D = 8


HEADS = [AdversarialHead, AuxClassifierHead, ProjectionHead]


def context(num_classes: int = 3) -> HeadContext:
    return HeadContext(
        data=DataInfo(channels=1, size=16, num_classes=num_classes),
        feature_dim=D,
        loss=build_loss("ns"),
        trunk=nn.Identity(),
        build_trunk=lambda spec: None,
        build_loss=build_loss,
    )


def make(cls, num_classes: int = 3, **cfg):
    torch.manual_seed(0)
    return cls(cls.Config(**cfg), context(num_classes))


def feats(*rows: list[float], grad: bool = False) -> torch.Tensor:
    """Features (len(rows), D): each row's leading values, zero-padded."""
    t = torch.zeros(len(rows), D)
    for i, row in enumerate(rows):
        t[i, : len(row)] = torch.tensor(row)
    return t.requires_grad_(grad)


def side(features: torch.Tensor, labels: list[int] | None) -> Side:
    y = None if labels is None else torch.tensor(labels)
    return Side(images={}, labels=y, targets={}, features=features)


def set_weights(layer: nn.Module, weight: list[list[float]], bias: list[float] | None) -> None:
    with torch.no_grad():
        layer.weight.zero_()
        w = torch.tensor(weight)
        layer.weight[:, : w.shape[1]] = w
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias))


def adversarial_head(**cfg) -> AdversarialHead:
    """logit = f0 - f1 + 0.5."""
    head = make(AdversarialHead, **cfg)
    set_weights(head.linear, [[1.0, -1.0]], [0.5])
    return head


def aux_head(**cfg) -> AuxClassifierHead:
    """class logits = the first three features."""
    head = make(AuxClassifierHead, **cfg)
    set_weights(head.classifier, torch.eye(3).tolist(), [0.0, 0.0, 0.0])
    return head


def projection_head(**cfg) -> ProjectionHead:
    """logit = f0 + <embed(y), f> with embed(0) = e1, embed(1) = 2 e2, embed(2) = 0."""
    head = make(ProjectionHead, **cfg)
    set_weights(head.psi, [[1.0]], [0.0])
    set_weights(head.embed, [[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]], None)
    return head


def sides(grad: bool = False) -> tuple[Side, Side]:
    real = side(feats([2.0, 1.0, 0.0], [0.0, 3.0, 1.0], grad=grad), [0, 1])
    fake = side(feats([1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], grad=grad), [1, 2])
    return real, fake


HAND_HEADS = [adversarial_head, aux_head, projection_head]
