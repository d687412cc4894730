"""Fidelity loss terms: tie the generator's output to what its INPUT supports.

The pix2pix terms (GAN, L1, SSIM) compare the output with a target image; on real handheld frames
there is no target, and a model trained on simulated pairs learns to paint what the simulated
high-end image had (streaks, cyst-like spots) wherever the input vaguely suggests it. These terms
compare the output with the input itself, at the scales where the input is trustworthy, so they
work in supervised training (beside L1/SSIM) and in unpaired adaptation (:mod:`pocusiq.train.unpaired`,
where they are the only tie to the input). All take ``fake`` and ``low`` as ``(N, 1, H, W)``
tensors in the model range ``[-1, 1]`` and return a scalar (0 for an identity output).

* ``lowfreq`` (:func:`lowfreq_consistency`): ``mean |G_s * fake - G_s * low|`` with a Gaussian
  ``G_s`` of ``lowfreq_sigma_px``. A handheld image resolves structure down to roughly its
  lateral resolution (about 0.5-1 mm, i.e. 2-5 px at 0.1-0.2 mm/px); everything coarser than that
  in the output must be what the input shows: a cyst may not appear, vanish, move or change its
  grey level. Detail finer than ``sigma`` (speckle, edge sharpness) stays free for the model.
* ``structure`` (:func:`structure_consistency`): gradient magnitudes of both images smoothed at
  ``structure_sigma_px``; penalises (a) input edges that are weaker in the output (an erased wire,
  a smeared boundary), weighted by how strong the input edge is, and (b) output edges stronger than
  ``structure_max_gain`` times the input's gradient there (an edge the input has no evidence for:
  a painted streak). Sharpening up to that gain is allowed.
* ``points`` (:func:`point_targets_kept`): pixels of the input that stand out from their local
  background by more than ``points_k`` local standard deviations (wires, point scatterers; the
  background and its spread measured at ``points_sigma_px``) may not get darker in the output:
  ``sum(w relu(low - fake)) / sum(w)``. Despeckling and GAN texture dimmed the wires and the
  faint scatterers of the real frames (contrast kept 22-73 %) while the other terms were on.
* ``invented`` (:func:`invented_structure`): a difference-of-Gaussians band at the blob scale
  ``invented_sigma_px`` (cyst-like spots above speckle size); penalises band energy of the output
  that exceeds the input's by more than ``invented_margin``: new dark or bright spots.
* ``checkerboard`` (:func:`checkerboard_added`): period-2 patterns the model added (the pixel grid of
  transposed-convolution and pixel-shuffle upsampling), as the spectral ratio of the checkerboard
  metric (power at Nyquist over the band just below) of the output beyond the input's, in log
  units above ``checkerboard_tolerance``. A spatial version (residual demodulated by the Nyquist
  carriers, averaged over 8-128 px blocks) did not separate the shipped models (loss 0.5-3e-3)
  from the faithful unsharp mask (0.2-1.2e-3) on the real frames: the grid is a fraction of a grey
  level, coherent only in the spectrum. Measured: the residual U-Nets shipped before this term
  existed (transposed convolutions) had checkerboard energy 126x (cpu) and 601x (realtime) the
  input's on the real handheld frames (:func:`pocusiq.metrics.fidelity.checkerboard_energy`).

Weights live in :class:`pocusiq.train.config.LossConfig` (``lambda_lowfreq``, ``lambda_structure``,
``lambda_invented``; 0 = off, the paper recipe) and every term is registered in
:data:`FIDELITY_TERMS`, which :func:`pocusiq.train.losses.generator_loss` walks: a new term is one
function and one table row. The Gaussian is the one of :func:`pocusiq.metrics.ssim.gaussian_window_1d`
(separable, reflect-padded) - no new filter implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pocusiq.metrics.fidelity import BAND_CYCLES, NYQUIST_CYCLES, ZERO_CYCLES
from pocusiq.metrics.ssim import gaussian_window_1d

__all__ = [
    "FIDELITY_TERMS",
    "FidelityTerm",
    "gaussian_blur",
    "coarse",
    "gradient_magnitude",
    "lowfreq_consistency",
    "structure_consistency",
    "invented_structure",
    "point_targets_kept",
    "checkerboard_added",
    "fidelity_losses",
]


def gaussian_blur(x: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with std ``sigma_px`` pixels (radius ``ceil(3 sigma)``,
    reflect padding, clamped to the image); ``sigma_px <= 0`` returns ``x``."""
    if sigma_px <= 0:
        return x
    h, w = x.shape[-2:]
    radius = max(1, min(int(math.ceil(3.0 * sigma_px)), h - 1, w - 1))
    kernel = torch.as_tensor(gaussian_window_1d(sigma_px, radius), dtype=x.dtype, device=x.device)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    kx = kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kx, groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), ky, groups=c)


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Central-difference gradient magnitude of ``(N, C, H, W)`` (replicate padding), same shape."""
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = 0.5 * (xp[..., 1:-1, 2:] - xp[..., 1:-1, :-2])
    gy = 0.5 * (xp[..., 2:, 1:-1] - xp[..., :-2, 1:-1])
    return torch.sqrt(gx * gx + gy * gy + 1e-12)


def coarse(x: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """``x`` low-passed at ``sigma_px``, on a grid ``f = floor(sigma_px / 2)`` times coarser for
    ``sigma_px >= 4`` (``f x f`` average pooling, then a Gaussian of ``sigma_px / f`` coarse pixels):
    the same band as a full-resolution blur for a loss, at ``1 / f**3`` of the cost (a 73-tap
    kernel at ``sigma 12`` made one CPU training step 2x slower)."""
    factor = int(sigma_px // 2) if sigma_px >= 4 else 1
    factor = max(1, min(factor, x.shape[-2] // 4, x.shape[-1] // 4))
    if factor > 1:
        x = F.avg_pool2d(x, factor)
    return gaussian_blur(x, sigma_px / factor)


def lowfreq_consistency(fake: torch.Tensor, low: torch.Tensor, sigma_px: float = 2.0) -> torch.Tensor:
    """``mean |blur(fake) - blur(low)|`` at ``sigma_px`` (:func:`coarse`): the output's coarse
    content must be the input's."""
    return (coarse(fake, sigma_px) - coarse(low, sigma_px)).abs().mean()


