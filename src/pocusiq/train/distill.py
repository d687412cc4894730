"""Knowledge distillation: train a small (realtime) generator to reproduce a large one.

The teacher (the paper-size model, or the best available) is run once on every training image
(whole images, padded to its multiple, exactly as at inference); the student then learns from
random crops of (low image, teacher output) pairs:

    loss = lambda_l1 * L1(student, teacher) + lambda_ssim * (1 - SSIM(student, teacher))
           + lambda_gt * L1(student, high-end image)        (optional, when ``high`` is given)

all in the generators' [-1, 1] range, with Adam and the trainer's learning-rate schedule
(:func:`pocusiq.train.schedule.learning_rate_factor`: constant, then linear decay over the
second half of the steps, as pix2pix). No discriminator: the teacher's outputs already
carry its adversarially learned texture, and a pure regression to them is stable and fast.
Deterministic for a given ``seed`` on the CPU.

Inputs are NumPy arrays ``(N, H, W)`` (uint8, uint16 or float in [0, 1]), e.g. simulated POCUS
images from :func:`pocusiq.simulate.pairs.simulate_pair` or a paired dataset's ``low`` split.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.imaging.intensity import to_unit
from pocusiq.train.schedule import learning_rate_factor


@dataclass(frozen=True)
class DistillConfig:
    """Distillation settings.

    Attributes:
        steps: optimisation steps.
        batch_size: crops per step.
        crop: crop side in pixels (a multiple of the student's multiple; <= image sides).
        lr: Adam learning rate (betas 0.9, 0.999); constant, then linear decay to 0 from
            ``decay_start`` of the steps.
        decay_start: fraction of steps after which the learning rate decays.
        lambda_l1: weight of L1 to the teacher output.
        lambda_ssim: weight of (1 - SSIM) to the teacher output.
        lambda_gt: weight of L1 to the high-end image (0: teacher only).
        flip: random left-right flips.
        seed: seeds the crop/flip sampling (the student's initial weights are the caller's).
        device: torch device ("cpu", "cuda").
        teacher_batch: images per teacher call when computing targets.
    """

    steps: int = 2000
    batch_size: int = 16
    crop: int = 128
    lr: float = 1e-3
    decay_start: float = 0.5
    lambda_l1: float = 1.0
    lambda_ssim: float = 1.0
    lambda_gt: float = 0.0
    flip: bool = True
    seed: int = 0
    device: str = "cpu"
    teacher_batch: int = 8

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.crop < 1 or self.teacher_batch < 1:
            raise ValueError(
                f"steps, batch_size, crop and teacher_batch must be >= 1, got {self.steps}, "
                f"{self.batch_size}, {self.crop}, {self.teacher_batch}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.decay_start <= 1.0:
            raise ValueError(f"decay_start must be in [0, 1], got {self.decay_start}")
        if min(self.lambda_l1, self.lambda_ssim, self.lambda_gt) < 0:
            raise ValueError("loss weights must be >= 0")


@dataclass
class DistillResult:
    """Outcome of :func:`distill`.

    Attributes:
        student: the trained student (eval mode, on the CPU).
        history: ``{"step", "loss", "l1", "ssim", "gt", "lr"}`` every ``log_every`` steps.
        seconds: wall time of the optimisation (teacher targets excluded).
        teacher_seconds: wall time spent computing teacher targets.
    """

    student: Any
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    teacher_seconds: float = 0.0


def _as_unit_stack(images: np.ndarray | Sequence[np.ndarray], what: str) -> np.ndarray:
    stack = np.stack([to_unit(np.asarray(img)) for img in images]) if not isinstance(images, np.ndarray) else to_unit(images)
    if stack.ndim != 3:
        raise ValueError(f"{what}: expected images (N, H, W), got shape {stack.shape}")
    if stack.shape[0] < 1:
        raise ValueError(f"{what}: no images")
    return stack.astype(np.float32)


def teacher_targets(teacher: Any, low: np.ndarray, batch: int = 8) -> np.ndarray:
    """Teacher outputs on whole images: float32 ``(N, H, W)`` in [0, 1].

    Args:
        teacher: anything with ``enhance_batch`` on float [0, 1] stacks ``(N, H, W)`` (an
            :class:`~pocusiq.enhance.enhancer.Enhancer`), or a generator ``nn.Module`` with a
            ``multiple`` attribute (run through :func:`pocusiq.models.inference.enhance_batch`,
            the path the Enhancer uses for untiled images).
        low: float32 ``(N, H, W)`` in [0, 1].
        batch: images per call.
    """
    import torch

    from pocusiq.models.inference import enhance_batch

    if hasattr(teacher, "enhance_batch"):
        run = teacher.enhance_batch
    else:
        teacher.eval()

        def run(chunk: np.ndarray) -> np.ndarray:
            out = enhance_batch(teacher, torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))[:, None])
            return out[:, 0].float().cpu().numpy()

    outputs = [np.asarray(run(low[i : i + batch]), dtype=np.float32) for i in range(0, len(low), batch)]
    return np.concatenate(outputs)


def distill(
    teacher: Any,
    student: Any,
    low: np.ndarray | Sequence[np.ndarray],
    *,
    high: np.ndarray | Sequence[np.ndarray] | None = None,
    config: DistillConfig | None = None,
    targets: np.ndarray | None = None,
    log_every: int = 50,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> DistillResult:
    """Train ``student`` to reproduce ``teacher`` on ``low`` images.

    Args:
        teacher: Enhancer or generator module (see :func:`teacher_targets`); unused when
            ``targets`` is given.
        student: generator ``nn.Module`` mapping ``(N, 1, h, w)`` [-1, 1] -> same; trained in place.
        low: training inputs ``(N, H, W)`` (uint8/uint16/float [0, 1]), all the same size.
        high: optional high-end images aligned with ``low`` (for ``lambda_gt``).
        config: :class:`DistillConfig`.
        targets: precomputed teacher outputs float ``(N, H, W)`` in [0, 1] (skips the teacher).
        log_every: history interval in steps.
        callback: ``callback(step, losses)`` after each logged step.

    Returns:
        :class:`DistillResult` with the student in eval mode on the CPU.
    """
    import torch

    from pocusiq.train.losses import ssim_loss

    cfg = config or DistillConfig()
    low_u = _as_unit_stack(low, "low")
    n, height, width = low_u.shape
    if cfg.crop > min(height, width):
        raise ValueError(f"crop {cfg.crop} is larger than the images ({height}x{width})")
    multiple = int(getattr(student, "multiple", 1))
    if cfg.crop % multiple:
        raise ValueError(f"crop {cfg.crop} must be a multiple of the student's multiple {multiple}")
    high_u = _as_unit_stack(high, "high") if high is not None else None
    if high_u is not None and high_u.shape != low_u.shape:
        raise ValueError(f"high images {high_u.shape} do not match low images {low_u.shape}")
    if cfg.lambda_gt > 0 and high_u is None:
        raise ValueError("lambda_gt > 0 needs the high-end images (high=...)")

    start = time.perf_counter()
    if targets is None:
        targets = teacher_targets(teacher, low_u, cfg.teacher_batch)
    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != low_u.shape:
        raise ValueError(f"teacher targets {targets.shape} do not match low images {low_u.shape}")
    teacher_seconds = time.perf_counter() - start

    device = torch.device(cfg.device)
    student = student.to(device).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    rng = np.random.default_rng(cfg.seed)
    # everything lives on the device as [-1, 1] tensors; crops are gathered there
    stacks = [torch.from_numpy(low_u * 2 - 1), torch.from_numpy(targets * 2 - 1)]
    if high_u is not None:
        stacks.append(torch.from_numpy(high_u * 2 - 1))
    stacks = [s.to(device) for s in stacks]
    history: list[dict[str, float]] = []
    c = cfg.crop
    start = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        lr = cfg.lr * learning_rate_factor(step - 1, cfg.steps, cfg.decay_start)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = rng.integers(0, n, cfg.batch_size)
        tops = rng.integers(0, height - c + 1, cfg.batch_size)
        lefts = rng.integers(0, width - c + 1, cfg.batch_size)
        flips = rng.integers(0, 2, cfg.batch_size).astype(bool) if cfg.flip else np.zeros(cfg.batch_size, bool)
        crops = []
        for stack in stacks:
            pieces = [stack[i, t : t + c, left : left + c] for i, t, left in zip(idx, tops, lefts)]
            pieces = [p.flip(-1) if f else p for p, f in zip(pieces, flips)]
            crops.append(torch.stack(pieces)[:, None])
        x, y_teacher = crops[0], crops[1]
        out = student(x)
        l1 = (out - y_teacher).abs().mean()
        ssim_term = ssim_loss(out, y_teacher) if cfg.lambda_ssim > 0 else out.new_zeros(())
        gt = (out - crops[2]).abs().mean() if cfg.lambda_gt > 0 else out.new_zeros(())
        loss = cfg.lambda_l1 * l1 + cfg.lambda_ssim * ssim_term + cfg.lambda_gt * gt
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == cfg.steps:
            record = {
                "step": float(step), "loss": loss.item(), "l1": l1.item(), "ssim": ssim_term.item(),
                "gt": gt.item(), "lr": lr,
            }
            history.append(record)
            if callback is not None:
                callback(step, record)
    seconds = time.perf_counter() - start
    student = student.eval().cpu()
    return DistillResult(student=student, history=history, seconds=seconds, teacher_seconds=teacher_seconds)


def save_student(
    path: str | os.PathLike[str],
    student: Any,
    *,
    train_config: Any | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write the student as a pocusiq checkpoint (loadable by ``Enhancer.from_checkpoint``).

    Args:
        path: target ``.safetensors`` file (``config.json`` is written beside it).
        student: the trained :class:`~pocusiq.models.unet.UNetGenerator`.
        train_config: its :class:`~pocusiq.train.config.TrainConfig`; default the realtime preset,
            with the student's own model config when it was built by
            :func:`pocusiq.models.builder.build_generator`.
        info: JSON-able facts stored in the checkpoint state (teacher, distillation settings, scores).
    """
    from pocusiq.models.builder import model_config_of
    from pocusiq.models.checkpoints import save_checkpoint
    from pocusiq.train.presets import preset_config

    config = train_config or preset_config("realtime")
    model_config = model_config_of(student)
    if model_config is not None:
        config = dataclasses.replace(config, model=model_config)  # leave the caller's config as it is
    return save_checkpoint(path, generator=student, config=config, state={"distillation": info or {}})


def config_dict(config: DistillConfig) -> dict[str, Any]:
    """JSON-able dict of a :class:`DistillConfig` (for logs and checkpoint state)."""
    return asdict(config)
