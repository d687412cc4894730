"""The numbers beside each comparison: no-reference quality before/after, and whatever an enhance
report holds.

* :func:`quality_rows` — NIQE and PIQE (:mod:`pocusiq.metrics`) of the input and of the output,
  on the greyscale (BT.601 luma) of the enhanced region (the README's region, else the detected
  imaging region, else the whole frame), so the UI text around a screenshot's image does not
  count. Cine loops: the mean over up to :data:`CINE_SCORE_FRAMES` evenly spaced frames
  (NIQE on one 640x480 frame costs ~0.3 s on this machine). A metric that cannot be computed
  (NIQE needs two 96x96 blocks: at least 96x192 px) gives ``None`` and the metric's own reason.
* :func:`report_rows` — a JSON report (``pocusiq enhance --report``, or any JSON beside the
  outputs) read generically: the record of a file is any object that names the file (as a value
  or as its key); every numeric leaf in it becomes a row, labelled and given a direction from
  :data:`pocusiq.metrics.METRICS` when the leaf's key is a registered metric. Numbers outside
  any file's record are the run's rows. No key names are assumed, so new fidelity metrics show
  up without changes here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.errors import PocusiqError
from pocusiq.view.frames import Frames, frames_at, grey
from pocusiq.view.pairs import Pair

CINE_SCORE_FRAMES = 4
QUALITY_METRICS = ("niqe", "piqe")


@dataclass
class Row:
    """One line of a metrics table.

    Attributes:
        key: the metric's key (``"niqe"``, ``"fidelity.targets_kept"``).
        label: what the page shows.
        before, after: values (``after`` alone for a report value); None where not computed.
        higher_is_better: direction, None where unknown.
        unit: e.g. "dB" or "".
        note: why a value is missing, or how it was computed.
    """

    key: str
    label: str
    before: float | None = None
    after: float | None = None
    higher_is_better: bool | None = None
    unit: str = ""
    note: str = ""


def metric_info(key: str) -> tuple[str, bool | None, str]:
    """``(label, higher_is_better, unit)`` for a key, from :data:`pocusiq.metrics.METRICS` when registered
    (its ``display`` title, e.g. "PSNR (dB)"); else the key's last part with spaces, direction unknown."""
    from pocusiq.metrics import METRICS

    leaf = key.rsplit(".", 1)[-1]
    info = METRICS.get(leaf) or METRICS.get(leaf.lower())
    if info is None:
        return leaf.replace("_", " "), None, ""
    unit = "" if info.unit and f"({info.unit})" in info.display else info.unit  # "PSNR (dB)" says it already
    return info.display, bool(info.higher_is_better), unit


def region_box(pair: Pair, frame: np.ndarray) -> tuple[tuple[int, int, int, int], str]:
    """The box scored: the README's region, else the detected imaging region, else the whole frame."""
    from pocusiq.imaging.region import resolve_region

    h, w = frame.shape[:2]
    if pair.region is not None:
        x, y, bw, bh = pair.region
        if x + bw <= w and y + bh <= h:
            return pair.region, f"enhanced region ({pair.region_kind or 'box'})"
    try:
        region = resolve_region(frame, "auto")
        return tuple(int(v) for v in region.box), f"detected {region.kind} region"  # type: ignore[return-value]
    except (PocusiqError, ValueError):
        return (0, 0, w, h), "whole frame (no imaging region found)"


def _sample(n: int, count: int) -> list[int]:
    if n <= count:
        return list(range(n))
    return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


def _score(name: str, frames: list[np.ndarray], box, max_value: float) -> tuple[float | None, str]:
    from pocusiq.metrics import METRICS

    x, y, w, h = box
    values = []
    try:
        for frame in frames:
            crop = grey(frame)[y : y + h, x : x + w]
            values.append(float(METRICS[name].function(crop, data_range=float(max_value))))
    except ValueError as exc:
        return None, str(exc)
    if not all(math.isfinite(v) for v in values):
        return None, "not finite"
    return float(np.mean(values)), ""


