"""Benchmark protocols: the YAML file that fixes split, preprocessing and metric settings.

Two benchmark results are comparable when they state the same protocol *hash*: the SHA-256 of the
protocol's settings as canonical JSON (sorted keys, defaults filled in), over every section except
``report`` (which only changes how results are shown). Comments and key order in the file do not
change the hash; any setting does.

The shipped default is ``pocusiq/benchmark/protocols/default.yaml`` (read it for the meaning of
every key). A protocol file must give ``name`` and ``version``; any other key it leaves out takes
the default's value, and an unknown key is an error (so a typo cannot silently fall back to a
default). Reading, types and ranges are :mod:`pocusiq.config`'s; the metrics a protocol may list,
their kinds and the options each takes come from the metric registry :data:`pocusiq.metrics.METRICS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pocusiq import config as cfgkit
from pocusiq.config import setting
from pocusiq.errors import ConfigError
from pocusiq.metrics import METRICS

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

METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
"""Metrics a protocol may list: the names of the registry :data:`pocusiq.metrics.METRICS`."""
DEFAULT_METRIC_NAMES: tuple[str, ...] = (
    "ssim", "psnr", "niqe", "piqe", "gcnr",
    # fidelity of each output to its input (issue 10): never NIQE/PIQE without them
    "point_contrast_kept", "point_width_ratio", "gcnr_change", "invented_blobs", "streak_ratio",
    "keeps_every_target",
)
"""The default protocol's metrics, in report order."""

# Every protocol's hash covers the option sections of these six metrics (they were all the
# metrics when hashes were first published); a metric added to the registry later enters the
# hash only where a protocol uses it, so adding one does not change existing protocols' hashes.
_HASHED_OPTION_SECTIONS = ("ssim", "psnr", "niqe", "piqe", "gcnr", "cnr")

_DTYPES = ("uint8", "native")
_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PreprocessingSettings:
    """How dataset images are prepared before methods and metrics see them.

    Attributes:
        dtype: ``"uint8"`` (16-bit images divided by 257 and rounded) or ``"native"``.
        resize: ``(height, width)`` in pixels to resample every pair to, or None.
    """

    dtype: str = setting("uint8", choices=_DTYPES)
    resize: tuple[int, int] | None = setting(None, ge=8)


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
    ring_gap_px: int = setting(2, ge=0)
    ring_width_px: int = setting(8, ge=1)
    min_pixels: int = setting(16, ge=2)

    def check_consistency(self) -> None:
        if not all(self.masks):
            raise ConfigError(f"metrics.regions.masks must be a list of mask-name patterns, got {list(self.masks)!r}")
        if self.valid_mask is not None and not self.valid_mask:
            raise ConfigError("metrics.regions.valid_mask must be a mask name or null, got ''")


@dataclass(frozen=True)
class MetricSettings:
    """Which metrics are scored and with which settings.

    Attributes:
        names: metric names, a subset of :data:`METRIC_NAMES`, in report order.
        border_px: pixels dropped at every image edge before scoring.
        options: per metric name, keyword arguments for ``pocusiq.metrics.<name>``.
        regions: gCNR/CNR target regions.
    """

    names: tuple[str, ...] = setting(DEFAULT_METRIC_NAMES, choices=METRIC_NAMES)
    border_px: int = setting(0, ge=0)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    regions: RegionSettings = field(default_factory=RegionSettings)

    def check_consistency(self) -> None:
        if not self.names:
            raise ConfigError("metrics.names must be a non-empty list of metric names")
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"metrics.names lists a metric twice: {list(self.names)!r}")
        for metric, options in self.options.items():
            if metric not in METRICS:
                raise ConfigError(f"metrics: unknown metric {metric!r} (known: {', '.join(METRIC_NAMES)})")
            unknown = [key for key in options if key not in METRICS[metric].options]
            if unknown:
                takes = ", ".join(METRICS[metric].options) or "none"
                raise ConfigError(
                    f"metrics.{metric}: pocusiq.metrics.{metric} has no option(s) "
                    f"{', '.join(map(repr, unknown))} (it takes: {takes})"
                )


