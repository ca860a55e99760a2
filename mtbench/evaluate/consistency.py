"""Cross-task consistency: how far a generated output is from the data set's derivation of the
generated image (``consistency/edges``: the edge output vs Sobel(generated digit)).

Mean absolute error in [0, 1] pixel units and PSNR (10 log10(1 / MSE), peak 1), over all
pixels of all samples, as image-restoration benchmarks report them (e.g. the PSNR of
``skimage.metrics.peak_signal_noise_ratio`` with ``data_range=1``). Deliberate difference:
PSNR is taken of the pooled MSE, not averaged per image, and is capped at ``PSNR_CAP`` dB
(identical images have MSE 0 and infinite PSNR, which tables cannot average). The same
distances between real targets and the derivation of real images give the floor
(``real_consistency/<k>``): 0 and the cap for exact derivations such as ``mnist_tasks``'.
"""

from __future__ import annotations

import math

from torch import Tensor

ROWS = ("consistency", "consistency_psnr", "real_consistency", "real_consistency_psnr")
PSNR_CAP = 100.0  # dB: an MSE of 1e-10 in [0, 1] units
CHUNK = 2048  # images per float conversion


def distances(a: Tensor, b: Tensor) -> tuple[float, float]:
    """(MAE, PSNR) of uint8 ``a`` vs uint8 ``b`` (same shape), in [0, 1] pixel units."""
    if a.shape != b.shape:
        raise ValueError(f"consistency of shapes {tuple(a.shape)} and {tuple(b.shape)}")
    abs_sum = sq_sum = 0.0
    for x, y in zip(a.split(CHUNK), b.split(CHUNK)):
        d = (x.double() - y.double()) / 255.0
        abs_sum += d.abs().sum().item()
        sq_sum += d.square().sum().item()
    n = max(a.numel(), 1)
    return abs_sum / n, psnr(sq_sum / n)


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio (peak 1) of a mean squared error, capped at ``PSNR_CAP``."""
    return min(PSNR_CAP, 10 * math.log10(1 / mse)) if mse > 0 else PSNR_CAP
