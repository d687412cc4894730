"""Typed training configuration: one dataclass per component, loadable from YAML/JSON.

Each component receives only its own section (the generator gets :class:`ModelConfig`, the
discriminator :class:`DiscriminatorConfig`, the losses :class:`LossConfig`, the optimisers
:class:`OptimConfig`, the data pipeline :class:`DataConfig`); :class:`TrainConfig` holds them
plus the run-level settings (seed, steps, checkpoint cadence, device). There is no global
options object.

The network sections (:class:`ModelConfig`, :class:`DiscriminatorConfig`) live with the networks
in :mod:`pocusiq.models.config` and are re-exported here. Reading, coercion, ``--set`` overrides
and field checks are :mod:`pocusiq.config`'s (the one config toolkit).

* ``TrainConfig.from_dict(d)`` / ``to_dict()`` round-trip through plain dicts (unknown keys and
  wrong types raise :class:`pocusiq.errors.ConfigError` naming the key).
* :func:`load_config` reads a ``.yaml``/``.yml``/``.json`` file; a top-level ``preset: NAME``
  starts from that preset (:func:`preset_config`, data in ``presets.yaml``) and the rest of the
  file overrides it.
* :func:`apply_overrides` applies CLI overrides like ``["optim.lr=1e-4", "data.crop=128"]``
  (values parsed as YAML scalars, then checked against the field's type).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pocusiq import config as cfgkit
from pocusiq.config import setting
from pocusiq.errors import ConfigError
from pocusiq.models.config import DiscriminatorConfig, ModelConfig

__all__ = [
    "ModelConfig",
    "DiscriminatorConfig",
    "LossConfig",
    "OptimConfig",
    "DataConfig",
    "UnpairedConfig",
    "TrainConfig",
    "load_config",
    "save_config",
    "apply_overrides",
    "config_from_dict",
    "PRESETS",
    "preset_config",
]

PRESETS_FILE = Path(__file__).with_name("presets.yaml")

@dataclass
class LossConfig:
    """Loss settings: total_G = lambda_gan * GAN + lambda_l1 * L1 + lambda_ssim * (1 - SSIM).

    Defaults and why: ``lambda_gan = 1`` and ``lambda_l1 = 100`` are pix2pix's (L1 on the
    ``[-1, 1]`` range carries intensity fidelity, the GAN term high-frequency realism).
    ``lambda_ssim = 100`` puts ``1 - SSIM`` on the same footing as L1: both are means of
    per-pixel terms in about ``[0, 1]``, so equal weights give both a comparable pull. With the
    smaller weight 10 the structure term is swamped by L1: on the demo's simulated data
    (128^2, cpu preset, 1 CPU thread) validation SSIM after 400 steps was 0.315 with weight 10,
    below the unprocessed input's 0.324, and 0.351 after 300 steps with weight 100 (PSNR about
    +2.7 and +2.9 dB); ``bench/ablation.py`` compares L1-only and L1 + SSIM in full. SSIM is
    computed on ``[0, 1]`` intensities (data range 1) with the 11x11 Gaussian window (sigma 1.5).
    ``gan_mode``: "vanilla" (BCE with logits, pix2pix) or "lsgan" (least squares).

    Fidelity terms (:mod:`pocusiq.train.fidelity_losses`; output vs the INPUT, all off by default
    so the paper recipe is unchanged): ``lambda_lowfreq`` x low-frequency consistency at
    ``lowfreq_sigma_px``; ``lambda_structure`` x lost/unsupported edges at ``structure_sigma_px``
    (sharpening up to ``structure_max_gain`` is free); ``lambda_points`` x darkening of the input's
    bright outliers (> ``points_k`` local std above the background at ``points_sigma_px``: wires,
    point scatterers); ``lambda_invented`` x blob-band energy
    beyond the input's at ``invented_sigma_px`` (tolerance ``invented_margin``, model range);
    ``lambda_checkerboard`` x the rise of the output's Nyquist energy (pixel grids) over the
    input's, in log units beyond a factor ``checkerboard_tolerance``.
    Scales are in pixels of the training images; ``bench/fidelity_ablation.py`` measures each term.
    """

    gan_mode: str = setting("vanilla", choices=("vanilla", "lsgan"))
    lambda_gan: float = setting(1.0, ge=0.0)
    lambda_l1: float = setting(100.0, ge=0.0)
    lambda_ssim: float = setting(100.0, ge=0.0)
    lambda_lowfreq: float = setting(0.0, ge=0.0)
    lowfreq_sigma_px: float = setting(2.0, gt=0.0)
    lambda_structure: float = setting(0.0, ge=0.0)
    structure_sigma_px: float = setting(1.0, gt=0.0)
    structure_max_gain: float = setting(2.0, ge=1.0)
    lambda_points: float = setting(0.0, ge=0.0)
    points_sigma_px: float = setting(4.0, gt=0.0)
    points_k: float = setting(3.0, gt=0.0)
    lambda_invented: float = setting(0.0, ge=0.0)
    invented_sigma_px: float = setting(3.0, gt=0.0)
    invented_margin: float = setting(0.05, ge=0.0)
    lambda_checkerboard: float = setting(0.0, ge=0.0)
    checkerboard_tolerance: float = setting(1.2, ge=1.0)

    def validate(self) -> None:
        cfgkit.check(self, "loss.")


@dataclass
class OptimConfig:
    """Adam for generator and discriminator (pix2pix: lr 2e-4, betas (0.5, 0.999)).

    The learning rate is constant for the first ``decay_start`` fraction of the run's steps,
    then decays linearly towards 0, reached just after the last step (the last update uses
    ``1 / (n_decay + 1)`` of the base rate, as pix2pix's "linear" policy; 100 epochs constant
    + 100 decaying = ``decay_start`` 0.5). See :func:`pocusiq.train.schedule.learning_rate_factor`.
    Learning rates must be finite and in ``(0, 1]``: Adam's step is about ``lr`` per weight, so
    anything above 1 only diverges (``1e30`` or ``inf`` gave NaN losses from the first step).
    """

    lr: float = setting(2e-4, gt=0.0, le=1.0)
    lr_d: float | None = setting(None, gt=0.0, le=1.0)
    beta1: float = setting(0.5, ge=0.0, lt=1.0)
    beta2: float = setting(0.999, ge=0.0, lt=1.0)
    decay_start: float = setting(0.5, ge=0.0, le=1.0)

    def validate(self) -> None:
        cfgkit.check(self, "optim.")


@dataclass
class DataConfig:
    """Data pipeline: dataset folder (project format, :class:`pocusiq.data.dataset.PairedDataset`),
    splits, random-crop size in pixels (``None``: whole images), horizontal flips, batch size.
    Validation uses whole images, padded to the generator's multiple.
    ``target_crop_fraction``: probability that a training crop holds a target of the simulated
    ground-truth masks (:mod:`pocusiq.train.sampling`; 0 = uniform crops, the paper recipe)."""

    root: str = ""
    train_split: str = setting("train", choices=("train", "val", "test"))
    val_split: str = setting("val", choices=("train", "val", "test"))
    crop: int | None = setting(256, ge=1)
    flip: bool = True
    batch_size: int = setting(1, ge=1)
    num_workers: int = setting(0, ge=0)
    max_val_images: int | None = setting(None, ge=1)
    target_crop_fraction: float = setting(0.0, ge=0.0, le=1.0)

    def validate(self) -> None:
        cfgkit.check(self, "data.")

    def check_consistency(self) -> None:
        _check(self.target_crop_fraction == 0 or self.crop is not None,
               "data.target_crop_fraction needs data.crop (target-aware crops of whole images make no sense)")


@dataclass
class UnpairedConfig:
    """Unpaired (CUT-style) adaptation, :mod:`pocusiq.train.unpaired`; off unless ``enabled``.

    Attributes:
        enabled: train on unpaired folders instead of a paired dataset.
        pocus_dir / highend_dir: folders of real POCUS frames (cropped to their imaging region)
            and of real high-end images (whole images).
        holdout: comma-separated file-name globs of POCUS frames NOT used (kept for the fidelity test).
        crops_per_epoch: crops per epoch (0: 8 per POCUS frame).
        pocus_scale / highend_scale: resize factors applied when loading (e.g. to bring both
            folders to the model's pixel spacing).
        spacing_mm: pixel spacing of the POCUS crops after scaling (recorded in checkpoints).
        lambda_nce: PatchNCE weight (CUT: 1; FastCUT: 10). nce_layers: encoder levels whose
            features PatchNCE compares ("0,1,2"). nce_patches: sampled positions per level and
            image (CUT: 256; 64 on the CPU presets). nce_temperature: InfoNCE temperature (CUT: 0.07).
            nce_dim: projection-head width (CUT: 256).
    """

    enabled: bool = False
    pocus_dir: str = ""
    highend_dir: str = ""
    holdout: str = ""
    crops_per_epoch: int = setting(0, ge=0)
    pocus_scale: float = setting(1.0, gt=0.0)
    highend_scale: float = setting(1.0, gt=0.0)
    spacing_mm: float | None = setting(None, gt=0.0)
    lambda_nce: float = setting(1.0, ge=0.0)
    nce_layers: str = "0,1,2"
    nce_patches: int = setting(64, ge=2)
    nce_temperature: float = setting(0.07, gt=0.0)
    nce_dim: int = setting(128, ge=1)

    def validate(self) -> None:
        cfgkit.check(self, "unpaired.")


@dataclass
class TrainConfig:
    """A whole training run.

    Attributes:
        name: run name; checkpoints go to ``<out_dir>/<name>/{last,best}.safetensors``.
        out_dir: folder holding runs.
        preset: the preset this config started from (informational).
        seed: seeds weights, data order, crops/flips and dropout.
        max_steps: total optimisation steps (one step = one D and one G update).
        checkpoint_every: write ``last.safetensors`` every this many steps (and at the end).
        val_every: validate every this many steps; 0 -> once per epoch (and at the end).
        log_every: refresh the progress bar / CSV loss log every this many steps.
        device: "auto" (CUDA if available), "cpu", "cuda", "cuda:1", ...
        init_from: checkpoint to start the generator from (fine-tuning); ``init_discriminator``
            also takes its discriminator.
    """

    name: str = "run"
    out_dir: str = "runs"
    preset: str | None = None
    seed: int = setting(0, ge=0)
    max_steps: int = setting(1000, ge=1)
    checkpoint_every: int = setting(200, ge=1)
    val_every: int = setting(0, ge=0)
    log_every: int = setting(10, ge=1)
    device: str = "auto"
    init_from: str | None = None
    init_discriminator: bool = False
    model: ModelConfig = field(default_factory=ModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    unpaired: UnpairedConfig = field(default_factory=UnpairedConfig)

    def validate(self) -> None:
        """Every field's checks and the rules between sections; ConfigError naming the key."""
        cfgkit.check(self)

    def check_consistency(self) -> None:
        if self.unpaired.enabled:
            # unpaired: D judges the candidate alone (there is no aligned condition image)
            _check(self.discriminator.in_channels == self.model.out_channels,
                   f"unpaired training: discriminator.in_channels must be model.out_channels = {self.model.out_channels}")
            _check(self.loss.lambda_l1 == 0 and self.loss.lambda_ssim == 0,
                   "unpaired training has no target image: set loss.lambda_l1=0 and loss.lambda_ssim=0")
            _check(self.loss.lambda_lowfreq > 0,
                   "unpaired training needs loss.lambda_lowfreq > 0: the fidelity terms are what ties the output "
                   "to the input's content")
            _check(not self.init_discriminator, "unpaired training cannot take a paired (conditional) discriminator")
        else:
            expected = self.model.in_channels + self.model.out_channels
            _check(
                self.discriminator.in_channels == expected,
                f"discriminator.in_channels must be model.in_channels + model.out_channels = {expected}",
            )
        if self.data.crop is not None:
            m = self.model.multiple
            _check(self.data.crop % m == 0, f"data.crop ({self.data.crop}) must be a multiple of the generator's "
                   f"multiple = {m} (2**model.depth; lean: model.factor * 2**(model.depth - 1))")
            if self.discriminator.norm == "instance":
                # the last normalised PatchGAN map is crop / 2**n_layers - 1 pixels wide; instance
                # norm needs more than one pixel
                min_crop = 3 * 2**self.discriminator.n_layers
                _check(
                    self.data.crop >= min_crop,
                    f"data.crop ({self.data.crop}) is too small for an instance-norm PatchGAN with "
                    f"n_layers={self.discriminator.n_layers}: need >= {min_crop}",
                )

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return cfgkit.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cfgkit.from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def config_from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data`` (:func:`pocusiq.config.from_dict`)."""
    return cfgkit.from_dict(cls, data, prefix)


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None,
                preset: str | None = None) -> TrainConfig:
    """Load a :class:`TrainConfig`.

    Starts from ``preset`` (or the file's ``preset:`` key, or the defaults), merges the YAML/JSON
    file at ``path`` (read by :func:`pocusiq.config.read_config_file`) over it, then applies ``overrides`` (``"section.key=value"``) and validates.
    Raises :class:`ConfigError` naming the file or key on any problem.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        data = cfgkit.read_config_file(p, "training config")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    name = preset if preset is not None else data.get("preset")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: preset: expected a preset name, got {name!r}")
    try:
        base = preset_config(name).to_dict() if name else TrainConfig().to_dict()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path and preset is None else str(exc)) from exc
    try:
        config = TrainConfig.from_dict(cfgkit.deep_merge(base, data))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from exc
    if name:
        config.preset = name
    config = apply_overrides(config, overrides or [])
    config.validate()
    return config


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Return a copy of ``config`` with ``"dotted.key=value"`` overrides applied
    (:func:`pocusiq.config.apply_overrides`: YAML-parsed values, string fields kept as text)."""
    return TrainConfig.from_dict(cfgkit.apply_overrides(config.to_dict(), overrides, TrainConfig))


def save_config(config: TrainConfig, path: str | os.PathLike[str]) -> None:
    """Write ``config`` as JSON (``.json``) or YAML (other suffixes), atomically."""
    from pocusiq.atomic import atomic_write_text

    p = Path(path)
    if p.suffix.lower() == ".json":
        atomic_write_text(p, config.to_json() + "\n")
    else:
        atomic_write_text(p, yaml.safe_dump(config.to_dict(), sort_keys=False))


PRESETS: dict[str, dict[str, Any]] = cfgkit.read_config_file(PRESETS_FILE, "preset file")
"""Preset name -> the fields that differ from :class:`TrainConfig`'s defaults (``presets.yaml``)."""


def preset_config(name: str) -> TrainConfig:
    """A fresh, checked :class:`TrainConfig` for preset ``name`` (a key of :data:`PRESETS`)."""
    try:
        values = PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
    try:
        config = TrainConfig.from_dict(cfgkit.deep_merge(TrainConfig().to_dict(), {**values, "preset": name}))
    except ConfigError as exc:
        raise ConfigError(f"{PRESETS_FILE}: preset {name}: {exc}") from exc
    config.validate()
    return config
