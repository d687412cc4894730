"""Training's view of checkpoints: :func:`pocusiq.models.checkpoints.load_checkpoint` with the
run's config read back as a :class:`TrainConfig` (needed to resume or fine-tune).

The file format, saving and generator loading live in :mod:`pocusiq.models.checkpoints`
(re-exported here for callers of the old names).
"""

from __future__ import annotations

import dataclasses
import os

import torch

from pocusiq.errors import CheckpointError, ConfigError
from pocusiq.models.checkpoints import (
    FORMAT,
    Checkpoint,
    load_generator,
    load_module_state,
    resolve_checkpoint_path,
    save_checkpoint,
    unwrap,
)
from pocusiq.models.checkpoints import load_checkpoint as load_model_checkpoint
from pocusiq.train.config import TrainConfig

__all__ = [
    "Checkpoint",
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "load_generator",
    "load_module_state",
    "resolve_checkpoint_path",
    "unwrap",
]


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Checkpoint:
    """A checkpoint whose ``config`` is the run's validated :class:`TrainConfig`.

    Raises :class:`CheckpointError` naming the file (see :func:`pocusiq.models.checkpoints.load_checkpoint`),
    also when the embedded training config is invalid.
    """
    ckpt = load_model_checkpoint(path, map_location)
    try:
        config = TrainConfig.from_dict(ckpt.config)
    except ConfigError as exc:
        raise CheckpointError(f"{ckpt.path}: checkpoint metadata is invalid: {exc}") from exc
    return dataclasses.replace(ckpt, config=config)
