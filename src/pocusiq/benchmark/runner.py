"""Run every method on every pair of a dataset split and score the outputs.

:func:`run_benchmark` is the library entry point behind ``pocusiq benchmark``. For each pair of
the protocol's split (sorted by id) it prepares the low-end input and the high-end target
(:func:`prepare_image`), runs each method on the input, checks the output
(:func:`check_method_output`: same shape, same dtype, finite), and scores it with the protocol's
metrics (:func:`score_image`): SSIM and PSNR against the target, NIQE and PIQE of the output alone,
gCNR/CNR over the dataset's target masks (n/a where a pair has none). NIQE/PIQE are computed once
per output image; the identity method's values are the "input" column, and the target's
no-reference values are computed once per pair (method name ``target``).

Outputs in ``out_dir``:

- ``journal.jsonl``: every result as it finishes (:mod:`pocusiq.benchmark.journal`); the run
  resumes from it, skipping (method, pair) results already there for the same method
  fingerprint, pair content and protocol hash;
- ``per_image.csv``: one row per (pair, method) with every metric, derived from the journal
  (rewritten atomically during the run and at its end);
- ``summary.json``: mean / std / median per method and metric, paired change vs the input,
  failures, the protocol (settings and hash), dataset identity, versions and seeds;
- ``examples/``: outputs for the example pairs; ``report.md``, ``report.html`` and ``figures/``
  (:mod:`pocusiq.benchmark.report`).

A method that raises, or returns a wrong shape, dtype or NaN, is recorded as a failure naming the
method and pair id; the other methods carry on.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq import __version__
from pocusiq.atomic import atomic_write_text, sha256_file
from pocusiq.benchmark.journal import ResultJournal, record_key
from pocusiq.benchmark.methods import Method, parse_method_spec, resolve_methods
from pocusiq.benchmark.protocol import (
    BenchmarkProtocol,
    PreprocessingSettings,
    load_protocol,
)
from pocusiq.benchmark.regions import select_target_masks, target_regions
from pocusiq.benchmark.results import BenchmarkResult, example_image_path
from pocusiq.errors import ConfigError, DatasetError
from pocusiq.metrics import FIDELITY, FULL_REFERENCE, METRICS, NO_REFERENCE, REGION

__all__ = [
    "BenchmarkResult",
    "PreparedPair",
    "TARGET",
    "check_method_output",
    "load_pair",
    "prepare_image",
    "run_benchmark",
    "score_image",
    "summarise",
]

TARGET = "target"
"""Method name of the high-end target's own (no-reference and region) scores."""

JOURNAL_NAME = "journal.jsonl"
PER_IMAGE_NAME = "per_image.csv"
SUMMARY_NAME = "summary.json"
CSV_REWRITE_SECONDS = 30.0

MetricFn = Callable[..., float]


# ---------------------------------------------------------------------------------------------
# images


@dataclass
class PreparedPair:
    """One pair, prepared per the protocol.

    Attributes:
        pair_id: the manifest id.
        low: ``(H, W)`` input image (uint8 under the default protocol).
        high: ``(H, W)`` target image, same shape and dtype.
        masks: mask name -> ``(H, W)`` bool, for the masks that are gCNR/CNR targets.
        valid: ``(H, W)`` bool mask of valid pixels (the protocol's ``valid_mask``), or None.
    """

    pair_id: str
    low: np.ndarray
    high: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    valid: np.ndarray | None = None