@dataclass(frozen=True)
class ReportSettings:
    """Report presentation (not part of the protocol hash).

    Attributes:
        example_pairs: number of pairs shown in the example figure.
    """

    example_pairs: int = setting(3, ge=0)


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
    version: int = setting(1, ge=0)
    split: str = setting("test", choices=_SPLITS)
    seed: int = setting(0, ge=0)
    preprocessing: PreprocessingSettings = field(default_factory=PreprocessingSettings)
    metrics: MetricSettings = field(default_factory=MetricSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    source: str = setting("<package default>", in_file=False)

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
                **{name: dict(self.metrics.options.get(name, {})) for name in self._option_sections()},
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

    def _option_sections(self) -> list[str]:
        used = [n for n in METRIC_NAMES if n in self.metrics.names or self.metrics.options.get(n)]
        return list(_HASHED_OPTION_SECTIONS) + [n for n in used if n not in _HASHED_OPTION_SECTIONS]

    def check_consistency(self) -> None:
        if not self.name.strip():
            raise ConfigError(f"name must be a non-empty string, got {self.name!r}")

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


def protocol_from_dict(data: dict[str, Any], source: str = "<dict>", *, require_identity: bool = True) -> BenchmarkProtocol:
    """Build and check a protocol from parsed YAML data; missing keys take the defaults.

    Args:
        data: the mapping (as ``yaml.safe_load`` returns it); ``metrics.<name>`` sections hold
            each metric's options.
        source: file name used in error messages.
        require_identity: require ``name`` and ``version`` keys.

    Raises:
        ConfigError: naming ``source`` and the key, for unknown keys, wrong types or bad values.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a protocol must be a YAML mapping, got {type(data).__name__}")
    if require_identity:
        missing = [key for key in ("name", "version") if key not in data]
        if missing:
            raise ConfigError(f"{source}: missing {' and '.join(missing)} (a protocol must state its name and version)")
    if "source" in data:
        raise ConfigError(f"{source}: unknown config key(s) source (it is where the protocol was read from)")
    data = dict(data)
    metrics = data.get("metrics")
    if isinstance(metrics, dict):
        metrics = dict(metrics)
        if "options" in metrics:
            raise ConfigError(f"{source}: unknown config key(s) metrics.options; give metrics.<name>: {{...}}")
        options = {name: metrics.pop(name) for name in list(metrics) if name in METRICS}
        for name, value in options.items():
            if value is None:
                options[name] = {}
            elif not isinstance(value, dict):
                raise ConfigError(f"{source}: metrics.{name} must be a mapping, got {type(value).__name__}")
        metrics["options"] = options
        data["metrics"] = metrics
    if isinstance(data.get("name"), str):
        data["name"] = data["name"].strip()
    try:
        protocol = cfgkit.from_dict(BenchmarkProtocol, {**data, "source": source})
        cfgkit.check(protocol)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    return protocol


def load_protocol(
    path: str | os.PathLike[str] | BenchmarkProtocol | None = None, overrides: Sequence[str] = ()
) -> BenchmarkProtocol:
    """Read a protocol YAML file (``None``: the shipped default; a protocol is returned as is).

    ``overrides``: ``--set`` items in the file's layout (``split=val``, ``metrics.border_px=4``,
    ``metrics.gcnr.bins=64``); the protocol's hash records the result.

    Raises:
        ConfigError: naming the file, if it is missing, not valid YAML, or has bad settings.
    """
    if isinstance(path, BenchmarkProtocol):
        if overrides:
            return protocol_from_dict(cfgkit.apply_overrides(path.to_dict(), overrides), path.source)
        return path
    is_default = path is None
    file = default_protocol_path() if is_default else Path(path)
    source = "<package default>" if is_default else str(file)
    data = cfgkit.read_config_file(file, "protocol file")
    if overrides:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a protocol must be a YAML mapping, got {type(data).__name__}")
        data = cfgkit.apply_overrides(data, overrides)
        source = f"{source} (with --set {' '.join(overrides)})"
    return protocol_from_dict(data, source)
