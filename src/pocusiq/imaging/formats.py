"""Which reader a file needs: suffix -> kind (no decoder imported here; the format modules import this)."""

from __future__ import annotations

import os
from pathlib import Path

FORMATS: dict[str, str] = {
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image", ".tiff": "image",
    ".dcm": "dicom", ".dicom": "dicom", ".dic": "dicom",
    ".mp4": "video", ".avi": "video", ".mov": "video", ".m4v": "video", ".mkv": "video",
    ".nii": "volume", ".nii.gz": "volume", ".nrrd": "volume", ".nhdr": "volume", ".seq.nrrd": "volume",
    ".mha": "volume", ".mhd": "volume",
}
"""Suffix (lower case, longest match: ``.nii.gz``, ``.seq.nrrd``) -> kind: "image" (still
PNG/JPEG/TIFF), "dicom", "video" or "volume" (NIfTI/NRRD/MetaImage through SimpleITK)."""

DESCRIPTION = "PNG/JPEG/TIFF images, DICOM files, MP4/AVI/MOV/MKV videos or NIfTI/NRRD/MHA files"
"""The supported files, in words (for error messages)."""


def has_dicom_marker(path: str | os.PathLike[str]) -> bool:
    """True when the file has the DICOM ``DICM`` marker at byte 128 (False if unreadable)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def suffix_of(path: str | os.PathLike[str]) -> str:
    """The file's suffix as :data:`FORMATS` knows it, lower case: the longest known one
    (``scan.seq.nrrd`` -> ``.seq.nrrd``, ``a.nii.gz`` -> ``.nii.gz``), else the last suffix."""
    name = Path(path).name.lower()
    known = [suffix for suffix in FORMATS if name.endswith(suffix) and len(name) > len(suffix)]
    return max(known, key=len) if known else Path(name).suffix


def file_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind of a file from its suffix (or, without a suffix, the DICOM ``DICM`` marker); None if unsupported."""
    path = Path(path)
    kind = FORMATS.get(suffix_of(path))
    if kind is not None:
        return kind
    if path.suffix == "" and has_dicom_marker(path):
        return "dicom"
    return None
