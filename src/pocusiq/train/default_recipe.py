"""The recipe of the shipped default generators (``pocusiq.models.pretrained``): one seeded command.

``python bench/train_default_model.py --out runs/default`` (or :func:`train_default_models`) runs,
for each size (``cpu``: U-Net ngf 16, depth 6, instance norm; ``realtime``: the ``realtime``
preset's live-inference network), both residual with an unsharp-mask skip path and resize
upsampling (``ModelConfig(residual=True, skip_sharpen=1.0, upsample="resize")``: a fresh network
is exactly the unsharp mask, amount 1, sigma 1 px -- the bar the models must beat -- and no
decoder level can paint a pixel grid):

1. **simulate** ``n_pairs`` pocusiq pairs at ``size`` px over the default 30 mm field of view
   (512 px -> 0.0586 mm/pixel, near the 0.048 mm/pixel of the real Butterfly frames, so crops
   are at the real frames' scale), seed ``seed``;
2. **supervised**: GAN + L1 + SSIM toward the simulated high-end image, plus the fidelity terms
   toward the input (low-frequency consistency at ``LOWFREQ_SIGMA_PX``, structure, invented
   blobs, checkerboard) and target-aware crops (half the crops hold a wire/cyst/vessel);
3. **fidelity**: ``fidelity_steps`` more steps from the supervised generator with the point-target
   term on (``lambda_points``) and a tighter structure term (sharpening gain <= 1.5, weight 300).
   Measured on the real frames after stage 2 alone (identity skip, transposed convolutions): the
   cpu model kept every target on 0 of 8 frames (streak energy 1.6x, wires at 22-71 % contrast);
4. **adapt** (off by default, ``adapt_steps > 0``): unpaired CUT adaptation
   (:mod:`pocusiq.train.unpaired`) on the real POCUS frames minus the held-out ones, toward the real
   high-end carotid images, fidelity terms on. Measured (seed 0, 100 steps after stage 3): it made
   both sizes worse on the real frames -- cpu NIQE 7.76 -> 8.07, PIQE 64.2 -> 65.8; realtime
   checkerboard energy 1.21x -> 2.17x the input's, every target kept on 8 -> 5 of 8 frames -- so
   the shipped models are trained on simulated pairs only;
5. **export**: the generator alone (no optimiser, no discriminator, float16 weights) as
   safetensors with its config and ``spacing_mm`` into ``<out>/export/default-<size>.safetensors``;
   copy to the package with ``--install``.

Everything is a function of ``seed``; steps and sizes are arguments so the documented CPU budget
(see the model card) can be reproduced or scaled up on a GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocusiq.train.config import (
    DataConfig,
    DiscriminatorConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)

__all__ = ["DefaultRecipe", "MODEL_SIZES", "supervised_config", "adapt_config", "train_default_models",
           "export_generator", "HOLDOUT"]

MODEL_SIZES: dict[str, dict[str, Any]] = {
    "cpu": {"ngf": 16, "depth": 6, "norm": "instance", "dropout": 0.0},
    "realtime": {"arch": "lean", "ngf": 16, "depth": 4, "factor": 4, "norm": "batch", "dropout": 0.0},
}
"""Generator sizes shipped (``ModelConfig`` fields; both ``residual=True``)."""

HOLDOUT = "grey-*,clarius*"
"""Real POCUS frames never trained on (unpaired stage): the Butterfly grey-scale/wire frames and the
Clarius resolution phantom -- the frames with wire targets -- kept for the fidelity test."""

LOWFREQ_SIGMA_PX = 3.0
"""Low-frequency consistency scale: 3 px = 0.18 mm at 0.0586 mm/pixel, below the ~0.5-1 mm lateral
resolution of a handheld probe, so everything the input resolves is pinned to the input."""


CHECKERBOARD_WEIGHT = 30.0
"""Weight of the checkerboard term (:func:`pocusiq.train.fidelity_losses.checkerboard_added`) in every
stage, with tolerance :data:`CHECKERBOARD_TOLERANCE`. The term is 1-3 on 128 px crops of the real
frames for the models shipped without it (grid energy 22-600x the input's), 0.02-0.2 for the
unsharp mask. Measured (cpu size, seed 0, resize upsampling, sharpened skip): weight 10 with
tolerance 1.2 left checkerboard energy 1.57x the input's on two Butterfly frames (the verdict's
bound is 1.5x; every target kept on 6 of 8 frames); weight 30 with tolerance 1.1: 1.48x, 8 of 8."""
CHECKERBOARD_TOLERANCE = 1.1
"""Rise of the Nyquist energy (relative to the band below it) that costs nothing (see above)."""


@dataclass
class DefaultRecipe:
    """Sizes and budgets of one run of the recipe (defaults: the shipped models' CPU budget)."""

    out: str = "runs/default"
    seed: int = 0
    n_pairs: int = 120
    size: int = 512
    crop: int = 128
    supervised_steps: int = 500
    fidelity_steps: int = 150
    adapt_steps: int = 0
    pocus_dir: str = ""
    highend_dir: str = ""
    holdout: str = HOLDOUT
    sizes: tuple[str, ...] = ("cpu", "realtime")
    upsample: str = "resize"
    skip_sharpen: float = 1.0
    workers: int = 2
    timings: dict[str, float] = field(default_factory=dict)


def _loss(paired: bool) -> LossConfig:
    return LossConfig(
        gan_mode="vanilla", lambda_gan=1.0,
        lambda_l1=100.0 if paired else 0.0, lambda_ssim=100.0 if paired else 0.0,
        lambda_lowfreq=300.0, lowfreq_sigma_px=LOWFREQ_SIGMA_PX,
        lambda_structure=100.0, structure_sigma_px=1.0, structure_max_gain=2.5,
        lambda_invented=300.0, invented_sigma_px=6.0, invented_margin=0.02,
        lambda_checkerboard=CHECKERBOARD_WEIGHT, checkerboard_tolerance=CHECKERBOARD_TOLERANCE,
    )


def _model(recipe: DefaultRecipe, size_name: str) -> ModelConfig:
    return ModelConfig(residual=True, upsample=recipe.upsample, skip_sharpen=recipe.skip_sharpen,
                       **MODEL_SIZES[size_name])


def supervised_config(recipe: DefaultRecipe, size_name: str, data_root: str) -> TrainConfig:
    """Stage 2: residual generator on the simulated pairs, fidelity terms and target-aware crops."""
    model = _model(recipe, size_name)
    batch = 4  # batch norm (realtime) works at 4 crops of 128^2; 8 cost 1.5x per step on 2 busy cores
    return TrainConfig(
        name=f"{size_name}-supervised", out_dir=str(Path(recipe.out) / "runs"), preset=None, seed=recipe.seed,
        max_steps=recipe.supervised_steps, checkpoint_every=100, val_every=max(100, recipe.supervised_steps // 3),
        log_every=10, device="cpu",
        model=model, discriminator=DiscriminatorConfig(ndf=16, n_layers=3, norm="instance"),
        loss=_loss(paired=True), optim=OptimConfig(lr=2e-4, beta1=0.5, decay_start=0.5),
        data=DataConfig(root=data_root, crop=recipe.crop, flip=True, batch_size=batch, max_val_images=8,
                        target_crop_fraction=0.5),
    )


def fidelity_config(recipe: DefaultRecipe, size_name: str, init_from: str, data_root: str) -> TrainConfig:
    """Stage 3: fine-tune the supervised generator with the point-target term and a tighter structure term."""
    config = supervised_config(recipe, size_name, data_root)
    config.name = f"{size_name}-fidelity"
    config.max_steps = recipe.fidelity_steps
    config.val_every = recipe.fidelity_steps
    config.checkpoint_every = 50
    config.init_from = init_from
    config.optim.lr = 1e-4
    config.loss.lambda_points = 300.0
    config.loss.lambda_structure = 300.0
    config.loss.structure_max_gain = 1.5
    return config


def adapt_config(recipe: DefaultRecipe, size_name: str, init_from: str, spacing_mm: float | None) -> TrainConfig:
    """Stage 3: unpaired CUT adaptation from the supervised generator, fidelity terms on."""
    from pocusiq.train.config import UnpairedConfig

    model = _model(recipe, size_name)
    batch = 4
    loss = _loss(paired=False)
    loss.lambda_points, loss.lambda_structure, loss.structure_max_gain = 300.0, 300.0, 1.5  # as stage 3
    return TrainConfig(
        name=f"{size_name}-adapt", out_dir=str(Path(recipe.out) / "runs"), seed=recipe.seed,
        max_steps=recipe.adapt_steps, checkpoint_every=50, val_every=0, log_every=10, device="cpu",
        init_from=init_from, model=model,
        discriminator=DiscriminatorConfig(in_channels=1, ndf=16, n_layers=3, norm="instance"),
        loss=loss, optim=OptimConfig(lr=5e-5, beta1=0.5, decay_start=0.5),
        data=DataConfig(crop=recipe.crop, flip=True, batch_size=batch),
        unpaired=UnpairedConfig(enabled=True, pocus_dir=recipe.pocus_dir, highend_dir=recipe.highend_dir,
                                holdout=recipe.holdout, spacing_mm=spacing_mm, lambda_nce=1.0,
                                nce_layers="0,1,2", nce_patches=64),
    )


def export_generator(checkpoint: str | Path, out: str | Path, *, half: bool = True) -> Path:
    """Write the generator of ``checkpoint`` alone (config, ``spacing_mm`` kept) to ``out``, its
    weights in float16 when ``half`` (the cpu size: 7.3 MB -> 3.7 MB; loading casts back to float32;
    the enhanced real frames change by at most a few grey levels, see the model card)."""
    import torch

    from pocusiq.train.checkpoints import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(checkpoint)
    generator = ckpt.build_generator("cpu")
    state = {"step": ckpt.state.get("step"), "source": Path(checkpoint).name}
    return save_checkpoint(out, generator=generator, config=ckpt.config, state=state,
                           spacing_mm=ckpt.spacing_mm, write_config_json=False,
                           weights_dtype=torch.float16 if half else None)


def train_default_models(recipe: DefaultRecipe, *, log=print) -> dict[str, Path]:
    """Run the recipe; returns ``{size name: exported checkpoint}``. Resumable: each stage resumes
    from its ``last.safetensors`` and the simulation from its manifest."""
    from pocusiq.data.simulated import SimulatedDatasetConfig, write_simulated_dataset
    from pocusiq.train.trainer import train

    out = Path(recipe.out)
    data_root = out / f"sim{recipe.size}"
    t0 = time.perf_counter()
    write_simulated_dataset(data_root, SimulatedDatasetConfig(n=recipe.n_pairs, size=recipe.size, seed=recipe.seed),
                            workers=recipe.workers, progress=False)
    recipe.timings["simulate"] = time.perf_counter() - t0
    log(f"simulated {recipe.n_pairs} pairs at {recipe.size} px in {recipe.timings['simulate']:.0f} s: {data_root}")
    exported: dict[str, Path] = {}
    for size_name in recipe.sizes:
        t1 = time.perf_counter()
        config = supervised_config(recipe, size_name, str(data_root))
        result = train(config, resume=(config.run_dir / "last.safetensors").is_file(), progress=False)
        recipe.timings[f"{size_name}-supervised"] = time.perf_counter() - t1
        source = result.last_checkpoint
        log(f"{size_name}: supervised {result.step} steps in {recipe.timings[f'{size_name}-supervised']:.0f} s "
            f"(best val SSIM {result.best_ssim:.3f}) -> {source}")
        if recipe.fidelity_steps > 0:
            t2 = time.perf_counter()
            fid = fidelity_config(recipe, size_name, str(source), str(data_root))
            result = train(fid, resume=(fid.run_dir / "last.safetensors").is_file(), progress=False)
            recipe.timings[f"{size_name}-fidelity"] = time.perf_counter() - t2
            source = result.last_checkpoint
            log(f"{size_name}: fidelity stage {result.step} steps in {recipe.timings[f'{size_name}-fidelity']:.0f} s -> {source}")
        if recipe.adapt_steps > 0:
            from pocusiq.train.checkpoints import load_checkpoint
            from pocusiq.train.unpaired import train_unpaired

            t2 = time.perf_counter()
            spacing = load_checkpoint(source).spacing_mm
            adapt = adapt_config(recipe, size_name, str(source), spacing)
            result = train_unpaired(adapt, resume=(adapt.run_dir / "last.safetensors").is_file(), progress=False)
            recipe.timings[f"{size_name}-adapt"] = time.perf_counter() - t2
            source = result.last_checkpoint
            log(f"{size_name}: adapted {result.step} steps in {recipe.timings[f'{size_name}-adapt']:.0f} s -> {source}")
        exported[size_name] = export_generator(source, out / "export" / f"default-{size_name}.safetensors")
        log(f"{size_name}: exported {exported[size_name]}")
    return exported
