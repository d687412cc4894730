"""What a training call returns (kept apart from the loop so readers of results need not import it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["TrainResult"]


@dataclass
class TrainResult:
    """What a call to :func:`train` did: the run folder, the final step, checkpoints written,
    the best validation SSIM (``nan`` if none), the validation rows of this call, and this
    process's (unwrapped) generator and discriminator in their final state."""

    run_dir: Path
    step: int
    epoch: int
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_ssim: float
    validations: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    steps_this_run: int = 0
    generator: nn.Module | None = None
    discriminator: nn.Module | None = None
    device: str = "cpu"
    world_size: int = 1
    backend: str | None = None
    torch_threads: int = 1


