"""pocusiq.benchmark: benchmark enhancement methods on a paired dataset.

- :func:`run_benchmark` (``pocusiq benchmark``): every method on every pair of a split, scored
  with SSIM, PSNR, NIQE, PIQE and gCNR; resumable; writes ``per_image.csv``, ``summary.json``,
  ``report.md`` / ``report.html`` and figures (:mod:`~pocusiq.benchmark.runner`,
  :mod:`~pocusiq.benchmark.report`).
- Built-in baselines identity, median, bilateral, nlm, srad, clahe
  (:mod:`~pocusiq.benchmark.baselines`, :mod:`~pocusiq.benchmark.srad`).
- Method specs ``median:size=5``, ``model:PATH``, ``pkg.module:function``
  (:mod:`~pocusiq.benchmark.methods`).
- Protocol YAML files with a settings hash (:mod:`~pocusiq.benchmark.protocol`).

Names are imported lazily, so ``import pocusiq.benchmark`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "run_benchmark": "pocusiq.benchmark.runner",
    "BenchmarkResult": "pocusiq.benchmark.runner",
    "BenchmarkProtocol": "pocusiq.benchmark.protocol",
    "load_protocol": "pocusiq.benchmark.protocol",
    "default_protocol_path": "pocusiq.benchmark.protocol",
    "Method": "pocusiq.benchmark.methods",
    "parse_method_spec": "pocusiq.benchmark.methods",
    "resolve_methods": "pocusiq.benchmark.methods",
    "available_methods": "pocusiq.benchmark.methods",
    "BASELINES": "pocusiq.benchmark.baselines",
    "srad": "pocusiq.benchmark.srad",
    "write_report": "pocusiq.benchmark.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pocusiq.benchmark' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
