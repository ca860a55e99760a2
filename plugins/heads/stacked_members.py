"""K discriminators of one architecture run as one: stacked parameters, per-member spectral norm.

The ensemble head's fused layout. Not a plugin module (no hook): ``ensemble`` imports it.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils import parametrize

SN_EPS = 1e-12  # torch.nn.utils.parametrizations.spectral_norm's default


def _spectral_norms(member: nn.Module) -> dict[str, nn.Module] | None:
    """Spectral-norm parametrizations of ``member`` by plain weight name ("trunk.fc.weight").

    None when the member holds state that stacking cannot carry: any other buffer or
    parametrization, or spectral norm over a dim other than 0 or with more than one power
    iteration per call.
    """
    found = {}
    for prefix, module in member.named_modules():
        if not parametrize.is_parametrized(module):
            continue
        sn = getattr(module.parametrizations, "weight", [])
        if len(module.parametrizations) != 1 or len(sn) != 1:
            return None
        sn = sn[0]
        if type(sn).__name__ != "_SpectralNorm" or sn.dim != 0 or sn.n_power_iterations != 1:
            return None
        found[f"{prefix}.weight" if prefix else "weight"] = sn
    sn_buffers = {id(b) for sn in found.values() for b in sn.buffers()}
    if any(id(b) not in sn_buffers for b in member.buffers()):
        return None
    return found


def can_stack(members: list[nn.Module]) -> bool:
    """Whether ``members`` (of one architecture) can run as one stacked module."""
    return _spectral_norms(members[0]) is not None


def _plain_name(name: str) -> str:
    """A parametrized weight's parameter name as the plain module would have it."""
    return name.replace("parametrizations.weight.original", "weight")


def _key(name: str) -> str:
    return name.replace(".", "__")


class StackedMembers(nn.Module):
    """K modules' parameters stacked on a new leading dim and run by ``functional_call``.

    Spectral norm (Miyato et al. 2018) is applied here, per member slice with the very
    operations of ``torch.nn.utils.parametrizations.spectral_norm`` (which cannot run under
    vmap: it writes with ``out=``): in training one power iteration updates that member's
    rows of the K-stacked u and v buffers, and its weight is divided by u^T W v; so fused
    and looped members agree to rounding, power iterations included. Parameters and buffers
    are named ``<plain name with . as __>`` and ``sn_u__...``/``sn_v__...``.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        sns = [_spectral_norms(m) for m in members]
        if any(sn is None for sn in sns):
            raise ValueError("members hold state that cannot be stacked; run them in a loop")
        per_member = [{_plain_name(n): p for n, p in m.named_parameters()} for m in members]
        self.k, self.names = len(members), list(per_member[0])
        for name in self.names:
            stacked = torch.stack([p[name].detach() for p in per_member]).clone()
            self.register_parameter(_key(name), nn.Parameter(stacked))
        self.sn_names = list(sns[0])
        for name in self.sn_names:
            for vec in ("_u", "_v"):
                stacked = torch.stack([getattr(sn[name], vec) for sn in sns]).clone()
                self.register_buffer(f"sn{vec}__{_key(name)}", stacked)
        template = copy.deepcopy(members[0])
        for module in template.modules():
            if parametrize.is_parametrized(module):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        # The template runs under functional_call; kept off the module tree (no parameters).
        self.__dict__["template"] = template.to("meta")

    def _vectors(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Spectral norm's stacked (u, v) buffers by weight name: (K, out), (K, in)."""
        return {
            n: (getattr(self, f"sn_u__{_key(n)}"), getattr(self, f"sn_v__{_key(n)}"))
            for n in self.sn_names
        }

    def _normalised(self, params: dict[str, Tensor], vectors: dict) -> dict[str, Tensor]:
        """One member's parameters with each spectral-norm weight divided by u^T W v.

        The same operations as torch's parametrization, on one member's slice (vmap batches
        them): in training one power iteration writes u then v in place, into the stacked
        buffers; u and v are cloned before use so later updates leave this graph alone.
        """
        out = dict(params)
        for name, (u, v) in vectors.items():
            mat = params[name].flatten(1)
            if self.training:
                with torch.no_grad():
                    u.copy_(F.normalize(torch.mv(mat, v), dim=0, eps=SN_EPS))
                    v.copy_(F.normalize(torch.mv(mat.t(), u), dim=0, eps=SN_EPS))
            sigma = torch.dot(u.clone(), torch.mv(mat, v.clone()))
            out[name] = params[name] / sigma
        return out

    def stacked_params(self) -> dict[str, Tensor]:
        """Every member's parameters, stacked (K, ...), spectral norm applied."""
        params = {n: getattr(self, _key(n)) for n in self.names}
        return torch.vmap(self._normalised)(params, self._vectors())

    def forward(self, x: Tensor, use_vmap: bool) -> Tensor:
        """Outputs (K, ...) of every member on the same input x: one vmap, or member by member.

        Member by member uses ``unbind``, whose backward stacks the K gradients once (indexing
        would add K zero-padded copies); the buffers' slices are views, so the power
        iteration's in-place updates reach them.
        """
        template = self.__dict__["template"]
        if template.training != self.training:  # off the module tree: follow train/eval here
            template.train(self.training)

        low = _autocast_dtype(x.device.type) if use_vmap else None

        def one(p: dict[str, Tensor], vectors: dict, images: Tensor) -> Tensor:
            p = self._normalised(p, vectors)
            if low is not None:  # under vmap autocast leaves conv biases in fp32: cast by hand
                p = {n: t.to(low) if t.is_floating_point() else t for n, t in p.items()}
                images = images.to(low)
            return functional_call(template, p, (images,))

        params, vectors = {n: getattr(self, _key(n)) for n in self.names}, self._vectors()
        if use_vmap:
            vmapped = torch.vmap(one, in_dims=(0, 0, None), randomness="different")
            with torch.autocast(x.device.type, enabled=False) if low else nullcontext():
                return vmapped(params, vectors, x)
        per_params = [dict(zip(params, ps)) for ps in zip(*(p.unbind(0) for p in params.values()))]
        per_vectors = [{n: (u[i], v[i]) for n, (u, v) in vectors.items()} for i in range(self.k)]
        return torch.stack([one(p, vec, x) for p, vec in zip(per_params, per_vectors)])


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast casts convolutions to on this device now; None when it is off."""
    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)
