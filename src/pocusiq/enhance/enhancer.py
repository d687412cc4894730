"""The :class:`Enhancer`: a trained generator applied to images of any size, files and streams.

>>> from pocusiq import Enhancer
>>> enhancer = Enhancer.from_checkpoint("runs/demo/generator.safetensors")   # doctest: +SKIP
>>> better = enhancer(image)            # (H, W) uint8/uint16/float in [0, 1] -> same size, dtype, range
>>> enhancer.enhance_file("scan.dcm", "out/scan.dcm")                          # doctest: +SKIP
>>> for frame in enhancer.enhance_frames(grabber):  # live capture, ROI found on the first frame
...     show(frame)                                                          # doctest: +SKIP

The generator maps ``(N, 1, H, W)`` float32 in [-1, 1] to the same shape, with H and W
multiples of ``multiple`` (``2**depth`` for a U-Net). Images are padded to that multiple by
the one inference path (:mod:`pocusiq.models.inference`, reflect padding, shared with training
validation), or, when larger than one tile, cut into overlapping tiles blended with a raised
cosine (:mod:`pocusiq.enhance.tiling`), so nothing is ever stretched. Colour images are
enhanced on their BT.601 luma (:mod:`pocusiq.imaging.intensity`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.enhance.engines import ENGINES, Engine, OnnxEngine, TorchEngine
from pocusiq.enhance.files import FileResult, enhance_file
from pocusiq.enhance.tiling import TilingConfig, needs_tiling, run_tiled
from pocusiq.imaging.intensity import default_max_value, from_unit, is_grey, luma, replace_luma, to_unit
from pocusiq.imaging.region import ImagingRegion, RegionSpec, paste_inside, resolve_region
from pocusiq.errors import CheckpointError
from pocusiq.models.inference import enhance_batch


Spacing = float | tuple[float, float] | None
"""A pixel size in mm per pixel: one number (square pixels) or ``(x, y)``; None = unknown."""

SPACING_TOLERANCE = 0.02
"""Input and model spacings within 2 % are treated as equal (no resampling)."""



def default_tiling(multiple: int) -> TilingConfig:
    """Tiling used unless told otherwise: one padded pass up to 2048 px a side, else tiles.

    Screenshots and their imaging regions (<= 2048 px) thus run in one pass (no tiling cost);
    larger images are cut into 2048 px tiles overlapping by 256 px (at least one multiple),
    run one at a time to bound memory.
    """
    tile = max(2048, 2 * multiple)
    return TilingConfig(multiple=multiple, tile_size=tile, overlap=max(256, multiple), batch_size=1)


def resolve_engine(engine: str, device: str = "cpu") -> str:
    """``"auto"`` -> ``"onnx"`` when ONNX Runtime imports and the device is the CPU, else ``"torch"``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine != "auto":
        return engine
    if device != "cpu":
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


