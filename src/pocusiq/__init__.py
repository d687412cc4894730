"""pocusiq: turn point-of-care ultrasound (POCUS) images into high-end-quality images.

Data path: acquire (gantry) -> pair (crop/resample/register) -> data (paired dataset)
-> models/train (pix2pix cGAN) -> enhance -> metrics -> benchmark (report).

``from pocusiq import Enhancer, metrics`` are resolved lazily so that importing the package
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["Enhancer", "metrics", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Enhancer":
        return importlib.import_module("pocusiq.enhance.enhancer").Enhancer
    if name == "metrics":
        return importlib.import_module("pocusiq.metrics")
    raise AttributeError(f"module 'pocusiq' has no attribute {name!r}")