def prepare_image(image: np.ndarray, settings: PreprocessingSettings, *, mask: bool = False) -> np.ndarray:
    """Apply the protocol's preprocessing to one image or mask.

    Args:
        image: ``(H, W)`` uint8/uint16 image, or a mask (non-zero = inside).
        settings: resize target ``(height, width)`` px (bilinear with anti-aliasing for images,
            nearest for masks) and output dtype (``uint8``: 16-bit values divided by 257, rounded).
        mask: treat ``image`` as a mask and return bool.

    Returns:
        The prepared ``(H', W')`` array: bool for masks, else uint8 (or the native dtype).
    """
    from skimage.transform import resize

    arr = np.asarray(image)
    if mask:
        out = arr != 0
        if settings.resize and out.shape != tuple(settings.resize):
            out = resize(out.astype(np.float64), settings.resize, order=0, anti_aliasing=False, preserve_range=True) > 0.5
        return out
    if settings.resize and arr.shape != tuple(settings.resize):
        resized = resize(arr.astype(np.float64), settings.resize, order=1, anti_aliasing=True, preserve_range=True)
        info = np.iinfo(arr.dtype)
        arr = np.clip(np.rint(resized), info.min, info.max).astype(arr.dtype)
    if settings.dtype == "uint8" and arr.dtype != np.uint8:
        if arr.dtype == np.uint16:
            arr = np.rint(arr.astype(np.float64) / 257.0).astype(np.uint8)
        else:
            raise DatasetError(f"cannot convert a {arr.dtype} image to uint8 (expected uint8 or uint16)")
    return arr


def _pair_digest(row: Any) -> str:
    parts = [row.low_sha256, row.high_sha256] + [f"{k}={v}" for k, v in sorted(row.masks.items())]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]


FIDELITY_MASKS = ("wire*", "hyperechoic*")
"""Mask-name patterns read in addition to the region targets when a fidelity metric is scored
(the simulator's point targets and hyperechoic targets; see :func:`pocusiq.metrics.fidelity.targets_from_masks`)."""


def load_pair(dataset_dir: str | os.PathLike[str], row: Any, protocol: BenchmarkProtocol) -> PreparedPair:
    """Read and prepare one pair (low, high and its target masks) of a paired dataset.

    Under ``preprocessing.dtype: native`` a pair whose images differ in bit depth (the dataset
    format allows it) is brought to 16 bits (8-bit values x 257), so that the full-reference
    metrics compare images on one scale; under ``uint8`` both are converted to 8 bits.

    Raises:
        DatasetError: naming the pair, if the images differ in shape or a mask is missing.
        ImageFileError: an image file cannot be read.
    """
    from pocusiq.imaging.grey import common_bit_depth, read_grey_image
    from pocusiq.data.manifest import high_path, low_path, mask_path

    low = read_grey_image(low_path(dataset_dir, row.id))
    high = read_grey_image(high_path(dataset_dir, row.id))
    if low.shape != high.shape:
        raise DatasetError(f"{dataset_dir}: pair {row.id!r}: low image {low.shape} and high image {high.shape} differ in size")
    settings = protocol.preprocessing
    if settings.dtype == "native":
        low, high = common_bit_depth(low, high)  # an 8-bit/16-bit pair is scored on 16 bits
    masks: dict[str, np.ndarray] = {}
    valid: np.ndarray | None = None
    kinds = {METRICS[name].kind for name in protocol.metrics.names}
    if REGION in kinds or FIDELITY in kinds:

        def read_mask(name: str) -> np.ndarray:
            path = mask_path(dataset_dir, row.id, name)
            if not path.is_file():
                raise DatasetError(f"{dataset_dir}: pair {row.id!r}: mask {name!r} listed in the manifest but {path} is missing")
            mask = read_grey_image(path)
            if mask.shape != low.shape:
                raise DatasetError(f"{path}: mask shape {mask.shape} differs from the pair's images {low.shape}")
            return prepare_image(mask, settings, mask=True)

        patterns = protocol.metrics.regions.masks
        if FIDELITY in kinds:  # the fidelity metrics' ground truth: wires and grey targets too
            patterns = tuple(patterns) + FIDELITY_MASKS
        for name in select_target_masks(sorted(row.masks), patterns):
            masks[name] = read_mask(name)
        valid_name = protocol.metrics.regions.valid_mask
        if masks and valid_name and valid_name in row.masks:
            valid = read_mask(valid_name)
    return PreparedPair(row.id, prepare_image(low, settings), prepare_image(high, settings), masks, valid)


