"""Benchmark protocols: the YAML file that fixes split, preprocessing and metric settings.

Two benchmark results are comparable when they state the same protocol *hash*: the SHA-256 of the
protocol's settings as canonical JSON (sorted keys, defaults filled in), over every section except
``report`` (which only changes how results are shown). Comments and key order in the file do not
change the hash; any setting does.

The shipped default is ``pocusiq/benchmark/protocols/default.yaml`` (read it for the meaning of
every key). A protocol file must give ``name`` and ``version``; any other key it leaves out takes
the default's value, and an unknown key is an error (so a typo cannot silently fall back to a
default).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pocusiq.config_file import read_config_file
from pocusiq.errors import ConfigError

__all__ = [
    "BenchmarkProtocol",
    "METRIC_NAMES",
    "MetricSettings",
    "PreprocessingSettings",
    "RegionSettings",
    "ReportSettings",
    "default_protocol_path",
    "load_protocol",
    "protocol_from_dict",
]

METRIC_NAMES: tuple[str, ...] = ("ssim", "psnr", "niqe", "piqe", "gcnr", "cnr")
"""Metrics a protocol may list: full-reference (ssim, psnr), no-reference (niqe, piqe), regions (gcnr, cnr)."""

FULL_REFERENCE = frozenset({"ssim", "psnr"})
NO_REFERENCE = frozenset({"niqe", "piqe"})
REGION_METRICS = frozenset({"gcnr", "cnr"})

_DTYPES = ("uint8", "native")
_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PreprocessingSettings:
    """How dataset images are prepared before methods and metrics see them.

    Attributes:
        dtype: ``"uint8"`` (16-bit images divided by 257 and rounded) or ``"native"``.
        resize: ``(height, width)`` in pixels to resample every pair to, or None.
    """

    dtype: str = "uint8"
    resize: tuple[int, int] | None = None


@dataclass(frozen=True)
class RegionSettings:
    """Where gCNR/CNR are measured: target masks and the background ring around each target.

    Attributes:
        masks: shell patterns (``fnmatch``) of dataset mask names that are targets (cysts, lesions).
        valid_mask: name of the dataset mask of valid (imaged) pixels, e.g. the simulator's
            ``sector``; background rings stay inside it where a pair has it. None: whole image.
        ring_gap_px: pixels between a target's edge and its background ring.
        ring_width_px: width of the background ring in pixels.
        min_pixels: targets or rings smaller than this (pixels) are skipped.
    """

    masks: tuple[str, ...] = ("cyst*", "lesion*", "vessel*", "lumen*")
    valid_mask: str | None = "sector"
    ring_gap_px: int = 2
    ring_width_px: int = 8
    min_pixels: int = 16


@dataclass(frozen=True)
class MetricSettings:
    """Which metrics are scored and with which settings.

    Attributes:
        names: metric names, a subset of :data:`METRIC_NAMES`, in report order.
        border_px: pixels dropped at every image edge before scoring.
        options: per metric name, keyword arguments for ``pocusiq.metrics.<name>``.
        regions: gCNR/CNR target regions.
    """

    names: tuple[str, ...] = ("ssim", "psnr", "niqe", "piqe", "gcnr")
    border_px: int = 0
    options: dict[str, dict[str, Any]] = field(default_factory=lambda: {name: {} for name in METRIC_NAMES})
    regions: RegionSettings = field(default_factory=RegionSettings)


@dataclass(frozen=True)
class ReportSettings:
    """Report presentation (not part of the protocol hash).

    Attributes:
        example_pairs: number of pairs shown in the example figure.
    """

    example_pairs: int = 3


@dataclass(frozen=True)
class BenchmarkProtocol:
    """A benchmark protocol (see the module docstring).

    Attributes:
        name: protocol name, e.g. ``"pocusiq-default"``.
        version: integer version of this protocol; bump it when a setting changes.
        split: dataset split that is scored (``train`` | ``val`` | ``test``).
        seed: seed for numpy/torch/random before each method call.
        preprocessing, metrics, report: the sections.
        source: where it was read from (a path or ``"<package default>"``); not hashed.
    """

    name: str = "pocusiq-default"
    version: int = 1
    split: str = "test"
    seed: int = 0
    preprocessing: PreprocessingSettings = field(default_factory=PreprocessingSettings)
    metrics: MetricSettings = field(default_factory=MetricSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    source: str = "<package default>"

    def to_dict(self, *, include_report: bool = True) -> dict[str, Any]:
        """The settings as plain JSON-able data (tuples as lists), as in the YAML file."""
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "split": self.split,
            "seed": self.seed,
            "preprocessing": {
                "dtype": self.preprocessing.dtype,
                "resize": list(self.preprocessing.resize) if self.preprocessing.resize else None,
            },
            "metrics": {
                "names": list(self.metrics.names),
                "border_px": self.metrics.border_px,
                **{name: dict(self.metrics.options.get(name, {})) for name in METRIC_NAMES},
                "regions": {
                    "masks": list(self.metrics.regions.masks),
                    "valid_mask": self.metrics.regions.valid_mask,
                    "ring_gap_px": self.metrics.regions.ring_gap_px,
                    "ring_width_px": self.metrics.regions.ring_width_px,
                    "min_pixels": self.metrics.regions.min_pixels,
                },
            },
        }
        if include_report:
            data["report"] = {"example_pairs": self.report.example_pairs}
        return data

    @property
    def hash(self) -> str:
        """Hex SHA-256 of the canonical JSON of every setting except ``report``."""
        canonical = json.dumps(self.to_dict(include_report=False), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def with_split(self, split: str) -> BenchmarkProtocol:
        """A copy scoring ``split`` instead (its hash differs if the split differs)."""
        if split not in _SPLITS:
            raise ConfigError(f"split {split!r}: expected one of {', '.join(_SPLITS)}")
        return dataclasses.replace(self, split=split)


def default_protocol_path() -> Path:
    """Path of the shipped ``default.yaml``."""
    return Path(str(resources.files("pocusiq.benchmark").joinpath("protocols", "default.yaml")))


# ---------------------------------------------------------------------------------------------
# parsing


def _check_keys(data: dict[str, Any], allowed: set[str], where: str, source: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))} in {where} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _section(data: dict[str, Any], key: str, where: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {where}{key} must be a mapping, got {type(value).__name__}")
    return value


def _int(value: Any, where: str, source: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: {where} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{source}: {where} must be >= {minimum}, got {value}")
    return int(value)


def protocol_from_dict(data: dict[str, Any], source: str = "<dict>", *, require_identity: bool = True) -> BenchmarkProtocol:
    """Build and validate a protocol from parsed YAML data; missing keys take the defaults.

    Args:
        data: the mapping (as ``yaml.safe_load`` returns it).
        source: file name used in error messages.
        require_identity: require ``name`` and ``version`` keys.

    Raises:
        ConfigError: naming ``source`` and the key, for unknown keys, wrong types or bad values.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a protocol must be a YAML mapping, got {type(data).__name__}")
    default = BenchmarkProtocol()
    _check_keys(data, {"name", "version", "split", "seed", "preprocessing", "metrics", "report"}, "the top level", source)
    if require_identity:
        missing = [key for key in ("name", "version") if key not in data]
        if missing:
            raise ConfigError(f"{source}: missing {' and '.join(missing)} (a protocol must state its name and version)")
    name = data.get("name", default.name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: name must be a non-empty string, got {name!r}")
    version = _int(data.get("version", default.version), "version", source, minimum=0)
    split = data.get("split", default.split)
    if split not in _SPLITS:
        raise ConfigError(f"{source}: split {split!r} must be one of {', '.join(_SPLITS)}")
    seed = _int(data.get("seed", default.seed), "seed", source, minimum=0)

    pre = _section(data, "preprocessing", "", source)
    _check_keys(pre, {"dtype", "resize"}, "preprocessing", source)
    dtype = pre.get("dtype", default.preprocessing.dtype)
    if dtype not in _DTYPES:
        raise ConfigError(f"{source}: preprocessing.dtype {dtype!r} must be one of {', '.join(_DTYPES)}")
    resize = pre.get("resize", None)
    if resize is not None:
        if (
            not isinstance(resize, (list, tuple))
            or len(resize) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 8 for v in resize)
        ):
            raise ConfigError(f"{source}: preprocessing.resize must be null or [height, width] (integers >= 8), got {resize!r}")
        resize = (int(resize[0]), int(resize[1]))

    met = _section(data, "metrics", "", source)
    _check_keys(met, {"names", "border_px", "regions", *METRIC_NAMES}, "metrics", source)
    names = met.get("names", list(default.metrics.names))
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{source}: metrics.names must be a non-empty list of metric names, got {names!r}")
    bad = [n for n in names if n not in METRIC_NAMES]
    if bad:
        raise ConfigError(f"{source}: unknown metric(s) {', '.join(map(repr, bad))} in metrics.names (known: {', '.join(METRIC_NAMES)})")
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: metrics.names lists a metric twice: {names!r}")
    border = _int(met.get("border_px", default.metrics.border_px), "metrics.border_px", source, minimum=0)
    options: dict[str, dict[str, Any]] = {}
    for metric in METRIC_NAMES:
        value = _section(met, metric, "metrics.", source)
        for key in value:
            if not isinstance(key, str) or not key.isidentifier():
                raise ConfigError(f"{source}: metrics.{metric}: {key!r} is not a valid keyword argument name")
        options[metric] = dict(value)
    reg = _section(met, "regions", "metrics.", source)
    _check_keys(reg, {"masks", "valid_mask", "ring_gap_px", "ring_width_px", "min_pixels"}, "metrics.regions", source)
    dreg = default.metrics.regions
    masks = reg.get("masks", list(dreg.masks))
    if not isinstance(masks, (list, tuple)) or not all(isinstance(m, str) and m for m in masks):
        raise ConfigError(f"{source}: metrics.regions.masks must be a list of mask-name patterns, got {masks!r}")
    valid_mask = reg.get("valid_mask", dreg.valid_mask)
    if valid_mask is not None and (not isinstance(valid_mask, str) or not valid_mask):
        raise ConfigError(f"{source}: metrics.regions.valid_mask must be a mask name or null, got {valid_mask!r}")
    regions = RegionSettings(
        masks=tuple(masks),
        valid_mask=valid_mask,
        ring_gap_px=_int(reg.get("ring_gap_px", dreg.ring_gap_px), "metrics.regions.ring_gap_px", source, minimum=0),
        ring_width_px=_int(reg.get("ring_width_px", dreg.ring_width_px), "metrics.regions.ring_width_px", source, minimum=1),
        min_pixels=_int(reg.get("min_pixels", dreg.min_pixels), "metrics.regions.min_pixels", source, minimum=2),
    )

    rep = _section(data, "report", "", source)
    _check_keys(rep, {"example_pairs"}, "report", source)
    example_pairs = _int(rep.get("example_pairs", default.report.example_pairs), "report.example_pairs", source, minimum=0)

    return BenchmarkProtocol(
        name=name.strip(),
        version=version,
        split=split,
        seed=seed,
        preprocessing=PreprocessingSettings(dtype=dtype, resize=resize),
        metrics=MetricSettings(names=tuple(names), border_px=border, options=options, regions=regions),
        report=ReportSettings(example_pairs=example_pairs),
        source=source,
    )


def load_protocol(path: str | os.PathLike[str] | BenchmarkProtocol | None = None) -> BenchmarkProtocol:
    """Read a protocol YAML file (``None``: the shipped default; a protocol is returned as is).

    Raises:
        ConfigError: naming the file, if it is missing, not valid YAML, or has bad settings.
    """
    if isinstance(path, BenchmarkProtocol):
        return path
    is_default = path is None
    file = default_protocol_path() if is_default else Path(path)
    source = "<package default>" if is_default else str(file)
    data = read_config_file(file, "protocol file")
    return protocol_from_dict(data, source)
