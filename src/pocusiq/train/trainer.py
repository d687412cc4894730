"""pix2pix training loop: resumable exactly, deterministic on CPU, DDP-ready.

One step = one discriminator update then one generator update on one batch (pix2pix order):

1. ``fake = G(low)``;
2. D: ``0.5 * (GAN(D(low, high), real) + GAN(D(low, fake.detach()), fake))``, Adam step;
3. G: ``lambda_gan GAN(D(low, fake), real) + lambda_l1 L1 + lambda_ssim (1 - SSIM)``, Adam step
   (D frozen; under DDP the bare D module is used here so D's gradient sync is not triggered).

Learning rate (both nets): constant for the first ``optim.decay_start`` of ``max_steps``, then
linear towards 0 (pix2pix ``linear`` policy, :func:`learning_rate_factor`) — a pure function of
the step, so nothing to restore on resume.

Exact resume: the checkpoint carries G, D, both Adam states, every rank's torch (and CUDA) RNG
state, the step and the epoch; the data order is a function of (seed, epoch) via
:class:`torch.utils.data.DistributedSampler`, and the crop/flip draws a function of
(seed, epoch, index) (:class:`pocusiq.data.dataset.PairedDataset`), so a run resumed from step k
replays steps k+1.. exactly as the uninterrupted run (tested on CPU; on CUDA the kernels are not
bitwise deterministic: on an H100 two uninterrupted 9-step runs of a tiny model already differ by
~1e-3 in their weights, and a resumed run differs from them by as much). Validation draws no random
numbers. DataLoaders get their own seeded generator so creating one does not advance the global
RNG.

Distributed: run under ``torchrun``; G and D are wrapped in DistributedDataParallel, each rank
reads its own shard (DistributedSampler), rank 0 writes checkpoints, CSV logs and the progress
bar. Norm layers: presets use instance norm (no cross-replica statistics). With
``norm: batch`` and several processes, BatchNorm becomes SyncBatchNorm on CUDA; on CPU this is
refused (SyncBatchNorm needs GPUs) with a ConfigError.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from pocusiq.atomic import atomic_write_text
from pocusiq.errors import CheckpointError, ConfigError, DatasetError
from pocusiq.models.patchgan import PatchGANDiscriminator
from pocusiq.models.unet import UNetGenerator, to_model_range
from pocusiq.train.checkpoints import load_checkpoint, load_module_state, save_checkpoint
from pocusiq.train.config import TrainConfig
from pocusiq.train.distributed import DistributedContext, setup_distributed, teardown_distributed
from pocusiq.train.evaluation import evaluate_generator
from pocusiq.train.losses import discriminator_loss, generator_loss

__all__ = ["Pix2PixTrainer", "TrainResult", "StopTraining", "learning_rate_factor", "train"]

TRAIN_LOG = "train_log.csv"
VAL_LOG = "val_log.csv"
TRAIN_LOG_COLUMNS = ("step", "epoch", "lr", "loss_g", "loss_gan", "loss_l1", "loss_ssim", "loss_lowfreq",
                     "loss_structure", "loss_invented", "loss_nce", "loss_d", "seconds")
VAL_LOG_COLUMNS = ("step", "epoch", "n", "ssim_input", "ssim", "psnr_input", "psnr")


class StopTraining(Exception):
    """Raise from a training callback to stop the run at once (as a kill would, without saving)."""


def learning_rate_factor(step: int, max_steps: int, decay_start: float) -> float:
    """Multiplier of the base learning rate for the update made at 0-based ``step``.

    1 for ``step < decay_start * max_steps``, then linear down to ``1 / (n_decay + 1)`` at the
    last step (pix2pix ``linear`` policy), where ``n_decay = max_steps - start``.

    Raises:
        ValueError: ``max_steps < 1``, ``decay_start`` outside ``[0, 1]`` or ``step`` outside
            ``[0, max_steps)``.
    """
    if max_steps < 1 or not 0.0 <= decay_start <= 1.0 or not 0 <= step < max_steps:
        raise ValueError(
            f"learning_rate_factor needs 0 <= step < max_steps and decay_start in [0, 1], "
            f"got step={step}, max_steps={max_steps}, decay_start={decay_start}"
        )
    start = int(round(decay_start * max_steps))
    if step < start:
        return 1.0
    n_decay = max_steps - start
    return 1.0 - (step - start + 1) / (n_decay + 1)


class Pix2PixTrainer:
    """Generator, discriminator, their Adam optimisers and one training step.

    Args:
        config: the run's :class:`TrainConfig` (uses ``model``, ``discriminator``, ``loss``,
            ``optim``, ``seed``, ``max_steps``).
        device: where the models live.
        ctx: distributed context; in a process group G and D are wrapped in DDP.

    Weights are initialised from ``torch.manual_seed(config.seed)`` (same on every rank).
    """

    def __init__(self, config: TrainConfig, device: torch.device | str = "cpu", ctx: DistributedContext | None = None) -> None:
        self.config = config
        self.device = torch.device(device)
        self.ctx = ctx or DistributedContext(device=self.device)
        torch.manual_seed(config.seed)
        generator: nn.Module = UNetGenerator(config.model)
        discriminator: nn.Module = PatchGANDiscriminator(config.discriminator)
        if self.ctx.distributed and "batch" in (config.model.norm, config.discriminator.norm):
            if self.device.type != "cuda":
                raise ConfigError(
                    "norm 'batch' with several CPU processes is not supported (SyncBatchNorm needs GPUs); "
                    "set model.norm=instance and discriminator.norm=instance"
                )
            generator = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        opt = config.optim
        betas = (opt.beta1, opt.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=opt.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=opt.lr_d or opt.lr, betas=betas)
        self.g_train: nn.Module = self.generator
        self.d_train: nn.Module = self.discriminator
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train = DDP(self.generator, device_ids=ids)
            self.d_train = DDP(self.discriminator, device_ids=ids)

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def set_step_lr(self, step: int) -> float:
        """Set both optimisers' learning rates for 0-based ``step``; returns the generator's lr."""
        factor = learning_rate_factor(step, self.config.max_steps, self.config.optim.decay_start)
        lr_g = self.config.optim.lr * factor
        lr_d = (self.config.optim.lr_d or self.config.optim.lr) * factor
        for group in self.opt_g.param_groups:
            group["lr"] = lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = lr_d
        return lr_g

    def train_step(self, low01: torch.Tensor, high01: torch.Tensor) -> dict[str, torch.Tensor]:
        """One D + G update on a batch ``(N, 1, H, W)`` in ``[0, 1]``; returns detached loss terms
        (``loss_g``, ``loss_gan``, ``loss_l1``, ``loss_ssim`` (1 - SSIM), ``loss_<fidelity term>``, ``loss_d``)."""
        loss_cfg = self.config.loss
        low = to_model_range(low01.to(self.device, non_blocking=True))
        high = to_model_range(high01.to(self.device, non_blocking=True))
        self.g_train.train()
        self.d_train.train()
        fake = self.g_train(low)
        use_gan = loss_cfg.lambda_gan > 0
        if use_gan:
            self.discriminator.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            pred_fake = self.d_train(low, fake.detach())
            pred_real = self.d_train(low, high)
            loss_d = discriminator_loss(pred_real, pred_fake, loss_cfg.gan_mode)
            loss_d.backward()
            self.opt_d.step()
            self.discriminator.requires_grad_(False)
            fake_logits = self.discriminator(low, fake)
        else:
            loss_d = fake.new_zeros(())
            fake_logits = None
        self.opt_g.zero_grad(set_to_none=True)
        terms = generator_loss(fake_logits, fake, high, loss_cfg, low=low)
        terms["total"].backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)
        out = {"loss_g": terms["total"].detach()}
        out.update({f"loss_{k}": v.detach() for k, v in terms.items() if k != "total"})
        out["loss_d"] = loss_d.detach()
        return out

    # --- RNG state -----------------------------------------------------------------
    def rng_states(self) -> dict[str, torch.Tensor]:
        """This process's torch (and CUDA) RNG states, gathered from all ranks when distributed
        (collective: call on every rank). Keys ``torch.rank<r>`` and ``cuda.rank<r>``."""
        local = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            local["cuda"] = torch.cuda.get_rng_state(self.device)
        if not self.ctx.distributed:
            return {f"{k}.rank0": v for k, v in local.items()}
        gathered: list[Any] = [None] * self.ctx.world_size
        dist.all_gather_object(gathered, {k: v.cpu() for k, v in local.items()})
        return {f"{k}.rank{r}": v for r, states in enumerate(gathered) for k, v in states.items()}

    def restore_rng(self, rng: dict[str, torch.Tensor], world_size: int) -> bool:
        """Restore this rank's RNG states if the checkpoint has them for the same world size."""
        key = f"torch.rank{self.ctx.rank}"
        if key not in rng or world_size != self.ctx.world_size:
            return False
        torch.set_rng_state(rng[key].cpu())
        ckey = f"cuda.rank{self.ctx.rank}"
        if self.device.type == "cuda" and ckey in rng:
            torch.cuda.set_rng_state(rng[ckey].cpu(), self.device)
        return True


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