# ---------------------------------------------------------------------------------------------
# checking and scoring


def check_method_output(output: Any, image: np.ndarray) -> str | None:
    """What is wrong with a method's output for ``image``, or None if it is acceptable.

    Acceptable: a numpy array of the input's shape and dtype with finite values.
    """
    if not isinstance(output, np.ndarray):
        return f"returned {type(output).__name__}, expected a numpy array"
    if output.shape != image.shape:
        return f"returned shape {output.shape}, expected {image.shape} (the input's shape)"
    if output.dtype.kind in "fc" and not np.isfinite(output).all():
        return "returned NaN or infinite values"
    if output.dtype != image.dtype:
        if output.dtype.kind in "iuf":
            low, high = float(output.min()), float(output.max())
            info = np.iinfo(image.dtype) if image.dtype.kind in "iu" else None
            expected = f"{image.dtype} like its input" + (f" (range {info.min}..{info.max})" if info else "")
            return f"returned {output.dtype} values in [{low:.4g}, {high:.4g}], expected {expected}"
        return f"returned dtype {output.dtype}, expected {image.dtype} like its input"
    return None


def _metric_functions(protocol: BenchmarkProtocol) -> dict[str, MetricFn]:
    """The registry's functions for the protocol's metrics (names and options were checked
    against :data:`pocusiq.metrics.METRICS` when the protocol was read)."""
    return {name: METRICS[name].function for name in protocol.metrics.names}


def _fidelity_masks(pair: PreparedPair, border: int) -> dict[str, np.ndarray]:
    """The pair's masks (and its valid area as ``"sector"``), border-cropped, for the fidelity metrics."""
    masks = {k: _crop(np.asarray(v), border) for k, v in pair.masks.items()}
    if pair.valid is not None:
        masks["sector"] = _crop(np.asarray(pair.valid), border)
    return masks


