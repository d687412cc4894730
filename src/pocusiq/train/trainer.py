"""pix2pix training loop: resumable exactly, deterministic on CPU, DDP-ready.

One step = one discriminator update then one generator update on one batch (pix2pix order):

1. ``fake = G(low)``;
2. D: ``0.5 * (GAN(D(low, high), real) + GAN(D(low, fake.detach()), fake))``, Adam step;
3. G: ``lambda_gan GAN(D(low, fake), real) + lambda_l1 L1 + lambda_ssim (1 - SSIM)``, Adam step
   (D frozen; under DDP the bare D module is used here so D's gradient sync is not triggered).

Learning rate (both nets): constant for the first ``optim.decay_start`` of ``max_steps``, then
linear towards 0 (pix2pix ``linear`` policy, :func:`pocusiq.train.schedule.learning_rate_factor`) — a pure function of
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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from pocusiq.atomic import atomic_write_text, sha256_file
from pocusiq.errors import CheckpointError, ConfigError, DatasetError, TrainingError
from pocusiq.models.builder import build_discriminator, build_generator
from pocusiq.models.inference import to_model_range
from pocusiq.models.checkpoints import non_finite_tensors
from pocusiq.train.checkpoints import Checkpoint, load_checkpoint, load_module_state, save_checkpoint
from pocusiq.train.config import TrainConfig
from pocusiq.train.fidelity_losses import FIDELITY_TERMS
from pocusiq.train.distributed import DistributedContext, setup_distributed, teardown_distributed
from pocusiq.train.evaluation import evaluate_generator
from pocusiq.train.losses import discriminator_loss, generator_loss
from pocusiq.train.results import TrainResult
from pocusiq.train.schedule import learning_rate_factor

__all__ = ["Pix2PixTrainer", "TrainResult", "StopTraining", "learning_rate_factor", "train"]

# Settings a resumed run must share with its checkpoint (they change what the remaining steps
# do); max_steps may change (to extend a run), and so may logging, workers and validation size.
RESUME_MUST_MATCH = ("seed", "model", "discriminator", "loss", "optim", "data.train_split", "data.crop",
                     "data.flip", "data.batch_size", "data.target_crop_fraction", "unpaired")

TRAIN_LOG = "train_log.csv"
VAL_LOG = "val_log.csv"
TRAIN_LOG_COLUMNS = ("step", "epoch", "lr", "loss_g", "loss_gan", "loss_l1", "loss_ssim",
                     *(f"loss_{term.name}" for term in FIDELITY_TERMS), "loss_nce", "loss_d", "seconds")
VAL_LOG_COLUMNS = ("step", "epoch", "n", "ssim_input", "ssim", "psnr_input", "psnr")


class StopTraining(Exception):
    """Raise from a training callback to stop the run at once (as a kill would, without saving)."""


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
        generator: nn.Module = build_generator(config.model)
        discriminator: nn.Module = build_discriminator(config.discriminator)
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
    """The validation split, or None with a warning that says what that means."""
    from pocusiq.data.dataset import PairedDataset

    try:
        return PairedDataset(config.data.root, config.data.val_split)
    except DatasetError as exc:
        warnings.warn(
            f"{config.data.root}: no usable validation split {config.data.val_split!r} ({exc}); training "
            f"runs without validation, so no best.safetensors is written: use last.safetensors "
            f"(pocusiq enhance/benchmark take the run folder and fall back to it)",
            UserWarning, stacklevel=3,
        )
        return None


def _dataset_fingerprint(config: TrainConfig, train_dataset: Any | None) -> str | None:
    """SHA-256 of the dataset's ``manifest.csv`` (which lists every pair with its checksums);
    None for a dataset given as an object."""
    if train_dataset is not None or not config.data.root:
        return None
    manifest = Path(config.data.root) / "manifest.csv"
    return sha256_file(manifest) if manifest.is_file() else None


def dataset_spacing_mm(dataset: Any) -> float | None:
    """Pixel spacing (mm/pixel) of a training set, recorded as the checkpoint's ``spacing_mm``.

    A ``spacing_mm`` attribute wins; otherwise the manifest rows' ``spacing_mm`` (``dataset.rows``):
    their median when known (a warning when they differ by more than 1 %), ``None`` when unknown.
    """
    import statistics

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


def _setting(config: TrainConfig, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _check_resume_matches(ckpt: Checkpoint, config: TrainConfig, fingerprint: str | None) -> None:
    """Refuse to resume when the checkpoint was made with other settings or another dataset."""
    differ = []
    for key in RESUME_MUST_MATCH:
        old, new = _setting(ckpt.config, key), _setting(config, key)
        if old != new:
            differ.append(f"{key}: {old} -> {new}")
    saved = ckpt.state.get("dataset_sha256")
    if fingerprint and saved and saved != fingerprint:
        differ.append(f"dataset {config.data.root} (manifest.csv sha256 {saved[:12]}... -> {fingerprint[:12]}...)")
    if differ:
        raise CheckpointError(
            f"{ckpt.path}: cannot resume, the run's settings differ from the checkpoint's: " + "; ".join(differ)
            + ". Resume with the same settings, or start a new run (another --name, or without --resume)"
        )


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
        resume: continue from ``<run_dir>/last.safetensors`` (exactly: same final step count and,
            on CPU, the same weights as an uninterrupted run). It must exist, and the run's
            settings (:data:`RESUME_MUST_MATCH`) and dataset (``manifest.csv`` checksum) must be
            the checkpoint's: otherwise :class:`CheckpointError` says what differs.
        max_steps_this_run: stop (after saving ``last``) once this call has made this many
            steps — a planned interruption; the run is finished by a later ``resume``.
        callback: called as ``callback(step, losses)`` after every step (``step`` 1-based);
            raise :class:`StopTraining` (or anything) from it to abort at once without saving.
        train_dataset / val_dataset: datasets yielding ``{"low", "high": (1, H, W) [0, 1], "id"}``;
            default: :class:`pocusiq.data.dataset.PairedDataset` splits of ``config.data.root``
            (no validation split: a warning; no validation and no ``best.safetensors``).
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

    A non-finite loss (or non-finite weights about to be saved) stops the run with
    :class:`TrainingError`; the checkpoints already written (the last good ones) are kept.

    Files (rank 0): ``last.safetensors``, ``best.safetensors`` (best validation SSIM),
    ``config.json``, ``train_log.csv`` (losses every ``log_every`` steps), ``val_log.csv``
    (validation SSIM/PSNR), ``tensorboard/`` if tensorboard is installed. Checkpoint state
    records the step, epoch, best SSIM, world size, torch thread count and dataset checksum.

    Raises:
        ConfigError, DatasetError, CheckpointError, TrainingError.
    """
    config.validate()
    ctx = setup_distributed(config.device)
    completed = False
    try:
        run = _Run(config, ctx, progress=progress, deadline=None if ctx.distributed else deadline)
        run.open_data(train_dataset, val_dataset)
        run.build_trainer(trainer_factory or Pix2PixTrainer)
        if resume:
            run.resume_from_last()
        else:
            run.start_fresh()
        run.plan_stop(max_steps_this_run)
        try:
            run.open_logs(resumed=resume)
            run.loop(callback)
        finally:
            run.close_logs()
        result = run.result()
        completed = True
        return result
    finally:
        teardown_distributed(ctx, completed=completed)


