"""Checkpoints as safetensors files (no pickle anywhere), written atomically.

Lives with the networks so that inference (:class:`pocusiq.enhance.enhancer.Enhancer`, export,
the benchmark) loads a generator without importing training. The run's whole config travels
as JSON; here only its ``model`` section is interpreted (a :class:`ModelConfig`);
:func:`pocusiq.train.checkpoints.load_checkpoint` turns the rest into a ``TrainConfig``.

A run folder ``runs/<name>/`` holds ``last.safetensors`` (written every
``checkpoint_every`` steps and at the end), ``best.safetensors`` (best validation SSIM) and
``config.json`` (the run's :class:`TrainConfig`, also embedded in each checkpoint).

File layout (one safetensors file):

* tensors ``generator.<key>`` / ``discriminator.<key>``: the modules' state dicts;
* tensors ``optimizer.<name>.state.<param index>.<key>``: optimiser state tensors (Adam moments,
  step counts); the optimisers' ``param_groups`` (lr, betas, ...) and any non-tensor state go to
  the metadata as JSON;
* tensors ``rng.<name>``: RNG states (uint8; e.g. ``torch``, ``cuda.0``, ``torch.rank1``);
* metadata (all strings): ``format`` (``pocusiq.checkpoint/1``), ``config`` (the run config JSON),
  ``state`` (JSON: step, epoch, best metric, ...), ``optimizers`` (JSON), and ``spacing_mm``
  (pixel spacing in mm/pixel of the images the model was trained on, e.g. ``"0.0586"``; absent
  when unknown) so inference can resample an input to the scale the model learned.

Loading never executes code: safetensors only parses a JSON header and raw tensor bytes.
Missing, unreadable (permissions), truncated, corrupt or mismatched files, and weights that are
not finite (a diverged run), raise :class:`CheckpointError` naming the file and the cause.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pocusiq.atomic import atomic_path, atomic_write_text
from pocusiq.config import from_dict
from pocusiq.errors import CheckpointError, ConfigError
from pocusiq.models.config import ModelConfig

__all__ = [
    "Checkpoint",
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "load_generator",
    "load_module_state",
    "non_finite_tensors",
    "resolve_checkpoint_path",
    "unwrap",
]

FORMAT = "pocusiq.checkpoint/1"


def unwrap(module: nn.Module) -> nn.Module:
    """The bare module inside a DistributedDataParallel/DataParallel wrapper (or itself)."""
    return getattr(module, "module", module)


@dataclass
class Checkpoint:
    """A loaded checkpoint (all tensors on the CPU unless ``map_location`` said otherwise).

    Attributes:
        path: the file it came from.
        config: the run's config: its JSON as a dict here (a ``TrainConfig`` once loaded by
            :func:`pocusiq.train.checkpoints.load_checkpoint`).
        model_config: the generator's :class:`ModelConfig` (the config's ``model`` section).
        generator: generator state dict.
        discriminator: discriminator state dict, or ``None`` if not saved.
        optimizers: name -> optimiser ``state_dict()`` ready for ``Optimizer.load_state_dict``.
        state: training state (JSON-able dict: ``step``, ``epoch``, ``best_ssim``, ...).
        rng: name -> RNG state tensor (uint8).
        spacing_mm: pixel spacing (mm/pixel) of the images the model was trained on (metadata key
            ``spacing_mm``), ``None`` if unknown.
    """

    path: Path
    config: Any
    model_config: ModelConfig
    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor] | None = None
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    spacing_mm: float | None = None

    def build_generator(self, map_location: str | torch.device = "cpu") -> nn.Module:
        """A :class:`UNetGenerator` with these weights, in eval mode, on ``map_location``."""
        from pocusiq.models.builder import build_generator

        model = build_generator(self.model_config)
        load_module_state(model, self.generator, self.path, "generator")
        return model.to(map_location).eval()


def _optimizer_to_flat(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain_state: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{name}.state.{idx}.{key}"] = value
            else:
                plain_state.setdefault(str(idx), {})[key] = value
    groups = []
    for group in sd["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()})
    return tensors, {"param_groups": groups, "plain_state": plain_state}


def _optimizer_from_flat(name: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optimizer.{name}.state."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, sub = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[sub] = value
    for idx, entry in meta.get("plain_state", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    groups = []
    for group in meta["param_groups"]:
        g = dict(group)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def _state_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach() for k, v in unwrap(module).state_dict().items()}


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    generator: nn.Module,
    discriminator: nn.Module | None = None,
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    config: Any,
    state: Mapping[str, Any] | None = None,
    rng: Mapping[str, torch.Tensor] | None = None,
    write_config_json: bool = True,
    spacing_mm: float | None = None,
    weights_dtype: torch.dtype | None = None,
) -> Path:
    """Write a checkpoint atomically as safetensors (and ``config.json`` beside it).

    Args:
        path: target file, e.g. ``runs/demo/last.safetensors``.
        generator / discriminator: modules (DDP wrappers are unwrapped).
        optimizers: name -> optimiser (e.g. ``{"G": opt_g, "D": opt_d}``).
        config: the run's config (embedded as JSON): a dataclass with ``to_json()``/``to_dict()``,
            or a mapping; it must hold the generator's ``model`` section.
        state: JSON-able training state (``step``, ``epoch``, ...).
        rng: name -> RNG state tensor (``torch.get_rng_state()``, ...).
        spacing_mm: pixel spacing of the training images (mm/pixel), written as the metadata key
            ``spacing_mm``; ``None``: unknown, not written.
        weights_dtype: store the generator's floating-point tensors in this dtype (e.g.
            ``torch.float16`` for a shipped model: half the file; loading casts them back to the
            model's float32, see :func:`load_module_state`); ``None``: as they are. Only for
            exports without optimiser state (a training checkpoint must resume exactly).
    Returns the path written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = _state_tensors("generator", generator)
    if weights_dtype is not None:
        if optimizers or discriminator is not None:
            raise CheckpointError(f"checkpoint {path}: weights_dtype is for generator-only exports (no optimiser/discriminator)")
        tensors = {k: v.to(weights_dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        overflow = non_finite_tensors(tensors)
        if overflow:
            raise CheckpointError(f"checkpoint {path}: weights {overflow[:5]} do not fit in {weights_dtype}")
    if discriminator is not None:
        tensors.update(_state_tensors("discriminator", discriminator))
    optim_meta: dict[str, Any] = {}
    for name, optimizer in (optimizers or {}).items():
        if "." in name:
            raise ValueError(f"optimizer name must not contain '.', got {name!r}")
        flat, meta = _optimizer_to_flat(name, optimizer)
        tensors.update(flat)
        optim_meta[name] = meta
    for name, value in (rng or {}).items():
        tensors[f"rng.{name}"] = value.detach().to(torch.uint8)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    try:
        state_json = json.dumps(dict(state or {}), sort_keys=True)
        optim_json = json.dumps(optim_meta, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint state for {path} is not JSON-serialisable: {exc}") from exc
    config_json = _config_json(config)
    metadata = {
        "format": FORMAT,
        "config": config_json,
        "state": state_json,
        "optimizers": optim_json,
        "has_discriminator": "1" if discriminator is not None else "0",
    }
    if spacing_mm is not None:
        spacing = float(spacing_mm)
        if not (math.isfinite(spacing) and spacing > 0):
            raise ValueError(f"checkpoint {path}: spacing_mm must be positive and finite, got {spacing_mm!r}")
        metadata["spacing_mm"] = repr(spacing)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    if write_config_json:
        atomic_write_text(path.parent / "config.json", config_json + "\n")
    return path


def _config_json(config: Any) -> str:
    if hasattr(config, "to_json"):
        return str(config.to_json())
    from pocusiq.config import to_dict

    data = to_dict(config) if not isinstance(config, Mapping) else dict(config)
    return json.dumps(data, indent=2, sort_keys=True)


def resolve_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or for a run folder its ``best.safetensors`` (else ``last.safetensors``)."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"{p}: run folder holds neither best.safetensors nor last.safetensors")
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    if not os.access(p, os.R_OK):
        raise CheckpointError(f"{p}: cannot read checkpoint: permission denied")
    return p


def non_finite_tensors(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors in ``tensors`` holding NaN or infinity."""
    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (a file, or a run folder).

    Raises :class:`CheckpointError` naming the file if it is missing, not a safetensors file,
    truncated/corrupt, not a pocusiq checkpoint, or carries an invalid config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    p = resolve_checkpoint_path(path)
    device = str(map_location)
    try:
        with safe_open(str(p), framework="pt", device=device) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except PermissionError as exc:
        raise CheckpointError(f"{p}: cannot read checkpoint: permission denied ({exc})") from exc
    except (SafetensorError, OSError, RuntimeError, ValueError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{p}: not a readable safetensors checkpoint (corrupt or truncated?): {exc}") from exc
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{p}: not a pocusiq checkpoint (metadata format {metadata.get('format')!r}, expected {FORMAT!r})"
        )
    try:
        config = json.loads(metadata["config"])
        if not isinstance(config, dict):
            raise ConfigError("config is not a JSON object")
        model_config = from_dict(ModelConfig, config.get("model"), prefix="model.")
        model_config.validate()  # the generator is built from it
        state = json.loads(metadata.get("state", "{}"))
        optim_meta = json.loads(metadata.get("optimizers", "{}"))
    except (KeyError, json.JSONDecodeError, ConfigError) as exc:
        raise CheckpointError(f"{p}: checkpoint metadata is invalid: {exc}") from exc
    spacing_mm = None
    if "spacing_mm" in metadata:
        try:
            spacing_mm = float(metadata["spacing_mm"])
        except ValueError:
            spacing_mm = math.nan
        if not (math.isfinite(spacing_mm) and spacing_mm > 0):
            raise CheckpointError(f"{p}: metadata spacing_mm={metadata['spacing_mm']!r} is not a positive number of mm "
                                  f"per pixel")
    for key, value in (("state", state), ("optimizers", optim_meta)):
        if not isinstance(value, dict):
            raise CheckpointError(f"{p}: checkpoint metadata is invalid: {key} is not a JSON object")
    gen = {k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")}
    disc = {k[len("discriminator."):]: v for k, v in tensors.items() if k.startswith("discriminator.")}
    rng = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")}
    if not gen:
        raise CheckpointError(f"{p}: checkpoint holds no generator weights")
    bad = non_finite_tensors({**{f"generator.{k}": v for k, v in gen.items()},
                              **{f"discriminator.{k}": v for k, v in disc.items()}})
    if bad:
        raise CheckpointError(
            f"{p}: checkpoint holds non-finite weights (NaN or infinity) in {len(bad)} tensor(s), e.g. "
            f"{', '.join(bad[:3])}: the run it came from diverged; use an earlier checkpoint"
        )
    try:
        optimizers = {name: _optimizer_from_flat(name, tensors, meta) for name, meta in optim_meta.items()}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{p}: optimiser state is invalid: {exc}") from exc
    return Checkpoint(
        path=p,
        config=config,
        model_config=model_config,
        generator=gen,
        discriminator=disc if metadata.get("has_discriminator") == "1" else None,
        optimizers=optimizers,
        state=state,
        rng=rng,
        spacing_mm=spacing_mm,
    )


def load_module_state(module: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike[str], what: str) -> None:
    """``module.load_state_dict(state, strict=True)``; mismatches -> CheckpointError naming ``path``."""
    target = unwrap(module)
    expected = target.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: {what} weights do not match the model "
            f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    for key, value in state.items():
        if tuple(expected[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: {what} weight {key!r} has shape {tuple(value.shape)}, model expects {tuple(expected[key].shape)}"
            )
    target.load_state_dict(dict(state), strict=True)


def load_generator(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig]:
    """Load the generator of a checkpoint (file or run folder) for inference.

    Returns ``(generator, model_config)``: a :class:`pocusiq.models.unet.UNetGenerator` in eval
    mode on ``map_location``, mapping ``(N, 1, H, W)`` in ``[-1, 1]`` to the same shape in
    ``[-1, 1]`` (H, W multiples of ``2 ** model_config.depth``). Raises :class:`CheckpointError`.
    """
    ckpt = load_checkpoint(path, map_location="cpu")
    return ckpt.build_generator(map_location), ckpt.model_config