class Enhancer:
    """Apply a generator to greyscale or colour images of any size, files and frame streams.

    Args:
        network: a ``torch.nn.Module`` generator, or an :class:`~pocusiq.enhance.engines.Engine`
            (any callable mapping a float32 NumPy batch ``(N, 1, H, W)`` in [-1, 1] to the same shape).
        multiple: H and W given to the network are multiples of this (``2**depth``).
        tiling: how large images are split; default :func:`default_tiling`.
        device: torch device for a module network.
        model_name: shown in derived-image tags and reports.
        spacing_mm: pixel size (mm/pixel) of the images the model was trained on (checkpoint
            metadata ``spacing_mm``); None: unknown (inputs are then enhanced at their own scale).
        pipeline: "host" (NumPy conversions around the network), "device" (everything after
            decoding on the torch device: :class:`pocusiq.enhance.device.DevicePipeline`), or
            "auto" (device for a torch module on a non-CPU device, else host). Tiled and
            resampled images always take the host path.
        precision: "fp32", "bf16" or "fp16" (autocast of the network, device pipeline only).
        compile: ``torch.compile`` the network (device pipeline only).

    Scale: when both the model's and an input's spacing are known (``spacing_mm=`` of
    :meth:`__call__`, :meth:`enhance_region`, :meth:`enhance_frames`) and differ by more than
    :data:`SPACING_TOLERANCE`, the input is resampled to the model's spacing (scikit-image
    ``resize``, bilinear, anti-aliased when shrinking), enhanced, and only the *change* the model
    made is resampled back and added to the input: ``out = x + up(G(down(x)) - down(x))``. So
    speckle and targets have the size the model learned, and detail finer than the model's
    pixels is kept from the input rather than blurred away or invented.
    """

    def __init__(
        self,
        network: Any,
        *,
        multiple: int,
        tiling: TilingConfig | None = None,
        device: str = "cpu",
        model_name: str = "generator",
        spacing_mm: float | None = None,
        pipeline: str = "auto",
        precision: str = "fp32",
        compile: bool = False,
    ) -> None:
        if int(multiple) < 1:
            raise ValueError(f"multiple must be >= 1, got {multiple}")
        self.multiple = int(multiple)
        self.tiling = tiling or default_tiling(self.multiple)
        if self.tiling.multiple % self.multiple != 0:
            raise ValueError(
                f"tiling multiple {self.tiling.multiple} is not a multiple of the network multiple {self.multiple}"
            )
        self.module = None
        if _is_torch_module(network):
            self.module = network
            self.engine: Engine = TorchEngine(network, device)
        elif callable(network):
            self.engine = network
        else:
            raise TypeError(f"network must be a torch.nn.Module or a callable engine, got {type(network).__name__}")
        self.device = device
        self.model_name = model_name
        if spacing_mm is not None and not (math.isfinite(float(spacing_mm)) and float(spacing_mm) > 0):
            raise ValueError(f"spacing_mm must be a positive number of mm per pixel, got {spacing_mm}")
        self.spacing_mm = None if spacing_mm is None else float(spacing_mm)
        if pipeline not in ("auto", "host", "device"):
            raise ValueError(f"pipeline must be 'auto', 'host' or 'device', got {pipeline!r}")
        use_device = self.module is not None and (pipeline == "device" or (pipeline == "auto" and device != "cpu"))
        if pipeline == "device" and self.module is None:
            raise ValueError("pipeline 'device' needs a torch.nn.Module network")
        self._pipeline = None
        if use_device:
            from pocusiq.enhance.device import DevicePipeline

            self._pipeline = DevicePipeline(self.engine.module, multiple=self.multiple, device=device,
                                            precision=precision, compile=compile)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        engine: str = "torch",
        tiling: TilingConfig | None = None,
        onnx_threads: int = 0,
    ) -> Enhancer:
        """Load a trained generator checkpoint (its config may sit beside it).

        Args:
            path: checkpoint written by ``pocusiq train`` or its run folder (loaded by
                :func:`pocusiq.models.checkpoints.load_checkpoint`, which also reads the ``spacing_mm``
                metadata), or an ``.onnx`` file from ``pocusiq export``.
            device: torch device ("cpu", "cuda"); ONNX runs on the CPU provider.
            engine: "torch", "onnx" (exported in memory and run by ONNX Runtime) or "auto"
                (onnx when available on CPU).
            tiling: tiling override; default :func:`default_tiling` for the model's multiple.
            onnx_threads: ONNX Runtime intra-op threads (0 = all cores).

        Raises:
            CheckpointError: the file is missing or cannot be loaded.
        """
        from pocusiq.models.checkpoints import load_checkpoint, resolve_checkpoint_path

        path = Path(path)
        if path.is_dir():
            path = resolve_checkpoint_path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint not found")
        if path.suffix.lower() == ".onnx":
            return cls.from_onnx(path, tiling=tiling, threads=onnx_threads)
        engine = resolve_engine(engine, device)
        try:
            checkpoint = load_checkpoint(path, map_location="cpu")
            module = checkpoint.build_generator("cpu")
        except CheckpointError:
            raise
        except Exception as exc:  # corrupt file, wrong format: name the file
            raise CheckpointError(f"{path}: cannot load generator checkpoint: {exc}") from exc
        multiple = checkpoint.model_config.multiple
        name = model_label(path)
        if engine == "onnx":
            from pocusiq.enhance.onnx_export import export_onnx_bytes

            data = export_onnx_bytes(module, multiple=multiple, model_name=name)
            return cls(OnnxEngine(data, intra_op_threads=onnx_threads), multiple=multiple, tiling=tiling,
                       model_name=name, spacing_mm=checkpoint.spacing_mm)
        return cls(module, multiple=multiple, tiling=tiling, device=device, model_name=name,
                   spacing_mm=checkpoint.spacing_mm)

    @classmethod
    def default(cls, kind: str = "cpu", **kwargs: Any) -> Enhancer:
        """The generator shipped with pocusiq: ``"cpu"`` (default) or ``"realtime"`` (smaller, for
        live frames); see ``pocusiq/models/pretrained/MODEL_CARD.md``. Keyword arguments as
        :meth:`from_checkpoint` (``device``, ``engine``, ``tiling``, ``onnx_threads``).

        Raises:
            ValueError: unknown ``kind``. CheckpointError: the model file is missing.
        """
        from pocusiq.models.pretrained import default_model_path

        return cls.from_checkpoint(default_model_path(kind), **kwargs)

    @classmethod
    def from_onnx(
        cls, path: str | os.PathLike[str], *, tiling: TilingConfig | None = None, threads: int = 0
    ) -> Enhancer:
        """Load an ONNX file written by ``pocusiq export`` (multiple and name read from its metadata)."""
        from pocusiq.enhance.onnx_export import META_MODEL, META_MULTIPLE

        engine = OnnxEngine(path, intra_op_threads=threads)
        try:
            multiple = int(engine.metadata[META_MULTIPLE])
        except (KeyError, ValueError):
            raise CheckpointError(
                f"{path}: ONNX model lacks the '{META_MULTIPLE}' metadata; export it with 'pocusiq export'"
            ) from None
        name = engine.metadata.get(META_MODEL, Path(path).name)
        return cls(engine, multiple=multiple, tiling=tiling, model_name=name)

    @property
    def engine_name(self) -> str:
        """"torch", "onnx" or the engine's class name."""
        return str(getattr(self.engine, "name", type(self.engine).__name__))

    # ------------------------------------------------------------------ arrays
    def _network(self, batch: np.ndarray) -> np.ndarray:
        """[0, 1] float32 batch -> [0, 1] float32 batch via the [-1, 1] engine (used per tile)."""
        return enhance_batch(self._engine_call, batch, 1)

    def _engine_call(self, batch: np.ndarray) -> np.ndarray:
        """The engine on a ``[-1, 1]`` batch; a bound method so that ``enhance_batch``'s refusal of
        non-finite outputs names this model (``model_name``)."""
        return self.engine(batch)

    def _enhance_unit(self, unit: np.ndarray) -> np.ndarray:
        """Enhance a batch ``(N, H, W)`` of float32 [0, 1] images of one size.

        Untiled images take the one inference path (:func:`pocusiq.models.inference.enhance_batch`),
        the same as training validation, so both give the same output."""
        if needs_tiling(unit.shape[1:], self.tiling):
            return np.stack([run_tiled(self._network, img, self.tiling) for img in unit])
        batch = np.ascontiguousarray(unit[:, None], dtype=np.float32)
        return enhance_batch(self._engine_call, batch, self.multiple)[:, 0]

    def _check(self, image: np.ndarray) -> None:
        if not isinstance(image, np.ndarray):
            raise TypeError(f"expected a numpy array, got {type(image).__name__}")
        default_max_value(image.dtype)  # raises TypeError for unsupported dtypes
        if image.ndim == 3 and image.shape[2] not in (1, 3, 4) or image.ndim not in (2, 3):
            raise ValueError(f"expected an image (H, W) or (H, W, 1|3|4), got shape {image.shape}")
        if min(image.shape[:2]) < 1:
            raise ValueError(f"image has an empty side: shape {image.shape}")

    def enhance_batch(
        self, images: Sequence[np.ndarray] | np.ndarray, *, max_value: float | None = None
    ) -> list[np.ndarray] | np.ndarray:
        """Enhance several images; same-size greyscale images share network calls.

        Args:
            images: an ``(N, H, W)`` array or a sequence of images (any sizes, as :meth:`__call__`).
            max_value: full-scale value of integer images (default: dtype maximum).

        Returns:
            An ``(N, H, W)`` array for an array input, else a list, each of its input's size,
            dtype and range.
        """
        if isinstance(images, np.ndarray):
            if images.ndim != 3:
                raise ValueError(f"enhance_batch expects an (N, H, W) array or a list, got shape {images.shape}")
            if images.shape[0] == 0:
                return images.copy()
            self._check(images[0])
            unit = to_unit(images, max_value)
            out = self._enhance_unit(unit)
            return from_unit(out, images.dtype, max_value)
        outputs: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for index, image in enumerate(images):
            self._check(image)
            if image.ndim == 2:
                groups.setdefault((image.shape, image.dtype.str), []).append(index)
            else:
                outputs[index] = self(image, max_value=max_value)
        for indices in groups.values():
            stack = np.stack([images[i] for i in indices])
            result = from_unit(self._enhance_unit(to_unit(stack, max_value)), stack.dtype, max_value)
            for i, res in zip(indices, result):
                outputs[i] = res
        return outputs  # type: ignore[return-value]

    def scale_factors(self, spacing_mm: Spacing) -> tuple[float, float] | None:
        """Resize factors ``(fy, fx)`` = input spacing / model spacing (an input at 0.05 mm/pixel for a
        0.2 mm/pixel model shrinks by 4), or None when either spacing is unknown or they agree
        within :data:`SPACING_TOLERANCE`."""
        if self.spacing_mm is None or spacing_mm is None:
            return None
        sx, sy = (float(spacing_mm), float(spacing_mm)) if np.isscalar(spacing_mm) else (float(v) for v in spacing_mm)  # type: ignore[misc]
        if not (sx > 0 and sy > 0 and math.isfinite(sx) and math.isfinite(sy)):
            raise ValueError(f"input spacing must be positive mm per pixel, got {spacing_mm}")
        fy, fx = sy / self.spacing_mm, sx / self.spacing_mm
        if abs(fy - 1) <= SPACING_TOLERANCE and abs(fx - 1) <= SPACING_TOLERANCE:
            return None
        return fy, fx

    def _enhance_unit_at_scale(self, unit: np.ndarray, factors: tuple[float, float] | None) -> np.ndarray:
        """Enhance one ``(H, W)`` float32 [0, 1] image, at the model's scale when ``factors`` are given."""
        if factors is None:
            return self._enhance_unit(unit[None])[0]
        from skimage.transform import resize

        h, w = unit.shape
        size = (max(1, round(h * factors[0])), max(1, round(w * factors[1])))
        small = resize(unit, size, order=1, mode="reflect", anti_aliasing=min(factors) < 1,
                       preserve_range=True).astype(np.float32)
        change = self._enhance_unit(small[None])[0] - small
        back = resize(change, (h, w), order=1, mode="reflect", anti_aliasing=max(factors) > 1,
                      preserve_range=True).astype(np.float32)
        return np.clip(unit + back, 0.0, 1.0)

    def __call__(
        self, image: np.ndarray, *, max_value: float | None = None, spacing_mm: Spacing = None
    ) -> np.ndarray:
        """Enhance one image.

        Args:
            image: ``(H, W)`` greyscale, or ``(H, W, 1)``, or ``(H, W, 3|4)`` RGB(A) (luma is
                enhanced, chroma and alpha kept); uint8, uint16 or float in [0, 1]; any size.
            max_value: full-scale value of integer images (default 255 / 65535; e.g. 4095 for
                12-bit data stored in uint16).
            spacing_mm: the image's pixel size, mm per pixel (a number, or ``(x, y)``); with the
                model's :attr:`spacing_mm` known, the image is enhanced at the model's scale.

        Returns:
            The enhanced image: same shape, dtype and value range.
        """
        self._check(image)
        factors = self.scale_factors(spacing_mm)
        if self._pipeline is not None and factors is None and not needs_tiling(image.shape[:2], self.tiling):
            return self._pipeline(image[None], max_value)[0]
        if image.ndim == 2:
            if factors is not None:
                unit = self._enhance_unit_at_scale(to_unit(image, max_value), factors)
                return from_unit(unit, image.dtype, max_value)
            if needs_tiling(image.shape, self.tiling):  # large: stream tiles from the stored values
                return run_tiled(
                    self._network, image, self.tiling,
                    to_unit=lambda tile: to_unit(tile, max_value),
                    from_unit=lambda rows: from_unit(rows, image.dtype, max_value),
                    out_dtype=image.dtype,
                )
            return from_unit(self._enhance_unit(to_unit(image, max_value)[None])[0], image.dtype, max_value)
        if image.shape[2] == 1:
            return self(image[..., 0], max_value=max_value, spacing_mm=spacing_mm)[..., None]
        if is_grey(image[..., :3]):  # grey stored as RGB (screen recordings): enhance one channel
            grey = self(np.ascontiguousarray(image[..., 0]), max_value=max_value, spacing_mm=spacing_mm)
            out = image.copy()
            out[..., :3] = grey[..., None]
            return out
        scale = default_max_value(image.dtype) if max_value is None else float(max_value)
        y = luma(image, np.float32)
        y *= np.float32(1.0 / scale)
        new_y = self._enhance_unit_at_scale(np.clip(y, 0.0, 1.0, out=y), factors)
        out = image.copy()
        out[..., :3] = replace_luma(image[..., :3], new_y * np.float32(scale), scale)
        return out

    # ------------------------------------------------------------------ regions, streams, files
    def enhance_region(
        self,
        frame: np.ndarray,
        region: RegionSpec = "full",
        *,
        max_value: float | None = None,
        spacing_mm: Spacing = None,
    ) -> np.ndarray:
        """Enhance ``frame`` inside ``region`` only; every pixel outside keeps its exact value.

        Args:
            frame: ``(H, W)`` or ``(H, W, 1|3|4)`` image (see :meth:`__call__`).
            region: "auto" (detect the imaging region), "full", ``(x, y, w, h)`` or a region object.

        Raises:
            RegionNotFoundError: "auto" found no imaging region, or the box does not fit.
        """
        self._check(frame)
        resolved = resolve_region(frame, region)
        if resolved.kind == "full":
            return self(frame, max_value=max_value, spacing_mm=spacing_mm)
        return paste_inside(frame, resolved, lambda crop: self(crop, max_value=max_value, spacing_mm=spacing_mm))

    def enhance_frames(
        self,
        frames: Iterable[np.ndarray],
        *,
        roi: RegionSpec = "auto",
        max_value: float | None = None,
        spacing_mm: Spacing = None,
        batch_size: int = 1,
    ) -> Iterator[np.ndarray]:
        """Enhance a stream of frames lazily (live capture, video): yields one output per input.

        The region is resolved on the first frame (detection runs once) and reused for all
        frames, as a capture's layout does not change; frames must all have the first one's size.
        ``batch_size`` > 1 enhances that many frames per network call on the device pipeline
        (throughput for files; a live view keeps 1 for latency); outputs are the same.
        """
        region: ImagingRegion | None = None
        first_shape: tuple[int, ...] | None = None
        pending: list[np.ndarray] = []
        batched = batch_size > 1 and self._pipeline is not None and self.scale_factors(spacing_mm) is None
        for index, frame in enumerate(frames):
            frame = np.asarray(frame)
            if region is None:
                self._check(frame)
                region = resolve_region(frame, roi)
                first_shape = frame.shape
                batched = batched and not needs_tiling((region.h, region.w), self.tiling)
            elif frame.shape != first_shape:
                raise ValueError(f"frame {index} has shape {frame.shape}, the first frame had {first_shape}")
            if not batched:
                yield self.enhance_region(frame, region, max_value=max_value, spacing_mm=spacing_mm)
                continue
            pending.append(frame)
            if len(pending) == batch_size:
                yield from self._enhance_batch_in_region(pending, region, max_value)
                pending = []
        if pending:
            yield from self._enhance_batch_in_region(pending, region, max_value)

    def _enhance_batch_in_region(
        self, frames: list[np.ndarray], region: ImagingRegion, max_value: float | None
    ) -> Iterator[np.ndarray]:
        crops = self._pipeline(np.stack([region.crop(f) for f in frames]), max_value)
        for frame, crop in zip(frames, crops):
            yield paste_inside(frame, region, lambda _c, crop=crop: crop)

    def enhance_file(
        self,
        path: str | os.PathLike[str],
        out: str | os.PathLike[str],
        *,
        roi: RegionSpec = "auto",
        overwrite: bool = False,
        side_by_side: bool = False,
    ) -> FileResult:
        """Enhance an image (PNG/JPEG/TIFF), DICOM (single or multi-frame) or video file.

        The output has the input's format; see :func:`pocusiq.enhance.files.enhance_file`.
        Returns its :class:`~pocusiq.enhance.files.FileResult`.
        """
        return enhance_file(self, path, out, roi=roi, overwrite=overwrite, side_by_side=side_by_side)


def model_label(path: str | os.PathLike[str]) -> str:
    """``"<file name> (sha256 <first 12 hex>)"``: how outputs name the model that made them."""
    from pocusiq.atomic import sha256_file

    return f"{Path(path).name} (sha256 {sha256_file(path)[:12]})"


def _is_torch_module(obj: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, torch.nn.Module)
