"""Typed training configuration: one dataclass per component, loadable from YAML/JSON.

Each component receives only its own section (the generator gets :class:`ModelConfig`, the
discriminator :class:`DiscriminatorConfig`, the losses :class:`LossConfig`, the optimisers
:class:`OptimConfig`, the data pipeline :class:`DataConfig`); :class:`TrainConfig` holds them
plus the run-level settings (seed, steps, checkpoint cadence, device). There is no global
options object.

* ``TrainConfig.from_dict(d)`` / ``to_dict()`` round-trip through plain dicts (unknown keys and
  wrong types raise :class:`pocusiq.errors.ConfigError` naming the key).
* :func:`load_config` reads a ``.yaml``/``.yml``/``.json`` file; a top-level ``preset: NAME``
  starts from that preset (:mod:`pocusiq.train.presets`) and the rest of the file overrides it.
* :func:`apply_overrides` applies CLI overrides like ``["optim.lr=1e-4", "data.crop=128"]``
  (values parsed as YAML scalars, then checked against the field's type).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pocusiq.config_file import read_config_file
from pocusiq.errors import ConfigError

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
]

_NORMS = ("batch", "instance")


@dataclass
class ModelConfig:
    """Generator (pix2pix U-Net) settings.

    Attributes:
        in_channels / out_channels: image channels (1: greyscale).
        ngf: channels of the first encoder level (pix2pix: 64); deeper levels have
            ``ngf * min(2**i, 8)``.
        depth: number of stride-2 levels (``num_downs``); ``log2(size)`` gives the pix2pix 1x1
            bottleneck (8 at 256^2). Image sides must be multiples of ``2 ** depth``.
        norm: "batch" or "instance".
        dropout: dropout probability in the first decoder levels (pix2pix: 0.5).
        dropout_blocks: how many decoder levels after the bottleneck get dropout;
            ``None`` -> ``max(0, depth - 5)`` (pix2pix: 3 at depth 8).
        init_std: std of the normal initialisation (pix2pix: 0.02).
        residual: ``False`` (pix2pix): the output is ``tanh`` of the last layer. ``True``: the
            output is ``clamp(input + last layer, -1, 1)`` with the last layer initialised to
            zero, so a fresh generator is exactly the identity and training learns only the
            detail to add (needs ``in_channels == out_channels``). Used by the shipped default
            models (:mod:`pocusiq.models.pretrained`): an identity start cannot erase a target
            before the losses have pulled it anywhere.
    """

    in_channels: int = 1
    out_channels: int = 1
    ngf: int = 64
    depth: int = 8
    norm: str = "instance"
    dropout: float = 0.5
    dropout_blocks: int | None = None
    init_std: float = 0.02
    residual: bool = False

    def resolved_dropout_blocks(self) -> int:
        n = max(0, self.depth - 5) if self.dropout_blocks is None else self.dropout_blocks
        return min(n, self.depth - 1)

    def validate(self) -> None:
        _check(self.in_channels >= 1 and self.out_channels >= 1, "model.in/out_channels must be >= 1")
        _check(self.ngf >= 1, f"model.ngf must be >= 1, got {self.ngf}")
        _check(1 <= self.depth <= 12, f"model.depth must be in 1..12, got {self.depth}")
        _check(self.norm in _NORMS, f"model.norm must be one of {_NORMS}, got {self.norm!r}")
        _check(0.0 <= self.dropout < 1.0, f"model.dropout must be in [0, 1), got {self.dropout}")
        _check(self.init_std > 0, f"model.init_std must be > 0, got {self.init_std}")
        _check(not self.residual or self.in_channels == self.out_channels,
               "model.residual needs model.in_channels == model.out_channels")


@dataclass
class DiscriminatorConfig:
    """PatchGAN settings: ``in_channels`` = condition + candidate channels (2 for greyscale);
    ``ndf`` first-layer channels (pix2pix 64); ``n_layers`` stride-2 layers (3 -> 70x70 patches)."""

    in_channels: int = 2
    ndf: int = 64
    n_layers: int = 3
    norm: str = "instance"
    init_std: float = 0.02

    def validate(self) -> None:
        _check(self.in_channels >= 1, "discriminator.in_channels must be >= 1")
        _check(self.ndf >= 1, f"discriminator.ndf must be >= 1, got {self.ndf}")
        _check(1 <= self.n_layers <= 8, f"discriminator.n_layers must be in 1..8, got {self.n_layers}")
        _check(self.norm in _NORMS, f"discriminator.norm must be one of {_NORMS}, got {self.norm!r}")
        _check(self.init_std > 0, "discriminator.init_std must be > 0")


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
    (sharpening up to ``structure_max_gain`` is free); ``lambda_invented`` x blob-band energy
    beyond the input's at ``invented_sigma_px`` (tolerance ``invented_margin``, model range).
    Scales are in pixels of the training images; ``bench/fidelity_ablation.py`` measures each term.
    """

    gan_mode: str = "vanilla"
    lambda_gan: float = 1.0
    lambda_l1: float = 100.0
    lambda_ssim: float = 100.0
    lambda_lowfreq: float = 0.0
    lowfreq_sigma_px: float = 2.0
    lambda_structure: float = 0.0
    structure_sigma_px: float = 1.0
    structure_max_gain: float = 2.0
    lambda_invented: float = 0.0
    invented_sigma_px: float = 3.0
    invented_margin: float = 0.05

    def validate(self) -> None:
        _check(self.gan_mode in ("vanilla", "lsgan"), f"loss.gan_mode must be 'vanilla' or 'lsgan', got {self.gan_mode!r}")
        for name in ("lambda_gan", "lambda_l1", "lambda_ssim", "lambda_lowfreq", "lambda_structure",
                     "lambda_invented", "invented_margin"):
            _check(getattr(self, name) >= 0, f"loss.{name} must be >= 0")
        for name in ("lowfreq_sigma_px", "structure_sigma_px", "invented_sigma_px"):
            _check(getattr(self, name) > 0, f"loss.{name} must be > 0 (pixels)")
        _check(self.structure_max_gain >= 1, f"loss.structure_max_gain must be >= 1, got {self.structure_max_gain}")


