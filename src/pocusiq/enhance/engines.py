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

ENGINES = ("torch", "onnx", "auto")
"""Engine names of ``--engine`` and :func:`pocusiq.enhance.enhancer.resolve_engine` (here, not in the
enhancer, so that the commands' ``--help`` imports no torch)."""


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
        fold_norm: run a copy with eval-mode BatchNorm folded into the preceding convolutions
            (:func:`fold_batch_norm`; same outputs up to float rounding, fewer passes over memory).
    """

    name = "torch"

    def __init__(self, module: Any, device: str = "cpu", fold_norm: bool = True) -> None:
        import torch

        from pocusiq.train.distributed import resolve_device  # the one device check (clear ConfigError)

        self.torch = torch
        self.device = resolve_device(device)
        module = module.eval()
        self.module = (fold_batch_norm(module) if fold_norm else module).to(self.device).eval()

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


def fold_batch_norm(module: Any) -> Any:
    """A copy of ``module`` with every ``BatchNorm2d`` that directly follows a ``Conv2d`` or
    ``ConvTranspose2d`` in an ``nn.Sequential`` folded into that convolution (eval mode).

    Uses :func:`torch.nn.utils.fusion.fuse_conv_bn_eval`; the folded norm becomes ``Identity``.
    Returns ``module`` itself when it holds no BatchNorm (nothing to fold, no copy).
    """
    import copy

    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if not any(isinstance(m, nn.BatchNorm2d) for m in module.modules()):
        return module
    folded = copy.deepcopy(module).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(b, nn.BatchNorm2d) and b.track_running_stats and isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)):
                with torch.no_grad():
                    fused = fuse_conv_bn_eval(a, b, transpose=isinstance(a, nn.ConvTranspose2d))
                setattr(seq, name_a, fused)
                setattr(seq, name_b, nn.Identity())
    return folded
