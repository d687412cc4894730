"""Digital phantoms in physical units: echogenicity maps, point targets and ground-truth masks.

Coordinates: a phantom is a grid of ``(H, W)`` square cells of side ``spacing_mm``; row ``i``
is depth, column ``j`` is lateral position. Cell ``(i, j)`` covers
``z in [i*d, (i+1)*d)``, ``x in [j*d, (j+1)*d)`` (mm), so its centre is at
``((i + 0.5) d, (j + 0.5) d)``. Depth ``z = 0`` is the top edge (the skin / probe face of a
probe placed at the top); the phantom spans ``[0, H d] x [0, W d]`` mm.

The tissue's scatterers are fixed by ``scatter_seed``: one scatterer per cell, with a circular
complex Gaussian amplitude (the net echo of many sub-resolution scatterers, so that any PSF
gives fully developed speckle) at a random position inside the cell, scaled by the cell's
echogenicity. Two devices (or two probe poses) imaging the same phantom therefore see the same
scatterers through different PSFs. Wires are point targets at exact positions (``wires_mm``).

Smooth random fields use SciPy Gaussian filtering of white noise at reduced resolution (cheap
for the 256x256 pairs simulated on the fly); shapes are drawn with NumPy only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

#: Tissue presets (``simulate_pair`` draws among these at random, with :data:`DEFAULT_MIX`).
PHANTOM_PRESETS = ("soft_tissue", "random_tissue", "abdominal", "ex_vivo_slab", "resolution")
#: Every name :func:`make_phantom` accepts: the tissue presets and the calibration phantom's
#: plain speckle background (never drawn at random).
ALL_PHANTOM_PRESETS = PHANTOM_PRESETS + ("wire_phantom",)

#: Probability of each preset when a pair draws its phantom (the default mix). Real handheld
#: scans of people (``soft_tissue``) dominate; QA phantoms (``resolution``) teach targets.
DEFAULT_MIX = {"soft_tissue": 0.55, "resolution": 0.2, "random_tissue": 0.1, "abdominal": 0.1, "ex_vivo_slab": 0.05}

#: Mask names every phantom returns (all-False where the phantom has none of that kind).
MASK_NAMES = ("cysts", "hyperechoic", "wires", "vessels")

#: Wire echo strength (see :attr:`Phantom.wire_strength_mm`) of the ``"wire_phantom"`` preset, a
#: calibration phantom's strong reflectors: with the default 10 mm the simulated pocus
#: profile's wires score 4-5 local speckle spreads in :func:`pocusiq.metrics.targets.find_point_targets`,
#: while the wires of real POCUS screenshots of phantoms score above 9 (the detector's default
#: threshold is 6); with 50 mm, 57 of 60 wires in view were found at the default thresholds with
#: no false detection (the 3 missed within 5 px of the region's edge), a few pixels per wire
#: saturated as in real screenshots (measured on ``examples/sim_calibration.yaml``'s frames).
WIRE_PHANTOM_STRENGTH_MM = 50.0

#: Radius (mm) of the disc marked around each wire in the ``"wires"`` mask (at least one cell).
WIRE_MASK_RADIUS_MM = 0.3


@dataclass
class Phantom:
    """A digital phantom in physical units.

    Attributes:
        echogenicity: (H, W) float32 >= 0, mean backscatter amplitude of each cell (1 = typical
            soft tissue; 0 = anechoic fluid). Rows = depth z, columns = lateral x.
        spacing_mm: cell size (mm), the same along z and x.
        masks: ground truth, bool (H, W) each: ``"cysts"`` (anechoic/hypoechoic lesions),
            ``"hyperechoic"``, ``"wires"`` (discs of radius ``WIRE_MASK_RADIUS_MM``),
            ``"vessels"`` (lumens); more keys may be present.
        wires_mm: (z, x) positions (mm) of point targets (wires seen in cross-section).
        name: preset name or a user label.
        scatter_seed: seed of the tissue's scatterer field (see :meth:`scatterers`).
        wire_strength_mm: coherent echo strength of each wire, as the square root of the area
            (mm^2) of unit-echogenicity tissue whose incoherent echo power it equals. The
            default 10 mm puts a wire's peak ~36 dB above the high_end profile's speckle rms and
            ~27 dB above the pocus profile's (at 15 mm; bright nylon wires of QA phantoms).
        "cysts" also marks other anechoic ground truth such as the water bath of ``ex_vivo_slab``.
        attenuation_db_mm: optional (H, W) float32 >= 0, extra one-way attenuation (dB per mm of
            path) of each cell on top of the profile's tissue attenuation: strong reflectors and
            bone (acoustic shadows behind them), poor probe contact (shadows under the probe
            edges). None = none.
        specular: optional (H, W) bool, cells whose scatterer is coherent (real, unit amplitude,
            at the cell centre's depth): smooth specular interfaces (fascia, vessel walls,
            capsules) that image as continuous bright lines rather than speckle. None = none.
        scatter_mix: None, or ``(correlation, seed)``: the scatterer amplitudes are
            ``correlation * a + sqrt(1 - correlation^2) * b`` with ``a`` the field of
            ``scatter_seed`` and ``b`` an independent field of ``seed`` (same positions): the
            tissue as a system with another elevation slice sees it (:meth:`seen_in_slice`).
    """

    echogenicity: np.ndarray
    spacing_mm: float
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    wires_mm: list[tuple[float, float]] = field(default_factory=list)
    name: str = "custom"
    scatter_seed: int = 0
    wire_strength_mm: float = 10.0
    attenuation_db_mm: np.ndarray | None = None
    specular: np.ndarray | None = None
    scatter_mix: tuple[float, int] | None = None
    _scatter_cache: tuple[np.ndarray, np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        echo = np.asarray(self.echogenicity, dtype=np.float32)
        if echo.ndim != 2 or echo.size == 0:
            raise ValueError(f"phantom {self.name!r}: echogenicity must be a non-empty 2-D array, got shape {echo.shape}")
        if not np.all(np.isfinite(echo)) or echo.min() < 0:
            raise ValueError(f"phantom {self.name!r}: echogenicity must be finite and >= 0")
        if not self.spacing_mm > 0:
            raise ValueError(f"phantom {self.name!r}: spacing_mm must be > 0, got {self.spacing_mm!r}")
        self.echogenicity = echo
        masks = {key: np.asarray(mask, dtype=bool) for key, mask in self.masks.items()}
        for key, mask in masks.items():
            if mask.shape != echo.shape:
                raise ValueError(
                    f"phantom {self.name!r}: mask {key!r} has shape {mask.shape}, expected {echo.shape}"
                )
        self.masks = masks
        self.wires_mm = [(float(z), float(x)) for z, x in self.wires_mm]
        if self.attenuation_db_mm is not None:
            att = np.asarray(self.attenuation_db_mm, dtype=np.float32)
            if att.shape != echo.shape or not np.all(np.isfinite(att)) or att.min() < 0:
                raise ValueError(f"phantom {self.name!r}: attenuation_db_mm must be finite, >= 0, shape {echo.shape}")
            self.attenuation_db_mm = att
        if self.specular is not None:
            spec = np.asarray(self.specular, dtype=bool)
            if spec.shape != echo.shape:
                raise ValueError(f"phantom {self.name!r}: specular must have shape {echo.shape}, got {spec.shape}")
            self.specular = spec if spec.any() else None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in cells."""
        return self.echogenicity.shape  # type: ignore[return-value]

    @property
    def depth_mm(self) -> float:
        """Extent along z (mm)."""
        return self.shape[0] * self.spacing_mm

    @property
    def width_mm(self) -> float:
        """Extent along x (mm)."""
        return self.shape[1] * self.spacing_mm

    def scatterers(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed scatterer field generated from ``scatter_seed`` (cached).

        Returns:
            amplitude: (H, W) complex64, circular complex Gaussian with E|a|^2 = 1 (not yet
                scaled by echogenicity).
            offset_mm: (2, H, W) float32, (dz, dx) of each scatterer from its cell centre,
                uniform in [-d/2, d/2).
        """
        if self._scatter_cache is None:
            rng = np.random.Generator(np.random.PCG64(self.scatter_seed))
            h, w = self.shape
            amp = rng.standard_normal((2, h, w), dtype=np.float32) * np.float32(math.sqrt(0.5))
            amplitude = (amp[0] + 1j * amp[1]).astype(np.complex64)
            offset = (rng.random((2, h, w), dtype=np.float32) - np.float32(0.5)) * np.float32(self.spacing_mm)
            if self.scatter_mix is not None:
                rho, seed = self.scatter_mix
                other = np.random.Generator(np.random.PCG64(seed)).standard_normal((2, h, w), dtype=np.float32)
                other *= np.float32(math.sqrt(0.5))
                amplitude *= np.float32(rho)
                amplitude += np.float32(math.sqrt(max(0.0, 1.0 - rho * rho))) * (other[0] + 1j * other[1])
            self._scatter_cache = (amplitude, offset)
        return self._scatter_cache

    def seen_in_slice(self, correlation: float, seed: int) -> Phantom:
        """This phantom as a system whose elevation slice differs sees it (a shallow copy).

        Layout, masks, wires, specular interfaces and attenuation are the same; the diffuse
        scatterers keep their positions but their amplitudes correlate with this phantom's by
        ``correlation`` (0..1; see
        :func:`pocusiq.simulate.profiles.elevation_speckle_correlation`), the rest drawn from
        ``seed``. ``correlation >= 1`` returns ``self``.
        """
        if not 0.0 <= correlation <= 1.0 + 1e-12:
            raise ValueError(f"correlation must be in [0, 1], got {correlation!r}")
        if correlation >= 1.0:
            return self
        if self.scatter_mix is not None:
            raise ValueError(f"phantom {self.name!r} already has a mixed scatterer field")
        return dataclasses.replace(self, scatter_mix=(float(correlation), int(seed)))


# ---------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------
def _upsample_axis(fld: np.ndarray, n_out: int, factor: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``fld`` along ``axis`` onto a grid ``factor`` times finer.

    Gathers and blends neighbours (no BLAS: matrix products oversubscribe shared CPUs).
    """
    n_in = fld.shape[axis]
    pos = np.clip((np.arange(n_out) + 0.5) / factor - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (pos - lo).astype(np.float32)
    shape = [1, 1]
    shape[axis] = n_out
    frac = frac.reshape(shape)
    return np.take(fld, lo, axis=axis) * (1 - frac) + np.take(fld, hi, axis=axis) * frac


class _Canvas:
    """Mutable echogenicity + masks on a grid, with shape-drawing helpers in mm."""

    def __init__(self, depth_mm: float, width_mm: float, spacing_mm: float) -> None:
        if not (depth_mm > 0 and width_mm > 0 and spacing_mm > 0):
            raise ValueError(
                f"phantom size must be positive: depth_mm={depth_mm!r}, width_mm={width_mm!r}, "
                f"spacing_mm={spacing_mm!r}"
            )
        self.h = max(1, int(round(depth_mm / spacing_mm)))
        self.w = max(1, int(round(width_mm / spacing_mm)))
        self.d = float(spacing_mm)
        self.echo = np.ones((self.h, self.w), dtype=np.float32)
        self.masks = {name: np.zeros((self.h, self.w), dtype=bool) for name in MASK_NAMES}
        self.wires: list[tuple[float, float]] = []
        self.att = np.zeros((self.h, self.w), dtype=np.float32)
        self.spec = np.zeros((self.h, self.w), dtype=bool)
        self.z = ((np.arange(self.h, dtype=np.float32) + 0.5) * self.d)[:, None]
        self.x = ((np.arange(self.w, dtype=np.float32) + 0.5) * self.d)[None, :]

    @property
    def depth(self) -> float:
        return self.h * self.d

    @property
    def width(self) -> float:
        return self.w * self.d

    def smooth_field(self, rng: np.random.Generator, corr_z_mm: float, corr_x_mm: float) -> np.ndarray:
        """Zero-mean, unit-std smooth Gaussian random field with correlation lengths (mm)."""
        # Work at a reduced resolution (per axis) where the correlation length spans ~3 cells.
        fz = max(1, int(corr_z_mm / self.d / 3))
        fx = max(1, int(corr_x_mm / self.d / 3))
        hs = self.h if fz == 1 else -(-self.h // fz) + 1
        ws = self.w if fx == 1 else -(-self.w // fx) + 1
        noise = rng.standard_normal((hs, ws), dtype=np.float32)
        fld = ndimage.gaussian_filter(noise, (corr_z_mm / self.d / fz, corr_x_mm / self.d / fx), mode="wrap")
        # separable bilinear upsampling to the cell grid
        if fz > 1:
            fld = _upsample_axis(fld, self.h, fz, 0)
        if fx > 1:
            fld = _upsample_axis(fld, self.w, fx, 1)
        std = float(fld.std())
        return (fld - fld.mean()) / (std if std > 0 else 1.0)

    def strands(self, rng: np.random.Generator, corr_z_mm: float, corr_x_mm: float, threshold: float) -> np.ndarray:
        """Thin bright strands (fascia, septa): where a smooth anisotropic field exceeds ``threshold``."""
        fld = self.smooth_field(rng, corr_z_mm, corr_x_mm)
        return (2.0 * np.clip(fld - threshold, 0.0, None)).astype(np.float32)

    def ellipse(self, zc: float, xc: float, rz: float, rx: float, angle_deg: float = 0.0) -> np.ndarray:
        a = math.radians(angle_deg)
        dz, dx = self.z - zc, self.x - xc
        u = dx * math.cos(a) + dz * math.sin(a)
        v = -dx * math.sin(a) + dz * math.cos(a)
        return (u / rx) ** 2 + (v / rz) ** 2 <= 1.0

    def claim(self, region: np.ndarray, key: str | None) -> None:
        """A shape drawn over ``region``: it leaves every other mask there (the last drawn wins)."""
        for name, mask in self.masks.items():
            if name != "wires":
                mask &= ~region
        if key is not None:
            self.masks[key] |= region

    def cyst(self, zc: float, xc: float, r: float, level: float = 0.0, rz: float | None = None) -> None:
        m = self.ellipse(zc, xc, rz if rz is not None else r, r)
        self.echo[m] = level
        self.claim(m, "cysts")

    def hyperechoic(self, zc: float, xc: float, r: float, level: float = 2.5, rz: float | None = None) -> None:
        m = self.ellipse(zc, xc, rz if rz is not None else r, r)
        self.echo[m] = level
        self.claim(m, "hyperechoic")

    def vessel_transverse(self, zc: float, xc: float, r: float, wall_mm: float = 0.6, wall_level: float = 2.5) -> None:
        wall = self.ellipse(zc, xc, r + wall_mm, r + wall_mm)
        lumen = self.ellipse(zc, xc, r, r)
        self.echo[wall & ~lumen] = wall_level
        self.echo[lumen] = 0.0
        self.claim(wall, None)
        self.claim(lumen, "vessels")

    def vessel_longitudinal(self, zc: float, r: float, tilt_deg: float, wall_mm: float = 0.6, wall_level: float = 2.5) -> None:
        slope = math.tan(math.radians(tilt_deg))
        centre = zc + slope * (self.x - self.width / 2)
        dist = np.abs(self.z - centre)
        lumen = dist <= r
        wall = (dist <= r + wall_mm) & ~lumen
        self.echo[wall] = wall_level
        self.echo[lumen] = 0.0
        self.claim(wall, None)
        self.claim(lumen, "vessels")

    def wire(self, z: float, x: float) -> None:
        if 0 <= z < self.depth and 0 <= x < self.width:
            self.wires.append((z, x))
            r = max(WIRE_MASK_RADIUS_MM, self.d)
            self.masks["wires"] |= ((self.z - z) ** 2 + (self.x - x) ** 2) <= r * r

    def layered_tissue(self, rng: np.random.Generator, top_mm: float = 0.0) -> float:
        """Skin, subcutaneous fat (with septa) and muscle (striated) from ``top_mm``; returns muscle bottom."""
        skin = top_mm + _between(rng, 1.0, 2.0)
        fat = skin + _between(rng, 0.12, 0.25) * self.depth
        muscle = fat + _between(rng, 0.15, 0.3) * self.depth
        undulate = 0.6 * self.smooth_field(rng, 50.0, 6.0)[0:1, :]
        z = self.z + np.zeros_like(self.x)
        zz = z + undulate  # wavy interfaces
        tissue = np.exp(0.45 * self.smooth_field(rng, 1.5, 3.0))
        skin_m = (zz >= top_mm) & (zz < skin)
        fat_m = (zz >= skin) & (zz < fat)
        muscle_m = (zz >= fat) & (zz < muscle)
        deep_m = zz >= muscle
        septa = self.strands(rng, 0.4, 4.0, 1.0)  # thin bright connective-tissue strands
        striation = self.smooth_field(rng, 0.35, 8.0)
        deep_strands = self.strands(rng, 0.5, 6.0, 1.6)
        self.echo = np.where(skin_m, 2.0 * tissue, self.echo)
        self.echo = np.where(fat_m, 0.25 * tissue + 2.0 * septa, self.echo)
        self.echo = np.where(muscle_m, 0.45 * tissue * np.exp(0.45 * striation) + 2.0 * deep_strands, self.echo)
        self.echo = np.where(deep_m, 0.5 * tissue + 2.0 * deep_strands, self.echo)
        if top_mm > 0:
            self.echo[self.z[:, 0] < top_mm, :] = 0.0
        # bright fascia at the fat/muscle interface
        fascia = np.abs(zz - fat) < 0.35
        self.echo = np.where(fascia, 2.5, self.echo).astype(np.float32)
        return float(muscle)

    def _specular_by_angle(self) -> None:
        """Specular interfaces reflect back only near normal incidence: scale them by orientation.

        The interface normal is the gradient of the (1 mm-smoothed) specular mask; a cell keeps
        ``0.15 + 0.85 cos^4(theta)`` of its echogenicity (theta: normal vs the beam axis +z) and
        cells seen at more than ~50 degrees stop being coherent (they scatter diffusely).
        """
        if not self.spec.any():
            return
        m = ndimage.gaussian_filter(self.spec.astype(np.float32), 1.0 / self.d)
        gz, gx = np.gradient(m)
        norm = np.sqrt(gz * gz + gx * gx) + 1e-12
        cos2 = (gz / norm) ** 2
        weight = np.where(self.spec, 0.15 + 0.85 * cos2 * cos2, 1.0).astype(np.float32)
        self.echo = (self.echo * weight).astype(np.float32)
        self.spec &= cos2 > 0.4

    def to_phantom(self, name: str, rng: np.random.Generator) -> Phantom:
        self._specular_by_angle()
        return Phantom(
            echogenicity=np.clip(self.echo, 0.0, None).astype(np.float32),
            spacing_mm=self.d,
            masks=self.masks,
            wires_mm=self.wires,
            name=name,
            scatter_seed=int(rng.integers(0, 2**63 - 1)),
            attenuation_db_mm=self.att if self.att.any() else None,
            specular=self.spec if self.spec.any() else None,
        )


# ---------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------
def _between(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Uniform in [lo, hi], or ``lo`` if the interval is empty (small fields of view)."""
    return float(rng.uniform(lo, max(lo, hi)))


def _soft_tissue(c: _Canvas, rng: np.random.Generator) -> None:
    """Human soft tissue at real scale, as a handheld linear probe sees the neck/forearm/thigh.

    Sizes are in mm, not fractions of the field of view, so a deeper field shows more layers:
    a bright skin line (1.5-2.5 mm dermis), hypoechoic subcutaneous fat (2-9 mm, bright septa),
    a bright specular fascia (0.25-0.6 mm, coherent scatterers), muscle (hypoechoic with
    striations and perimysium strands) in one or two bellies separated by fascia, 0-2 vessels
    (anechoic lumen, bright specular walls; transverse or longitudinal), sometimes a bone
    surface (bright specular line, full acoustic shadow below) or a calcification (bright spot
    with a shadow), reverberation of the first fascia at 2x and 3x its depth. Echogenicity
    levels (fat 0.15-0.35, muscle 0.5-1.0, fascia 25-80 (specular: bright, smooth), relative to typical parenchyma 1) give
    the mostly dark images with bright strands of real musculoskeletal/vascular scans. Fat and
    muscle were 0.1-0.25 and 0.15-0.45: both devices then showed them as black (the real carotid
    scans show muscle as dim texture), which made the pairs' black areas identical; at 0.15-0.35
    and 0.25-0.6 the high-end images stayed as dark (near-black fraction 0.62 -> 0.61, 32 default
    pairs) and input SSIM fell 0.377 -> 0.349 at the same PSNR (``bench/simulate.py``). Muscle was
    then still black in the default (9 dB darker) high-end display, where the real carotid scans
    show it as dim texture; at 0.5-1.0 (tissue presets against the carotid images cut to the same
    depth, mean of 3 classifiers, ~63 tissue pairs) the real-vs-simulated classifier went 72 ->
    65 % at 20.5 mm and 72 -> 69 % at 36.6 mm, the 256-bin histogram intersection 0.745 -> 0.772
    and 0.881 -> 0.904, and the default pairs' SSIM 0.385 -> 0.377, PSNR 17.49 -> 17.33 dB (50 pairs).
    """
    D, W = c.depth, c.width
    wavy = lambda amp, corr: amp * c.smooth_field(rng, 50.0, corr)[0:1, :]  # noqa: E731 (lateral profile)
    tissue = np.exp(0.5 * c.smooth_field(rng, 1.2, 2.5))
    skin = rng.uniform(1.5, 2.5)
    fat = skin + rng.uniform(2.0, 9.0)
    zz = c.z + wavy(0.4, 8.0)
    c.echo = np.where(zz < skin, rng.uniform(1.0, 2.0) * tissue, 0.0).astype(np.float32)
    c.echo[c.z[:, 0] < 0.3, :] *= 2.0  # epidermis/gel line
    fat_m = (zz >= skin) & (zz < fat)
    septa = c.strands(rng, 0.3, 3.0, 1.2)
    c.echo = np.where(fat_m, rng.uniform(0.15, 0.35) * tissue + 2.5 * septa, c.echo).astype(np.float32)
    # muscle bellies below the fat, separated by fascia
    fascias = [fat]
    z = fat
    while z < D:
        z += rng.uniform(5.0, 15.0)
        fascias.append(z)
    striation = np.exp(0.6 * c.smooth_field(rng, 0.3, 6.0))
    perimysium = c.strands(rng, 0.25, 5.0, 1.4)
    level = rng.uniform(0.5, 1.0)
    tilt = rng.uniform(-0.08, 0.08)
    for k in range(len(fascias) - 1):
        top = fascias[k] + wavy(0.8, 10.0) + tilt * (c.x - W / 2)
        bottom = fascias[k + 1] + wavy(0.8, 10.0) + tilt * (c.x - W / 2)
        m = (c.z >= top) & (c.z < bottom)
        lv = level * rng.uniform(0.7, 1.3)
        c.echo = np.where(m, lv * tissue * striation + 3.0 * perimysium, c.echo).astype(np.float32)
        thick = rng.uniform(0.25, 0.6)
        band = np.abs(c.z - top) < thick / 2
        c.echo = np.where(band, rng.uniform(25.0, 80.0), c.echo).astype(np.float32)
        c.spec |= band
        if k == 0:  # reverberation of the first strong interface at 2x and 3x its depth
            for rep, gain in ((2, 0.25), (3, 0.08)):
                rb = np.abs(c.z - rep * top) < thick / 2
                c.echo = np.where(rb, c.echo + gain * 5.0, c.echo).astype(np.float32)
    # bone surface: bright specular line, full shadow below
    if rng.random() < 0.3 and D > fat + 6:
        zb = _between(rng, fat + 5.0, D - 1.0) + wavy(1.5, 15.0) + rng.uniform(-0.1, 0.1) * (c.x - W / 2)
        x0, x1 = sorted(rng.uniform(-0.3 * W, 1.3 * W, 2))
        span = (c.x >= x0) & (c.x <= x1)
        line = (np.abs(c.z - zb) < 0.4) & span
        c.echo = np.where(line, 10.0, c.echo).astype(np.float32)
        c.spec |= line
        c.att = np.where(line, 40.0, c.att).astype(np.float32)
        c.claim(line, "hyperechoic")
    # vessels: anechoic lumen, bright specular walls
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        r = rng.uniform(1.5, 4.0)
        if D < fat + 2 * r + 2:
            break
        zc = _between(rng, fat + r + 1.0, D - r - 0.5)
        wall = rng.uniform(0.4, 0.8)
        if rng.random() < 0.6:
            xc = _between(rng, r, W - r)
            outer, lumen = c.ellipse(zc, xc, r + wall, r + wall), c.ellipse(zc, xc, r, r * rng.uniform(1.0, 1.3))
        else:
            centre = zc + np.tan(np.radians(rng.uniform(-8, 8))) * (c.x - W / 2)
            dist = np.abs(c.z - centre)
            outer, lumen = dist <= r + wall, dist <= r
        ring = outer & ~lumen
        c.echo[ring] = rng.uniform(8.0, 25.0)
        c.echo[lumen] = 0.0
        c.spec |= ring
        c.spec &= ~lumen
        c.claim(outer, None)
        c.claim(lumen, "vessels")
    # calcification / foreign body: bright spot with a shadow
    if rng.random() < 0.2:
        r = rng.uniform(0.4, 1.2)
        m = c.ellipse(_between(rng, fat, D - r), _between(rng, r, W - r), r, 1.5 * r)
        c.echo[m] = 8.0
        c.att[m] = 25.0
        c.claim(m, "hyperechoic")
    # an occasional hypoechoic lesion (lymph node / haematoma) or small cyst
    if rng.random() < 0.3 and D > fat + 4:
        r = rng.uniform(1.0, 3.0)
        c.cyst(_between(rng, fat + r, D - r), _between(rng, r, W - r), r, level=float(rng.choice([0.0, 0.05])),
               rz=r * rng.uniform(0.6, 1.0))


def add_contact_shadows(c: _Canvas, rng: np.random.Generator, *, probability: float = 0.3) -> None:
    """Poor probe contact at the image edges: attenuation in the top 0.5 mm under 0-12 % of the width.

    Each side independently, with ``probability``: a band of extra attenuation 20-60 dB/mm
    (10-30 dB one way) whose width is 2-12 % of the image, fading in over 1 mm: the dark
    wedges under the probe edges of handheld scans with little gel.
    """
    top = c.z[:, 0] < 0.5
    for side in (0, 1):
        if rng.random() >= probability:
            continue
        width = rng.uniform(0.02, 0.12) * c.width
        dist = c.x[0] if side == 0 else c.width - c.x[0]
        fade = np.clip((width - dist) / 1.0, 0.0, 1.0).astype(np.float32)
        c.att[top, :] = np.maximum(c.att[top, :], rng.uniform(20.0, 60.0) * fade[None, :])

def _random_tissue(c: _Canvas, rng: np.random.Generator) -> None:
    bottom = c.layered_tissue(rng)
    deep_h = c.depth - bottom
    for _ in range(int(rng.integers(0, 3))):  # cysts in the deep tissue
        r = _between(rng, 0.04, 0.12) * c.depth
        if deep_h > 2 * r + 1:
            c.cyst(_between(rng, bottom + r, c.depth - r), _between(rng, r, c.width - r), r,
                   level=float(rng.choice([0.0, 0.0, 0.3])), rz=r * _between(rng, 0.7, 1.0))
    for _ in range(int(rng.integers(0, 3))):
        r = _between(rng, 0.03, 0.08) * c.depth
        c.hyperechoic(_between(rng, r, c.depth - r), _between(rng, r, c.width - r), r, level=float(_between(rng, 2.0, 3.5)))
    if rng.random() < 0.5 and deep_h > 6:
        r = _between(rng, 1.5, 3.5)
        zc = _between(rng, bottom + r + 1, max(bottom + r + 1.01, c.depth - r - 1))
        if rng.random() < 0.5:
            c.vessel_transverse(zc, _between(rng, r + 1, c.width - r - 1), r)
        else:
            c.vessel_longitudinal(zc, r, _between(rng, -8, 8))
    for _ in range(int(rng.integers(0, 3))):
        c.wire(_between(rng, 0.2, 0.95) * c.depth, _between(rng, 0.1, 0.9) * c.width)


def _abdominal(c: _Canvas, rng: np.random.Generator) -> None:
    # thin abdominal wall, then liver-like parenchyma with portal/hepatic vessels and a cyst
    wall_bottom = c.layered_tissue(rng)
    wall_bottom = min(wall_bottom, 0.45 * c.depth)
    liver = (0.9 * np.exp(0.35 * c.smooth_field(rng, 1.5, 1.5)) + c.strands(rng, 0.4, 3.0, 1.8)).astype(np.float32)
    below = (c.z >= wall_bottom) & np.ones_like(c.x, dtype=bool)
    c.echo = np.where(below, liver, c.echo).astype(np.float32)
    capsule = np.abs(c.z - wall_bottom) < 0.3
    c.echo = np.where(capsule & np.ones_like(c.x, dtype=bool), 2.5, c.echo).astype(np.float32)
    room = c.depth - wall_bottom
    for _ in range(int(rng.integers(1, 4))):
        r = _between(rng, 0.03, 0.08) * c.depth
        if room > 2 * r + 2:
            c.vessel_transverse(_between(rng, wall_bottom + r + 1, c.depth - r - 1), _between(rng, r + 1, c.width - r - 1), r,
                                wall_mm=0.5, wall_level=float(_between(rng, 1.5, 3.0)))
    if rng.random() < 0.6 and room > 8:
        r = _between(rng, 0.05, 0.12) * c.depth
        if room > 2 * r + 2:
            c.cyst(_between(rng, wall_bottom + r + 1, c.depth - r - 1), _between(rng, r, c.width - r), r, level=0.0)
    if rng.random() < 0.5:
        c.hyperechoic(_between(rng, wall_bottom, c.depth), _between(rng, 0, c.width), _between(rng, 0.8, 2.0), level=2.5)


def _ex_vivo_slab(c: _Canvas, rng: np.random.Generator) -> None:
    # a slab of meat in a water bath: water (anechoic) above, marbled muscle, container floor
    top = _between(rng, 0.05, 0.15) * c.depth
    bottom = _between(rng, 0.75, 0.9) * c.depth
    undulate = 0.5 * c.smooth_field(rng, 40.0, 8.0)[0:1, :]
    zz = c.z + undulate
    fibres = c.smooth_field(rng, 0.3, 5.0)
    marbling = np.clip(c.smooth_field(rng, 1.0, 3.0), 1.0, None) - 1.0
    texture = np.exp(0.3 * fibres + 0.2 * c.smooth_field(rng, 3.0, 3.0)) + 2.0 * marbling
    slab = (zz >= top) & (zz < bottom)
    c.echo = np.where(slab, texture, 0.0).astype(np.float32)
    surface = (np.abs(zz - top) < 0.25) | (np.abs(zz - bottom) < 0.25)
    c.echo = np.where(surface, 3.0, c.echo).astype(np.float32)
    floor = c.z >= 0.95 * c.depth
    c.echo = np.where(floor & np.ones_like(c.x, dtype=bool), 4.0, c.echo).astype(np.float32)
    c.masks["hyperechoic"] |= floor & np.ones_like(c.x, dtype=bool)
    c.masks["cysts"] |= ~slab & ~surface & ~floor  # water: anechoic ground truth
    for _ in range(int(rng.integers(0, 3))):  # fat pockets
        r = _between(rng, 0.5, 1.5)
        zc = _between(rng, top + r + 0.5, max(top + r + 0.6, bottom - r - 0.5))
        m = c.ellipse(zc, _between(rng, r, c.width - r), r * 0.6, r * 1.5)
        c.echo[m] = 2.2
        c.claim(m, "hyperechoic")


#: Side (mm) of the section of a multi-purpose QA phantom that the ``resolution`` preset lays out
#: at real scale (wire column and row, resolution groups, anechoic cysts of 1-6 mm, grey-scale
#: targets). A smaller field of view shows a window of it at a random place, as a handheld's
#: 2-4 cm field shows one part of a real phantom (a CIRS 040GSE spreads its targets over about
#: 10 x 16 cm): the layout no longer shrinks with the field, so a 20 mm field holds about a
#: quarter of the targets. Measured (``bench/realism.py`` style, 40 QA pairs at 0.08 mm/pixel):
#: with the whole section squeezed into 20 mm (27 wires in view, 1 per 15 mm^2) a real-vs-simulated
#: patch classifier learnt "many bright wires = simulated" (the real Butterfly phantom frames, of
#: the cyst and grey-scale sections, show 0-3 wires in 46 x 32 mm).
QA_SECTION_MM = 40.0


def _resolution(c: _Canvas, rng: np.random.Generator) -> None:
    # multi-purpose phantom (CIRS 040GSE-like): uniform background, a vertical column of wires,
    # a horizontal row, lateral/axial resolution groups, anechoic cysts of several diameters,
    # and grey-scale targets, laid out over a QA_SECTION_MM section (or the field, if larger),
    # jittered by the seed; a smaller field sees a window of the section at a random place.
    c.echo = np.exp(0.05 * c.smooth_field(rng, 3.0, 3.0)).astype(np.float32)
    D, W = max(c.depth, QA_SECTION_MM), max(c.width, QA_SECTION_MM)
    oz = _between(rng, 0.0, D - c.depth) if D > c.depth else 0.0
    ox = _between(rng, 0.0, W - c.width) if W > c.width else 0.0

    def wire(z: float, x: float) -> None:
        c.wire(z - oz, x - ox)

    jx = _between(rng, -0.04, 0.04) * W
    col_x = 0.5 * W + jx
    n_col = max(2, int(D // 5))
    for k in range(n_col):
        wire((k + 0.6) * D / n_col, col_x)
    row_z = 0.45 * D + _between(rng, -0.05, 0.05) * D
    for k in range(-3, 4):
        if k:
            wire(row_z, col_x + k * W / 8)
    # lateral resolution group: pairs of wires at decreasing separations
    lat_z = 0.2 * D
    x = 0.08 * W
    for sep in (3.0, 2.0, 1.0, 0.5):
        wire(lat_z, x)
        wire(lat_z, x + sep)
        x += sep + 0.08 * W
        if x > 0.42 * W:
            break
    # axial resolution group: staircase with decreasing axial separations
    ax_x = 0.7 * W + jx
    z = 0.12 * D
    for k, sep in enumerate((2.0, 1.0, 0.5, 0.25)):
        wire(z, ax_x + 0.5 * k)
        wire(z + sep, ax_x + 0.5 * k + 0.25)
        z += sep + 0.06 * D
    # anechoic cysts of several diameters (1..6 mm: real size, the section is at least 40 mm)
    diam = (1.0, 2.0, 3.0, 4.0, 6.0)
    cz = 0.72 * D
    xs = np.linspace(0.1 * W, 0.9 * W, len(diam))
    for d, xc in zip(diam, xs):
        c.cyst(cz - oz, float(xc) - ox, d / 2.0, level=0.0)
    # grey-scale targets: hypo (-6 dB), hyper (+6 dB)
    r = 0.06 * D
    c.cyst(0.88 * D - oz, 0.3 * W - ox, r, level=0.5)
    c.hyperechoic(0.88 * D - oz, 0.7 * W - ox, r, level=2.0)


def _wire_phantom(c: _Canvas, rng: np.random.Generator) -> None:
    # a calibration wire phantom's background: uniform tissue-mimicking speckle (+-5 % smooth
    # variation), no structures; its wires are placed by the caller (:func:`with_wires`).
    c.echo = np.exp(0.05 * c.smooth_field(rng, 3.0, 3.0)).astype(np.float32)


_PRESETS = {
    "soft_tissue": _soft_tissue,
    "random_tissue": _random_tissue,
    "abdominal": _abdominal,
    "ex_vivo_slab": _ex_vivo_slab,
    "resolution": _resolution,
    "wire_phantom": _wire_phantom,
}


def make_phantom(
    preset: str,
    rng: np.random.Generator,
    *,
    width_mm: float = 40.0,
    depth_mm: float = 30.0,
    spacing_mm: float = 0.1,
    contact_shadows: bool = False,
) -> Phantom:
    """Draw a phantom of a named preset.

    Args:
        preset: one of :data:`ALL_PHANTOM_PRESETS`:
            ``"soft_tissue"`` (real-scale skin/fat/muscle with specular fascia, vessels, bone
            shadows, reverberation; see :func:`_soft_tissue`), ``"random_tissue"`` (layered
            skin/fat/muscle with random cysts, hyperechoic
            inclusions, vessels and wires), ``"abdominal"`` (abdominal wall over liver-like
            parenchyma with vessels and a cyst), ``"ex_vivo_slab"`` (a marbled muscle slab in a
            water bath), ``"resolution"`` (multi-purpose QA phantom: wire columns/rows,
            resolution groups, anechoic cysts 1-6 mm, grey-scale targets), ``"wire_phantom"``
            (uniform speckle only: the background of a calibration phantom, whose wires
            :func:`with_wires` adds).
        rng: source of all randomness (layout and ``scatter_seed``); same state -> same phantom.
        width_mm, depth_mm: extent (mm).
        spacing_mm: cell size (mm); one scatterer per cell, so choose it at most the imaging
            pixel spacing.
        contact_shadows: add :func:`add_contact_shadows` (after the preset, same ``rng``).

    Returns:
        The :class:`Phantom` with masks ``cysts``, ``hyperechoic``, ``wires``, ``vessels``.

    Raises:
        ValueError: unknown preset or non-positive sizes.
    """
    if preset not in _PRESETS:
        raise ValueError(f"unknown phantom preset {preset!r}; choose one of {', '.join(ALL_PHANTOM_PRESETS)}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    canvas = _Canvas(depth_mm, width_mm, spacing_mm)
    _PRESETS[preset](canvas, rng)
    if contact_shadows:
        add_contact_shadows(canvas, rng)
    phantom = canvas.to_phantom(preset, rng)
    if preset == "wire_phantom":
        phantom.wire_strength_mm = WIRE_PHANTOM_STRENGTH_MM
    return phantom


def with_wires(phantom: Phantom, wires_mm: list[tuple[float, float]] | tuple[tuple[float, float], ...]) -> Phantom:
    """A copy of ``phantom`` with extra wires at ``wires_mm`` ((z_mm, x_mm) each, as
    :attr:`Phantom.wires_mm`), marked in its ``"wires"`` mask; the echogenicity, other masks
    and scatterers are unchanged (same ``scatter_seed``)."""
    h, w = phantom.shape
    d = phantom.spacing_mm
    z = ((np.arange(h, dtype=np.float32) + 0.5) * d)[:, None]
    x = ((np.arange(w, dtype=np.float32) + 0.5) * d)[None, :]
    masks = {key: mask.copy() for key, mask in phantom.masks.items()}
    wire_mask = masks.setdefault("wires", np.zeros((h, w), dtype=bool))
    r = max(WIRE_MASK_RADIUS_MM, d)
    for wz, wx in wires_mm:
        wire_mask |= ((z - float(wz)) ** 2 + (x - float(wx)) ** 2) <= r * r
    return Phantom(
        echogenicity=phantom.echogenicity,
        spacing_mm=d,
        masks=masks,
        wires_mm=list(phantom.wires_mm) + [(float(wz), float(wx)) for wz, wx in wires_mm],
        name=phantom.name,
        scatter_seed=phantom.scatter_seed,
        wire_strength_mm=phantom.wire_strength_mm,
        attenuation_db_mm=phantom.attenuation_db_mm,
        specular=phantom.specular,
    )


def point_target_phantom(depth_mm: float, x_mm: float, *, width_mm: float, total_depth_mm: float,
                         spacing_mm: float, background: float = 0.0) -> Phantom:
    """A phantom with a single wire at ``(depth_mm, x_mm)`` in a uniform background.

    Args:
        depth_mm, x_mm: wire position (mm) from the top-left corner.
        width_mm, total_depth_mm: phantom extent (mm).
        spacing_mm: cell size (mm).
        background: echogenicity of every cell (>= 0); with 0 the image is the system's
            point-spread function (PSF).

    Returns:
        A :class:`Phantom` named ``"point_target"`` (scatter seed 0) with the wire in its
        ``"wires"`` mask.
    """
    canvas = _Canvas(total_depth_mm, width_mm, spacing_mm)
    canvas.echo[:] = background
    canvas.wire(depth_mm, x_mm)
    phantom = Phantom(echogenicity=canvas.echo, spacing_mm=canvas.d, masks=canvas.masks,
                      wires_mm=canvas.wires, name="point_target", scatter_seed=0)
    return phantom
