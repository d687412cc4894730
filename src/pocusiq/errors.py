"""Exceptions raised by pocusiq's library code.

Library code raises; only :mod:`pocusiq.cli` turns these into messages and exit codes.
Every message names the offending file/item and what is wrong with it.
"""

from __future__ import annotations


class PocusiqError(Exception):
    """Base class for all errors pocusiq raises on bad input or failed operations."""


class DatasetError(PocusiqError):
    """A paired dataset (folder, manifest, image file) is missing, malformed or inconsistent."""


class ImageFileError(PocusiqError):
    """An image/DICOM/video file cannot be read, or has the wrong format (channels, bit depth)."""


class ConfigError(PocusiqError):
    """A config/plan/profile/protocol file is missing, malformed, or has invalid values."""


class CheckpointError(PocusiqError):
    """A checkpoint is missing, corrupt, or does not match the model it is loaded into."""


class RegistrationError(PocusiqError):
    """Two frames could not be brought into register (no overlap, optimiser failed)."""


class StageError(PocusiqError):
    """The motion stage reported an error/alarm, timed out, or was asked to leave its limits."""


class RegionNotFoundError(PocusiqError):
    """The imaging region (the ultrasound sector/rectangle) could not be found in a frame."""


class CalibrationError(PocusiqError):
    """A gantry calibration cannot be solved (targets found in too few frames, an
    ill-conditioned pose set) or a calibration file is missing or malformed."""


class TrainingError(PocusiqError):
    """Training cannot go on: the losses or weights became non-finite (the run diverged)."""


class OutputLocationError(PocusiqError):
    """An output file or folder cannot be created or written (a file in the way, no permission)."""
