"""Named training presets: ``paper``, ``cpu``, ``realtime``.

The presets are data, defined once in ``presets.yaml`` beside this file (with the measured
reasons for their values); :func:`pocusiq.train.config.preset_config` reads them into a
:class:`~pocusiq.train.config.TrainConfig`. This module keeps the old import names.
"""

from __future__ import annotations

from pocusiq.train.config import PRESETS, preset_config

__all__ = ["PRESETS", "preset_config"]
