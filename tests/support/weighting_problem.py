"""A hand-computable problem for weightings. A shared parameter theta = (1, 2), a non-shared
player parameter phi = 1 and a parameter psi = 1 outside the player's inputs. Terms:
    a = |theta|^2                   = 5,   d/dtheta = (2, 4)
    b = (theta_0 - 4)^2 + phi^2 psi = 10,  d/dtheta = (-6, 0), d/dphi = 2, d/dpsi = 1
The two theta-gradients conflict: dot = -12, cos = -12 / (sqrt(20) * 6).
"""

import math

import torch

COS_AB = -12 / (math.sqrt(20) * 6)


class Problem:
    """The fixture's parameters and terms; theta is (1, 2) so it is a weight matrix."""

    def __init__(self) -> None:
        self.theta = torch.tensor([[1.0, 2.0]], requires_grad=True)
        self.phi = torch.tensor(1.0, requires_grad=True)
        self.psi = torch.tensor(1.0, requires_grad=True)

    def terms(self) -> dict[str, torch.Tensor]:
        t = self.theta[0]
        return {
            "a": (t * t).sum(),
            "b": (t[0] - 4) ** 2 + self.phi**2 * self.psi,
        }

    def run(self, w, theta_grad=None) -> None:
        if theta_grad is not None:
            self.theta.grad = torch.tensor([theta_grad])
        inputs = [self.theta, self.phi, *w.parameters()]
        w.backward(self.terms(), inputs, [self.theta], scale=lambda x: x)


def make(cls, base=None, unbounded=(), **cfg):
    return cls(cls.Config(**cfg), base or {"a": 2.0, "b": 1.0}, frozenset(unbounded))


def theta_grad(p: Problem) -> list[float]:
    return p.theta.grad[0].tolist()