def _crop(array: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return array
    if 2 * border >= min(array.shape[:2]):
        raise ValueError(f"metrics.border_px={border} leaves nothing of a {array.shape} image")
    return array[border:-border, border:-border]


def score_image(
    output: np.ndarray,
    target: np.ndarray | None,
    regions: Sequence[tuple[np.ndarray, np.ndarray]],
    protocol: BenchmarkProtocol,
    functions: Mapping[str, MetricFn],
    *,
    source: np.ndarray | None = None,
    masks: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """Score one output image with every metric of the protocol.

    Args:
        output: ``(H, W)`` method output (already border-cropped).
        target: ``(H, W)`` high-end target (border-cropped), or None to skip full-reference metrics.
        regions: ``(target mask, background ring)`` pairs for gCNR/CNR (already cropped); the
            region metrics are the mean over regions, NaN (n/a) if there is none.
        protocol: metric options.
        functions: metric name -> function (``pocusiq.metrics``).
        source: the image the output was made from (border-cropped), for the fidelity metrics
            (NaN without it, e.g. for the target's own row).
        masks: the pair's masks (border-cropped), giving the fidelity metrics their targets.

    Returns:
        ``(values, errors)``: metric name -> float (NaN where not applicable or failed) and
        ``"metric: message"`` for each metric that raised.
    """
    values: dict[str, float] = {}
    errors: list[str] = []
    for name in protocol.metrics.names:
        options = protocol.metrics.options.get(name, {})
        function = functions[name]
        try:
            kind = METRICS[name].kind
            if kind == FULL_REFERENCE:
                value = math.nan if target is None else float(function(output, target, **options))
            elif kind == NO_REFERENCE:
                value = float(function(output, **options))
            elif kind == REGION:
                scores = [float(function(output, t, r, **options)) for t, r in regions]
                value = float(np.mean(scores)) if scores else math.nan
            elif kind == FIDELITY:
                value = math.nan if source is None else float(function(output, source, masks=masks, **options))
            else:  # pragma: no cover - protocol validation rules this out
                raise ValueError(f"unknown metric kind for {name!r}")
        except Exception as exc:  # a metric failure is recorded, not fatal
            value = math.nan
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
        values[name] = value
    return values, errors


def _seed_everything(seed: int) -> None:
    """Seed Python's, numpy's legacy and (if loaded) torch's global generators before a method call."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# results


def example_pair_ids(pair_ids: Sequence[str], count: int) -> list[str]:
    """``count`` ids spread evenly over the sorted ``pair_ids`` (all of them if fewer)."""
    ordered = sorted(pair_ids)
    if count <= 0 or not ordered:
        return []
    if count >= len(ordered):
        return ordered
    picks = np.linspace(0, len(ordered) - 1, count).round().astype(int)
    return [ordered[i] for i in sorted(set(picks.tolist()))]


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return arr[np.isfinite(arr)]


def _stats(values: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    n_inf = int(np.isinf(arr).sum())
    if finite.size == 0:
        return {"mean": None, "std": None, "median": None, "n": 0, "n_infinite": n_inf}
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        "median": float(np.median(finite)),
        "n": int(finite.size),
        "n_infinite": n_inf,
    }


def _metric_errors(text: str, metric_names: Sequence[str]) -> dict[str, str]:
    """``"niqe: ValueError: ...; piqe: ..."`` (a record's ``metric_errors``) -> ``{metric: message}``."""
    if not text:
        return {}
    names = "|".join(re.escape(m) for m in sorted(metric_names, key=len, reverse=True))
    found: dict[str, str] = {}
    for part in re.split(rf"; (?=(?:{names}): )", text):
        metric, sep, message = part.partition(": ")
        if sep and metric in metric_names:
            found[metric] = message
    return found


def _availability(
    ok: Sequence[dict[str, Any]], metric: str, metric_names: Sequence[str], *, is_target: bool
) -> dict[str, Any]:
    """Why a metric has no value: ``status`` ok | partial | n/a | not applicable, counts and reasons.

    A NaN is never silent: each comes from a metric that raised (its message is the reason) or
    from a metric that does not apply to the pair (region metrics without target regions).
    """
    spec = METRICS.get(metric)
    kind = spec.kind if spec is not None else None
    if is_target and kind == FULL_REFERENCE:
        return {"status": "not applicable", "n_unavailable": 0, "unavailable_reasons": {}}
    reasons: dict[str, int] = {}
    missing = 0
    for record in ok:
        value = record.get(metric)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            continue
        missing += 1
        message = _metric_errors(str(record.get("metric_errors") or ""), metric_names).get(metric)
        if message is None:
            message = ("no target region in the pair (no masks, or regions under metrics.regions.min_pixels)"
                       if kind == REGION else "no value (NaN)")
        reasons[message] = reasons.get(message, 0) + 1
    status = "ok" if missing == 0 else ("n/a" if missing == len(ok) else "partial")
    ranked = dict(sorted(reasons.items(), key=lambda item: -item[1])[:5])
    return {"status": status, "n_unavailable": missing, "unavailable_reasons": ranked}


def metric_warnings(summary_methods: Mapping[str, Any]) -> list[str]:
    """One line per (method, metric) without a value on some image: ``"niqe: n/a for median on 3 of 3 image(s): ..."``."""
    lines = []
    for name, entry in summary_methods.items():
        if not entry:
            continue
        for metric, stats in entry.get("metrics", {}).items():
            if stats.get("status") in ("partial", "n/a"):
                reasons = "; ".join(f"{reason} ({count}x)" for reason, count in stats["unavailable_reasons"].items())
                lines.append(
                    f"{metric}: {stats['status']} for {name} on {stats['n_unavailable']} of {entry['n_ok']} "
                    f"image(s): {reasons}"
                )
    return lines


def summarise(
    records: Sequence[dict[str, Any]], method_names: Sequence[str], metric_names: Sequence[str], input_name: str | None
) -> dict[str, Any]:
    """Per-method statistics of per-image records.

    Returns:
        ``{method: {"n_ok", "n_failed", "seconds_per_image", "metrics": {metric: {"mean", "std"
        (sample, ddof=1), "median", "n", "n_infinite", "change_vs_input"}}}}``; ``change_vs_input``
        is the mean over pairs of (method - input) where both are finite (None for the input).
        Non-finite values (NaN = n/a or failed, +inf PSNR of identical images) are left out of
        the statistics.
    """
    by_method: dict[str, list[dict[str, Any]]] = {name: [] for name in method_names}
    for record in records:
        by_method.setdefault(record["method"], []).append(record)
    inputs = {r["pair_id"]: r for r in by_method.get(input_name or "", []) if r.get("status") == "ok"}
    out: dict[str, Any] = {}
    for name, rows in by_method.items():
        ok = [r for r in rows if r.get("status") == "ok"]
        seconds = _finite([r.get("seconds") for r in ok])
        entry: dict[str, Any] = {
            "n_ok": len(ok),
            "n_failed": len(rows) - len(ok),
            "seconds_per_image": float(seconds.mean()) if seconds.size else None,
            "metrics": {},
        }
        for metric in metric_names:
            stats = _stats([r.get(metric) for r in ok])
            stats.update(_availability(ok, metric, metric_names, is_target=name == TARGET))
            change = None
            if input_name and name not in (input_name, TARGET):
                deltas = [
                    r[metric] - inputs[r["pair_id"]][metric]
                    for r in ok
                    if r["pair_id"] in inputs
                    and r.get(metric) is not None
                    and inputs[r["pair_id"]].get(metric) is not None
                    and math.isfinite(r[metric])
                    and math.isfinite(inputs[r["pair_id"]][metric])
                ]
                change = float(np.mean(deltas)) if deltas else None
            stats["change_vs_input"] = change
            entry["metrics"][metric] = stats
        out[name] = entry
    return out


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version(), "pocusiq": __version__}
    for dist in ("numpy", "scipy", "scikit-image", "opencv-python-headless", "torch", "matplotlib", "pypiqe"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def per_image_csv_text(records: Sequence[dict[str, Any]], metric_names: Sequence[str]) -> str:
    """CSV text: one row per record (pair, method) with every metric; n/a as an empty cell."""
    import csv
    import io

    columns = ["pair_id", "method", "status", *metric_names, "seconds", "error", "metric_errors",
               "method_fingerprint", "pair_digest", "protocol_hash"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_value(record.get(column)) for column in columns])
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# the run


def _rows_for_split(dataset_dir: Path, split: str, limit: int | None) -> list[Any]:
    from pocusiq.data.manifest import read_manifest

    rows = read_manifest(dataset_dir)
    chosen = sorted((row for row in rows if row.split == split), key=lambda row: row.id)
    if not chosen:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.split] = counts.get(row.split, 0) + 1
        present = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        raise DatasetError(f"{dataset_dir}: no pairs in split {split!r} (pairs per split: {present})")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be a positive number of pairs, got {limit}")
        chosen = chosen[:limit]
    return chosen


def _with_identity(methods: list[Method]) -> list[Method]:
    if any(m.spec == "identity" for m in methods):
        return methods
    taken = {m.name for m in methods}
    name = "identity" if "identity" not in taken else "input"
    return [parse_method_spec("identity", name=name), *methods]


def run_benchmark(
    dataset_dir: str | os.PathLike[str],
    methods: Sequence[str | Method] | Mapping[str, str | Callable[[np.ndarray], np.ndarray]],
    protocol: BenchmarkProtocol | str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "runs/bench",
    *,
    split: str | None = None,
    limit: int | None = None,
    resume: bool = True,
    progress: bool = False,
    report: bool = True,
) -> BenchmarkResult:
    """Benchmark enhancement methods on the paired dataset ``dataset_dir``.

    Args:
        dataset_dir: paired dataset folder (``manifest.csv``, ``low/``, ``high/``, ``masks/``).
        methods: spec strings (``"median:size=5"``, ``"model:PATH"``, ``"pkg.mod:fn"``; see
            :mod:`pocusiq.benchmark.methods`) or a mapping ``name -> spec | callable image -> image``.
            The identity method (the "input" column) is added first if missing.
        protocol: a :class:`BenchmarkProtocol`, a protocol YAML path, or None for the shipped default.
        out_dir: output folder (created).
        split: override the protocol's split (the protocol hash then records it).
        limit: score only the first ``limit`` pairs of the split (sorted by id); for quick checks.
        resume: skip (method, pair) results already in ``out_dir/journal.jsonl`` for the same
            method fingerprint, pair content and protocol hash; False recomputes everything.
        progress: show a tqdm progress bar on stderr.
        report: write ``report.md``, ``report.html`` and the figures.

    Returns:
        A :class:`BenchmarkResult`; failed (method, pair) results are in ``result.failures``.

    Raises:
        ConfigError: bad method specs or protocol; DatasetError: missing manifest, empty split,
        unreadable pair. Method failures do not raise.
    """
    run = _BenchmarkRun(dataset_dir, methods, protocol, out_dir, split=split, limit=limit, resume=resume)
    run.score_pending(progress)
    result = run.result(run.write_summary())
    if report:
        from pocusiq.benchmark.report import write_report

        result.paths.update(write_report(result))
    return result


class _BenchmarkRun:
    """One :func:`run_benchmark` call: the plan (protocol, methods, pairs, what is already in the
    journal) and its steps, each a named method."""

    def __init__(self, dataset_dir: str | os.PathLike[str], methods: Any, protocol: Any, out_dir: str | os.PathLike[str],
                 *, split: str | None, limit: int | None, resume: bool) -> None:
        self.dataset, self.out, self.limit = Path(dataset_dir), Path(out_dir), limit
        proto = load_protocol(protocol)
        self.proto = proto.with_split(split) if split is not None else proto
        self.methods = _with_identity(resolve_methods(methods))
        self.by_name = {m.name: m for m in self.methods}
        self.input_name = next(m.name for m in self.methods if m.spec == "identity")
        self.functions = _metric_functions(self.proto)
        self.rows = _rows_for_split(self.dataset, self.proto.split, limit)
        self.digests = {row.id: _pair_digest(row) for row in self.rows}
        self.examples = set(example_pair_ids([row.id for row in self.rows], self.proto.report.example_pairs))
        self.phash = self.proto.hash
        names = self.proto.metrics.names
        self.region_based = any(METRICS[name].kind == REGION for name in names)
        self.no_reference = [name for name in names if METRICS[name].kind != FULL_REFERENCE]
        self.out.mkdir(parents=True, exist_ok=True)
        self.journal = ResultJournal(self.out / JOURNAL_NAME)
        self.done = self.journal.latest() if resume else {}
        # The target's own no-reference/region scores (and its example image) are one job per pair.
        self.jobs = [(m.name, m.fingerprint) for m in self.methods] + [(TARGET, TARGET)]
        self.pending = {row.id: [job for job in self.jobs if not self.is_done(*job, row)] for row in self.rows}
        self.total_pending = sum(len(v) for v in self.pending.values())
        self.computed = 0
        self.paths: dict[str, Path] = {"journal": self.journal.path}

    # --- the journal -----------------------------------------------------------------
    def key(self, method_name: str, fingerprint: str, row: Any) -> tuple[str, ...]:
        return record_key({"method": method_name, "method_fingerprint": fingerprint, "pair_id": row.id,
                           "pair_digest": self.digests[row.id], "protocol_hash": self.phash})

    def is_done(self, method_name: str, fingerprint: str, row: Any) -> bool:
        record = self.done.get(self.key(method_name, fingerprint, row))
        if record is None or record.get("status") != "ok":
            return False  # failures are retried
        return row.id not in self.examples or example_image_path(self.out, method_name, row.id).is_file()

    def records(self) -> list[dict[str, Any]]:
        """This configuration's latest records, pair-major, methods in order."""
        latest = self.journal.latest()
        order = {name: i for i, (name, _) in enumerate(self.jobs)}
        keys = (self.key(name, fp, row) for row in self.rows for name, fp in self.jobs)
        chosen = [latest[k] for k in keys if k in latest]
        return sorted(chosen, key=lambda r: (r["pair_id"], order.get(r["method"], len(order))))

    def write_csv(self) -> None:
        self.paths["per_image_csv"] = self.out / PER_IMAGE_NAME
        atomic_write_text(self.paths["per_image_csv"], per_image_csv_text(self.records(), self.proto.metrics.names))

    # --- scoring -----------------------------------------------------------------------
    def score_pending(self, progress: bool) -> None:
        """Run and score every (method, pair) not in the journal yet; the CSV is rewritten every
        ``CSV_REWRITE_SECONDS`` and at the end (also after an error)."""
        from tqdm.auto import tqdm

        last_csv = time.monotonic()
        bar = tqdm(total=self.total_pending, desc="benchmark", unit="image", disable=not progress, leave=False)
        try:
            for row in self.rows:
                if not self.pending[row.id]:
                    continue
                self.score_pair(row, bar)
                if time.monotonic() - last_csv > CSV_REWRITE_SECONDS:
                    self.write_csv()
                    last_csv = time.monotonic()
        finally:
            bar.close()
            self.write_csv()

    def score_pair(self, row: Any, bar: Any) -> None:
        pair = load_pair(self.dataset, row, self.proto)
        target, regions = self.target_and_regions(row, pair)
        base = {"pair_id": row.id, "pair_digest": self.digests[row.id], "protocol_hash": self.phash}
        for name, fingerprint in self.pending[row.id]:
            bar.set_postfix_str(f"{name} / {row.id}", refresh=False)
            record: dict[str, Any] = {**base, "method": name, "method_fingerprint": fingerprint}
            if name == TARGET:
                output = self.score_target(record, target, regions, pair)
            else:
                output = self.score_method(record, self.by_name[name], row, pair, target, regions)
            if record["status"] == "ok" and row.id in self.examples:
                from pocusiq.imaging.grey import write_grey_png

                write_grey_png(example_image_path(self.out, name, row.id), output)
            self.journal.append([record])
            self.computed += 1
            bar.update(1)

    def target_and_regions(self, row: Any, pair: PreparedPair) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """The border-cropped target and the (target mask, background ring) regions big enough to score."""
        border = self.proto.metrics.border_px
        try:
            target = _crop(pair.high, border)
            regions = []
            if self.region_based:
                minimum = self.proto.metrics.regions.min_pixels
                for t, r in target_regions(pair.masks, self.proto.metrics.regions, pair.valid):
                    t, r = _crop(t, border), _crop(r, border)
                    if int(t.sum()) >= minimum and int(r.sum()) >= minimum:
                        regions.append((t, r))
        except ValueError as exc:
            raise ConfigError(f"{self.proto.source}: pair {row.id!r}: {exc}") from exc
        return target, regions

    def score_target(self, record: dict[str, Any], target: np.ndarray, regions: list, pair: PreparedPair) -> np.ndarray:
        """The high-end image's own no-reference and region scores (full-reference ones are n/a)."""
        values, metric_errors = score_image(target, None, regions, self.proto, self.functions)
        record.update(status="ok", error="", seconds=0.0, metric_errors="; ".join(metric_errors))
        record.update({m: (values[m] if m in self.no_reference else math.nan) for m in self.proto.metrics.names})
        return pair.high

    def score_method(self, record: dict[str, Any], method: Method, row: Any, pair: PreparedPair,
                     target: np.ndarray, regions: list) -> np.ndarray | None:
        """Run ``method`` on the pair's low-end image (seeded) and score its output; a failure is
        recorded in ``record``, never raised."""
        _seed_everything(self.proto.seed)
        started = time.perf_counter()
        try:
            output = method(pair.low.copy())
            seconds = time.perf_counter() - started
            problem = check_method_output(output, pair.low)
        except Exception as exc:  # any method failure is recorded, not fatal
            seconds = time.perf_counter() - started
            output, problem = None, f"raised {type(exc).__name__}: {exc}"
        if problem is not None:
            record.update(status="error", error=f"method {method.name!r} failed on pair {row.id!r}: {problem}",
                          seconds=seconds, metric_errors="")
            record.update({m: math.nan for m in self.proto.metrics.names})
            return None
        border = self.proto.metrics.border_px
        values, metric_errors = score_image(_crop(output, border), target, regions, self.proto, self.functions,
                                            source=_crop(pair.low, border), masks=_fidelity_masks(pair, border))
        record.update(status="ok", error="", seconds=seconds, metric_errors="; ".join(metric_errors))
        record.update(values)
        return output

    # --- results -----------------------------------------------------------------------
    def write_summary(self) -> dict[str, Any]:
        """``summary.json``: dataset, protocol, versions, per-method statistics, failures."""
        proto, rows = self.proto, self.rows
        self.final_records = self.records()
        stats = summarise(self.final_records, [m.name for m in self.methods] + [TARGET], proto.metrics.names,
                          self.input_name)
        self.failures = [
            {"method": r["method"], "pair_id": r["pair_id"], "error": r.get("error", "")}
            for r in self.final_records
            if r.get("status") != "ok"
        ]
        try:
            manifest_sha = sha256_file(self.dataset / "manifest.csv")
        except OSError:
            manifest_sha = None
        summary: dict[str, Any] = {
            "format": "pocusiq-benchmark-summary/1",
            "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dataset": {
                "path": str(self.dataset.resolve()),
                "manifest_sha256": manifest_sha,
                "split": proto.split,
                "n_pairs": len(rows),
                "limit": self.limit,
                "pair_ids": [row.id for row in rows],
                "example_pair_ids": sorted(self.examples),
            },
            "protocol": {"name": proto.name, "version": proto.version, "hash": self.phash, "source": proto.source,
                         "settings": proto.to_dict()},
            "seeds": {"protocol_seed": proto.seed,
                      "note": "numpy, random and torch are seeded with it before every method call"},
            "versions": _versions(),
            "input_method": self.input_name,
            "metrics": list(proto.metrics.names),
            "methods": {
                m.name: {"spec": m.spec, "fingerprint": m.fingerprint, **stats.get(m.name, {})} for m in self.methods
            },
            "target": stats.get(TARGET),
            "failures": self.failures,
            "warnings": metric_warnings({**stats, TARGET: stats.get(TARGET)}),
            "run": {"computed": self.computed, "skipped": self.skipped},
        }
        self.paths["summary_json"] = self.out / SUMMARY_NAME
        atomic_write_text(self.paths["summary_json"], json.dumps(_json_safe(summary), indent=2, allow_nan=False) + "\n")
        return summary

    @property
    def skipped(self) -> int:
        return len(self.rows) * len(self.jobs) - self.total_pending

    def result(self, summary: dict[str, Any]) -> BenchmarkResult:
        return BenchmarkResult(
            out_dir=self.out, protocol=self.proto, methods=self.methods, records=self.final_records,
            summary=summary, failures=self.failures, computed=self.computed, skipped=self.skipped,
            paths=self.paths,
        )
