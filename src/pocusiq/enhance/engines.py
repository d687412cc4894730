"""Inference engines: run a generator on a float32 batch ``(N, 1, H, W)`` in [-1, 1].

* :class:`TorchEngine` wraps a ``torch.nn.Module`` (eval mode, ``torch.inference_mode``).
* :class:`OnnxEngine` wraps an ONNX Runtime ``InferenceSession`` (CPU provider unless told
  otherwise), built from an ``.onnx`` file or from bytes exported in memory
  (:func:`pocusiq.enhance.onnx_export.export_onnx_bytes`).

Both are callables ``engine(batch) -> batch`` on NumPy arrays, so the tiling and file code
does not care which one runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pocusiq.errors import CheckpointError


class Engine(Protocol):
    """A generator behind a NumPy interface: ``(N, 1, H, W)`` float32 in [-1, 1] -> same shape."""

    name: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class TorchEngine:
    """Run a ``torch.nn.Module`` generator on NumPy batches.

    Args:
        module: maps ``(N, 1, H, W)`` float32 tensors in [-1, 1] to the same shape. Put into
            eval mode here.
        device: torch device string ("cpu", "cuda", "cuda:0", ...).
    """

    name = "torch"

    def __init__(self, module: Any, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            out = self.module(tensor)
        return out.float().cpu().numpy()


class OnnxEngine:
    """Run an ONNX generator with ONNX Runtime.

    Args:
        model: path to an ``.onnx`` file, or the serialized model as bytes.
        intra_op_threads: ONNX Runtime intra-op threads (0 = its default, all cores).
        providers: execution providers; default ``["CPUExecutionProvider"]``.
    """

    name = "onnx"

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes,
        intra_op_threads: int = 0,
        providers: list[str] | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a regular dependency
            raise CheckpointError(f"engine 'onnx' needs onnxruntime, which is not installed ({exc})") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(intra_op_threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = model if isinstance(model, bytes) else str(Path(model))
        label = "<in-memory ONNX model>" if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(
                source, sess_options=options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise CheckpointError(f"{label}: cannot load ONNX model: {exc}") from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise CheckpointError(f"{label}: expected an ONNX model with one input, found {len(inputs)}")
        self.input_name = inputs[0].name
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return self.session.run(None, feed)[0]
