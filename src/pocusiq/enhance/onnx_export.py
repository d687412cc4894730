"""Export a generator to ONNX with dynamic batch, height and width.

Exporter choice: torch 2.13's default ``torch.onnx.export`` (dynamo) needs ``onnxscript``,
which is not a dependency; the TorchScript exporter (``dynamo=False``) still works in
torch 2.13, folds eval-mode BatchNorm into the preceding convolutions, and supports
``dynamic_axes``, so it is used here (its DeprecationWarning is silenced). Checked by the
parity test in ``tests/enhance/test_onnx.py`` at a size other than the export size.

The ONNX graph maps input ``image`` ``(N, 1, H, W)`` float32 in [-1, 1] to output
``enhanced`` of the same shape; H and W must be multiples of ``multiple``, which is stored in
the model's metadata (``pocusiq.multiple``) together with the model name, so that
:meth:`pocusiq.enhance.enhancer.Enhancer.from_onnx` needs nothing else.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

from pocusiq.atomic import atomic_write_bytes

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "enhanced"
META_MULTIPLE = "pocusiq.multiple"
META_MODEL = "pocusiq.model"


def export_onnx_bytes(
    module: Any,
    *,
    multiple: int,
    model_name: str = "generator",
    example_size: int | None = None,
    metadata: dict[str, str] | None = None,
) -> bytes:
    """Serialize ``module`` (a torch generator) to ONNX bytes.

    Args:
        module: ``torch.nn.Module`` mapping ``(N, 1, H, W)`` -> ``(N, 1, H, W)``; exported in eval mode.
        multiple: H and W multiple the network needs (``2**depth``); stored in the metadata.
        model_name: stored as ``pocusiq.model`` metadata (shown in derived-image tags).
        example_size: side of the square tracing input; default ``2 * multiple`` (at least 32).
        metadata: extra string metadata to store.
    """
    import onnx
    import torch

    side = example_size or max(2 * multiple, 32)
    side = -(-side // multiple) * multiple
    was_training = module.training
    module.eval()
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    example = torch.zeros(1, 1, side, side, device=device)
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
            torch.onnx.export(
                module,
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
                opset_version=OPSET,
                do_constant_folding=True,
            )
    finally:
        module.train(was_training)
    model = onnx.load_from_string(buffer.getvalue())
    entries = {META_MULTIPLE: str(int(multiple)), META_MODEL: model_name, **(metadata or {})}
    for key, value in entries.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, str(value)
    model.producer_name = "pocusiq"
    return model.SerializeToString()


def export_onnx(
    module: Any,
    path: str | os.PathLike[str],
    *,
    multiple: int,
    model_name: str = "generator",
    metadata: dict[str, str] | None = None,
) -> None:
    """Export ``module`` to an ONNX file at ``path`` (written atomically); see :func:`export_onnx_bytes`."""
    data = export_onnx_bytes(module, multiple=multiple, model_name=model_name, metadata=metadata)
    atomic_write_bytes(path, data)


def onnx_parity(module: Any, onnx_model: str | os.PathLike[str] | bytes, *, size: int = 64, seed: int = 0) -> float:
    """Max absolute difference between torch and ONNX Runtime outputs on a random image.

    Args:
        module: the torch generator (run in eval mode).
        onnx_model: its export (file or bytes).
        size: side of the random ``(1, 1, size, size)`` test input (a multiple of the network's).
        seed: seed of the test input.

    Returns:
        ``max |torch - onnx|`` on the [0, 1] intensity scale (half the [-1, 1] difference).
    """
    import numpy as np
    import torch

    from pocusiq.enhance.engines import OnnxEngine

    rng = np.random.default_rng(seed)
    batch = (rng.random((1, 1, size, size), dtype=np.float32) * 2 - 1).astype(np.float32)
    module.eval()
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    with torch.inference_mode():
        reference = module(torch.from_numpy(batch).to(device)).float().cpu().numpy()
    result = OnnxEngine(onnx_model)(batch)
    return float(np.max(np.abs(reference - result)) / 2.0)