def _read_log(path: Path, max_step: int) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if int(float(row.get("step", 0) or 0)) <= max_step]


def _write_log(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _open_train_dataset(config: TrainConfig) -> Any:
    from pocusiq.data.dataset import PairedDataset

    if not config.data.root:
        raise ConfigError("data.root is empty: give a paired dataset folder (pocusiq train DATASET)")
    if config.data.target_crop_fraction > 0:
        from pocusiq.train.sampling import TargetCropDataset

        return TargetCropDataset(config.data.root, config.data.train_split, crop=config.data.crop,
                                 target_fraction=config.data.target_crop_fraction, flip=config.data.flip,
                                 seed=config.seed)
    return PairedDataset(
        config.data.root, config.data.train_split, crop=config.data.crop, flip=config.data.flip, seed=config.seed
    )


def _open_val_dataset(config: TrainConfig) -> Any | None:
    from pocusiq.data.dataset import PairedDataset

    try:
        return PairedDataset(config.data.root, config.data.val_split)
    except DatasetError:
        return None


def dataset_spacing_mm(dataset: Any) -> float | None:
    """Pixel spacing (mm/pixel) of a training set, recorded as the checkpoint's ``spacing_mm``.

    A ``spacing_mm`` attribute wins; otherwise the manifest rows' ``spacing_mm`` (``dataset.rows``):
    their median when known (a warning when they differ by more than 1 %), ``None`` when unknown.
    """
    import statistics
    import warnings

    value = getattr(dataset, "spacing_mm", None)
    if value is not None:
        return float(value)
    rows = getattr(dataset, "rows", None) or []
    known = [float(r.spacing_mm) for r in rows if math.isfinite(float(getattr(r, "spacing_mm", math.nan)))]
    if not known:
        return None
    median = statistics.median(known)
    if max(known) > 1.01 * min(known):
        warnings.warn(f"training pairs have different pixel spacings ({min(known):g}-{max(known):g} mm); "
                      f"the checkpoint records their median {median:g} mm", stacklevel=2)
    return median


def _tensorboard_writer(run_dir: Path) -> Any | None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: CSV logs only
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    max_steps_this_run: int | None = None,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    train_dataset: Any | None = None,
    val_dataset: Any | None = None,
    progress: bool = True,
    deadline: float | None = None,
    trainer_factory: Callable[..., Pix2PixTrainer] | None = None,
) -> TrainResult:
    """Train the pix2pix cGAN described by ``config``; write ``<out_dir>/<name>/``.

    Args:
        config: validated :class:`TrainConfig`.
        resume: continue from ``<run_dir>/last.safetensors`` if it exists (exactly: same
            final step count and, on CPU, the same weights as an uninterrupted run).
        max_steps_this_run: stop (after saving ``last``) once this call has made this many
            steps — a planned interruption; the run is finished by a later ``resume``.
        callback: called as ``callback(step, losses)`` after every step (``step`` 1-based);
            raise :class:`StopTraining` (or anything) from it to abort at once without saving.
        train_dataset / val_dataset: datasets yielding ``{"low", "high": (1, H, W) [0, 1], "id"}``;
            default: :class:`pocusiq.data.dataset.PairedDataset` splits of ``config.data.root``.
            A dataset with ``set_epoch(epoch)`` gets it called before each epoch.
        progress: show a tqdm progress bar (rank 0 only).
        deadline: a ``time.monotonic()`` time; the first step ending after it stops the run
            (saving ``last``, validating), like ``max_steps_this_run``. Wall-clock dependent, so
            single-process only (ignored with several processes, where ranks could disagree).
        trainer_factory: ``factory(config, device, ctx)`` building the trainer (default
            :class:`Pix2PixTrainer`); :func:`pocusiq.train.unpaired.train_unpaired` passes its CUT
            trainer, which reuses this loop's checkpoints, resume, DDP and logs.

    A fresh (not resumed) run in an existing run folder replaces that run: its
    ``best.safetensors`` is removed at the start, ``last.safetensors`` and the logs are rewritten.

    Files (rank 0): ``last.safetensors``, ``best.safetensors`` (best validation SSIM),
    ``config.json``, ``train_log.csv`` (losses every ``log_every`` steps), ``val_log.csv``
    (validation SSIM/PSNR), ``tensorboard/`` if tensorboard is installed.

    Raises:
        ConfigError, DatasetError, CheckpointError.
    """
    config.validate()
    ctx = setup_distributed(config.device)
    try:
        if ctx.distributed:
            deadline = None
        return _train(config, ctx, resume, max_steps_this_run, callback, train_dataset, val_dataset, progress,
                      deadline, trainer_factory or Pix2PixTrainer)
    finally:
        teardown_distributed(ctx)