def structure_consistency(
    fake: torch.Tensor, low: torch.Tensor, sigma_px: float = 1.0, max_gain: float = 2.0
) -> torch.Tensor:
    """Lost input edges plus unsupported output edges (gradient magnitudes at ``sigma_px``).

    ``lost = mean(w * relu(g_in - g_out))`` with ``w = g_in / mean(g_in)`` (strong input edges
    count more); ``unsupported = mean(relu(g_out - max_gain * g_in))``. Both 0 for the identity;
    a uniform sharpening by a factor <= ``max_gain`` costs nothing.
    """
    g_out = gradient_magnitude(gaussian_blur(fake, sigma_px))
    g_in = gradient_magnitude(gaussian_blur(low, sigma_px))
    weight = g_in / (g_in.mean(dim=(-2, -1), keepdim=True) + 1e-6)
    lost = (weight * F.relu(g_in - g_out)).mean()
    unsupported = F.relu(g_out - max_gain * g_in).mean()
    return lost + unsupported


def invented_structure(
    fake: torch.Tensor, low: torch.Tensor, sigma_px: float = 3.0, margin: float = 0.05
) -> torch.Tensor:
    """Blob-scale band energy of the output beyond the input's: ``mean relu(|B fake| - |B low| - margin)``
    with ``B = G_sigma - G_2sigma`` (difference of Gaussians; a spot of radius ~ ``1.4 sigma`` peaks)."""
    factor = int(sigma_px // 2) if sigma_px >= 4 else 1
    factor = max(1, min(factor, fake.shape[-2] // 8, fake.shape[-1] // 8))
    if factor > 1:  # one pooled grid for both Gaussians (see coarse())
        fake, low = F.avg_pool2d(fake, factor), F.avg_pool2d(low, factor)
    s1, s2 = sigma_px / factor, 2.0 * sigma_px / factor
    band_out = gaussian_blur(fake, s1) - gaussian_blur(fake, s2)
    band_in = gaussian_blur(low, s1) - gaussian_blur(low, s2)
    return F.relu(band_out.abs() - band_in.abs() - margin).mean()


def point_targets_kept(fake: torch.Tensor, low: torch.Tensor, sigma_px: float = 4.0, k: float = 3.0) -> torch.Tensor:
    """Mean darkening of the input's bright outliers (``low - G_s low > k * local std``) in ``fake``."""
    with torch.no_grad():
        background = gaussian_blur(low, sigma_px)
        spread = gaussian_blur((low - background) ** 2, sigma_px).clamp_min(1e-8).sqrt()
        weight = ((low - background) > k * spread).to(low.dtype)
    return (weight * F.relu(low - fake)).sum() / (weight.sum() + 1.0)


POWER_FLOOR = 1e-10
"""Power (per frequency, of an image in the model range, normalised so that a period-2 pattern of
amplitude ``a`` has power ``a**2`` at Nyquist) added to both sides of every spectral ratio of
:func:`checkerboard_added`: a pattern of amplitude 1e-5 (0.001 grey levels; at 1e-8 the dark crops of
the real frames lost half their signal: 0.4 instead of 0.9-1.1 for the old realtime model's grid). Without it a flat crop
(42-49 % of the 128 px crops of the real screenshots are constant: black margins) has ratio 0, and
any smooth change of it cost ~27 with gradients ~1e4."""


def _nyquist_ratios(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, 3)``: mean power in the ``(pi, pi)``, ``(pi, 0)``, ``(0, pi)`` windows over the mean
    power of the band just below each, both plus :data:`POWER_FLOOR` (the windows and band of the
    checkerboard metric, :mod:`pocusiq.metrics.fidelity`, per image)."""
    h, w = x.shape[-2:]
    power = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs().square() / float(h * w) ** 2
    fy = torch.fft.fftfreq(h, device=x.device).abs().view(h, 1)
    fx = torch.fft.fftfreq(w, device=x.device).abs().view(1, w)
    near_y, near_x = fy >= NYQUIST_CYCLES, fx >= NYQUIST_CYCLES
    zero_y, zero_x = fy <= ZERO_CYCLES, fx <= ZERO_CYCLES
    band_y = (fy >= BAND_CYCLES[0]) & (fy < BAND_CYCLES[1])
    band_x = (fx >= BAND_CYCLES[0]) & (fx < BAND_CYCLES[1])
    ratios = []
    for peak, reference in ((near_y & near_x, band_y & band_x), (near_y & zero_x, band_y & zero_x),
                            (zero_y & near_x, zero_y & band_x)):
        peak, reference = peak.to(x.dtype), reference.to(x.dtype)
        p = (power * peak).sum(dim=(-2, -1)) / peak.sum().clamp_min(1.0)
        r = (power * reference).sum(dim=(-2, -1)) / reference.sum().clamp_min(1.0)
        ratios.append((p + POWER_FLOOR) / (r + POWER_FLOOR))
    return torch.stack(ratios, dim=-1)


def checkerboard_added(fake: torch.Tensor, low: torch.Tensor, tolerance: float = 1.2) -> torch.Tensor:
    """Period-2 energy the model added: ``mean relu(log R(fake) - log R(low) - log tolerance)``.

    ``R`` is the checkerboard metric's spectral ratio (power at Nyquist over power just below it,
    for the ``(pi, pi)``, ``(pi, 0)`` and ``(0, pi)`` windows), per image of the batch, so the loss
    follows :func:`pocusiq.metrics.fidelity.checkerboard_energy` after / before (same windows; the
    loss averages the three windows where the metric takes the largest, and floors the power).
    Invariant to a gain; 0 for the identity and for any output whose Nyquist windows rise by at most
    ``tolerance`` relative to the band below them (sharpening speckle raises both alike).
    """
    with torch.no_grad():
        reference = torch.log(_nyquist_ratios(low))
    return F.relu(torch.log(_nyquist_ratios(fake)) - reference - math.log(tolerance)).mean()


@dataclass(frozen=True)
class FidelityTerm:
    """One registered term: its log name, the LossConfig weight field, and ``fn(fake, low, loss_config)``."""

    name: str
    weight_field: str
    fn: Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


FIDELITY_TERMS: tuple[FidelityTerm, ...] = (
    FidelityTerm("lowfreq", "lambda_lowfreq", lambda f, x, c: lowfreq_consistency(f, x, c.lowfreq_sigma_px)),
    FidelityTerm("structure", "lambda_structure",
                 lambda f, x, c: structure_consistency(f, x, c.structure_sigma_px, c.structure_max_gain)),
    FidelityTerm("points", "lambda_points",
                 lambda f, x, c: point_targets_kept(f, x, c.points_sigma_px, c.points_k)),
    FidelityTerm("invented", "lambda_invented",
                 lambda f, x, c: invented_structure(f, x, c.invented_sigma_px, c.invented_margin)),
    FidelityTerm("checkerboard", "lambda_checkerboard",
                 lambda f, x, c: checkerboard_added(f, x, c.checkerboard_tolerance)),
)
"""Every fidelity term, in log order (``loss_<name>`` columns of ``train_log.csv``)."""


def fidelity_losses(fake: torch.Tensor, low: torch.Tensor | None, config: object) -> dict[str, tuple[float, torch.Tensor]]:
    """``{name: (weight, unweighted term)}`` for every registered term; terms with weight 0 (or no
    ``low``) are a zero tensor and cost nothing."""
    out: dict[str, tuple[float, torch.Tensor]] = {}
    zero = fake.new_zeros(())
    for term in FIDELITY_TERMS:
        weight = float(getattr(config, term.weight_field))
        value = term.fn(fake, low, config) if (weight > 0 and low is not None) else zero
        out[term.name] = (weight, value)
    return out
