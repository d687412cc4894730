"""The device pipeline: everything after decoding runs where the network runs (CUDA or CPU).

:class:`DevicePipeline` takes decoded frames (NumPy, host) and does, on the torch device:
integer -> [0, 1] (:mod:`pocusiq.imaging.intensity` arithmetic, same weights), BT.601 luma for
colour frames, batching of same-size frames, reflect padding, the [-1, 1] mapping and the network
(the one inference path, :func:`pocusiq.models.inference.enhance_batch`), chroma-keeping luma
replacement, rounding back to the stored dtype -- and copies only the finished frames back.
On CUDA the host -> device copy uses pinned memory with ``non_blocking=True``, so the copy of the
next batch overlaps the work on this one; optional ``bf16``/``fp16`` autocast and
``torch.compile``.

Measured here: only on the CPU (this task's machines have no GPU). Outputs equal the NumPy host
path (:class:`pocusiq.enhance.enhancer.Enhancer` on the CPU) within 1 grey level of 255 in fp32
(``tests/enhance/test_device.py``: rounding of float32 sums in another order); bf16/fp16 outputs
differ by the reduced precision and are off by default. ``bench/enhance_speed.py --device cuda``
prints network vs end-to-end frames/s where a GPU is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pocusiq.imaging.intensity import LUMA_WEIGHTS, default_max_value
from pocusiq.models.inference import enhance_batch

PRECISIONS = ("fp32", "bf16", "fp16")


class DevicePipeline:
    """Enhance batches of frames with every step after decoding on ``device``.

    Args:
        module: a ``torch.nn.Module`` generator (``(N, 1, H, W)`` in [-1, 1] -> same shape).
        multiple: H, W given to the network are multiples of this.
        device: torch device ("cuda", "cuda:1", "cpu").
        precision: "fp32", or "bf16" / "fp16" autocast for the network.
        compile: wrap the module in ``torch.compile`` (first call compiles; later ones are faster).
    """

    def __init__(
        self, module: Any, *, multiple: int, device: str = "cpu", precision: str = "fp32", compile: bool = False
    ) -> None:
        import torch

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.torch = torch
        self.device = torch.device(device)
        self.multiple = int(multiple)
        self.precision = precision
        module = module.to(self.device).eval()
        self.module = torch.compile(module) if compile else module
        self.weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32, device=self.device)
        self.pin = self.device.type == "cuda"

    def _upload(self, frames: np.ndarray):
        tensor = self.torch.from_numpy(np.ascontiguousarray(frames))
        if self.pin:
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=self.pin)

    def _network(self, unit):
        torch = self.torch
        if self.precision == "fp32":
            return enhance_batch(self.module, unit, self.multiple)
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype):
            return enhance_batch(self.module, unit, self.multiple).float()

    def __call__(self, frames: np.ndarray | Sequence[np.ndarray], max_value: float | None = None) -> np.ndarray:
        """Enhance a batch of same-size frames ``(N, H, W)`` or ``(N, H, W, 3|4)`` (uint8/uint16/float).

        Returns an array of the same shape and dtype (alpha and chroma kept for colour frames).
        """
        torch = self.torch
        frames = np.asarray(frames)
        dtype = frames.dtype
        scale = default_max_value(dtype) if max_value is None else float(max_value)
        integer = np.issubdtype(dtype, np.integer)
        with torch.inference_mode():
            stored = self._upload(frames)
            values = stored.float()
            if frames.ndim == 3:
                unit = (values / scale).clamp_(0.0, 1.0)[:, None]
                out = self._network(unit)[:, 0] * scale
            else:
                rgb = values[..., :3]
                y = rgb @ self.weights
                new_y = self._network((y / scale).clamp(0.0, 1.0)[:, None])[:, 0] * scale
                out = values.clone()
                out[..., :3] = (rgb + (new_y - y)[..., None]).clamp_(0.0, scale)
            out = out.clamp_(0.0, scale)
            if integer:
                out = out.round_()
            result = out.to(torch.float32 if not integer else _torch_dtype(torch, dtype)).cpu().numpy()
        return result.astype(dtype, copy=False)


def _torch_dtype(torch, dtype: np.dtype):
    # uint16 has limited torch support: carry it in int32 and cast on the host
    return {np.dtype(np.uint8): torch.uint8}.get(np.dtype(dtype), torch.int32)
