"""Synthetic paired frames for the pairing tests: one analytic phantom imaged by two "devices".

Each device frame has its own spacing, imaging region, in-plane placement (true
``world_from_pixel``) and independent speckle, so the true POCUS <-> high-end relation is
known exactly and registration accuracy can be measured as a TRE in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy import ndimage as ndi

from pocusiq.pair.geometry import FramePlacement, apply_affine, nominal_world_from_pixel

# (cx_mm, cz_mm, radius_mm, echogenicity): cysts (dark) and inclusions (bright) on a background of 1
BLOBS = (
    (-8.0, 10.0, 3.0, 0.05),
    (6.0, 14.0, 4.0, 3.0),
    (-2.0, 24.0, 2.5, 0.1),
    (10.0, 28.0, 3.5, 0.2),
    (-11.0, 30.0, 4.5, 2.5),
    (2.0, 6.0, 1.5, 4.0),
    (0.0, 34.0, 2.0, 3.5),
)


def echogenicity(x_mm: np.ndarray, z_mm: np.ndarray, shift_mm: float = 0.0) -> np.ndarray:
    """Phantom echogenicity at world points: blobs plus two tilted layers (smooth edges)."""
    x = x_mm - shift_mm
    e = np.ones_like(x)
    for cx, cz, r, val in BLOBS:
        d = np.hypot(x - cx, z_mm - cz) - r
        w = 1.0 / (1.0 + np.exp(d / 0.15))
        e = e * (1 - w) + val * w
    layer = np.abs(z_mm - (18.0 + 0.15 * x)) < 0.8
    e = np.where(layer, 2.5, e)
    return e


@dataclass
class SimFrame:
    frame: np.ndarray  # uint8 (H, W) or (H, W, 3)
    world_from_pixel: np.ndarray  # true (2, 3)
    region: tuple[int, int, int, int]
    spacing_mm: float


def render_frame(
    rng: np.random.Generator,
    *,
    frame_shape: tuple[int, int],
    region: tuple[int, int, int, int],
    spacing_mm: float,
    probe_mm: tuple[float, float] = (0.0, 0.0),
    angle_deg: float = 0.0,
    psf_px: tuple[float, float] = (1.0, 1.5),
    rgb: bool = False,
    phantom_shift_mm: float = 0.0,
) -> SimFrame:
    """One device frame of the phantom: speckle through a Gaussian PSF, log compressed to uint8."""
    h, w = frame_shape
    x0, y0, bw, bh = region
    truth = nominal_world_from_pixel(region, FramePlacement((spacing_mm, spacing_mm), probe_mm, angle_deg))
    rr, cc = np.mgrid[0:bh, 0:bw]
    wx, wz = apply_affine(truth, cc + x0, rr + y0)
    e = echogenicity(wx, wz, phantom_shift_mm)
    noise = rng.normal(size=(bh, bw)) + 1j * rng.normal(size=(bh, bw))
    field = np.sqrt(e) * noise
    field = ndi.gaussian_filter(field.real, psf_px) + 1j * ndi.gaussian_filter(field.imag, psf_px)
    amp = np.abs(field)
    db = 20 * np.log10(amp / np.percentile(amp, 99.5) + 1e-6)
    img = np.clip((db + 45.0) / 45.0, 0, 1) * 235 + 10
    frame = np.zeros((h, w), np.uint8)
    frame[y0 : y0 + bh, x0 : x0 + bw] = np.rint(img).astype(np.uint8)
    if rgb:
        frame = np.repeat(frame[..., None], 3, axis=2)
        frame[5:15, 5:60] = (255, 255, 255)  # a "text" bar
        frame[20:80, w - 15 : w - 5] = (30, 120, 255)  # a colour bar
    return SimFrame(frame=frame, world_from_pixel=truth, region=region, spacing_mm=spacing_mm)


def make_sim_pair(
    seed: int = 0,
    *,
    low_shift_mm: tuple[float, float] = (0.8, -0.5),
    low_angle_deg: float = 2.0,
    phantom_shift_mm: float = 0.0,
    high_probe_mm: tuple[float, float] = (0.0, 0.0),
) -> tuple[SimFrame, SimFrame]:
    """(pocus, high_end): POCUS 40x46 mm at 0.125 mm in an RGB screen capture, high-end 36x40 mm
    at 0.1 mm. The POCUS probe truly sits at ``low_shift_mm`` / ``low_angle_deg`` from the
    nominal placement (probe at the origin, angle 0), which registration must find."""
    rng = np.random.default_rng(seed)
    low = render_frame(
        rng,
        frame_shape=(420, 420),
        region=(50, 30, 320, 368),
        spacing_mm=0.125,
        probe_mm=low_shift_mm,
        angle_deg=low_angle_deg,
        psf_px=(1.2, 2.4),
        rgb=True,
        phantom_shift_mm=phantom_shift_mm,
    )
    high = render_frame(
        rng,
        frame_shape=(410, 380),
        region=(10, 4, 360, 400),
        spacing_mm=0.1,
        probe_mm=high_probe_mm,
        psf_px=(0.8, 1.2),
    )
    return low, high


@pytest.fixture
def sim_pair():
    return make_sim_pair


TINY_PLAN = {
    "specimen": "tiny-sim",
    "stage": {"kind": "simulated", "limits_mm": {"x": [0, 80], "y": [0, 20], "z": [0, 5]},
              "tilt_limits_deg": [-10, 10], "speed_mm_s": 0},
    "poses": {"x_mm": [30, 36], "y_mm": [0], "z_mm": [0], "tilt_deg": [0]},
    "settle_s": 0.0,
    "frames_per_pose": 1,
    "phantom": {"preset": "abdominal", "seed": 3, "width_mm": 80, "depth_mm": 30, "spacing_mm": 0.1},
    "devices": [
        {"name": "pocus", "kind": "simulated", "profile": "pocus", "frame_size": [240, 230],
         "color": "rgb", "fov_mm": 20, "depth_mm": 22, "image_spacing_mm": 0.125, "overlay": True},
        {"name": "high_end", "kind": "simulated", "profile": "high_end", "frame_size": [210, 200],
         "color": "grey", "fov_mm": 19, "depth_mm": 18, "image_spacing_mm": 0.1, "overlay": False,
         "mount": {"dx_mm": 0.6, "dz_mm": 0.2, "rotation_deg": 1.0}},
    ],
}


def make_session(root, plan: dict | None = None):
    """Acquire a tiny simulated session (2 poses, small frames) into ``root``; returns its path."""
    from pathlib import Path

    import yaml

    from pocusiq.acquire.acquisition import run_acquisition
    from pocusiq.acquire.plan import load_plan

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    plan_file = root / "plan_src.yaml"
    plan_file.write_text(yaml.safe_dump(plan or TINY_PLAN, sort_keys=False), encoding="utf-8")
    session = root / "session"
    run_acquisition(load_plan(plan_file), session, plan_file=plan_file, progress=False)
    return session


@pytest.fixture(scope="session")
def tiny_session(tmp_path_factory):
    """A finished 2-pose simulated session (read-only: copy it before changing it)."""
    return make_session(tmp_path_factory.mktemp("pair_session"))
