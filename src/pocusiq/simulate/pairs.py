"""Exactly aligned simulated pairs: one phantom imaged by a POCUS and a high-end profile.

Both images come from the same phantom, the same scatterers and the same imaging region and
pixel grid, so they are pixel-aligned by construction; they differ only by the systems'
physics (PSF, compounding, noise, attenuation/TGC, dynamic range, bit depth, compression) and
by the elevation slice each probe integrates: the POCUS image's diffuse scatterers correlate
with the high-end image's by :func:`~pocusiq.simulate.profiles.elevation_speckle_correlation`
(a thicker handheld slice sees partly other tissue), so their speckle differs as in real pairs
while every structure (layers, vessels, wires, specular interfaces) stays in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pocusiq.simulate.bmode import ImagingRegion, lateral_margin_mm, resample_masks, simulate_bmode, to_uint8
from pocusiq.simulate.phantoms import DEFAULT_MIX, PHANTOM_PRESETS, Phantom, make_phantom
from pocusiq.simulate.profiles import HIGH_END, TransducerProfile, elevation_speckle_correlation, get_profile

#: Default pixel spacing (mm/pixel) of simulated pairs. Handheld apps display their images at
#: about 0.05-0.15 mm per screen pixel: measured here, the Butterfly iQ screenshots in
#: ``shared/data/real/pocus/butterfly-phantom`` are 0.0475 mm/pixel (depth-ruler ticks every
#: 2 mm = 42.1 pixels), the Interson one 0.0588 mm/pixel (its README); a 4-6 cm preset shown on
#: a phone's ~500-pixel-high image area is 0.08-0.12 mm/pixel. 0.08 mm/pixel resolves the
#: high-end speckle (axial FWHM ~0.2 mm = 2.5 pixels) and gives a 256-pixel image a 20 mm
#: field of view, the depth of a superficial (vascular/MSK/nerve) preset.
DEFAULT_SPACING_MM = 0.08

#: Revision of what the simulator makes: raised whenever the same seed and parameters give other
#: images (a calibration or model change), and recorded by ``pocusiq.data.simulated`` so a dataset
#: is never resumed with pairs of another revision. 2: issue 9's realism calibration (display black
#: level, multi-look handheld compounding, near-field gain, QA phantoms at real scale, dim muscle).
SIMULATOR_REVISION = 2


@dataclass
class SimulatedPair:
    """A pixel-aligned POCUS / high-end image pair.

    Attributes:
        low: (size, size) uint8, the POCUS image.
        high: (size, size) uint8, the high-end image.
        masks: bool (size, size) each, the phantom's ground truth on the image grid:
            ``cysts``, ``hyperechoic``, ``wires``, ``vessels``, ``sector`` (imaged area;
            all True for linear pairs).
        spacing_mm: pixel spacing of both images (mm).
        phantom: the phantom preset name.
        params: JSON-serialisable record: seed, preset, field of view, both profiles' fields.
    """

    low: np.ndarray
    high: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    spacing_mm: float = 0.0
    phantom: str = ""
    params: dict = field(default_factory=dict)


def _extend_laterally(phantom: Phantom, pad: int) -> Phantom:
    """Mirror-pad a phantom by ``pad`` cells on both lateral sides (wires are shifted, not mirrored)."""
    if pad <= 0:
        return phantom
    reps = max(1, -(-pad // phantom.shape[1]))
    mode = "symmetric"
    echo = phantom.echogenicity
    masks = dict(phantom.masks)
    for _ in range(reps):  # mirror repeatedly if the margin exceeds the width
        step = min(pad, echo.shape[1])
        echo = np.pad(echo, ((0, 0), (step, step)), mode=mode)
        masks = {k: np.pad(m, ((0, 0), (step, step)), mode=mode) for k, m in masks.items()}
        pad -= step
        if pad <= 0:
            break
    shift = (echo.shape[1] - phantom.shape[1]) / 2 * phantom.spacing_mm
    return Phantom(
        echogenicity=echo,
        spacing_mm=phantom.spacing_mm,
        masks=masks,
        wires_mm=[(z, x + shift) for z, x in phantom.wires_mm],
        name=phantom.name,
        scatter_seed=phantom.scatter_seed,
        wire_strength_mm=phantom.wire_strength_mm,
        attenuation_db_mm=None if phantom.attenuation_db_mm is None else _pad_like(phantom.attenuation_db_mm, echo.shape),
        specular=None if phantom.specular is None else _pad_like(phantom.specular, echo.shape),
    )


def _pad_like(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mirror-pad ``arr`` laterally to ``shape`` exactly as :func:`_extend_laterally` pads the echogenicity."""
    out = arr
    while out.shape[1] < shape[1]:
        step = min((shape[1] - out.shape[1]) // 2, out.shape[1])
        out = np.pad(out, ((0, 0), (step, step)), mode="symmetric")
    return out


def _resolve(profile: TransducerProfile | str) -> TransducerProfile:
    if isinstance(profile, TransducerProfile):
        return profile
    if isinstance(profile, str):
        return get_profile(profile)
    raise TypeError(f"profile must be a TransducerProfile or a name, got {type(profile).__name__}")


def simulate_pair(
    seed: int,
    size: int = 256,
    *,
    phantom: str | None = None,
    low_profile: TransducerProfile | str = "pocus",
    high_profile: TransducerProfile | str = "high_end",
    fov_mm: float | None = None,
    spacing_mm: float | None = None,
    randomise_device: bool = False,
    anatomy: object | None = None,
) -> SimulatedPair:
    """Simulate one aligned (POCUS, high-end) pair of ``size`` x ``size`` pixels.

    Args:
        seed: seeds everything (phantom layout, scatterers, both images' noise); same seed ->
            identical pair.
        size: image side in pixels.
        phantom: a preset of :data:`~pocusiq.simulate.phantoms.PHANTOM_PRESETS`, or None to
            draw one from the seed.
        low_profile, high_profile: profiles or names (``"pocus"``, ``"high_end"``).
        fov_mm: side of the square field of view (mm); pixel spacing = ``fov_mm / size``.
        spacing_mm: pixel spacing (mm/pixel) instead of ``fov_mm``; default (neither given)
            :data:`DEFAULT_SPACING_MM`.
        randomise_device: the default simulator's devices: draw the low-end profile from
            :data:`pocusiq.simulate.device_ranges.POCUS_RANGES` (``low_profile`` supplies the
            fields that are not randomised), and show the built-in ``"high_end"`` (if used
            unchanged) with the calibrated display gain of
            :func:`pocusiq.simulate.device_ranges.default_high_profile`.
        anatomy: an :class:`pocusiq.simulate.anatomy.AnatomySource`: the phantom is built from
            one of its real B-mode images instead of a preset.

    Returns:
        :class:`SimulatedPair`. If either profile is curvilinear, both images show the same
        sector (the intersection of both sectors); outside it both are 0.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    low_p, high_p = _resolve(low_profile), _resolve(high_profile)
    if fov_mm is not None and spacing_mm is not None:
        raise ValueError("give fov_mm or spacing_mm, not both")
    if spacing_mm is not None:
        if not spacing_mm > 0:
            raise ValueError(f"spacing_mm must be > 0, got {spacing_mm!r}")
        fov = float(spacing_mm) * size
    else:
        fov = float(fov_mm if fov_mm is not None else DEFAULT_SPACING_MM * size)
    if not fov > 0:
        raise ValueError(f"fov_mm must be > 0, got {fov_mm!r}")
    s_phantom, s_low, s_high, s_device, s_slice = np.random.SeedSequence(int(seed)).spawn(5)
    if randomise_device:
        from pocusiq.simulate.device_ranges import default_high_profile, sample_profile

        low_p = sample_profile(np.random.default_rng(s_device), depth_mm=fov, base=low_p)
        if high_p == HIGH_END:  # the built-in, unchanged: shown as calibrated on real images
            high_p = default_high_profile(high_p)
    curved = "curvilinear" in (low_p.geometry, high_p.geometry)
    rng = np.random.default_rng(s_phantom)
    if phantom is not None and phantom not in PHANTOM_PRESETS:
        raise ValueError(f"unknown phantom preset {phantom!r}; choose one of {', '.join(PHANTOM_PRESETS)}")
    names = list(DEFAULT_MIX)
    drawn = names[int(rng.choice(len(names), p=np.array([DEFAULT_MIX[k] for k in names])))]
    preset = phantom if phantom is not None else drawn
    spacing = fov / size
    margin = max(lateral_margin_mm(low_p, fov), lateral_margin_mm(high_p, fov))
    if curved:
        # a sector fans out beyond the image width at depth; cover it plus the beam margin
        margin += 0.5 * fov
    # draw the phantom over the field of view (so its features are in view), then extend it by
    # mirroring so that beams near the image edges see tissue beyond them
    if anatomy is not None:
        # the source's brightness undone with the display the high-end image is made with
        tissue = anatomy.phantom(rng, width_mm=fov, depth_mm=fov, spacing_mm=spacing, profile=high_p)
        preset = tissue.name
    else:
        tissue = make_phantom(preset, rng, width_mm=fov, depth_mm=fov, spacing_mm=spacing, contact_shadows=True)
    tissue = _extend_laterally(tissue, int(np.ceil(margin / spacing)))
    region = ImagingRegion(x0_mm=tissue.width_mm / 2.0, z0_mm=0.0, width_mm=fov, depth_mm=fov, angle_deg=0.0)
    # the two probes' elevation slices differ: the POCUS image sees partly other scatterers (the
    # high-end image keeps the phantom's own), so the speckle decorrelates; anatomy, wires and
    # specular interfaces are shared, so the pair stays aligned
    rho = elevation_speckle_correlation(low_p, high_p)
    low_tissue = tissue.seen_in_slice(rho, int(s_slice.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    low = simulate_bmode(low_tissue, low_p, np.random.default_rng(s_low), region=region, spacing_mm=spacing)
    high = simulate_bmode(tissue, high_p, np.random.default_rng(s_high), region=region, spacing_mm=spacing)
    sector = low.sector_mask & high.sector_mask
    low_img, high_img = to_uint8(low.image), to_uint8(high.image)
    low_img[~sector] = 0
    high_img[~sector] = 0
    masks = resample_masks(tissue.masks, tissue, region, spacing)
    masks = {key: m & sector for key, m in masks.items()}
    masks["sector"] = sector
    params = {
        "seed": int(seed),
        "size": int(size),
        "phantom": preset,
        "fov_mm": fov,
        "spacing_mm": spacing,
        "randomise_device": bool(randomise_device),
        "low_profile": low_p.to_dict(),
        "high_profile": high_p.to_dict(),
    }
    return SimulatedPair(low=low_img, high=high_img, masks=masks, spacing_mm=spacing, phantom=preset, params=params)
