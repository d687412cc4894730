"""The simulated scanner: a simulator profile imaging a phantom at the gantry's pose.

:class:`SimulatedScanner` is a :class:`~pocusiq.acquire.sources.FrameSource` that renders what a
device mounted on the gantry would show, with the ground truth the pairing bench needs.

Pose -> imaging (an approximation of the real gantry, stated here once):

* The specimen is a phantom from :func:`pocusiq.simulate.phantoms.make_phantom` (``preset``,
  ``width_mm`` x ``depth_mm``, cells of ``spacing_mm``); stage ``x_mm`` is the phantom's
  lateral coordinate ``x`` directly (the specimen's x origin at the stage's x zero).
* ``y_mm`` selects the slice: each distinct y (to the micrometre) gets its own phantom drawn
  from ``numpy.random.default_rng([seed, round(y * 1000)])``. Neighbouring slices are thus
  independent (no 3-D continuity); both devices at the same y see the same slice and the
  same fixed scatterers. The phantom's ``wires_mm`` ((x, z) each, e.g. a calibration
  phantom's) are added to every slice: wires run along y.
* ``z_mm`` is the probe height: the probe face sits at phantom depth ``z`` (positive =
  pressed into the specimen), so the image starts ``z`` mm below the specimen surface.
* ``tilt_deg`` rotates the image plane *in-plane* about the probe face centre (the real
  tilt of a probe also moves the plane out of the slice; that is ignored). Positive turns the
  image's lateral axis from +x towards +z -- the opposite sign of the simulator's
  ``ImagingRegion.angle_deg`` (beam axis from +z towards +x), so the simulator is given
  ``-angle``.
* The device's mounting on the holder adds ``mount.dx_mm``/``dz_mm`` to the probe face
  position and ``mount.rotation_deg`` to the angle, so two devices at the same stage pose
  image slightly different regions -- what the pairing registration has to recover.

Imaging uses :func:`pocusiq.simulate.bmode.simulate_bmode` with the device's profile, an
:class:`~pocusiq.simulate.bmode.ImagingRegion` of ``fov_mm`` x ``depth_mm`` and output
spacing ``image_spacing_mm``; electronic noise is seeded per (device, pose, frame).

Frame layout: the image (``round(fov/spacing)`` columns x ``round(depth/spacing)`` rows) is
pasted unscaled into a black ``frame_size`` canvas -- centred horizontally, below a UI bar
when ``overlay`` is on -- and UI marks are drawn in the margins only (device/frequency text,
a depth scale with cm ticks and labels, a focus marker, a battery icon), like a POCUS app's
screen capture. ``color`` "rgb" makes a 3-channel frame (the UI text is coloured).

Truth: ``world_from_pixel`` maps frame pixel centres (col, row) to phantom (x_mm, z_mm);
with ``s`` the spacing, ``a`` the angle (tilt + mounting rotation), ``(x0, z0)`` the probe
face centre, ``W`` the image width and ``(c0, r0)`` the region origin, the simulator's pixel
(i, j) centre is at probe ``u = (j + 0.5) s - W/2``, ``v = (i + 0.5) s`` and phantom
``x = x0 + u cos a - v sin a``, ``z = z0 + u sin a + v cos a``, with ``j = col - c0``,
``i = row - r0``. The probe face centre is thus at ``col = c0 + (cols - 1) / 2``,
``row = r0 - 0.5`` (the top edge of the region's first row).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np

from pocusiq.acquire.plan import MountConfig, PhantomConfig, Pose, SimulatedDeviceConfig
from pocusiq.acquire.session import FrameTruth
from pocusiq.acquire.sources import CapturedFrame, FrameSource

__all__ = ["SimulatedScanner", "UI_BAR_ROWS"]

#: Height (pixels) of the top UI bar of a frame with ``overlay`` on.
UI_BAR_ROWS = 40


class SimulatedScanner(FrameSource):
    """A simulated device on the gantry (see the module docstring for the geometry).

    Args:
        name: device name in the session.
        profile: simulator profile name (``"pocus"``, ``"high_end"``) or a
            :class:`~pocusiq.simulate.profiles.TransducerProfile`.
        phantom: the specimen settings (preset, seed, size, cell spacing).
        frame_size: (width, height) of the saved frame in pixels.
        color: ``"rgb"`` or ``"grey"``.
        fov_mm, depth_mm: lateral field of view and imaging depth (mm).
        image_spacing_mm: pixel size of the image inside the frame (mm, isotropic).
        overlay: draw UI text and marks in the margins.
        mount: probe mounting offset/rotation relative to the stage pose.
        phantom_factory: ``y_mm -> Phantom`` to image instead of the preset (tests, custom
            specimens).
    """

    def __init__(
        self,
        name: str,
        profile: object = "pocus",
        *,
        phantom: PhantomConfig | None = None,
        frame_size: tuple[int, int] = (640, 480),
        color: str = "rgb",
        fov_mm: float = 40.0,
        depth_mm: float = 50.0,
        image_spacing_mm: float = 0.125,
        overlay: bool = True,
        mount: MountConfig | None = None,
        phantom_factory: Callable[[float], object] | None = None,
    ) -> None:
        from pocusiq.simulate.profiles import TransducerProfile, get_profile

        if color not in ("rgb", "grey"):
            raise ValueError(f"color must be 'rgb' or 'grey', got {color!r}")
        if not (fov_mm > 0 and depth_mm > 0 and image_spacing_mm > 0):
            raise ValueError(
                f"fov_mm, depth_mm and image_spacing_mm must be > 0, got {fov_mm}, {depth_mm}, {image_spacing_mm}"
            )
        self.name = name
        self.profile = profile if isinstance(profile, TransducerProfile) else get_profile(str(profile))
        self.phantom_config = phantom or PhantomConfig()
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.color = color
        self.image_spacing_mm = float(image_spacing_mm)
        self.cols = int(round(fov_mm / image_spacing_mm))
        self.rows = int(round(depth_mm / image_spacing_mm))
        # the imaged extent is a whole number of pixels
        self.fov_mm = self.cols * self.image_spacing_mm
        self.depth_mm = self.rows * self.image_spacing_mm
        self.overlay = overlay
        self.mount = mount or MountConfig()
        self._phantom_factory = phantom_factory
        self._phantoms: dict[int, object] = {}
        width, height = self.frame_size
        top = UI_BAR_ROWS if overlay else max(0, (height - self.rows) // 8)
        top = min(top, height - self.rows)
        if self.cols > width or self.rows > height or top < 0:
            raise ValueError(
                f"device {name!r}: the {self.cols}x{self.rows} image does not fit in a {width}x{height} frame"
            )
        self.region = ((width - self.cols) // 2, top, self.cols, self.rows)

    @classmethod
    def from_config(cls, config: SimulatedDeviceConfig, phantom: PhantomConfig | None) -> SimulatedScanner:
        return cls(
            config.name,
            config.profile,
            phantom=phantom,
            frame_size=config.frame_size,
            color=config.color,
            fov_mm=config.fov_mm,
            depth_mm=config.depth_mm,
            image_spacing_mm=config.image_spacing_mm,
            overlay=config.overlay,
            mount=config.mount,
        )

    # ------------------------------------------------------------------ geometry
    def probe_placement(self, pose: Pose) -> tuple[float, float, float]:
        """Probe face centre (x_mm, z_mm) in the phantom and image angle (deg) at ``pose``."""
        return (
            pose.x_mm + self.mount.dx_mm,
            pose.z_mm + self.mount.dz_mm,
            pose.tilt_deg + self.mount.rotation_deg,
        )

    def truth_for(self, pose: Pose) -> FrameTruth:
        """Ground truth of a frame taken at ``pose``: world_from_pixel and the region."""
        x0, z0, angle = self.probe_placement(pose)
        s = self.image_spacing_mm
        a = math.radians(angle)
        ca, sa = math.cos(a), math.sin(a)
        c0, r0, _, _ = self.region
        # u = (col - c0 + 0.5) s - W/2 ; v = (row - r0 + 0.5) s
        # x = x0 + u cos a - v sin a ; z = z0 + u sin a + v cos a
        u0 = (0.5 - c0) * s - self.fov_mm / 2.0
        v0 = (0.5 - r0) * s
        matrix = np.array(
            [
                [s * ca, -s * sa, x0 + u0 * ca - v0 * sa],
                [s * sa, s * ca, z0 + u0 * sa + v0 * ca],
            ],
            dtype=np.float64,
        )
        cfg = self.phantom_config
        return FrameTruth(
            world_from_pixel=matrix,
            region=self.region,
            slice_y_mm=float(pose.y_mm),
            image_spacing_mm=s,
            image_angle_deg=float(angle),
            probe_origin_mm=(float(x0), float(z0)),
            phantom={
                "preset": "custom" if self._phantom_factory else cfg.preset,
                "wires_mm": [[float(x), float(z)] for x, z in cfg.wires_mm],
                "seed": cfg.seed,
                "width_mm": cfg.width_mm,
                "depth_mm": cfg.depth_mm,
                "spacing_mm": cfg.spacing_mm,
            },
        )

    def phantom_at(self, y_mm: float):
        """The phantom slice at ``y_mm`` (cached; drawn from ``[seed, round(y * 1000)]``)."""
        key = int(round(y_mm * 1000.0))
        if key not in self._phantoms:
            if self._phantom_factory is not None:
                self._phantoms[key] = self._phantom_factory(y_mm)
            else:
                from pocusiq.simulate.phantoms import make_phantom

                cfg = self.phantom_config
                rng = np.random.default_rng([cfg.seed, key & 0xFFFFFFFF, 0 if key >= 0 else 1])
                phantom = make_phantom(
                    cfg.preset, rng, width_mm=cfg.width_mm, depth_mm=cfg.depth_mm, spacing_mm=cfg.spacing_mm
                )
                if cfg.wires_mm:  # wires along y: the same (x, z) in every slice
                    from pocusiq.simulate.phantoms import with_wires

                    phantom = with_wires(phantom, [(z, x) for x, z in cfg.wires_mm])
                self._phantoms[key] = phantom
        return self._phantoms[key]

    # ------------------------------------------------------------------ imaging
    def render_image(self, pose: Pose, pose_index: int, frame_index: int) -> np.ndarray:
        """The B-mode image alone, uint8 (rows, cols), at ``pose``."""
        from pocusiq.simulate.bmode import ImagingRegion, simulate_bmode, to_uint8

        x0, z0, angle = self.probe_placement(pose)
        # the simulator's angle turns the beam axis from +z towards +x: the opposite sign
        region = ImagingRegion(x0_mm=x0, z0_mm=z0, width_mm=self.fov_mm, depth_mm=self.depth_mm, angle_deg=-angle)
        noise_rng = np.random.default_rng(
            [self.phantom_config.seed, zlib.crc32(self.name.encode("utf-8")), pose_index, frame_index]
        )
        result = simulate_bmode(
            self.phantom_at(pose.y_mm), self.profile, noise_rng, region=region, spacing_mm=self.image_spacing_mm
        )
        image = to_uint8(result.image)
        if image.shape != (self.rows, self.cols):  # pragma: no cover - guards a simulator change
            raise RuntimeError(f"simulator returned {image.shape}, expected {(self.rows, self.cols)}")
        return image

    def compose_frame(self, image: np.ndarray) -> np.ndarray:
        """Paste ``image`` into the frame and draw the UI overlay (margins only)."""
        width, height = self.frame_size
        c0, r0, cols, rows = self.region
        frame = np.zeros((height, width, 3), np.uint8)
        frame[r0 : r0 + rows, c0 : c0 + cols] = image[:, :, None]
        if self.overlay:
            self._draw_overlay(frame)
        if self.color == "grey":
            import cv2

            return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        return frame

    def _draw_overlay(self, frame: np.ndarray) -> None:
        import cv2

        width, height = self.frame_size
        c0, r0, cols, rows = self.region
        font = cv2.FONT_HERSHEY_SIMPLEX
        white, cyan, yellow, green = (235, 235, 235), (80, 200, 230), (240, 210, 60), (90, 220, 90)
        bar = max(r0, 12)
        cv2.putText(frame, f"{self.profile.name.upper()}  L{self.fov_mm:.0f}", (8, min(bar - 22, 18) + 4),
                    font, 0.45, white, 1, cv2.LINE_AA)
        cv2.putText(frame, f"{self.profile.center_frequency_mhz:.1f} MHz  D {self.depth_mm / 10:.1f} cm  G 50%",
                    (8, bar - 6), font, 0.4, cyan, 1, cv2.LINE_AA)
        # battery icon, top right
        bx = width - 40
        cv2.rectangle(frame, (bx, 6), (bx + 26, 18), white, 1)
        cv2.rectangle(frame, (bx + 26, 10), (bx + 29, 14), white, -1)
        cv2.rectangle(frame, (bx + 2, 8), (bx + 17, 16), green, -1)
        # depth scale right of the image: cm ticks with labels, 5 mm minor ticks
        sx = c0 + cols + 6
        if sx + 24 < width:
            s = self.image_spacing_mm
            cv2.line(frame, (sx, r0), (sx, r0 + rows - 1), white, 1)
            for mm in range(0, int(self.depth_mm) + 1, 5):
                y = r0 + int(round(mm / s))
                if y >= r0 + rows:
                    break
                major = mm % 10 == 0
                cv2.line(frame, (sx, y), (sx + (8 if major else 4), y), white, 1)
                if major and mm > 0:
                    cv2.putText(frame, str(mm // 10), (sx + 10, y + 4), font, 0.35, white, 1, cv2.LINE_AA)
        # focus marker left of the image at the transmit focus depth
        fx = c0 - 6
        fy = r0 + int(round(self.profile.tx_focus_mm / self.image_spacing_mm))
        if fx - 6 >= 0 and fy < r0 + rows:
            triangle = np.array([[fx, fy], [fx - 6, fy - 4], [fx - 6, fy + 4]], np.int32)
            cv2.fillPoly(frame, [triangle], yellow)
        # orientation marker (probe notch side) just above the image's left corner
        if r0 >= 8:
            cv2.circle(frame, (c0 + 4, r0 - 5), 3, cyan, -1)
        # bottom line: frame rate
        if height - (r0 + rows) >= 14:
            cv2.putText(frame, "FR 20 Hz   DR 60", (8, height - 6), font, 0.35, white, 1, cv2.LINE_AA)

    def capture(self, pose: Pose, pose_index: int, frame_index: int) -> CapturedFrame:
        image = self.render_image(pose, pose_index, frame_index)
        return CapturedFrame(
            image=self.compose_frame(image),
            pixel_spacing_mm=(self.image_spacing_mm, self.image_spacing_mm),
            region=None,  # the pairing step must find the region itself (truth has it)
            truth=self.truth_for(pose),
            metadata={"profile": self.profile.name},
        )