class _Run:
    """The state of one :func:`train` call and its steps, each a named method."""

    def __init__(self, config: TrainConfig, ctx: DistributedContext, *, progress: bool, deadline: float | None) -> None:
        self.t0 = time.perf_counter()
        self.config, self.ctx, self.progress, self.deadline = config, ctx, progress, deadline
        self.run_dir = config.run_dir
        self.last_path, self.best_path = self.run_dir / "last.safetensors", self.run_dir / "best.safetensors"
        self.step = self.epoch = self.start_step = 0
        self.best_ssim = float("-inf")
        self.resumed = self.timed_out = False
        self.last_written: Path | None = None
        self.best_written: Path | None = None
        self.train_rows: list[dict[str, Any]] = []
        self.val_rows: list[dict[str, Any]] = []
        self.validations: list[dict[str, Any]] = []
        self.tb: Any = None
        self.bar: Any = None
        self.stop_at = config.max_steps

    # --- setup ---------------------------------------------------------------------
    def open_data(self, train_dataset: Any | None, val_dataset: Any | None) -> None:
        config, ctx = self.config, self.ctx
        self.train_ds = train_dataset if train_dataset is not None else _open_train_dataset(config)
        if val_dataset is None and train_dataset is None:
            val_dataset = _open_val_dataset(config)
        self.val_ds = val_dataset
        self.fingerprint = _dataset_fingerprint(config, train_dataset)
        batch = config.data.batch_size
        self.sampler = DistributedSampler(
            self.train_ds, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // batch
        if self.steps_per_epoch < 1:
            raise DatasetError(
                f"{config.data.root or 'training set'}: {len(self.train_ds)} training pairs are fewer than "
                f"batch_size ({batch}) x processes ({ctx.world_size})"
            )
        self.loader_gen = torch.Generator().manual_seed(config.seed)
        self.spacing_mm = dataset_spacing_mm(self.train_ds)

    def build_trainer(self, factory: Callable[..., Pix2PixTrainer] = Pix2PixTrainer) -> None:
        self.trainer = factory(self.config, self.ctx.device, self.ctx)

    def resume_from_last(self) -> None:
        if not self.last_path.is_file():
            raise CheckpointError(
                f"{self.last_path}: nothing to resume (no last.safetensors in {self.run_dir}); "
                f"start the run without --resume"
            )
        ckpt = load_checkpoint(self.last_path)
        _check_resume_matches(ckpt, self.config, self.fingerprint)
        trainer, path = self.trainer, self.last_path
        load_module_state(trainer.generator, ckpt.generator, path, "generator")
        if ckpt.discriminator is None:
            raise CheckpointError(f"{path}: cannot resume: checkpoint has no discriminator")
        load_module_state(trainer.discriminator, ckpt.discriminator, path, "discriminator")
        for name, opt in trainer.optimizers.items():
            if name not in ckpt.optimizers:
                raise CheckpointError(f"{path}: cannot resume: no optimiser state {name!r}")
            try:
                opt.load_state_dict(ckpt.optimizers[name])
            except (ValueError, KeyError, RuntimeError) as exc:
                raise CheckpointError(f"{path}: optimiser {name} state does not match: {exc}") from exc
        self.step = int(ckpt.state.get("step", 0))
        saved_best = ckpt.state.get("best_ssim")
        self.best_ssim = float(saved_best) if saved_best is not None else float("-inf")
        if not trainer.restore_rng(ckpt.rng, int(ckpt.state.get("world_size", 1))):
            torch.manual_seed(self.config.seed * 7919 + self.step * 31 + self.ctx.rank)
        self.resumed = True
        self.epoch = self.step // self.steps_per_epoch
        self.best_written = self.best_path if self.best_path.is_file() else None

    def start_fresh(self) -> None:
        config = self.config
        if config.init_from:
            init = load_checkpoint(config.init_from)
            if init.config.model != config.model:
                raise CheckpointError(
                    f"{init.path}: generator config {init.config.model} differs from this run's model {config.model}"
                )
            load_module_state(self.trainer.generator, init.generator, init.path, "generator")
            if config.init_discriminator:
                if init.discriminator is None:
                    raise CheckpointError(f"{init.path}: init_discriminator set but checkpoint has no discriminator")
                load_module_state(self.trainer.discriminator, init.discriminator, init.path, "discriminator")
        torch.manual_seed(config.seed * 7919 + 1 + self.ctx.rank)  # dropout stream, distinct per rank
        if self.ctx.is_main and self.best_path.is_file():
            # a fresh run reusing a run folder: the old best.safetensors belongs to the run being
            # replaced (its last.safetensors is overwritten too) and must not pass for this run's
            self.best_path.unlink()

    def plan_stop(self, max_steps_this_run: int | None) -> None:
        self.start_step = self.step
        if max_steps_this_run is not None:
            self.stop_at = min(self.config.max_steps, self.step + max_steps_this_run)

    def open_logs(self, resumed: bool) -> None:
        if not self.ctx.is_main:
            return
        if resumed:
            self.train_rows = _read_log(self.run_dir / TRAIN_LOG, self.step)
            self.val_rows = _read_log(self.run_dir / VAL_LOG, self.step)
        self.tb = _tensorboard_writer(self.run_dir)
        if self.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.config.max_steps, initial=self.step, desc=f"train {self.config.name}",
                            unit="step", dynamic_ncols=True)

    def close_logs(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()

    # --- the loop ------------------------------------------------------------------
    def epoch_loader(self) -> DataLoader:
        """The rest of the current epoch's batches (the data order is a function of seed and epoch)."""
        batch = self.config.data.batch_size
        self.epoch = self.step // self.steps_per_epoch
        offset = self.step - self.epoch * self.steps_per_epoch
        self.sampler.set_epoch(self.epoch)
        if hasattr(self.train_ds, "set_epoch"):
            self.train_ds.set_epoch(self.epoch)
        indices = list(self.sampler)[offset * batch: self.steps_per_epoch * batch]
        return DataLoader(
            self.train_ds, batch_size=batch, sampler=indices, num_workers=self.config.data.num_workers,
            drop_last=True, generator=self.loader_gen, pin_memory=self.ctx.device.type == "cuda",
        )

    def loop(self, callback: Callable[[int, dict[str, float]], None] | None) -> None:
        while self.step < self.stop_at:
            for item in self.epoch_loader():
                values = self.train_one_step(item, need_values=callback is not None)
                self.log_step(values)
                if self.validation_due():
                    self.validate()
                if self.step % self.config.checkpoint_every == 0 or self.step == self.stop_at:
                    self.last_written = self.save(self.last_path, all_ranks=True) or self.last_written
                if callback is not None:
                    callback(self.step, values)
                if self.step >= self.stop_at:
                    break

    def train_one_step(self, item: dict[str, Any], need_values: bool) -> dict[str, float]:
        lr = self.trainer.set_step_lr(self.step)
        losses = self.trainer.train_step(item["low"], item["high"])
        self.step += 1
        self.lr = lr
        if not bool(torch.isfinite(torch.stack([v.float() for v in losses.values()])).all()):
            self.diverged({k: float(v) for k, v in losses.items()})
        if self.deadline is not None and time.monotonic() >= self.deadline and self.step < self.stop_at:
            self.stop_at = self.step  # out of time: finish this step like a planned stop
            self.timed_out = True
        need = need_values or self.step % self.config.log_every == 0 or self.step == self.stop_at
        return {k: float(v) for k, v in losses.items()} if need else {}

    def diverged(self, losses: dict[str, float]) -> None:
        kept = self.last_written or (self.last_path if self.last_path.is_file() else None)
        terms = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
        raise TrainingError(
            f"training diverged at step {self.step}: non-finite loss ({terms}); stopped without saving. "
            + (f"The last good checkpoint is {kept}. " if kept else "No checkpoint was written. ")
            + f"Lower optim.lr (now {self.config.optim.lr:g}) or the loss weights"
        )

    def log_step(self, values: dict[str, float]) -> None:
        if self.ctx.is_main and self.step % self.config.log_every == 0:
            self.train_rows.append({"step": self.step, "epoch": self.epoch, "lr": f"{self.lr:.6g}",
                                    **{k: f"{v:.6f}" for k, v in values.items()},
                                    "seconds": f"{time.perf_counter() - self.t0:.2f}"})
            _write_log(self.run_dir / TRAIN_LOG, TRAIN_LOG_COLUMNS, self.train_rows)
            if self.tb is not None:
                for k, v in values.items():
                    self.tb.add_scalar(f"train/{k}", v, self.step)
            if self.bar is not None:
                self.bar.set_postfix({k[5:]: f"{v:.3f}" for k, v in values.items()}, refresh=False)
        if self.bar is not None:
            self.bar.update(1)

    def validation_due(self) -> bool:
        config = self.config
        end_of_epoch = self.step % self.steps_per_epoch == 0
        return bool((config.val_every and self.step % config.val_every == 0)
                    or (not config.val_every and end_of_epoch)
                    or self.step == config.max_steps or self.timed_out)

    def validate(self) -> None:
        if not self.ctx.is_main or self.val_ds is None:
            return
        result, _ = evaluate_generator(self.trainer.generator, self.val_ds, max_images=self.config.data.max_val_images)
        s = result.summary()
        row = {
            "step": self.step, "epoch": self.epoch, "n": s["n"],
            "ssim_input": round(s["ssim_input_mean"], 6), "ssim": round(s["ssim_enhanced_mean"], 6),
            "psnr_input": round(s["psnr_input_mean"], 4), "psnr": round(s["psnr_enhanced_mean"], 4),
        }
        self.val_rows.append(row)
        self.validations.append(row)
        _write_log(self.run_dir / VAL_LOG, VAL_LOG_COLUMNS, self.val_rows)
        if self.tb is not None:
            self.tb.add_scalar("val/ssim", row["ssim"], self.step)
            self.tb.add_scalar("val/psnr", row["psnr"], self.step)
        if s["ssim_enhanced_mean"] > self.best_ssim:
            self.best_ssim = s["ssim_enhanced_mean"]
            # best checkpoints are decided on rank 0 alone; they carry rank 0's RNG only.
            self.best_written = self.save(self.best_path, all_ranks=False)
        if self.bar is not None:
            self.bar.set_postfix_str(f"val SSIM {row['ssim']:.3f} PSNR {row['psnr']:.2f}")

    # --- checkpoints -----------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        """The JSON state every checkpoint of this run carries (built here only)."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "best_ssim": self.best_ssim if math.isfinite(self.best_ssim) else None,
            "world_size": self.ctx.world_size,
            "steps_per_epoch": self.steps_per_epoch,
            "torch_threads": torch.get_num_threads(),
            "dataset_sha256": self.fingerprint,
        }

    def save(self, path: Path, *, all_ranks: bool) -> Path | None:
        """Write a checkpoint (rank 0). ``all_ranks``: gather every rank's RNG (a collective, so
        every rank calls it); else rank 0's RNG only. Non-finite weights are never written."""
        rng = self.trainer.rng_states() if all_ranks else {"torch.rank0": torch.get_rng_state()}
        if not self.ctx.is_main:
            return None
        bad = non_finite_tensors({**{f"generator.{k}": v for k, v in self.trainer.generator.state_dict().items()},
                                  **{f"discriminator.{k}": v for k, v in self.trainer.discriminator.state_dict().items()}})
        if bad:
            self.diverged({"weights_non_finite": float("nan")})
        return save_checkpoint(path, generator=self.trainer.generator, discriminator=self.trainer.discriminator,
                               optimizers=self.trainer.optimizers, config=self.config, state=self.checkpoint_state(),
                               rng=rng, spacing_mm=self.spacing_mm)

    def result(self) -> TrainResult:
        return TrainResult(
            run_dir=self.run_dir, step=self.step, epoch=self.step // self.steps_per_epoch,
            last_checkpoint=self.last_written or (self.last_path if self.last_path.is_file() else None),
            best_checkpoint=self.best_written,
            best_ssim=self.best_ssim if math.isfinite(self.best_ssim) else float("nan"),
            validations=self.validations, seconds=time.perf_counter() - self.t0,
            steps_this_run=self.step - self.start_step,
            generator=self.trainer.generator, discriminator=self.trainer.discriminator,
            device=str(self.ctx.device), world_size=self.ctx.world_size,
            backend=dist.get_backend() if self.ctx.distributed else None,
            torch_threads=torch.get_num_threads(),
        )
