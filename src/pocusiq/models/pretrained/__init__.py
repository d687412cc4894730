"""The generators shipped with pocusiq (see ``MODEL_CARD.md`` in this folder).

* ``cpu``: ``default-cpu.safetensors``, residual U-Net ngf 16, depth 6, instance norm, resize
  upsampling;
* ``realtime``: ``default-realtime.safetensors``, the lean residual U-Net (``arch: lean``, ngf 16,
  depth 4, stride-4 stem, batch norm; the live-inference network of the ``realtime`` preset).

Both map a greyscale B-mode image to an enhanced one of the same size: output = unsharp mask of
the input (amount 1, sigma 1 px) + a learned correction. They are trained by
``python bench/train_default_model.py --install`` (recipe: :mod:`pocusiq.train.default_recipe`)
on pocusiq-simulated pairs only, and checked on the real handheld frames of ``../shared/data/real``
(never trained on); the model card gives the data, budget, every metric and the licences. Use them through
:meth:`pocusiq.enhance.enhancer.Enhancer.default` or ``pocusiq enhance FILE --out DIR``.
Machine-enhanced images are not for diagnosis.
"""

from __future__ import annotations

from pathlib import Path

from pocusiq.errors import CheckpointError

__all__ = ["DEFAULT_MODELS", "MODEL_CARD", "default_model_path"]

DEFAULT_MODELS = {"cpu": "default-cpu.safetensors", "realtime": "default-realtime.safetensors"}
"""Shipped model kind -> file in this package folder."""

MODEL_CARD = Path(__file__).with_name("MODEL_CARD.md")


def default_model_path(kind: str = "cpu") -> Path:
    """Path of the shipped generator ``kind`` ("cpu" or "realtime").

    Raises:
        ValueError: unknown kind.
        CheckpointError: the file is missing from the installation (a source checkout before
            ``python bench/train_default_model.py --install``, or a broken wheel).
    """
    if kind not in DEFAULT_MODELS:
        raise ValueError(f"default model kind must be one of {', '.join(DEFAULT_MODELS)}, got {kind!r}")
    path = Path(__file__).with_name(DEFAULT_MODELS[kind])
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the shipped '{kind}' model is missing from this installation; reinstall pocusiq or "
            f"train it with 'python bench/train_default_model.py --install'"
        )
    return path
