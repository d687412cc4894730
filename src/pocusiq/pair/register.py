"""Intensity-based 2-D registration of a POCUS frame to a high-end frame (SimpleITK).

Both images live in one physical space: world millimetres ``(x_mm, z_mm)`` of their nominal
placement (:mod:`pocusiq.pair.geometry`), so the identity is the nominal alignment and the
registration only corrects it. Steps (SimpleITK ``ImageRegistrationMethod``):

1. rigid: ``Euler2DTransform`` centred on the fixed image, Mattes mutual information on the
   smoothed images (speckle differs between devices, so raw speckle does not correlate;
   MI also tolerates their different brightness curves), multi-resolution (shrink factors /
   smoothing sigmas), regular-step gradient descent with scales from physical shift;
2. affine: an ``AffineTransform`` initialised from the rigid result, refined the same way
   (off with ``RegistrationConfig.affine = False``). It is kept only if it raises the NCC of
   the registered images (smoothed by a further ``affine_check_smoothing_mm``, so structure
   rather than speckle decides) by ``affine_min_ncc_gain``: with independent speckle in
   the two images, a free affine also fits speckle noise and PSF-dependent blob sizes (on
   simulated pairs whose true relation is rigid it made the TRE worse), so the extra degrees
   of freedom must earn their keep, as a real scale error (e.g. a mis-set speed of sound) does.

Masks restrict the metric to the imaging regions. The metric uses every pixel and one thread
by default, so the same inputs and config give the same transform bit for bit.
The result is checked for plausibility (shift, rotation, scale against the nominal
placement); an implausible one raises :class:`~pocusiq.errors.RegistrationError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from pocusiq.errors import RegistrationError

__all__ = [
    "PlacedImage",
    "RegistrationConfig",
    "RegistrationResult",
    "register_images",
    "to_sitk",
    "transform_parameters",
]


@dataclass(frozen=True)
class PlacedImage:
    """A 2-D image and where its pixels are in the world.

    Attributes:
        image: float (H, W), any range (registration uses MI, which is contrast-invariant).
        world_from_pixel: (2, 3) map pixel ``(col, row)`` -> world ``(x_mm, z_mm)``; its two
            columns must be orthogonal (rotation times per-axis spacing).
        mask: optional bool (H, W): pixels inside the imaging area (the metric ignores others).
    """

    image: np.ndarray
    world_from_pixel: np.ndarray
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class RegistrationConfig:
    """Settings of :func:`register_images` (and of the smoothing applied before it).

    The defaults were chosen on simulated gantry sessions (``bench/pairing.py``): smoothing
    0.15 mm and 16 histogram bins gave the lowest 95th-percentile TRE of the settings tried
    (smoothing 0.15/0.3/0.5/1.0 mm, 16/32/64 bins, MI or correlation, 0.125/0.2 mm spacing).

    Attributes:
        smoothing_mm: Gaussian sigma (mm) applied to both images before registration.
        spacing_mm: registration pixel spacing (mm), at least the coarser input spacing;
            ``None`` = the coarser input spacing. The default 0.2 mm was measured on simulated
            sessions to give the same TRE as 0.125 mm at 40 % of the CPU time.
        histogram_bins: Mattes MI histogram bins.
        sampling_fraction: fraction of fixed-image pixels used by the metric; 1 (default) uses
            all of them, which with ``threads = 1`` makes the result bit-for-bit reproducible
            (random sampling with a fixed seed was measured to vary run to run in SimpleITK 2.5).
        seed: sampling seed (only used when ``sampling_fraction < 1``).
        shrink_factors / smoothing_sigmas_px: the multi-resolution pyramid (per level).
        rigid_iterations / affine_iterations: optimiser iterations per level.
        learning_rate_mm: initial step of the optimiser (mm of physical shift).
        affine: refine the rigid result with an affine transform.
        affine_min_ncc_gain: the affine result replaces the rigid one only if it raises the NCC
            of the registered images (inside both masks) by at least this much; with
            independent speckle in the two images an affine fit also follows speckle noise
            and small PSF-dependent size changes, so an insignificant gain is not taken.
        threads: SimpleITK threads; 1 (default) gives reproducible sums (2 threads were measured
            to change the result in the 6th digit from run to run).
        max_shift_mm / max_rotation_deg / max_scale_change: plausibility limits of the result
            against the nominal alignment (shift of the fixed image centre, rotation, |scale - 1|).
    """

    smoothing_mm: float = 0.15
    spacing_mm: float | None = 0.2
    metric: str = "mattes"
    histogram_bins: int = 16
    sampling_fraction: float = 1.0
    seed: int = 0
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_px: tuple[float, ...] = (2.0, 1.0, 0.0)
    rigid_iterations: int = 200
    affine_iterations: int = 100
    learning_rate_mm: float = 1.0
    affine: bool = True
    affine_min_ncc_gain: float = 0.01
    affine_check_smoothing_mm: float = 0.5
    affine_max_deviation: float = 0.08
    threads: int = 1
    max_shift_mm: float = 12.0
    max_rotation_deg: float = 15.0
    max_scale_change: float = 0.15

    def __post_init__(self) -> None:
        if len(self.shrink_factors) != len(self.smoothing_sigmas_px) or not self.shrink_factors:
            raise ValueError(
                "shrink_factors and smoothing_sigmas_px must be non-empty and of equal length, got "
                f"{self.shrink_factors} and {self.smoothing_sigmas_px}"
            )
        if not 0 < self.sampling_fraction <= 1:
            raise ValueError(f"sampling_fraction must be in (0, 1], got {self.sampling_fraction}")
        if self.smoothing_mm < 0:
            raise ValueError(f"smoothing_mm must be >= 0, got {self.smoothing_mm}")


@dataclass(frozen=True)
class RegistrationResult:
    """Outcome of :func:`register_images`.

    Attributes:
        moving_from_fixed: (2, 3) world (mm) -> world (mm): a point of the fixed image's world
            frame to the corresponding point of the moving image's world frame.
        rigid: the rigid stage's (2, 3) map (same convention).
        metric: final metric value of the chosen stage (Mattes MI: negative, lower is better).
        iterations: optimiser iterations of the last level of each stage.
        stop: the optimiser's stop condition of the chosen stage.
        kind: ``"rigid"`` or ``"affine"``: which stage's result was kept.
        ncc: NCC of the registered images per stage (``{"rigid": .., "affine": ..}``).
    """

    moving_from_fixed: np.ndarray
    rigid: np.ndarray
    metric: float
    iterations: tuple[int, ...]
    stop: str
    kind: str = "rigid"
    ncc: dict[str, float] | None = None


def to_sitk(image: np.ndarray, world_from_pixel: np.ndarray) -> sitk.Image:
    """A float32 ``sitk.Image`` whose physical space is the world frame of ``world_from_pixel``."""
    a = np.asarray(world_from_pixel, dtype=np.float64)
    sx, sy = float(np.hypot(a[0, 0], a[1, 0])), float(np.hypot(a[0, 1], a[1, 1]))
    if sx <= 0 or sy <= 0:
        raise ValueError(f"world_from_pixel has a zero-length axis: {a.tolist()}")
    direction = np.array([[a[0, 0] / sx, a[0, 1] / sy], [a[1, 0] / sx, a[1, 1] / sy]])
    if not np.allclose(direction.T @ direction, np.eye(2), atol=1e-6):
        raise ValueError("world_from_pixel must have orthogonal columns (rotation x spacing)")
    img = sitk.GetImageFromArray(np.ascontiguousarray(image, dtype=np.float32))
    img.SetSpacing((sx, sy))
    img.SetOrigin((float(a[0, 2]), float(a[1, 2])))
    img.SetDirection(tuple(float(v) for v in direction.ravel()))
    return img


def _mask_image(mask: np.ndarray, like: sitk.Image) -> sitk.Image:
    m = sitk.GetImageFromArray(np.ascontiguousarray(mask, dtype=np.uint8))
    m.CopyInformation(like)
    return m


def transform_parameters(transform: sitk.Transform) -> np.ndarray:
    """(2, 3) affine ``[A | t]`` of a 2-D SimpleITK matrix-offset transform (Euler, affine)."""
    tx = transform
    if isinstance(tx, sitk.CompositeTransform) or tx.GetName() == "CompositeTransform":
        tx = sitk.CompositeTransform(tx).GetBackTransform()
    if tx.GetName() == "Euler2DTransform":
        tx = sitk.Euler2DTransform(tx)
    elif tx.GetName() == "AffineTransform":
        tx = sitk.AffineTransform(tx)
    else:
        raise TypeError(f"unsupported transform {tx.GetName()}")
    matrix = np.asarray(tx.GetMatrix(), dtype=np.float64).reshape(2, 2)
    center = np.asarray(tx.GetCenter(), dtype=np.float64)
    translation = np.asarray(tx.GetTranslation(), dtype=np.float64)
    offset = center + translation - matrix @ center
    return np.hstack([matrix, offset[:, None]])


def _method(config: RegistrationConfig, iterations: int, levels: slice) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetNumberOfThreads(int(config.threads))
    if config.metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(config.histogram_bins))
    elif config.metric == "correlation":
        method.SetMetricAsCorrelation()
    else:
        raise ValueError(f"metric must be 'mattes' or 'correlation', got {config.metric!r}")
    if config.sampling_fraction < 1.0:
        # note: measured non-deterministic run to run even with a fixed seed and 1 thread
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(float(config.sampling_fraction), int(config.seed))
    else:
        method.SetMetricSamplingStrategy(method.NONE)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=float(config.learning_rate_mm),
        minStep=1e-4,
        numberOfIterations=int(iterations),
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(config.shrink_factors[levels]))
    method.SetSmoothingSigmasPerLevel(list(config.smoothing_sigmas_px[levels]))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return method


def _check_plausible(moving_from_fixed: np.ndarray, centre: np.ndarray, config: RegistrationConfig) -> None:
    if not np.all(np.isfinite(moving_from_fixed)):  # before the SVD, which fails on NaN/inf
        raise RegistrationError("registration diverged from the nominal alignment: non-finite transform")
    linear = moving_from_fixed[:, :2]
    shift = float(np.linalg.norm(linear @ centre + moving_from_fixed[:, 2] - centre))
    u, s, vt = np.linalg.svd(linear)
    rot = u @ vt
    angle = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))
    problems = []
    if shift > config.max_shift_mm:
        problems.append(f"shift {shift:.1f} mm > {config.max_shift_mm:g} mm")
    if abs(angle) > config.max_rotation_deg:
        problems.append(f"rotation {angle:.1f} deg > {config.max_rotation_deg:g} deg")
    if np.any(np.abs(s - 1.0) > config.max_scale_change):
        problems.append(
            f"scale {s.min():.3f}..{s.max():.3f} beyond 1 +/- {config.max_scale_change:g}"
        )
    if problems:
        raise RegistrationError("registration diverged from the nominal alignment: " + ", ".join(problems))


def _registered_ncc(f_img: sitk.Image, m_img: sitk.Image, f_mask: np.ndarray | None,
                    m_mask: np.ndarray | None, params: np.ndarray, sigma_mm: float) -> float:
    """NCC of the fixed image and the moving image resampled through ``params`` (2, 3), both
    smoothed by a further Gaussian of ``sigma_mm`` (structure, not speckle, decides)."""
    tx = sitk.AffineTransform(2)
    tx.SetMatrix(tuple(float(v) for v in params[:, :2].ravel()))
    tx.SetTranslation(tuple(float(v) for v in params[:, 2]))
    moved = sitk.GetArrayFromImage(sitk.Resample(m_img, f_img, tx, sitk.sitkLinear, 0.0))
    ones = np.ones(sitk.GetArrayFromImage(m_img).shape, np.float32) if m_mask is None else m_mask
    valid_img = sitk.GetImageFromArray(np.ascontiguousarray(ones, dtype=np.float32))
    valid_img.CopyInformation(m_img)
    valid = sitk.GetArrayFromImage(sitk.Resample(valid_img, f_img, tx, sitk.sitkNearestNeighbor, 0.0)) > 0.5
    if f_mask is not None:
        valid &= f_mask
    fixed = sitk.GetArrayFromImage(f_img).astype(np.float64)
    moved = moved.astype(np.float64)
    if sigma_mm > 0:
        sigma_px = sigma_mm / float(f_img.GetSpacing()[0])
        weights = ndi.gaussian_filter(valid.astype(np.float64), sigma_px)
        safe = np.maximum(weights, 1e-6)
        fixed = ndi.gaussian_filter(fixed * valid, sigma_px) / safe
        moved = ndi.gaussian_filter(moved * valid, sigma_px) / safe
    a, b = fixed[valid], moved[valid]
    if a.size < 16:
        return float("nan")
    a -= a.mean()
    b -= b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def register_images(
    fixed: PlacedImage, moving: PlacedImage, config: RegistrationConfig | None = None
) -> RegistrationResult:
    """Register ``moving`` (POCUS) to ``fixed`` (high-end) in world millimetres.

    Args:
        fixed, moving: :class:`PlacedImage` (already smoothed and at the registration spacing;
            :func:`pocusiq.pair.frames.pair_frames` prepares them).
        config: :class:`RegistrationConfig`.

    Returns:
        :class:`RegistrationResult` with ``moving_from_fixed`` (fixed world mm -> moving world mm).

    Raises:
        RegistrationError: the optimiser failed (e.g. too few overlapping samples) or the
            result is implausible (see ``max_*`` limits).
    """
    cfg = config or RegistrationConfig()
    # the metric's threads follow ITK's global default, not only the method's own setting;
    # set it for this call (reproducible sums) and put the caller's value back afterwards.
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(cfg.threads))
    try:
        return _register(fixed, moving, cfg)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def _register(fixed: PlacedImage, moving: PlacedImage, cfg: RegistrationConfig) -> RegistrationResult:
    f_img = to_sitk(fixed.image, fixed.world_from_pixel)
    m_img = to_sitk(moving.image, moving.world_from_pixel)
    h, w = np.shape(fixed.image)
    centre = np.asarray(f_img.TransformContinuousIndexToPhysicalPoint(((w - 1) / 2.0, (h - 1) / 2.0)))

    def setup(method: sitk.ImageRegistrationMethod) -> None:
        if fixed.mask is not None:
            method.SetMetricFixedMask(_mask_image(fixed.mask, f_img))
        if moving.mask is not None:
            method.SetMetricMovingMask(_mask_image(moving.mask, m_img))

    rigid = sitk.Euler2DTransform()
    rigid.SetCenter(tuple(float(v) for v in centre))
    method = _method(cfg, cfg.rigid_iterations, slice(None))
    setup(method)
    method.SetInitialTransform(rigid, inPlace=True)
    try:
        method.Execute(f_img, m_img)
    except RuntimeError as exc:
        raise RegistrationError(f"rigid registration failed: {str(exc).strip().splitlines()[-1]}") from exc
    iterations = [int(method.GetOptimizerIteration())]
    metric = float(method.GetMetricValue())
    stop = method.GetOptimizerStopConditionDescription()
    rigid_params = transform_parameters(rigid)
    result = rigid_params
    kind = "rigid"
    ncc: dict[str, float] = {}
    if cfg.affine:
        affine = sitk.AffineTransform(2)
        affine.SetCenter(rigid.GetCenter())
        affine.SetMatrix(rigid.GetMatrix())
        affine.SetTranslation(rigid.GetTranslation())
        levels = slice(max(0, len(cfg.shrink_factors) - 2), None)
        method = _method(cfg, cfg.affine_iterations, levels)
        method.SetOptimizerAsRegularStepGradientDescent(
            learningRate=float(cfg.learning_rate_mm) / 4,
            minStep=1e-4,
            numberOfIterations=int(cfg.affine_iterations),
            relaxationFactor=0.6,
            gradientMagnitudeTolerance=1e-8,
        )
        method.SetOptimizerScalesFromPhysicalShift()
        setup(method)
        method.SetInitialTransform(affine, inPlace=True)
        try:
            method.Execute(f_img, m_img)
        except RuntimeError as exc:
            raise RegistrationError(
                f"affine registration failed: {str(exc).strip().splitlines()[-1]}"
            ) from exc
        iterations.append(int(method.GetOptimizerIteration()))
        affine_params = transform_parameters(affine)
        sigma = cfg.affine_check_smoothing_mm
        ncc["rigid"] = _registered_ncc(f_img, m_img, fixed.mask, moving.mask, rigid_params, sigma)
        ncc["affine"] = _registered_ncc(f_img, m_img, fixed.mask, moving.mask, affine_params, sigma)
        update = affine_params[:, :2] @ np.linalg.inv(rigid_params[:, :2])
        deviation = float(np.max(np.abs(np.linalg.svd(update, compute_uv=False) - 1.0)))
        if ncc["affine"] >= ncc["rigid"] + cfg.affine_min_ncc_gain and deviation <= cfg.affine_max_deviation:
            kind = "affine"
            result = affine_params
            metric = float(method.GetMetricValue())
            stop = method.GetOptimizerStopConditionDescription()
    _check_plausible(result, centre, cfg)
    return RegistrationResult(
        moving_from_fixed=result,
        rigid=rigid_params,
        metric=metric,
        iterations=tuple(iterations),
        stop=stop,
        kind=kind,
        ncc=ncc,
    )