def _full_frames(pair: Pair, frames: Frames, picks: list[int], side: str) -> list[np.ndarray]:
    """The picked frames at full resolution: as held, or read again where only JPEGs were kept."""
    chosen = [frames.frames[i] for i in picks]
    if all(isinstance(f, np.ndarray) for f in chosen):
        return chosen
    path, half = (pair.before, pair.before_is_left_half) if side == "before" else (pair.after, False)
    return frames_at(path, pair.kind, [frames.indices[i] for i in picks], left_half=half)


def quality_rows(pair: Pair, before: Frames, after: Frames) -> tuple[list[Row], str]:
    """NIQE and PIQE before and after (lower is better for both).

    ``before``/``after`` hold full frames, or prepared ones (display JPEGs): then the scored
    frames are read again from ``pair``'s files at full resolution.

    Returns:
        ``(rows, scope)``: ``scope`` says what was scored (region, frames), for the page.
    """
    n = min(len(before.frames), len(after.frames))
    picks = _sample(n, CINE_SCORE_FRAMES)
    full_before = _full_frames(pair, before, picks, "before")
    full_after = _full_frames(pair, after, picks, "after")
    box, where = region_box(pair, full_before[0])
    scope = f"{where}, x={box[0]} y={box[1]} {box[2]}x{box[3]} px"
    if n > 1:
        scope += f"; mean of {len(picks)} of {n} shown frames"
    rows = []
    for name in QUALITY_METRICS:
        label, higher, unit = metric_info(name)
        b, why_b = _score(name, full_before, box, before.max_value)
        a, why_a = _score(name, full_after, box, after.max_value)
        rows.append(Row(name, label, b, a, higher, unit, why_b or why_a))
    return rows, scope


# ---------------------------------------------------------------------------------------- reports
def find_reports(folder: str | os.PathLike[str]) -> list[Path]:
    """JSON files directly inside ``folder`` (a report written beside the outputs), sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


def load_report(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON report.

    Raises:
        PocusiqError: the file cannot be read or is not JSON (message names the file).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PocusiqError(f"{path}: cannot read the JSON report: {exc}") from exc


def _numbers(node: Any, prefix: str, skip: set[int] | None = None) -> Iterator[tuple[str, float]]:
    if isinstance(node, bool) or node is None or (skip and id(node) in skip):
        return
    if isinstance(node, (int, float)):
        yield prefix, float(node)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(value, f"{prefix}.{key}" if prefix else str(key), skip)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numbers(value, f"{prefix}[{i}]", skip)


def _names_file(text: str, pair: Pair) -> bool:
    text = text.replace("\\", "/")
    if not text:
        return False
    for path in (pair.after, pair.before):
        if text == path.name or text == pair.name or text.endswith("/" + pair.name) or text == str(path):
            return True
    return False


def _records(node: Any, pair: Pair, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Objects in ``node`` that name ``pair``'s file: as one of their string values, or as their key."""
    if isinstance(node, dict):
        if any(isinstance(v, str) and _names_file(v, pair) for v in node.values()):
            yield prefix, node
            return
        for key, value in node.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (dict, list)) and _names_file(str(key), pair):
                yield "", value
            else:
                yield from _records(value, pair, where)
    elif isinstance(node, list):
        for value in node:
            yield from _records(value, pair, prefix)


def _row(key: str, value: float) -> Row:
    label, higher, unit = metric_info(key)
    return Row(key, label, None, value, higher, unit)


def report_rows(report: Any, pair: Pair) -> list[Row]:
    """Every numeric value of ``pair``'s record(s) in a JSON report, keyed by its path inside the record."""
    rows = []
    for _, record in _records(report, pair):
        rows.extend(_row(key, value) for key, value in _numbers(record, ""))
    return rows


def run_rows(report: Any, pairs: list[Pair]) -> list[Row]:
    """Numeric values of a report outside every file's record (run-wide summaries)."""
    taken = {id(record) for pair in pairs for _, record in _records(report, pair)}
    return [_row(key, value) for key, value in _numbers(report, "", taken)]
