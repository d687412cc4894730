"""Transducer/system profiles: the physical parameters a B-mode simulation images with.

A :class:`TransducerProfile` describes one ultrasound system (probe + beamformer + display
chain) by physical quantities, each with its unit in the field name. The imaging model in
:mod:`pocusiq.simulate.bmode` turns them into a point-spread function (PSF), noise and a
display mapping:

- axial PSF: Gaussian-modulated pulse-echo pulse at ``center_frequency_mhz`` with -6 dB
  fractional bandwidth ``fractional_bandwidth``; its envelope has
  ``sigma_t = sqrt(2 ln 2) / (pi * B * f0)`` (s), i.e. ``sigma_z = c * sigma_t / 2`` (mm).
- lateral PSF: one-way amplitude FWHM ``~1.2 * lambda * F#`` at the focus (uniform aperture,
  sinc pattern), widening geometrically away from it (``~0.7 D |z - z_f| / z_f``); the
  pulse-echo beam is the product of the transmit and receive beams. With dynamic receive
  focus the receive beam keeps the width it has at its focus at every depth.
- spatial compounding: incoherent average of envelopes over ``compounding_angles_deg``.
- attenuation ``alpha * f0 * 2 z`` (dB), of which time-gain compensation (TGC) restores the
  fraction ``tgc_compensation``; electronic noise is added before TGC, so it grows with depth.
- display: log compression to ``dynamic_range_db`` with ``gain_db``, optional Gaussian
  post-processing ``display_smoothing_mm`` (speckle reduction), the grey map's pedestal
  ``black_level`` (the grey a zero echo is shown at), quantisation to ``bit_depth``
  bits, optional JPEG round trip at ``jpeg_quality`` (what a handheld app streams/stores).
- elevation slice: ``elevation_fwhm_mm``; the 2-D model images one slab, so it only sets how much
  the speckle of two systems imaging the same tissue correlates
  (:func:`elevation_speckle_correlation`, used for the two images of a simulated pair).

The default gains (and the high-end's light smoothing) were calibrated so that default
256x256 pairs are as hard as the paper's real pairs (SSIM ~0.29, PSNR ~19-20 dB between the
POCUS and high-end image; ``bench/simulate.py`` prints the figures).

Two built-in profiles model the paper's devices: :data:`HIGH_END` (a cart scanner with a
linear probe) and :data:`POCUS` (a handheld general-purpose probe). Users add their own in a
YAML/JSON file (:func:`load_profiles`, example in ``examples/profiles.yaml``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocusiq import config as cfgkit
from pocusiq.config import setting
from pocusiq.errors import ConfigError

GEOMETRIES = ("linear", "curvilinear")

#: One-way amplitude FWHM of a uniformly excited aperture at its focus, in units of lambda*F#
#: (|sinc| pattern: 1.207). The pulse-echo (transmit x receive) width with equal F# is this
#: divided by sqrt(2) for Gaussian-approximated beams (0.853 lambda F#; the exact sinc^2 gives 0.886).
ONE_WAY_FWHM_PER_LAMBDA_FNUMBER = 1.207

#: Away from the focus a focused aperture's beam follows the geometric cone of full width
#: ``D |z - z_f| / z_f``; its amplitude FWHM is a fraction of that. 0.7 was fitted to PyMUST's
#: ``pfield`` (pulse-echo, 64-element 4 MHz array, F#3) at 0.5x and 1.5x the focal depth
#: (``bench/simulate.py`` prints the comparison).
GEOMETRIC_DEFOCUS_FACTOR = 0.7


@dataclass(frozen=True)
class TransducerProfile:
    """Physical parameters of one ultrasound system (probe, beamformer, display chain).

    Attributes:
        name: profile name (``"high_end"``, ``"pocus"`` or user-defined).
        center_frequency_mhz: pulse-echo centre frequency f0 (MHz). Sets the wavelength
            ``lambda = c / f0`` and so the lateral resolution, and the attenuation.
        fractional_bandwidth: pulse-echo -6 dB bandwidth divided by f0 (0..2). Sets the pulse
            length and the axial resolution.
        n_elements: number of array elements (the largest possible aperture is
            ``n_elements * pitch_mm``).
        pitch_mm: element pitch (mm).
        tx_focus_mm: transmit focal depth below the probe face (mm).
        f_number: transmit F-number (focal depth / active aperture width). Also the receive
            F-number at the transmit focus when there is no dynamic receive focus.
        dynamic_receive_focus: True if the receive beamformer refocuses at every depth with a
            growing aperture (constant ``rx_f_number``), keeping the receive beam narrow over depth.
        rx_f_number: receive F-number with dynamic receive focus (ignored otherwise).
        compounding_angles_deg: steering angles (degrees) whose envelopes are averaged
            (spatial compounding); ``(0.0,)`` means no compounding.
        noise_db: rms of the electronic (thermal) noise relative to the rms echo of
            unit-echogenicity tissue at the probe face (dB, negative).
        dynamic_range_db: displayed dynamic range of the log compression (dB).
        gain_db: display gain: a pixel shows ``(20 log10(envelope) + gain_db + DR) / DR``
            (clipped to 0..1), where unit-echogenicity speckle has rms envelope 1.
        display_smoothing_mm: sigma (mm) of the Gaussian post-processing applied to the
            log-compressed image (speckle-reduction/persistence filters of the scanner and the
            interpolation of its display); 0 = none.
        speckle_reduction: strength (0..1) of the app's edge-preserving speckle-reduction
            filter (:func:`pocusiq.simulate.display.speckle_reduce`): 0 = off, 1 = full smoothing
            of homogeneous regions with edges kept.
        edge_enhance: amount (0..2) of the app's edge-enhancement (unsharp mask) filter; 0 = off.
        lateral_smoothing_mm: sigma (mm) of extra lateral-only smoothing (scan-line interpolation
            and lateral persistence of the display); 0 = none.
        black_level: grey level (0..64, of 0..255) at which the display shows no echo: the
            pedestal of the scanner's grey map, ``grey = black_level + v (255 - black_level)``
            for a log-compressed value ``v`` in 0..1, applied before quantisation. Many scanners
            do not show black as 0: the real carotid scanner in ``shared/data/real`` shows 53 % of
            the pixels of its 207 frames at exactly grey 1 (48 % within the imaged depth) and
            1.6 % at 0.
        bit_depth: bits per pixel of the displayed image (1..8).
        jpeg_quality: JPEG quality (1..95) of the stored/streamed image, or None (lossless).
        attenuation_db_cm_mhz: attenuation coefficient of the imaged medium (dB/cm/MHz).
        tgc_compensation: fraction (0..1) of the round-trip attenuation restored by TGC.
        near_gain_db: receive gain (dB, <= 0) at the probe face relative to depth: the TGC curve
            rises linearly from it to 0 dB at ``near_gain_depth_mm`` (applied to echo and noise).
            Handheld apps keep the near field dark (their automatic TGC hides the lens'
            ring-down); 0 = flat (the cart scanner's sliders).
        near_gain_depth_mm: depth (mm) at which the near-field gain reduction has faded out.
        geometry: ``"linear"`` (rectangular image) or ``"curvilinear"`` (sector, scan converted).
        radius_mm: radius of curvature of a curvilinear array (mm; ignored for linear).
        sector_angle_deg: full opening angle of a curvilinear sector (degrees; ignored for linear).
        sound_speed_m_s: speed of sound assumed by the beamformer and the model (m/s).
        elevation_fwhm_mm: elevation (slice-thickness) beam FWHM (mm): the thickness of the
            tissue slab whose scatterers add into each pixel. The 2-D model images one slab, so
            this only matters between two systems: with different slice thicknesses they see
            partly different scatterers and their speckle decorrelates
            (:func:`elevation_speckle_correlation`).
        description: free text: what device this models and why these values.
    """

    name: str
    center_frequency_mhz: float = setting(gt=0.0, le=50.0)
    fractional_bandwidth: float = setting(gt=0.0, le=2.0)
    n_elements: int = setting(128, ge=1)
    pitch_mm: float = setting(0.3, gt=0.0)
    tx_focus_mm: float = setting(20.0, gt=0.0)
    f_number: float = setting(2.0, gt=0.0)
    dynamic_receive_focus: bool = True
    rx_f_number: float = setting(1.5, gt=0.0)
    compounding_angles_deg: tuple[float, ...] = setting((0.0,), gt=-45.0, lt=45.0)
    noise_db: float = setting(-50.0, le=0.0)
    dynamic_range_db: float = setting(60.0, gt=0.0)
    gain_db: float = -20.0
    bit_depth: int = setting(8, ge=1, le=8)
    jpeg_quality: int | None = setting(None, ge=1, le=95)
    black_level: int = setting(0, ge=0, le=64)
    display_smoothing_mm: float = setting(0.0, ge=0.0, le=5.0)
    speckle_reduction: float = setting(0.0, ge=0.0, le=1.0)
    edge_enhance: float = setting(0.0, ge=0.0, le=2.0)
    lateral_smoothing_mm: float = setting(0.0, ge=0.0, le=5.0)
    attenuation_db_cm_mhz: float = setting(0.5, ge=0.0)
    tgc_compensation: float = setting(0.9, ge=0.0, le=1.0)
    near_gain_db: float = setting(0.0, ge=-40.0, le=0.0)
    near_gain_depth_mm: float = setting(10.0, gt=0.0)
    geometry: str = setting("linear", choices=GEOMETRIES)
    radius_mm: float = setting(40.0, gt=0.0)
    sector_angle_deg: float = setting(60.0, gt=0.0, lt=180.0)
    sound_speed_m_s: float = setting(1540.0, gt=0.0)
    elevation_fwhm_mm: float = setting(1.0, gt=0.0, le=20.0)
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.compounding_angles_deg, (list, tuple)):
            object.__setattr__(
                self, "compounding_angles_deg",
                tuple(float(a) if isinstance(a, int) and not isinstance(a, bool) else a for a in self.compounding_angles_deg),
            )
        try:
            cfgkit.check(self)  # field types and ranges (pocusiq.config.setting), then check_consistency
        except ConfigError as exc:
            raise ValueError(f"transducer profile {self.name!r}: {exc}") from None

    def check_consistency(self) -> None:
        if not self.name:
            raise ConfigError("name must be a non-empty string")
        if not self.compounding_angles_deg:
            raise ConfigError("compounding_angles_deg must list at least one angle (0 for no compounding)")

    # ---- derived physical quantities -------------------------------------------------
    @property
    def wavelength_mm(self) -> float:
        """Wavelength at the centre frequency, ``c / f0`` (mm)."""
        return self.sound_speed_m_s / 1000.0 / self.center_frequency_mhz

    @property
    def array_width_mm(self) -> float:
        """Width of the whole array, ``n_elements * pitch`` (mm)."""
        return self.n_elements * self.pitch_mm

    @property
    def tx_aperture_mm(self) -> float:
        """Active transmit aperture width: ``tx_focus / F#``, limited by the array width (mm)."""
        return min(self.tx_focus_mm / self.f_number, self.array_width_mm)

    @property
    def effective_f_number(self) -> float:
        """Transmit F-number actually achieved (the aperture may be limited by the array)."""
        return self.tx_focus_mm / self.tx_aperture_mm

    @property
    def axial_sigma_mm(self) -> float:
        """Standard deviation (mm) of the Gaussian pulse-echo envelope along depth.

        ``sigma_t = sqrt(2 ln 2) / (pi B f0)`` for a Gaussian pulse whose spectrum has -6 dB
        (amplitude half maximum) width ``B f0``; depth = ``c t / 2`` (round trip).
        """
        sigma_t_us = math.sqrt(2.0 * math.log(2.0)) / (
            math.pi * self.fractional_bandwidth * self.center_frequency_mhz
        )
        return self.sound_speed_m_s / 1000.0 * sigma_t_us / 2.0

    @property
    def axial_fwhm_mm(self) -> float:
        """Axial FWHM (mm) of the pulse-echo envelope."""
        return 2.0 * math.sqrt(2.0 * math.log(2.0)) * self.axial_sigma_mm

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields (tuples become lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["compounding_angles_deg"] = list(self.compounding_angles_deg)
        return out


#: Cart-based scanner with a linear probe (the paper's "high-end" device class, e.g. a
#: GE/Philips/Siemens console with a 4-12 MHz linear array).
HIGH_END = TransducerProfile(
    name="high_end",
    center_frequency_mhz=8.0,  # linear vascular/small-parts probes run at 7-12 MHz
    fractional_bandwidth=0.8,  # broadband composite/single-crystal arrays: ~70-90 % -6 dB
    n_elements=192,  # 192-element linear arrays are standard on cart systems
    pitch_mm=0.2,  # ~lambda at 8 MHz (0.19 mm): a 38 mm footprint
    tx_focus_mm=15.0,  # user-set focus in the middle of a 30 mm field of view
    f_number=2.0,  # transmit F#2: 7.5 mm active aperture
    dynamic_receive_focus=True,  # every cart beamformer focuses dynamically on receive
    rx_f_number=1.5,  # receive F# kept constant by an expanding aperture
    compounding_angles_deg=(-10.0, 0.0, 10.0),  # spatial compounding (SonoCT/CrossXBeam-like)
    noise_db=-60.0,  # low-noise front end, many channels summed
    dynamic_range_db=60.0,  # typical displayed dynamic range of a cart scanner
    gain_db=-46.0,  # calibrated: unit-echogenicity tissue at ~0.22 of full scale (dark, as in the carotid data)
    display_smoothing_mm=0.05,  # light speckle-reduction post-processing (on by default on cart scanners)
    bit_depth=8,
    jpeg_quality=None,  # lossless DICOM
    attenuation_db_cm_mhz=0.5,  # soft tissue
    tgc_compensation=0.95,  # TGC sliders set by the sonographer
    geometry="linear",
    elevation_fwhm_mm=1.0,  # 1.25D/1.5D arrays focus in elevation: ~1 mm slice at the focus
    description="Cart-based scanner, 192-element 8 MHz linear array, dynamic receive focus, "
    "3-angle spatial compounding, low noise, 60 dB dynamic range, light speckle reduction, "
    "8-bit lossless.",
)

#: Handheld point-of-care probe (Butterfly/Clarius-class general-purpose probe).
POCUS = TransducerProfile(
    name="pocus",
    center_frequency_mhz=4.0,  # general-purpose handheld probes image at ~3-5 MHz in practice
    fractional_bandwidth=0.5,  # narrower effective bandwidth (CMUT/low-cost front end, filtering)
    n_elements=64,  # fewer channels: small, battery-powered beamformer
    pitch_mm=0.3,
    tx_focus_mm=18.0,  # one fixed focus
    f_number=3.0,  # small effective aperture (6 mm): wide beam
    dynamic_receive_focus=False,  # single (fixed) receive focus, same as transmit
    rx_f_number=3.0,
    compounding_angles_deg=(0.0,),  # no compounding (frame rate/power budget)
    noise_db=-38.0,  # few channels, low transmit power: noisy, visible at depth
    dynamic_range_db=48.0,  # lower displayed dynamic range
    gain_db=-36.0,  # calibrated with the high_end gain to the paper's SSIM/PSNR between pairs
    bit_depth=6,  # coarser grey levels after the app's processing
    jpeg_quality=60,  # lossy compression of the streamed/stored frames
    attenuation_db_cm_mhz=0.5,
    tgc_compensation=0.8,  # automatic gain, imperfect
    geometry="linear",
    elevation_fwhm_mm=3.0,  # one row of elements behind a fixed elevation lens: a 2-4 mm slice
    description="Handheld general-purpose probe, 4 MHz, 50 % bandwidth, 6 mm aperture with one "
    "fixed focus, no compounding, -38 dB noise, 48 dB dynamic range, 6-bit, JPEG q60, 3 mm slice.",
)

def elevation_speckle_correlation(a: TransducerProfile, b: TransducerProfile) -> float:
    """Correlation (0..1] of the complex echoes two systems get from the same tissue cell.

    Each pixel sums the scatterers of a slab weighted by the elevation beam profile. For
    Gaussian profiles of FWHM ``w1`` and ``w2`` centred on the same plane, the normalised
    cross-correlation of the two sums over a random (delta-correlated) scatterer field is
    ``sqrt(2 w1 w2 / (w1^2 + w2^2))`` (1 for equal widths; 0.77 for 1 mm vs 3 mm). The envelope
    (intensity) correlation of fully developed speckle is its square.
    """
    w1, w2 = a.elevation_fwhm_mm, b.elevation_fwhm_mm
    return math.sqrt(2.0 * w1 * w2 / (w1 * w1 + w2 * w2))


BUILTIN_PROFILES: dict[str, TransducerProfile] = {"high_end": HIGH_END, "pocus": POCUS}


def get_profile(name: str, extra: Mapping[str, TransducerProfile] | None = None) -> TransducerProfile:
    """Return a built-in profile (``"high_end"``, ``"pocus"``) or one from ``extra``.

    Args:
        name: profile name.
        extra: user profiles (e.g. from :func:`load_profiles`); they take precedence.

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    if extra and name in extra:
        return extra[name]
    if name in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[name]
    known = sorted(set(BUILTIN_PROFILES) | set(extra or {}))
    raise ConfigError(f"unknown transducer profile {name!r}; known profiles: {', '.join(known)}")


def profile_from_dict(name: str, values: Mapping[str, Any], *, source: str = "<dict>") -> TransducerProfile:
    """Build a profile from a mapping of field values.

    A ``base`` key names a profile (built-in) whose values fill the fields not given.

    Raises:
        ConfigError: unknown/missing fields or invalid values; the message names ``source``
            and the profile.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: profile {name!r} must be a mapping of fields, got {type(values).__name__}")
    values = dict(values)
    base_name = values.pop("base", None)
    if base_name is not None:
        if base_name not in BUILTIN_PROFILES:
            raise ConfigError(
                f"{source}: profile {name!r} has unknown base {base_name!r}; "
                f"known: {sorted(BUILTIN_PROFILES)}"
            )
        merged = BUILTIN_PROFILES[base_name].to_dict()
        merged.update(values)
        values = merged
    values["name"] = name
    angles = values.get("compounding_angles_deg")
    if isinstance(angles, (int, float)) and not isinstance(angles, bool):
        values["compounding_angles_deg"] = [angles]  # one angle may be given without a list
    try:
        return cfgkit.from_dict(TransducerProfile, values)
    except ConfigError as exc:
        message = str(exc)
        if not message.startswith("transducer profile"):
            message = f"profile {name!r}: {message}"
        raise ConfigError(f"{source}: {message}") from None


def load_profiles(path: str | Path) -> dict[str, TransducerProfile]:
    """Load user-defined profiles from a YAML (``.yaml``/``.yml``) or JSON file.

    The file holds a mapping ``{profile_name: {field: value, ...}}``, optionally under a
    top-level ``profiles:`` key. A profile may start from a built-in one with ``base: pocus``.

    Returns:
        ``{name: TransducerProfile}`` in file order.

    Raises:
        ConfigError: missing/unreadable/malformed file, unknown fields, invalid values.
    """
    path = Path(path)
    data = cfgkit.read_config_file(path, "profile file")
    if isinstance(data, Mapping) and "profiles" in data:
        data = data["profiles"]
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(f"{path}: expected a non-empty mapping of profile name -> fields")
    profiles: dict[str, TransducerProfile] = {}
    for name, values in data.items():
        if not isinstance(name, str):
            raise ConfigError(f"{path}: profile names must be strings, got {name!r}")
        profiles[name] = profile_from_dict(name, values, source=str(path))
    return profiles


def profiles_with_overrides(path: str | Path | None, overrides: Sequence[str]) -> dict[str, Any]:
    """The profile-file data of ``path`` (or none) with ``--set PROFILE.FIELD=VALUE`` overrides.

    A profile not in the file but built in (``pocus``, ``high_end``) is started from the
    built-in (``base``), so ``--set pocus.noise_db=-40`` changes the built-in POCUS profile for
    this run. Returns ``{name: fields}`` for :func:`load_profiles`; raises ConfigError.
    """
    data: Any = {}
    if path is not None:
        data = cfgkit.read_config_file(path, "profile file")
        if isinstance(data, Mapping) and "profiles" in data:
            data = data["profiles"]
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a non-empty mapping of profile name -> fields")
    data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    for item in overrides:
        name = item.split("=", 1)[0].split(".", 1)[0].strip()
        if name not in data:
            if name not in BUILTIN_PROFILES:
                raise ConfigError(
                    f"override {item!r}: unknown transducer profile {name!r}; known profiles: "
                    f"{', '.join(sorted(set(BUILTIN_PROFILES) | set(data)))}"
                )
            data[name] = {"base": name}
    return cfgkit.apply_overrides(data, overrides)