@dataclass
class OptimConfig:
    """Adam for generator and discriminator (pix2pix: lr 2e-4, betas (0.5, 0.999)).

    The learning rate is constant for the first ``decay_start`` fraction of the run's steps,
    then decays linearly towards 0, reached just after the last step (the last update uses
    ``1 / (n_decay + 1)`` of the base rate, as pix2pix's "linear" policy; 100 epochs constant
    + 100 decaying = ``decay_start`` 0.5). See :func:`pocusiq.train.trainer.learning_rate_factor`.
    """

    lr: float = 2e-4
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: float = 0.5

    def validate(self) -> None:
        _check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _check(self.lr_d is None or self.lr_d > 0, "optim.lr_d must be > 0")
        _check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "optim.beta1/beta2 must be in [0, 1)")
        _check(0.0 <= self.decay_start <= 1.0, f"optim.decay_start must be in [0, 1], got {self.decay_start}")


@dataclass
class DataConfig:
    """Data pipeline: dataset folder (project format, :class:`pocusiq.data.dataset.PairedDataset`),
    splits, random-crop size in pixels (``None``: whole images), horizontal flips, batch size.
    Validation uses whole images, padded to the generator's multiple.
    ``target_crop_fraction``: probability that a training crop holds a target of the simulated
    ground-truth masks (:mod:`pocusiq.train.sampling`; 0 = uniform crops, the paper recipe)."""

    root: str = ""
    train_split: str = "train"
    val_split: str = "val"
    crop: int | None = 256
    flip: bool = True
    batch_size: int = 1
    num_workers: int = 0
    max_val_images: int | None = None
    target_crop_fraction: float = 0.0

    def validate(self) -> None:
        _check(0.0 <= self.target_crop_fraction <= 1.0,
               f"data.target_crop_fraction must be in [0, 1], got {self.target_crop_fraction}")
        _check(self.target_crop_fraction == 0 or self.crop is not None,
               "data.target_crop_fraction needs data.crop (target-aware crops of whole images make no sense)")
        _check(self.batch_size >= 1, f"data.batch_size must be >= 1, got {self.batch_size}")
        _check(self.crop is None or self.crop >= 1, f"data.crop must be >= 1 or null, got {self.crop}")
        _check(self.num_workers >= 0, "data.num_workers must be >= 0")


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
    crops_per_epoch: int = 0
    pocus_scale: float = 1.0
    highend_scale: float = 1.0
    spacing_mm: float | None = None
    lambda_nce: float = 1.0
    nce_layers: str = "0,1,2"
    nce_patches: int = 64
    nce_temperature: float = 0.07
    nce_dim: int = 128

    def validate(self) -> None:
        _check(self.crops_per_epoch >= 0, "unpaired.crops_per_epoch must be >= 0")
        _check(self.pocus_scale > 0 and self.highend_scale > 0, "unpaired.pocus_scale/highend_scale must be > 0")
        _check(self.spacing_mm is None or self.spacing_mm > 0, "unpaired.spacing_mm must be > 0 or null")
        _check(self.lambda_nce >= 0, "unpaired.lambda_nce must be >= 0")
        _check(self.nce_patches >= 2, "unpaired.nce_patches must be >= 2")
        _check(self.nce_temperature > 0, "unpaired.nce_temperature must be > 0")
        _check(self.nce_dim >= 1, "unpaired.nce_dim must be >= 1")


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
    seed: int = 0
    max_steps: int = 1000
    checkpoint_every: int = 200
    val_every: int = 0
    log_every: int = 10
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
        _check(self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}")
        _check(self.checkpoint_every >= 1, "checkpoint_every must be >= 1")
        _check(self.val_every >= 0, "val_every must be >= 0")
        _check(self.log_every >= 1, "log_every must be >= 1")
        for section in (self.model, self.discriminator, self.loss, self.optim, self.data, self.unpaired):
            section.validate()
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
            m = 2**self.model.depth
            _check(self.data.crop % m == 0, f"data.crop ({self.data.crop}) must be a multiple of 2**model.depth = {m}")
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
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return config_from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check/convert ``value`` against the type hint ``hint``; raise ConfigError naming ``where``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return config_from_dict(hint, value, prefix=f"{where}.")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def config_from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, recursively; unknown keys / wrong types -> ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; valid: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None,
                preset: str | None = None) -> TrainConfig:
    """Load a :class:`TrainConfig`.

    Starts from ``preset`` (or the file's ``preset:`` key, or the defaults), merges the YAML/JSON
    file at ``path`` (read by :func:`pocusiq.config_file.read_config_file`) over it, then applies ``overrides`` (``"section.key=value"``) and validates.
    Raises :class:`ConfigError` naming the file or key on any problem.
    """
    from pocusiq.train.presets import preset_config

    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        data = read_config_file(p, "training config")
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
        config = TrainConfig.from_dict(_deep_merge(base, data))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from exc
    if name:
        config.preset = name
    config = apply_overrides(config, overrides or [])
    config.validate()
    return config


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Return a copy of ``config`` with ``"dotted.key=value"`` overrides applied (YAML-parsed values)."""
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot parse value: {exc}") from exc
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"override {item!r}: unknown config section {part!r}")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"override {item!r}: unknown config key {key!r}")
        node[parts[-1]] = value
    return TrainConfig.from_dict(data)


def save_config(config: TrainConfig, path: str | os.PathLike[str]) -> None:
    """Write ``config`` as JSON (``.json``) or YAML (other suffixes), atomically."""
    from pocusiq.atomic import atomic_write_text

    p = Path(path)
    if p.suffix.lower() == ".json":
        atomic_write_text(p, config.to_json() + "\n")
    else:
        atomic_write_text(p, yaml.safe_dump(config.to_dict(), sort_keys=False))
