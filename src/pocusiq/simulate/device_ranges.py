"""Device randomisation: the documented ranges a handheld (POCUS) profile is drawn from, in ONE place.

A model trained on one simulated POCUS profile learns that profile; a user's probe is another.
:func:`sample_profile` draws, per pair, a POCUS profile from :data:`POCUS_RANGES` (a plain table:
field -> range, each with where it comes from), so training covers the family of handheld
devices. Profiles themselves stay plain YAML (:mod:`pocusiq.simulate.profiles`); a drawn profile
is an ordinary :class:`~pocusiq.simulate.profiles.TransducerProfile` recorded in the dataset
manifest (``params.simulator.low_profile``).

Where the numbers come from (approximate; vendors' public spec sheets and manuals, as commonly
quoted; not re-checked against the documents offline):

- centre frequency: handheld linear probes (Butterfly iQ "MSK/vascular" presets, Clarius L7
  4-13 MHz, Interson SP-L01 7.5 MHz, Philips Lumify L12-4) image at about 4-8 MHz in practice;
  curvilinear ones (Clarius C3 2-6 MHz, Interson GP-C01 3.5 MHz, Lumify C5-2) at 3-5.5 MHz;
- fractional bandwidth: low-cost/CMUT front ends and the apps' filtering, 40-75 %;
- aperture: 64-128 active channels (Interson 64-128 elements, Clarius 128-192 elements with
  fewer channels, Butterfly 9000-element CMUT with a reduced beamformer), transmit F# 1.5-3 with
  a single transmit focus the app places at 30-70 % of the depth, dynamic receive focusing in
  70 % of devices (digital beamformers; receive F# 1.5-3), a fixed receive focus otherwise;
- electronic noise -45..-30 dB; dynamic range 50-70 dB (the apps' "dynamic range" slider), the
  gain tied to it so that typical tissue keeps the base profile's grey level, then -1..+5 dB (the
  apps' automatic gain; centred +2 dB, see the calibration below); TGC restoring 60-100 % of the
  attenuation, less a near-field reduction of 1-5 dB at the probe face fading out by 3-8 mm
  (``near_gain_db``/``near_gain_depth_mm``; see the calibration);
- display: 5-8 bit grey levels, JPEG quality 40-90 or lossless (streamed/stored frames),
  speckle reduction 0.2-0.8 and edge enhancement 0-1 (every handheld app smooths speckle; the
  strength is a user/preset setting), 0-0.15 mm Gaussian and 0-0.15 mm lateral smoothing
  (scan-line interpolation); black shown as grey 0 (``black_level`` stays 0: inside the anechoic
  cysts of the six Butterfly frames every pixel is 0, in the Interson frame's water 89 % are 0,
  median 0 -- unlike the carotid scanner's grey 1);
- spatial compounding of 3 or 5 steering angles over +-8..14 degrees (see the calibration);
- geometry: linear (75 %) or curvilinear (radius 20-60 mm, sector 50-75 degrees).

Calibration: the F#, speckle-reduction, dynamic-range and gain ranges were narrowed so that the
simulated POCUS images of the QA-phantom preset match the real Butterfly/Interson phantom frames
at the same scale (``bench/realism.py``: grey histogram, speckle size, dark fraction) while the
pairs stay about as hard as the paper's (``bench/simulate.py``). Then, against the learned domain
gap (the bench's real-vs-simulated patch classifier, 88-90 % before):

- speckle contrast. The classifier's held-out decisions followed the 9x9 local grey std: simulated
  patches with a local std of 6-8 (the real frames' typical 8.6) were called real, those above 12
  (the simulator's typical 14.5) always simulated. The real Butterfly frames show the CIRS
  grey-scale targets (-9..+6 dB) at about 5-7 grey levels per dB, so their displayed range is
  not wide, yet their speckle std in 48x48 tiles is 12 grey levels (~2 dB, against 5.6 dB for
  single-look log-compressed speckle) with a near-zero skew: several independent looks are averaged
  while the speckle size (autocorrelation) stays that of one look. Spatial compounding does that
  (a wider dynamic range would lower the targets' contrast as well); it stands here for whatever
  multi-look averaging an app applies (spatial or frequency compounding, frame persistence while
  the probe moves slightly), which vendors do not publish per device; 3-5 angles over +-8..14
  degrees bring the local-std ratio sim/real from 1.6 to 0.9 at unchanged speckle size and the
  classifier from 88 % to ~81 % (QA preset, 40 pairs at 0.08 mm/pixel, mean of 3 classifiers;
  what it then used were the preset's many wires, see
  :data:`pocusiq.simulate.phantoms.QA_SECTION_MM`). Stronger speckle reduction (0.4-0.9) on top
  made the images smoother than the real ones (local-std ratio 0.63 in ``bench/realism.py``).
- brightness over depth. The Butterfly frames' median grey rises from 18 at the probe face to
  ~63 at 12-20 mm (a dark near field, about -10 dB over 12-15 mm at ~5 grey levels per dB) while
  the simulator showed ~50 flat: hence the near-field TGC reduction and the +2 dB centre of the
  gain offset. The near field the real frames show (-14..-8 dB over 10-18 mm, which matched their
  depth profile) made the pairs too easy (SSIM 0.445 between the pair's images, 30 pairs: a darker
  POCUS image resembles the dark high-end one; -8..-3 dB over 5-10 mm: 0.402 on
  ``bench/simulate.py``'s 50 pairs), so the range stops at -5..-1 dB over 3-8 mm (SSIM 0.381,
  PSNR 16.32 dB on ``bench/simulate.py``'s 50 pairs with the final ranges: inside its band of
  0.29 +- 0.10 and 19.2 +- 3 dB, PSNR near the band's floor). This is the one place where realism gave way to the
  difficulty target. Measured again once ``bench/realism.py`` cut the real frames from the probe
  face (it had cut their first 2 mm; 40 QA pairs, mean of 3 classifiers): these ranges give the QA
  row a histogram intersection of 0.65, dark-fraction gap 0.16 and classifier 77 %; the real-strength
  near field (-14..-8 dB over 10-18 mm) gives 0.81, 0.12 and 71 %, at pair SSIM 0.48 / PSNR 18.5 dB
  (50 pairs); the previous ranges (no compounding, +-3 dB) gave 0.83, 0.13 and 79 % at SSIM 0.355.

The high-end profile is not randomised (it is the target the model learns to produce), but the
default simulator shows it :data:`HIGH_END_DISPLAY_OFFSET_DB` darker than the built-in
``high_end`` profile (:func:`default_high_profile`): calibrated on the real carotid images at the
same scale (``bench/realism.py``, whole frames: they are 72 % near-black; at the built-in gain the
simulated images were 40 %, at -6 dB 48 %, at -9 dB 60 %, 40 default pairs). Re-checked when the
benchmark began to cut the real frames to the simulated depth (their top 20.5 mm are 56 %
near-black): at -9 dB the dark-fraction gap is 0.04, the lateral speckle ratio 0.85, the
classifier 66 % (60 pairs, mean of 3 classifiers); at -6 dB 0.08, 0.77 (out of range) and 65 %;
so -9 dB stays. The built-in profile keeps its gain for the simulated gantry (``acquire``).
It also shows no echo at grey :data:`HIGH_END_BLACK_LEVEL` (1), as the carotid scanner does;
at grey 0, 42 % of the simulated pixels missed the real images' spike at 1 (about half their pixels), and the 256-bin
histogram intersection was 0.50 instead of 0.75 (top 20.5 mm, 60 pairs).

Elevation slice: ``elevation_fwhm_mm`` 2-4 mm (handheld probes have one row of elements behind a
fixed elevation lens; QA slice-thickness figures of such probes are a few mm, against ~1 mm for
the 1.25D/1.5D arrays of cart scanners). The two images of a pair then see partly different
scatterers (:func:`pocusiq.simulate.profiles.elevation_speckle_correlation`, 0.69-0.89 against
the high-end's 1 mm), which is what makes their speckle differ in real pairs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from pocusiq.simulate.profiles import POCUS, TransducerProfile

#: field -> (low, high) uniform range, or ("choice", [values...]). ``tx_focus_fraction`` is the
#: transmit focus as a fraction of the image depth; ``gain_offset_db`` is added to the gain that
#: keeps unit-echogenicity tissue at the base profile's grey level at the drawn dynamic range.
#: Keys ending in ``_linear`` / ``_curvilinear`` apply to that geometry only.
POCUS_RANGES: dict[str, Any] = {
    "curvilinear_probability": 0.25,
    "center_frequency_mhz_linear": (4.0, 8.0),
    "center_frequency_mhz_curvilinear": (3.0, 5.5),
    "fractional_bandwidth": (0.4, 0.75),
    "n_elements": (64, 128),
    "pitch_mm_linear": (0.2, 0.3),
    "pitch_mm_curvilinear": (0.3, 0.45),
    "radius_mm_curvilinear": (20.0, 60.0),
    "sector_angle_deg_curvilinear": (50.0, 75.0),
    "f_number": (1.5, 3.0),
    "tx_focus_fraction": (0.3, 0.7),
    "dynamic_receive_probability": 0.7,
    "rx_f_number": (1.5, 3.0),
    "noise_db": (-45.0, -30.0),
    "dynamic_range_db": (50.0, 70.0),
    "gain_offset_db": (-1.0, 5.0),
    "tgc_compensation": (0.6, 1.0),
    "bit_depth": ("choice", [5, 6, 7, 8]),
    "lossless_probability": 0.2,
    "jpeg_quality": (40, 90),
    "display_smoothing_mm": (0.0, 0.15),
    "lateral_smoothing_mm": (0.0, 0.15),
    "speckle_reduction": (0.2, 0.8),
    "edge_enhance": (0.0, 1.0),
    "elevation_fwhm_mm": (2.0, 4.0),
    "compounding_n_angles": ("choice", [3, 5]),
    "compounding_half_span_deg": (8.0, 14.0),
    "near_gain_db": (-5.0, -1.0),
    "near_gain_depth_mm": (3.0, 8.0),
}


#: Display gain offset (dB) of the default simulator's high-end images relative to the built-in
#: ``high_end`` profile (see the module docstring).
HIGH_END_DISPLAY_OFFSET_DB = -9.0


#: Grey level at which the default simulator's high-end images show no echo: the real carotid
#: scanner's black (53 % of the pixels of its 207 frames are exactly grey 1, 1.6 % are 0).
HIGH_END_BLACK_LEVEL = 1


def default_high_profile(base: TransducerProfile) -> TransducerProfile:
    """The high-end profile as the default simulator displays it: ``base`` with the calibrated
    gain offset and black level (:data:`HIGH_END_DISPLAY_OFFSET_DB`, :data:`HIGH_END_BLACK_LEVEL`)."""
    return dataclasses.replace(base, gain_db=base.gain_db + HIGH_END_DISPLAY_OFFSET_DB, black_level=HIGH_END_BLACK_LEVEL)


def _gain_for(base: TransducerProfile, dynamic_range_db: float) -> float:
    """Gain (dB) showing unit-echogenicity tissue at the grey level ``base`` shows it, at ``dynamic_range_db``."""
    level = (base.gain_db + base.dynamic_range_db) / base.dynamic_range_db
    return level * dynamic_range_db - dynamic_range_db


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def sample_profile(
    rng: np.random.Generator,
    *,
    depth_mm: float,
    base: TransducerProfile = POCUS,
    ranges: Mapping[str, Any] = POCUS_RANGES,
    allow_curvilinear: bool = True,
) -> TransducerProfile:
    """Draw one handheld profile from ``ranges`` (the same ``rng`` state gives the same profile).

    Args:
        rng: source of the draw.
        depth_mm: image depth (mm); the transmit focus is drawn as a fraction of it.
        base: profile supplying the fields that are not randomised (and the base gain).
        ranges: the table (default :data:`POCUS_RANGES`).
        allow_curvilinear: False keeps the geometry linear.

    Returns:
        A :class:`TransducerProfile` named ``base.name + "~"`` with every randomised field inside
        its range (:func:`check_in_ranges`).
    """
    curved = allow_curvilinear and rng.random() < ranges["curvilinear_probability"]
    geo = "curvilinear" if curved else "linear"
    values: dict[str, Any] = {
        "geometry": geo,
        "center_frequency_mhz": _uniform(rng, ranges[f"center_frequency_mhz_{geo}"]),
        "fractional_bandwidth": _uniform(rng, ranges["fractional_bandwidth"]),
        "n_elements": int(rng.integers(ranges["n_elements"][0], ranges["n_elements"][1] + 1)),
        "pitch_mm": _uniform(rng, ranges[f"pitch_mm_{geo}"]),
        "f_number": _uniform(rng, ranges["f_number"]),
        "tx_focus_mm": _uniform(rng, ranges["tx_focus_fraction"]) * depth_mm,
        "noise_db": _uniform(rng, ranges["noise_db"]),
        "dynamic_range_db": _uniform(rng, ranges["dynamic_range_db"]),
        "gain_db": 0.0,  # set below, from the dynamic range

        "tgc_compensation": _uniform(rng, ranges["tgc_compensation"]),
        "bit_depth": int(rng.choice(ranges["bit_depth"][1])),
        "jpeg_quality": None
        if rng.random() < ranges["lossless_probability"]
        else int(rng.integers(ranges["jpeg_quality"][0], ranges["jpeg_quality"][1] + 1)),
        "display_smoothing_mm": _uniform(rng, ranges["display_smoothing_mm"]),
        "lateral_smoothing_mm": _uniform(rng, ranges["lateral_smoothing_mm"]),
        "speckle_reduction": _uniform(rng, ranges["speckle_reduction"]),
        "edge_enhance": _uniform(rng, ranges["edge_enhance"]),
        "dynamic_receive_focus": bool(rng.random() < ranges["dynamic_receive_probability"]),
        "rx_f_number": _uniform(rng, ranges["rx_f_number"]),
    }
    # the gain keeps unit-echogenicity tissue at the base profile's grey level whatever the
    # dynamic range (a wider range with the same gain would just brighten the image), then the offset
    values["gain_db"] = _gain_for(base, values["dynamic_range_db"]) + _uniform(rng, ranges["gain_offset_db"])
    if not values["dynamic_receive_focus"]:
        values["rx_f_number"] = values["f_number"]  # fixed receive focus = the transmit one
    if curved:
        values["radius_mm"] = _uniform(rng, ranges["radius_mm_curvilinear"])
        values["sector_angle_deg"] = _uniform(rng, ranges["sector_angle_deg_curvilinear"])
    values["elevation_fwhm_mm"] = _uniform(rng, ranges["elevation_fwhm_mm"])  # drawn late: earlier draws unchanged
    n_angles = int(rng.choice(ranges["compounding_n_angles"][1]))
    half_span = _uniform(rng, ranges["compounding_half_span_deg"])
    values["compounding_angles_deg"] = compounding_angles(n_angles, half_span)
    values["near_gain_db"] = _uniform(rng, ranges["near_gain_db"])
    values["near_gain_depth_mm"] = _uniform(rng, ranges["near_gain_depth_mm"])
    return dataclasses.replace(base, name=f"{base.name}~", description="drawn from pocusiq.simulate.device_ranges.POCUS_RANGES", **values)


def compounding_angles(n_angles: int, half_span_deg: float) -> tuple[float, ...]:
    """``n_angles`` steering angles (degrees) evenly spread over ``+-half_span_deg`` (``(0.0,)`` for one)."""
    if n_angles <= 1:
        return (0.0,)
    return tuple(float(a) for a in np.round(np.linspace(-half_span_deg, half_span_deg, n_angles), 6))


def check_in_ranges(profile: TransducerProfile, *, depth_mm: float, base: TransducerProfile = POCUS,
                    ranges: Mapping[str, Any] = POCUS_RANGES) -> list[str]:
    """Fields of ``profile`` outside ``ranges`` (empty list = all inside)."""
    geo = profile.geometry
    out: list[str] = []

    def inside(name: str, value: float, key: str | None = None) -> None:
        lo, hi = ranges[key or name]
        if not lo - 1e-9 <= value <= hi + 1e-9:
            out.append(f"{name}={value!r} outside [{lo}, {hi}]")

    inside("center_frequency_mhz", profile.center_frequency_mhz, f"center_frequency_mhz_{geo}")
    inside("fractional_bandwidth", profile.fractional_bandwidth)
    inside("n_elements", profile.n_elements)
    inside("pitch_mm", profile.pitch_mm, f"pitch_mm_{geo}")
    inside("f_number", profile.f_number)
    inside("rx_f_number", profile.rx_f_number)
    inside("tx_focus_fraction", profile.tx_focus_mm / depth_mm)
    inside("noise_db", profile.noise_db)
    inside("dynamic_range_db", profile.dynamic_range_db)
    inside("gain_offset_db", profile.gain_db - _gain_for(base, profile.dynamic_range_db))
    inside("tgc_compensation", profile.tgc_compensation)
    if profile.bit_depth not in ranges["bit_depth"][1]:
        out.append(f"bit_depth={profile.bit_depth} not in {ranges['bit_depth'][1]}")
    if profile.jpeg_quality is not None:
        inside("jpeg_quality", profile.jpeg_quality)
    for name in ("display_smoothing_mm", "lateral_smoothing_mm", "speckle_reduction", "edge_enhance", "elevation_fwhm_mm",
                 "near_gain_db", "near_gain_depth_mm"):
        inside(name, getattr(profile, name))
    angles = profile.compounding_angles_deg
    if len(angles) not in ranges["compounding_n_angles"][1]:
        out.append(f"compounding_angles_deg={angles!r}: {len(angles)} angles, not one of {ranges['compounding_n_angles'][1]}")
    elif len(angles) > 1:
        inside("compounding_half_span_deg", max(abs(a) for a in angles))
    if geo == "curvilinear":
        inside("radius_mm", profile.radius_mm, "radius_mm_curvilinear")
        inside("sector_angle_deg", profile.sector_angle_deg, "sector_angle_deg_curvilinear")
    return out


def ranges_table(ranges: Mapping[str, Any] = POCUS_RANGES) -> str:
    """The ranges as Markdown table rows (for the README/docs)."""
    rows = ["| parameter | range |", "|---|---|"]
    for key, value in ranges.items():
        if isinstance(value, tuple) and value[0] == "choice":
            text = ", ".join(map(str, value[1]))
        elif isinstance(value, tuple):
            text = f"{value[0]} – {value[1]}"
        else:
            text = str(value)
        rows.append(f"| `{key}` | {text} |")
    return "\n".join(rows)
