"""Process-group setup for ``torchrun`` (DistributedDataParallel) and device selection.

``pocusiq train`` reads the standard ``torchrun`` environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); launched that way (any number of
processes) it joins a process group: NCCL when the device is CUDA, gloo on CPU. Each process uses ``cuda:LOCAL_RANK`` when CUDA
is available and the device is "auto". Checkpoints, logs and the progress bar are rank 0's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pocusiq.errors import ConfigError

__all__ = ["DistributedContext", "resolve_device", "setup_distributed", "teardown_distributed"]


@dataclass
class DistributedContext:
    """Where this process sits: ``rank`` of ``world_size`` processes, its ``local_rank`` on the
    node, its ``device``, and whether it created the process group (and so must destroy it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False
    in_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when this process is part of a process group (DDP), even a group of one."""
        return self.in_group


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` if CUDA is available, else ``cpu``; otherwise ``torch.device(name)``.

    Raises:
        ConfigError: ``name`` is not a device, or names a CUDA device this PyTorch cannot use
            (a CPU-only build, no GPU visible, or an index beyond the GPUs present).
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{local_rank % torch.cuda.device_count()}")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only PyTorch build" if torch.version.cuda is None else "no visible CUDA GPU"
            raise ConfigError(
                f"device {name!r}: CUDA is not available here ({build}, torch {torch.__version__}); "
                f"use --device cpu (or auto)"
            )
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
        if device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r}: pocusiq trains on cpu or cuda devices")
    return device


def setup_distributed(device_name: str = "auto") -> DistributedContext:
    """Join the ``torchrun`` process group (gloo on CPU, NCCL on CUDA).

    A process is distributed when ``torchrun`` launched it (``WORLD_SIZE`` and ``MASTER_ADDR``
    set, even with one process) or a process group is already initialised; otherwise it trains
    alone without DDP.
    """
    launched = "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not launched and not dist.is_initialized():
        return DistributedContext(0, 1, 0, device, False, False)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world, **kwargs)
        owns = True
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, device, owns, True)


def teardown_distributed(ctx: DistributedContext, *, completed: bool = False) -> None:
    """Destroy the process group if :func:`setup_distributed` created it.

    ``completed``: every rank finished normally, so wait at a barrier first. Without it a rank
    that finishes early tears gloo down while rank 0 still writes its last checkpoint, and the
    early rank could abort at exit ("terminate called without an active exception", seen once
    in the 2-process test on a loaded machine). After an error no barrier is entered (the
    other ranks may never reach it).
    """
    if ctx.owns_group and dist.is_initialized():
        if completed:
            dist.barrier()
        dist.destroy_process_group()
