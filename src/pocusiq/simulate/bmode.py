"""B-mode imaging of a digital phantom with a transducer profile (complex-baseband convolution model).

Physics (each step a documented approximation; see :mod:`pocusiq.simulate.profiles` for the
parameters):

1. **Scatterers.** The phantom holds one scatterer per cell (fixed by its ``scatter_seed``):
   a circular complex Gaussian amplitude times the cell's echogenicity, at a random position in
   the cell; wires are extra point scatterers. They are mapped into the probe frame and binned
   onto the simulation grid (nearest cell). Each carries the exact round-trip carrier phase
   ``exp(-j 2 k0 r.u)`` of its position (``k0 = 2 pi f0 / c``, ``u`` the beam direction), so
   probes with different frequencies or steering angles see the same scatterers with
   different phases: correlated envelopes, decorrelated speckle, as in reality.
2. **PSF.** In complex baseband (IQ, demodulated at f0) the echo is the binned field convolved
   with a real, separable Gaussian envelope PSF: lateral width from aperture, F-number and focus
   (narrow at the focus, geometric widening away from it; dynamic receive focus keeps the
   receive beam narrow), applied row by row in the lateral Fourier domain so that every depth
   gets its exact width; then the axial pulse envelope (sigma from the bandwidth), a short
   1-D convolution along depth. Pixels need not resolve the carrier: the carrier only enters
   through the scatterer phases. For steered (compounding) frames the phases use the steered
   beam direction, which decorrelates the speckle as in reality, but the PSF envelope is not
   rotated (an approximation for the small angles used in compounding: +-10 degrees for the
   high-end, up to +-14 for drawn handheld profiles, where the envelope's axes are off by that).
3. **Attenuation / TGC / noise.** Round-trip attenuation ``alpha f0 2 z`` (dB) scales the echo;
   complex white noise band-limited by the pulse is added (electronic noise); TGC restores
   ``tgc_compensation`` of the attenuation (less ``near_gain_db`` in the near field, fading out
   at ``near_gain_depth_mm``), amplifying the noise with depth. Frequency
   downshift with depth, diffraction sidelobes, elevation focusing, multiple scattering and
   the longer path of steered beams are ignored.
4. **Detection and display.** Envelope ``|IQ|``; spatial compounding averages the envelopes of
   all steering angles; log compression ``20 log10(env) + gain`` mapped from ``-DR..0`` dB to
   ``0..1``; optional Gaussian post-processing (``display_smoothing_mm``: the scanner's
   speckle-reduction and display interpolation) and the apps' filters; the grey map's pedestal
   ``black_level`` (:func:`apply_black_level`); quantisation to ``bit_depth`` bits; optional
   JPEG round trip (Pillow).
5. **Geometry.** Linear: the simulation grid is the output grid. Curvilinear: the grid is in
   beam space (depth along the beam x beam angle), scan-converted (bilinear, on the envelope)
   to the Cartesian output; pixels outside the sector are 0 (``sector_mask`` False).

Written with NumPy/SciPy FFTs rather than a field simulator (Field II/PyMUST's SIMUS) because a
256x256 pair must take ~50 ms; ``bench/simulate.py`` checks the lateral beam against PyMUST.

Coordinate conventions (all in mm): phantom coordinates ``(x, z)`` as in
:mod:`pocusiq.simulate.phantoms`. An :class:`ImagingRegion` places the probe: the centre of the
probe face at phantom ``(x0_mm, z0_mm)``, the beam axis rotated by ``angle_deg`` from +z
towards +x. Probe coordinates ``(u, v)`` (lateral, depth) map to the phantom as
``x = x0 + u cos(a) + v sin(a)``, ``z = z0 - u sin(a) + v cos(a)``. The output image has
``round(depth_mm / spacing)`` rows and ``round(width_mm / spacing)`` columns; pixel ``(i, j)``
is centred at ``v = (i + 0.5) s``, ``u = (j + 0.5) s - width_mm / 2``. For a curvilinear
profile the array is an arc of radius ``R = profile.radius_mm`` through the face centre, its
virtual apex at ``(u, v) = (0, -R)``; the sector holds points with beam depth
``sqrt(u^2 + (v + R)^2) - R`` in ``[0, depth_mm]`` and angle ``atan2(u, v + R)`` within
``+-sector_angle_deg / 2``.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
from PIL import Image
from scipy import ndimage

from pocusiq.imaging.intensity import from_unit
from pocusiq.simulate.phantoms import Phantom, point_target_phantom
from pocusiq.simulate.profiles import (
    GEOMETRIC_DEFOCUS_FACTOR,
    ONE_WAY_FWHM_PER_LAMBDA_FNUMBER,
    TransducerProfile,
)

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: Mean / standard deviation of a Rayleigh-distributed envelope: sqrt(pi / (4 - pi)).
RAYLEIGH_MEAN_OVER_STD = math.sqrt(math.pi / (4.0 - math.pi))


@dataclass(frozen=True)
class ImagingRegion:
    """Where the probe is on the phantom and what it shows (mm, degrees).

    Attributes:
        x0_mm, z0_mm: phantom coordinates of the centre of the probe face.
        width_mm: lateral extent of the output image (centred on the probe axis).
        depth_mm: depth extent of the output image, from the probe face.
        angle_deg: rotation of the beam axis from +z towards +x.
    """

    x0_mm: float
    z0_mm: float
    width_mm: float
    depth_mm: float
    angle_deg: float = 0.0

    def __post_init__(self) -> None:
        if not (self.width_mm > 0 and self.depth_mm > 0):
            raise ValueError(f"imaging region must have positive width and depth, got {self}")

    def to_phantom(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probe (lateral u, depth v) -> phantom (x, z), mm."""
        a = math.radians(self.angle_deg)
        ca, sa = math.cos(a), math.sin(a)
        return self.x0_mm + u * ca + v * sa, self.z0_mm - u * sa + v * ca

    def from_phantom(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phantom (x, z) -> probe (lateral u, depth v), mm."""
        a = math.radians(self.angle_deg)
        ca, sa = math.cos(a), math.sin(a)
        dx, dz = x - self.x0_mm, z - self.z0_mm
        return dx * ca - dz * sa, dx * sa + dz * ca

    def output_shape(self, spacing_mm: float) -> tuple[int, int]:
        """(rows, cols) of the output image at ``spacing_mm``."""
        return max(1, int(round(self.depth_mm / spacing_mm))), max(1, int(round(self.width_mm / spacing_mm)))

    @classmethod
    def whole(cls, phantom: Phantom) -> ImagingRegion:
        """The region showing the whole phantom, probe on its top edge."""
        return cls(phantom.width_mm / 2.0, 0.0, phantom.width_mm, phantom.depth_mm, 0.0)


@dataclass
class BModeImage:
    """Result of :func:`simulate_bmode`.

    Attributes:
        image: (rows, cols) float32 in [0, 1], the displayed B-mode image.
        spacing_mm: pixel spacing of ``image`` (mm, both axes).
        sector_mask: (rows, cols) bool, True inside the imaged area (all True for linear).
        envelope: (rows, cols) float32, detected (and compounded, TGC-corrected) envelope
            before log compression, if requested; unit-echogenicity speckle has rms 1 at the
            probe face.
        region: the imaging region.
    """

    image: np.ndarray
    spacing_mm: float
    sector_mask: np.ndarray
    envelope: np.ndarray | None = None
    region: ImagingRegion | None = None
    params: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# beam model
# ---------------------------------------------------------------------------------------
def lateral_fwhm_mm(profile: TransducerProfile, depth_mm: float | np.ndarray) -> np.ndarray:
    """Pulse-echo lateral amplitude FWHM (mm) of the beam at ``depth_mm``.

    Transmit: ``w_tx = sqrt(w_f^2 + (g D |z - z_f| / z_f)^2)`` with ``w_f = 1.207 lambda F#``
    (one-way |sinc| width at the focus), ``D`` the active aperture and ``g = 0.7``
    (:data:`~pocusiq.simulate.profiles.GEOMETRIC_DEFOCUS_FACTOR`, fitted to PyMUST): the
    diffraction-limited waist plus the geometric cone of the focused aperture. Receive: the same without dynamic
    receive focus; with it, ``1.207 lambda z / D_rx(z)`` with ``D_rx = min(z / F#_rx, array
    width)``. Pulse-echo = transmit x receive (Gaussian approximation):
    ``1 / w^2 = 1 / w_tx^2 + 1 / w_rx^2``.
    """
    z = np.maximum(np.asarray(depth_mm, dtype=np.float64), 1e-3)
    lam = profile.wavelength_mm
    c1 = ONE_WAY_FWHM_PER_LAMBDA_FNUMBER
    d_tx = profile.tx_aperture_mm
    zf = profile.tx_focus_mm
    w_tx = np.sqrt((c1 * lam * zf / d_tx) ** 2 + (GEOMETRIC_DEFOCUS_FACTOR * d_tx * np.abs(z - zf) / zf) ** 2)
    if profile.dynamic_receive_focus:
        d_rx = np.minimum(z / profile.rx_f_number, profile.array_width_mm)
        w_rx = c1 * lam * z / d_rx
    else:
        w_rx = w_tx
    return 1.0 / np.sqrt(1.0 / w_tx**2 + 1.0 / w_rx**2)


def lateral_margin_mm(profile: TransducerProfile, depth_mm: float) -> float:
    """Lateral margin (mm) of tissue beyond the image edge that the widest beam reaches.

    Phantoms should extend this far beyond the imaged width (``simulate_pair`` does), otherwise
    the image edges darken (no tissue there).
    """
    depths = np.linspace(0.0, depth_mm, 16)
    sigma = float(lateral_fwhm_mm(profile, depths).max()) / FWHM_PER_SIGMA
    return float(min(3.0 * sigma, 12.0))


@functools.lru_cache(maxsize=32)
def _lateral_transfer(
    profile: TransducerProfile, nz: int, nx: int, dz: float, z_start: float, dcol: float, radius: float, polar: bool
) -> np.ndarray:
    """(nz, nx) float32: per-row FFT (along columns) of unit-energy lateral Gaussian PSFs.

    Row ``r`` (beam depth ``z_r``) holds the transfer function of ``exp(-x^2 / 2 sigma(z_r)^2)``
    (``sigma`` from :func:`lateral_fwhm_mm`) sampled at that row's column spacing (mm, or arc
    length ``(R + z_r) dphi`` for polar grids) on the periodic grid, normalised so that
    sum(h^2) = 1: filtering unit-variance white noise gives unit-variance output.
    """
    depths = z_start + (np.arange(nz) + 0.5) * dz
    col_mm = dcol * (radius + depths) if polar else np.full(nz, dcol)
    sig = (lateral_fwhm_mm(profile, depths) / FWHM_PER_SIGMA)[:, None]
    ix = ((np.arange(nx) + nx // 2) % nx - nx // 2).astype(np.float64)
    x = ix[None, :] * col_mm[:, None]
    h = np.exp(-0.5 * (x / sig) ** 2)
    h /= np.sqrt(np.sum(h * h, axis=1, keepdims=True))
    out = np.ascontiguousarray(scipy.fft.fft(h, axis=1).real.astype(np.float32))
    out.flags.writeable = False
    return out


def _axial_kernel(sigma_px: float) -> np.ndarray | None:
    """Unit-energy sampled Gaussian (float32) of ``sigma_px`` pixels, or None if ~a delta."""
    if sigma_px < 0.25:
        return None
    half = max(1, int(math.ceil(4.0 * sigma_px)))
    t = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma_px) ** 2)
    return (k / math.sqrt(float(np.sum(k * k)))).astype(np.float32)


def _phasor(phase: np.ndarray) -> np.ndarray:
    """``exp(-j phase)`` as complex64 (via float32 cos/sin: ~10x faster than complex exp)."""
    out = np.empty(phase.shape, dtype=np.complex64)
    out.real = np.cos(phase)
    out.imag = -np.sin(phase)
    return out


def _bin(flat: np.ndarray, values: np.ndarray, nz: int, nx: int) -> np.ndarray:
    """Sum complex ``values`` into a (nz, nx) complex64 grid at flat indices ``flat``."""
    out = np.empty(nz * nx, dtype=np.complex64)
    out.real = np.bincount(flat, weights=values.real, minlength=nz * nx)
    out.imag = np.bincount(flat, weights=values.imag, minlength=nz * nx)
    return out.reshape(nz, nx)


# ---------------------------------------------------------------------------------------
# grids
# ---------------------------------------------------------------------------------------
@dataclass
class _Grid:
    """Simulation grid: rows = beam depth (mm), cols = lateral (mm) or beam angle (rad)."""

    polar: bool
    nz: int
    nx: int
    dz: float  # row spacing (mm)
    dcol: float  # col spacing: mm (linear) or rad (polar)
    z_start: float  # depth of row 0's lower edge (mm)
    col_start: float  # lateral (mm) / angle (rad) of col 0's lower edge
    radius: float = 0.0  # polar: apex-to-face radius
    crop: tuple[slice, slice] = (slice(None), slice(None))

    def row_depths(self) -> np.ndarray:
        return self.z_start + (np.arange(self.nz) + 0.5) * self.dz

    def col_mm_at(self, depth: float) -> float:
        return self.dcol * (self.radius + depth) if self.polar else self.dcol


def _make_grid(profile: TransducerProfile, region: ImagingRegion, spacing: float, polar: bool) -> _Grid:
    margin_lat = lateral_margin_mm(profile, region.depth_mm)
    margin_ax = 4.0 * profile.axial_sigma_mm + 2.0 * spacing
    pz = int(math.ceil(margin_ax / spacing))
    if not polar:
        rows, cols = region.output_shape(spacing)
        px = int(math.ceil(margin_lat / spacing))
        nz = rows + 2 * pz
        nx = scipy.fft.next_fast_len(cols + 2 * px)
        pz0, px0 = (nz - rows) // 2, (nx - cols) // 2
        return _Grid(False, nz, nx, spacing, spacing, -pz0 * spacing, -region.width_mm / 2 - px0 * spacing,
                     crop=(slice(pz0, pz0 + rows), slice(px0, px0 + cols)))
    radius = profile.radius_mm
    half = math.radians(profile.sector_angle_deg) / 2.0
    rows = max(1, int(round(region.depth_mm / spacing)))
    dphi = spacing / (radius + region.depth_mm / 2.0)
    cols = max(1, int(math.ceil(2 * half / dphi)))
    dphi = 2 * half / cols
    px = int(math.ceil(margin_lat / radius / dphi))
    nz = rows + 2 * pz
    nx = scipy.fft.next_fast_len(cols + 2 * px)
    pz0, px0 = (nz - rows) // 2, (nx - cols) // 2
    return _Grid(True, nz, nx, spacing, dphi, -pz0 * spacing, -half - px0 * dphi, radius=radius,
                 crop=(slice(pz0, pz0 + rows), slice(px0, px0 + cols)))


def _gather(phantom: Phantom, region: ImagingRegion, grid: _Grid):
    """Scatterers reaching the grid: (flat index, amplitude, beam depth, lateral coordinate)."""
    d = phantom.spacing_mm
    # probe-frame bounding box of the grid, then phantom-frame bounding box of that
    if grid.polar:
        zmax = grid.z_start + grid.nz * grid.dz
        phis = grid.col_start + np.array([0.0, grid.nx * grid.dcol])
        rr = np.array([max(grid.radius + grid.z_start, 0.0), grid.radius + zmax])
        pp = np.linspace(phis[0], phis[1], 9)
        us = (rr[:, None] * np.sin(pp)[None, :]).ravel()
        vs = (rr[:, None] * np.cos(pp)[None, :]).ravel() - grid.radius
    else:
        us = grid.col_start + np.array([0.0, grid.nx * grid.dcol, 0.0, grid.nx * grid.dcol])
        vs = grid.z_start + np.array([0.0, 0.0, grid.nz * grid.dz, grid.nz * grid.dz])
    xs, zs = region.to_phantom(us, vs)
    h, w = phantom.shape
    i0, i1 = max(0, int(math.floor(zs.min() / d)) - 1), min(h, int(math.ceil(zs.max() / d)) + 1)
    j0, j1 = max(0, int(math.floor(xs.min() / d)) - 1), min(w, int(math.ceil(xs.max() / d)) + 1)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.complex64), np.zeros(0, np.float32), np.zeros(0, np.float32))
    parts = []
    if i1 > i0 and j1 > j0:
        echo = phantom.echogenicity[i0:i1, j0:j1]
        amp, off = phantom.scatterers()
        if echo.any():
            # one scatterer stands for a d x d cell of tissue (amplitude ~ d: variance ~ area);
            # cells with zero echogenicity contribute zero, no need to select them
            amp_w, off_z = amp[i0:i1, j0:j1], off[0, i0:i1, j0:j1]
            if phantom.specular is not None:
                # specular cells: mostly coherent scatterers at the cell centre's depth (a
                # smooth interface with a little roughness: 80 % coherent, 20 % diffuse)
                spec = phantom.specular[i0:i1, j0:j1]
                amp_w = np.where(spec, np.complex64(0.8) + np.complex64(0.35) * amp_w, amp_w)
                off_z = np.where(spec, np.float32(0.0), off_z)
            a = (amp_w * (echo * np.float32(d))).ravel()
            zc = ((np.arange(i0, i1, dtype=np.float32) + np.float32(0.5)) * np.float32(d))[:, None]
            xc = ((np.arange(j0, j1, dtype=np.float32) + np.float32(0.5)) * np.float32(d))[None, :]
            z = (off_z + zc).ravel()
            x = (off[1, i0:i1, j0:j1] + xc).ravel()
            parts.append((x, z, a))
    if phantom.wires_mm:
        wz, wx = np.array(phantom.wires_mm, dtype=np.float32).T
        parts.append((wx, wz, np.full(len(wz), phantom.wire_strength_mm, dtype=np.complex64)))
    if not parts:
        return empty
    x = np.concatenate([p[0] for p in parts])
    z = np.concatenate([p[1] for p in parts])
    a = np.concatenate([p[2] for p in parts])
    u, v = region.from_phantom(x, z)
    if grid.polar:
        vr = v + grid.radius
        rho = np.sqrt(u * u + vr * vr)
        depth = rho - grid.radius
        phi = np.arctan2(u, vr)
        col = (phi - grid.col_start) / grid.dcol
        lateral = rho * phi
    else:
        depth, lateral = v, u
        col = (u - grid.col_start) / grid.dcol
    row = (depth - grid.z_start) / grid.dz
    ir = np.floor(row).astype(np.int64)
    ic = np.floor(col).astype(np.int64)
    # in the grid, and not behind the probe face (the grid's top margin rows)
    ok = (ir >= 0) & (ir < grid.nz) & (ic >= 0) & (ic < grid.nx) & (depth >= 0)
    flat = ir * grid.nx + ic
    depth, lateral = depth.astype(np.float32, copy=False), lateral.astype(np.float32, copy=False)
    if ok.all():
        return flat, a, depth, lateral
    return flat[ok], a[ok], depth[ok], lateral[ok]


def _transmission(phantom: Phantom, region: ImagingRegion, grid: _Grid) -> np.ndarray | None:
    """(nz, nx) float32 round-trip amplitude transmission through the phantom's extra attenuation.

    Integrates ``phantom.attenuation_db_mm`` along each beam (grid column) from the probe face
    down to each grid cell (half of the cell's own attenuation counts), twice (down and back):
    what is behind a strong reflector or under a poorly coupled probe edge lies in its shadow.
    None if the phantom has no extra attenuation.
    """
    if phantom.attenuation_db_mm is None:
        return None
    depths = grid.row_depths()[:, None]
    cols = grid.col_start + (np.arange(grid.nx) + 0.5)[None, :] * grid.dcol
    if grid.polar:
        u = (grid.radius + depths) * np.sin(cols)
        v = (grid.radius + depths) * np.cos(cols) - grid.radius
    else:
        u, v = np.broadcast_to(cols, (grid.nz, grid.nx)), np.broadcast_to(depths, (grid.nz, grid.nx))
    x, z = region.to_phantom(u, v)
    d = phantom.spacing_mm
    h, w = phantom.shape
    i = np.floor(z / d).astype(np.int64)
    j = np.floor(x / d).astype(np.int64)
    inside = (i >= 0) & (i < h) & (j >= 0) & (j < w) & (depths >= 0)
    att = np.where(inside, phantom.attenuation_db_mm[np.clip(i, 0, h - 1), np.clip(j, 0, w - 1)], 0.0)
    one_way_db = (np.cumsum(att, axis=0) - 0.5 * att) * grid.dz
    return (10.0 ** (-2.0 * one_way_db / 20.0)).astype(np.float32)


def apply_display_filters(image: np.ndarray, profile: TransducerProfile, spacing: float) -> np.ndarray:
    """The profile's post-processing of a log-compressed [0, 1] image (before quantisation).

    In order: Gaussian smoothing (``display_smoothing_mm``), lateral smoothing
    (``lateral_smoothing_mm``), edge-preserving speckle reduction (``speckle_reduction``, at the
    axial speckle size), edge enhancement (``edge_enhance``, sigma 1.5 x the axial speckle size).
    """
    from pocusiq.simulate.display import edge_enhance, speckle_reduce

    if profile.display_smoothing_mm > 0:
        image = ndimage.gaussian_filter(image, profile.display_smoothing_mm / spacing, mode="nearest")
    if profile.lateral_smoothing_mm > 0:
        image = ndimage.gaussian_filter1d(image, profile.lateral_smoothing_mm / spacing, axis=1, mode="nearest")
    speckle_px = max(profile.axial_fwhm_mm / spacing, 0.5)
    if profile.speckle_reduction > 0:
        image = speckle_reduce(image, profile.speckle_reduction, speckle_px)
    if profile.edge_enhance > 0:
        image = edge_enhance(image, profile.edge_enhance, 1.5 * speckle_px)
    return image.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------
# imaging
# ---------------------------------------------------------------------------------------
def simulate_bmode(
    phantom: Phantom,
    profile: TransducerProfile,
    rng: np.random.Generator | None,
    *,
    region: ImagingRegion | None = None,
    spacing_mm: float | None = None,
    return_envelope: bool = False,
    noise: bool = True,
    display: bool = True,
) -> BModeImage:
    """Image ``phantom`` with ``profile`` over ``region``; returns a float image in [0, 1].

    Args:
        phantom: the tissue (its scatterers are fixed by ``phantom.scatter_seed``).
        profile: the system (frequency, bandwidth, beam, noise, display chain, geometry).
        rng: source of the electronic noise; same state -> same image. None disables noise.
        region: probe pose and field of view (see the module docstring for coordinates);
            default: the whole phantom seen from its top edge.
        spacing_mm: output pixel spacing (mm); default: the phantom's cell size. Keep it
            >= the phantom's spacing (one scatterer per phantom cell).
        return_envelope: also return the detected envelope before log compression.
        noise: add electronic noise (requires ``rng``).
        display: apply log compression/quantisation/JPEG (``False`` leaves ``image`` as the
            normalised envelope, for physics checks).

    Returns:
        :class:`BModeImage` with ``image`` (rows, cols) float32 in [0, 1], its spacing, the
        sector mask, and the envelope if requested.
    """
    if not isinstance(phantom, Phantom):
        raise TypeError(f"phantom must be a Phantom, got {type(phantom).__name__}")
    if not isinstance(profile, TransducerProfile):
        raise TypeError(f"profile must be a TransducerProfile, got {type(profile).__name__}")
    region = region if region is not None else ImagingRegion.whole(phantom)
    spacing = float(spacing_mm if spacing_mm is not None else phantom.spacing_mm)
    if not spacing > 0:
        raise ValueError(f"spacing_mm must be > 0, got {spacing_mm!r}")
    polar = profile.geometry == "curvilinear"
    grid = _make_grid(profile, region, spacing, polar)

    flat, amp, depth, lateral = _gather(phantom, region, grid)
    depths = grid.row_depths()
    # amplitude normalisation: a unit-echogenicity cell of area A has variance A, so divide the
    # binned field by sqrt(cell area) of each grid row (varies with depth in polar grids)
    if polar:
        cell_area = grid.dz * grid.dcol * np.maximum(grid.radius + depths, 1e-3)
    else:
        cell_area = np.full(grid.nz, grid.dz * grid.dcol)
    row_norm = (1.0 / np.sqrt(cell_area)).astype(np.float32)[:, None]
    if not polar:
        amp = amp * row_norm[0, 0]

    k2 = np.float32(2.0 * 2.0 * math.pi / profile.wavelength_mm)  # round-trip wavenumber (rad/mm)
    rs, cs = grid.crop
    # lateral PSF: exact width at every row; columns in mm (linear) or arc length (polar)
    lateral_tf = _lateral_transfer(profile, grid.nz, grid.nx, grid.dz, grid.z_start, grid.dcol, grid.radius, polar)
    axial = _axial_kernel(profile.axial_sigma_mm / grid.dz)

    att_db = profile.attenuation_db_cm_mhz * profile.center_frequency_mhz * 2.0 * np.maximum(depths, 0.0) / 10.0
    attenuation = (10.0 ** (-att_db / 20.0)).astype(np.float32)[:, None]
    tgc_db = profile.tgc_compensation * att_db[rs]
    if profile.near_gain_db < 0:  # the TGC curve's near-field reduction, fading out linearly with depth
        tgc_db = tgc_db + profile.near_gain_db * np.clip(1.0 - np.maximum(depths[rs], 0.0) / profile.near_gain_depth_mm, 0.0, 1.0)
    tgc = (10.0 ** (tgc_db / 20.0)).astype(np.float32)[:, None]
    noise_rms = 10.0 ** (profile.noise_db / 20.0)
    add_noise = noise and rng is not None and noise_rms > 0

    transmission = _transmission(phantom, region, grid)
    n_angles = len(profile.compounding_angles_deg)
    if add_noise:
        # electronic noise, white before the receive (pulse) filter and not attenuated. One field
        # with n_angles spare rows/cols; frame k takes the window offset by k, so every frame sees
        # different (independent) samples at each pixel for the cost of one draw.
        rows_c, cols_c = len(depths), cs.stop - cs.start
        noise_field = rng.standard_normal((2, rows_c + n_angles, cols_c + n_angles), dtype=np.float32)
        noise_field *= np.float32(noise_rms / math.sqrt(2.0))
    envelope_sum = None
    for k, angle in enumerate(profile.compounding_angles_deg):
        a = math.radians(angle)
        w = amp * _phasor(k2 * (np.float32(math.cos(a)) * depth + np.float32(math.sin(a)) * lateral))
        field_ = _bin(flat, w, grid.nz, grid.nx)
        if polar:
            field_ *= row_norm
        if transmission is not None:
            field_ *= transmission
        iq = scipy.fft.ifft(scipy.fft.fft(field_, axis=1) * lateral_tf, axis=1)[:, cs]
        iq *= attenuation
        if add_noise:
            iq.real += noise_field[0, k : k + iq.shape[0], k : k + iq.shape[1]]
            iq.imag += noise_field[1, k : k + iq.shape[0], k : k + iq.shape[1]]
        if axial is not None:
            # the pulse envelope; applied after attenuation (which varies over cm, the pulse over
            # ~0.1 mm, so the two commute) so that it also band-limits the noise
            re = ndimage.correlate1d(iq.real, axial, axis=0, mode="constant")
            im = ndimage.correlate1d(iq.imag, axial, axis=0, mode="constant")
            iq = re[rs] + 1j * im[rs]
        else:
            iq = iq[rs]
        env = np.abs(iq) * tgc
        envelope_sum = env if envelope_sum is None else envelope_sum + env
    envelope = (envelope_sum / n_angles).astype(np.float32)

    rows, cols = region.output_shape(spacing)
    if polar:
        envelope, sector = _scan_convert(envelope, grid, region, spacing)
    else:
        sector = np.ones((rows, cols), dtype=bool)

    image = log_compress(envelope, profile) if display else envelope.copy()
    if display:
        image = apply_display_filters(image, profile, spacing)
    if display and profile.black_level > 0:
        image = apply_black_level(image, profile.black_level)
    if display and (profile.bit_depth < 8 or profile.jpeg_quality is not None):
        image = quantise(image, profile.bit_depth, profile.jpeg_quality)
    image[~sector] = 0.0
    return BModeImage(
        image=image.astype(np.float32),
        spacing_mm=spacing,
        sector_mask=sector,
        envelope=envelope if return_envelope else None,
        region=region,
        params={"profile": profile.name},
    )


def _scan_convert(envelope: np.ndarray, grid: _Grid, region: ImagingRegion, spacing: float):
    """Bilinear scan conversion of a beam-space envelope to the Cartesian output grid."""
    rows, cols = region.output_shape(spacing)
    v = ((np.arange(rows) + 0.5) * spacing)[:, None]
    u = ((np.arange(cols) + 0.5) * spacing - region.width_mm / 2.0)[None, :]
    vr = v + grid.radius
    rho = np.sqrt(u * u + vr * vr)
    phi = np.arctan2(u, vr)
    rs, cs = grid.crop
    # fractional indices into the cropped beam-space envelope (sample centres at +0.5)
    r_idx = (rho - grid.radius - (grid.z_start + rs.start * grid.dz)) / grid.dz - 0.5
    c_idx = (phi - (grid.col_start + cs.start * grid.dcol)) / grid.dcol - 0.5
    nr, nc = envelope.shape
    inside = (rho - grid.radius >= 0) & (rho - grid.radius <= region.depth_mm) & (np.abs(phi) <= -grid.col_start - cs.start * grid.dcol + 1e-9)
    inside &= (c_idx >= -0.5) & (c_idx <= nc - 0.5) & (r_idx >= -0.5) & (r_idx <= nr - 0.5)
    out = ndimage.map_coordinates(envelope, [np.broadcast_to(r_idx, (rows, cols)).ravel(),
                                             np.broadcast_to(c_idx, (rows, cols)).ravel()],
                                  order=1, mode="nearest").reshape(rows, cols).astype(np.float32)
    out[~inside] = 0.0
    return out, inside


def log_compress(envelope: np.ndarray, profile: TransducerProfile) -> np.ndarray:
    """Envelope -> display value in [0, 1]: ``(20 log10(env) + gain_db + DR) / DR``, clipped.

    ``envelope`` is any-shape, >= 0 (unit-echogenicity speckle has rms 1); the result is float32
    of the same shape (``DR`` = ``profile.dynamic_range_db``).
    """
    db = 20.0 * np.log10(np.maximum(envelope, 1e-12)) + profile.gain_db
    return np.clip((db + profile.dynamic_range_db) / profile.dynamic_range_db, 0.0, 1.0).astype(np.float32)


def apply_black_level(image: np.ndarray, black_level: int) -> np.ndarray:
    """The grey map's pedestal: ``black + v (1 - black)`` with ``black = black_level / 255``.

    Args:
        image: (rows, cols) float in [0, 1] (log-compressed, filtered).
        black_level: grey level 0..255 at which ``v = 0`` (no echo) is displayed.

    Returns:
        (rows, cols) float32 in [black, 1]; 0 stays exactly ``black_level / 255`` and 1 stays 1,
        so an 8-bit image shows no echo at grey ``black_level``.
    """
    black = np.float32(black_level / 255.0)
    return (black + image.astype(np.float32, copy=False) * (np.float32(1.0) - black)).astype(np.float32, copy=False)


def quantise(image: np.ndarray, bit_depth: int, jpeg_quality: int | None) -> np.ndarray:
    """Quantise a [0, 1] image to ``bit_depth`` bits, then JPEG round trip if ``jpeg_quality``.

    Args:
        image: (rows, cols) float in [0, 1] (clipped).
        bit_depth: 1..8 bits: ``2**bit_depth`` grey levels.
        jpeg_quality: Pillow JPEG quality (1..95), or None for no compression.

    Returns:
        (rows, cols) float32 in [0, 1].
    """
    levels = (1 << bit_depth) - 1
    q = np.round(np.clip(image, 0.0, 1.0) * levels) / levels
    if jpeg_quality is None:
        return q.astype(np.float32)
    buf = io.BytesIO()
    Image.fromarray(np.round(q * 255).astype(np.uint8)).save(buf, format="JPEG", quality=int(jpeg_quality))
    buf.seek(0)
    return (np.asarray(Image.open(buf), dtype=np.float32) / 255.0).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(rows, cols) float image in [0, 1] -> uint8 0..255 (clipped, rounded to nearest).

    :func:`pocusiq.imaging.intensity.from_unit`, the project's one float -> integer conversion.
    """
    return from_unit(image, np.uint8)


def point_spread_image(
    profile: TransducerProfile,
    depth_mm: float,
    *,
    spacing_mm: float | None = None,
    width_mm: float | None = None,
    total_depth_mm: float | None = None,
) -> tuple[np.ndarray, float]:
    """Envelope image of a single wire at ``depth_mm`` on the probe axis (noise-free).

    Args:
        profile: system to image with (imaged with linear geometry even if curvilinear).
        depth_mm: depth of the wire (mm).
        spacing_mm: pixel spacing; default ``lambda / 8`` (fine enough to measure FWHMs).
        width_mm, total_depth_mm: image extent; defaults fit the PSF.

    Returns:
        (envelope (rows, cols) float32, spacing_mm). The wire lies in the pixel containing
        ``(depth_mm, width/2)``: row ``floor(depth_mm / spacing)``, the centre column.
    """
    lam = profile.wavelength_mm
    spacing = float(spacing_mm if spacing_mm is not None else lam / 8.0)
    w = float(lateral_fwhm_mm(profile, depth_mm))
    width = float(width_mm if width_mm is not None else max(8.0 * w, 40 * spacing))
    total = float(total_depth_mm if total_depth_mm is not None else depth_mm + max(8 * profile.axial_fwhm_mm, 1.0))
    cols = int(round(width / spacing))
    cols += 1 - cols % 2  # odd: the wire sits on the centre column
    width = cols * spacing
    rows = int(round(total / spacing))
    phantom = point_target_phantom(depth_mm, width / 2.0, width_mm=width, total_depth_mm=rows * spacing,
                                   spacing_mm=spacing)
    flat = dataclasses.replace(profile, geometry="linear")
    region = ImagingRegion(width / 2.0, 0.0, width, rows * spacing, 0.0)
    result = simulate_bmode(phantom, flat, None, region=region, spacing_mm=spacing, return_envelope=True,
                            noise=False, display=False)
    return result.envelope, spacing


def resample_masks(
    masks: dict[str, np.ndarray], phantom: Phantom, region: ImagingRegion, spacing_mm: float
) -> dict[str, np.ndarray]:
    """Nearest-neighbour resampling of phantom masks onto the output image grid of ``region``.

    Args:
        masks: ``{name: bool (H, W)}`` on the phantom's grid (``phantom.shape``).
        phantom: gives the grid (cell size ``phantom.spacing_mm``).
        region: probe pose and field of view (mm, degrees).
        spacing_mm: output pixel spacing (mm).

    Returns:
        ``{name: bool (rows, cols)}`` with ``(rows, cols) = region.output_shape(spacing_mm)``;
        False where the output pixel's centre lies outside the phantom.
    """
    rows, cols = region.output_shape(spacing_mm)
    d = phantom.spacing_mm
    h, w = phantom.shape
    j0 = (region.x0_mm - region.width_mm / 2.0) / d
    i0 = region.z0_mm / d
    if (region.angle_deg == 0.0 and abs(spacing_mm - d) < 1e-9 * d and abs(i0 - round(i0)) < 1e-6
            and abs(j0 - round(j0)) < 1e-6 and 0 <= round(i0) and round(i0) + rows <= h
            and 0 <= round(j0) and round(j0) + cols <= w):
        # same grid, whole cells, inside the phantom: a plain crop
        r0, c0 = int(round(i0)), int(round(j0))
        return {key: m[r0 : r0 + rows, c0 : c0 + cols].copy() for key, m in masks.items()}
    v = ((np.arange(rows) + 0.5) * spacing_mm)[:, None] + np.zeros((1, cols))
    u = ((np.arange(cols) + 0.5) * spacing_mm - region.width_mm / 2.0)[None, :] + np.zeros((rows, 1))
    x, z = region.to_phantom(u, v)
    i = np.floor(z / d).astype(np.int64)
    j = np.floor(x / d).astype(np.int64)
    inside = (i >= 0) & (i < h) & (j >= 0) & (j < w)
    ic, jc = np.clip(i, 0, h - 1), np.clip(j, 0, w - 1)
    return {key: (m[ic, jc] & inside) for key, m in masks.items()}
