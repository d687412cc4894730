"""Result types of a benchmark run, and where its files go (read by the runner and the report).

Kept apart from :mod:`pocusiq.benchmark.runner` so the report reads results without importing
the runner (which writes the report).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocusiq.benchmark.methods import Method
from pocusiq.benchmark.protocol import BenchmarkProtocol

__all__ = ["BenchmarkResult", "EXAMPLES_DIR", "example_image_path"]

EXAMPLES_DIR = "examples"


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` produced.

    Attributes:
        out_dir: the output folder.
        protocol: the protocol used (``protocol.hash`` identifies it).
        methods: the methods run, in order (the first identity method is the "input").
        records: per-image results of this configuration (journal records), pair-major.
        summary: the content of ``summary.json``.
        failures: ``{"method", "pair_id", "error"}`` for each failed (method, pair).
        computed: (method, pair) results computed in this call; skipped: taken from the journal.
        paths: name -> path of each file written (``per_image_csv``, ``summary_json``, ``report_md``, ...).
    """

    out_dir: Path
    protocol: BenchmarkProtocol
    methods: list[Method]
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    failures: list[dict[str, str]]
    computed: int
    skipped: int
    paths: dict[str, Path]


def _safe_dir_name(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "method"
    return f"{clean[:40]}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:6]}"


def example_image_path(out_dir: str | os.PathLike[str], method_name: str, pair_id: str) -> Path:
    """``out_dir/examples/<safe method name>/<pair id>.png``: where an example output is kept."""
    return Path(out_dir) / EXAMPLES_DIR / _safe_dir_name(method_name) / f"{pair_id}.png"