def _train(
    config: TrainConfig,
    ctx: DistributedContext,
    resume: bool,
    max_steps_this_run: int | None,
    callback: Callable[[int, dict[str, float]], None] | None,
    train_dataset: Any | None,
    val_dataset: Any | None,
    progress: bool,
    deadline: float | None = None,
    trainer_factory: Callable[..., Pix2PixTrainer] = Pix2PixTrainer,
) -> TrainResult:
    t0 = time.perf_counter()
    run_dir = config.run_dir
    last_path, best_path = run_dir / "last.safetensors", run_dir / "best.safetensors"
    train_ds = train_dataset if train_dataset is not None else _open_train_dataset(config)
    if val_dataset is None and train_dataset is None:
        val_dataset = _open_val_dataset(config)
    batch = config.data.batch_size
    sampler = DistributedSampler(
        train_ds, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=True
    )
    steps_per_epoch = len(sampler) // batch
    spacing_mm = dataset_spacing_mm(train_ds)
    if steps_per_epoch < 1:
        raise DatasetError(
            f"{config.data.root or 'training set'}: {len(train_ds)} training pairs are fewer than "
            f"batch_size ({batch}) x processes ({ctx.world_size})"
        )

    trainer = trainer_factory(config, ctx.device, ctx)
    step, epoch, best_ssim = 0, 0, float("-inf")
    resumed = False
    if resume and last_path.is_file():
        ckpt = load_checkpoint(last_path)
        load_module_state(trainer.generator, ckpt.generator, last_path, "generator")
        if ckpt.discriminator is None:
            raise CheckpointError(f"{last_path}: cannot resume: checkpoint has no discriminator")
        load_module_state(trainer.discriminator, ckpt.discriminator, last_path, "discriminator")
        for name, opt in trainer.optimizers.items():
            if name not in ckpt.optimizers:
                raise CheckpointError(f"{last_path}: cannot resume: no optimiser state {name!r}")
            try:
                opt.load_state_dict(ckpt.optimizers[name])
            except (ValueError, KeyError, RuntimeError) as exc:
                raise CheckpointError(f"{last_path}: optimiser {name} state does not match: {exc}") from exc
        step = int(ckpt.state.get("step", 0))
        saved_best = ckpt.state.get("best_ssim")
        best_ssim = float(saved_best) if saved_best is not None else float("-inf")
        restored = trainer.restore_rng(ckpt.rng, int(ckpt.state.get("world_size", 1)))
        if not restored:
            torch.manual_seed(config.seed * 7919 + step * 31 + ctx.rank)
        resumed = True
    else:
        if config.init_from:
            init = load_checkpoint(config.init_from)
            if init.config.model != config.model:
                raise CheckpointError(
                    f"{init.path}: generator config {init.config.model} differs from this run's model {config.model}"
                )
            load_module_state(trainer.generator, init.generator, init.path, "generator")
            if config.init_discriminator:
                if init.discriminator is None:
                    raise CheckpointError(f"{init.path}: init_discriminator set but checkpoint has no discriminator")
                load_module_state(trainer.discriminator, init.discriminator, init.path, "discriminator")
        torch.manual_seed(config.seed * 7919 + 1 + ctx.rank)  # dropout stream, distinct per rank
    epoch = step // steps_per_epoch

    main = ctx.is_main
    train_rows: list[dict[str, Any]] = _read_log(run_dir / TRAIN_LOG, step) if (main and resumed) else []
    val_rows: list[dict[str, Any]] = _read_log(run_dir / VAL_LOG, step) if (main and resumed) else []
    tb = _tensorboard_writer(run_dir) if main else None
    bar = None
    if main and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.max_steps, initial=step, desc=f"train {config.name}", unit="step", dynamic_ncols=True)

    validations: list[dict[str, Any]] = []
    last_written: Path | None = None
    if main and not resumed and best_path.is_file():
        # a fresh run reusing a run folder: the old best.safetensors belongs to the run being
        # replaced (its last.safetensors is overwritten too) and must not pass for this run's
        best_path.unlink()
    best_written: Path | None = best_path if best_path.is_file() else None
    stop_at = config.max_steps if max_steps_this_run is None else min(config.max_steps, step + max_steps_this_run)
    start_step = step
    loader_gen = torch.Generator().manual_seed(config.seed)
    timed_out = False

    def checkpoint(path: Path) -> Path | None:
        rng = trainer.rng_states()  # collective when distributed
        if not main:
            return None
        state = {
            "step": step,
            "epoch": epoch,
            "best_ssim": best_ssim if math.isfinite(best_ssim) else None,
            "world_size": ctx.world_size,
            "steps_per_epoch": steps_per_epoch,
        }
        return save_checkpoint(
            path, generator=trainer.generator, discriminator=trainer.discriminator,
            optimizers=trainer.optimizers, config=config, state=state, rng=rng, spacing_mm=spacing_mm,
        )

    def validate() -> None:
        nonlocal best_ssim, best_written
        if not main or val_dataset is None:
            return
        result, _ = evaluate_generator(trainer.generator, val_dataset, max_images=config.data.max_val_images)
        s = result.summary()
        row = {
            "step": step, "epoch": epoch, "n": s["n"],
            "ssim_input": round(s["ssim_input_mean"], 6), "ssim": round(s["ssim_enhanced_mean"], 6),
            "psnr_input": round(s["psnr_input_mean"], 4), "psnr": round(s["psnr_enhanced_mean"], 4),
        }
        val_rows.append(row)
        validations.append(row)
        _write_log(run_dir / VAL_LOG, VAL_LOG_COLUMNS, val_rows)
        if tb is not None:
            tb.add_scalar("val/ssim", row["ssim"], step)
            tb.add_scalar("val/psnr", row["psnr"], step)
        if s["ssim_enhanced_mean"] > best_ssim:
            best_ssim = s["ssim_enhanced_mean"]
            best_written = checkpoint_main_only(best_path)
        if bar is not None:
            bar.set_postfix_str(f"val SSIM {row['ssim']:.3f} PSNR {row['psnr']:.2f}")

    def checkpoint_main_only(path: Path) -> Path:
        # best checkpoints are decided on rank 0 alone; they carry rank 0's RNG only.
        state = {"step": step, "epoch": epoch, "best_ssim": best_ssim, "world_size": ctx.world_size,
                 "steps_per_epoch": steps_per_epoch}
        rng = {"torch.rank0": torch.get_rng_state()}
        return save_checkpoint(path, generator=trainer.generator, discriminator=trainer.discriminator,
                               optimizers=trainer.optimizers, config=config, state=state, rng=rng,
                               spacing_mm=spacing_mm)

    try:
        while step < stop_at:
            epoch = step // steps_per_epoch
            offset = step - epoch * steps_per_epoch
            sampler.set_epoch(epoch)
            if hasattr(train_ds, "set_epoch"):
                train_ds.set_epoch(epoch)
            indices = list(sampler)[offset * batch: steps_per_epoch * batch]
            loader = DataLoader(
                train_ds, batch_size=batch, sampler=indices, num_workers=config.data.num_workers,
                drop_last=True, generator=loader_gen, pin_memory=ctx.device.type == "cuda",
            )
            for item in loader:
                trainer.set_step_lr(step)
                lr = trainer.opt_g.param_groups[0]["lr"]
                losses = trainer.train_step(item["low"], item["high"])
                step += 1
                if deadline is not None and time.monotonic() >= deadline and step < stop_at:
                    stop_at = step  # out of time: finish this step like a planned stop
                    timed_out = True
                need_values = callback is not None or step % config.log_every == 0 or step == stop_at
                values = {k: float(v) for k, v in losses.items()} if need_values else {}
                if main and step % config.log_every == 0:
                    train_rows.append({"step": step, "epoch": epoch, "lr": f"{lr:.6g}",
                                       **{k: f"{v:.6f}" for k, v in values.items()},
                                       "seconds": f"{time.perf_counter() - t0:.2f}"})
                    _write_log(run_dir / TRAIN_LOG, TRAIN_LOG_COLUMNS, train_rows)
                    if tb is not None:
                        for k, v in values.items():
                            tb.add_scalar(f"train/{k}", v, step)
                    if bar is not None:
                        bar.set_postfix({k[5:]: f"{v:.3f}" for k, v in values.items()}, refresh=False)
                if bar is not None:
                    bar.update(1)
                end_of_epoch = step % steps_per_epoch == 0
                if (config.val_every and step % config.val_every == 0) or (
                    not config.val_every and end_of_epoch
                ) or step == config.max_steps or timed_out:
                    validate()
                if step % config.checkpoint_every == 0 or step == stop_at:
                    last_written = checkpoint(last_path) or last_written
                if callback is not None:
                    callback(step, values)
                if step >= stop_at:
                    break
    finally:
        if bar is not None:
            bar.close()
        if tb is not None:
            tb.close()
    return TrainResult(
        run_dir=run_dir, step=step, epoch=step // steps_per_epoch,
        last_checkpoint=last_written or (last_path if last_path.is_file() else None),
        best_checkpoint=best_written, best_ssim=best_ssim if math.isfinite(best_ssim) else float("nan"),
        validations=validations, seconds=time.perf_counter() - t0, steps_this_run=step - start_step,
        generator=trainer.generator, discriminator=trainer.discriminator,
        device=str(ctx.device), world_size=ctx.world_size,
        backend=dist.get_backend() if ctx.distributed else None,
    )
