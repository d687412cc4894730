"""NIfTI, NRRD (incl. 3D Slicer sequences ``.seq.nrrd``) and MetaImage (MHA/MHD) through SimpleITK.

What is read and written: 2-D frames and 2-D+t loops (cine), greyscale (uint8/uint16/float in
[0, 1]) or RGB (uint8).

* A 2-D frame ``(H, W)`` / ``(H, W, 3)`` is stored as a 2-D image.
* A loop of F frames ``(F, H, W)`` is stored as a 4-D image ``x, y, z = 1, t`` (the NIfTI
  convention for time series: 4th axis = time, its spacing the frame interval in seconds);
  reading also accepts a 3-D image ``x, y, z`` (frames = slices) and a 4-D one with one slice.
* A 3D Slicer sequence (``.seq.nrrd``, as Slicer's "Volume Sequence" storage writes it): one
  NRRD whose first axis is the sequence (``kinds: list domain domain domain``, sizes
  ``F W H 1``) with ``axis 0 index values`` (the frame times) and
  ``DataNodeClassName:=vtkMRMLScalarVolumeNode``. ITK reads the list axis as the pixel's
  components; this module turns them back into frames. ITK writes such an axis with kind
  ``vector``; the header is then edited to ``list``, as Slicer writes it.

Spacing: ITK spacing is in mm (x = column, y = row). Volumes are read whole (SimpleITK has no
frame-by-frame reader), so these formats suit loops that fit in memory; use DICOM or video for
thousands of frames.

SimpleITK (Apache-2.0) comes with ``pip install 'pocusiq[volumes]'``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pocusiq.atomic import atomic_write_bytes, scratch_path
from pocusiq.errors import ImageFileError
from pocusiq.imaging.formats import FORMATS, suffix_of

VOLUME_SUFFIXES = {suffix for suffix, kind in FORMATS.items() if kind == "volume"}
SEQUENCE_SUFFIX = ".seq.nrrd"


@dataclass
class Volume:
    """Frames read from a NIfTI/NRRD/MHA file.

    Attributes:
        frames: ``(F, H, W)`` or ``(F, H, W, 3)`` array (a 2-D file gives F = 1).
        spacing_mm: ``(x, y)`` pixel size in mm.
        frame_interval_s: time between frames (4-D files, Slicer sequences), else None.
        is_loop: the file holds a loop (4-D, sequence, or a 3-D stack), not one 2-D frame.
    """

    frames: np.ndarray
    spacing_mm: tuple[float, float]
    frame_interval_s: float | None = None
    is_loop: bool = False


def _sitk():
    try:
        import SimpleITK as sitk
    except ImportError as exc:
        raise ImageFileError(
            "NIfTI/NRRD/MHA files need SimpleITK: pip install 'pocusiq[volumes]'"
        ) from exc
    return sitk


def read_volume(path: str | os.PathLike[str]) -> Volume:
    """Read a NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr, .seq.nrrd) or MetaImage (.mha, .mhd) file.

    Raises:
        ImageFileError: unreadable file, or a layout that is neither 2-D nor 2-D+t (e.g. a 3-D+t
            volume, more than 3 components); the message names the file.
    """
    sitk = _sitk()
    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageFileError(f"{path}: cannot read image: {str(exc).strip().splitlines()[-1]}") from exc
    dim = image.GetDimension()
    spacing = tuple(float(s) for s in image.GetSpacing())
    components = image.GetNumberOfComponentsPerPixel()
    array = sitk.GetArrayFromImage(image)  # (t, z, y, x[, c]) from the last axis backwards
    interval = None
    is_loop = False
    sequence = components > 1 and (
        suffix_of(path) == SEQUENCE_SUFFIX
        or (image.HasMetaDataKey("NRRD_kinds[pixel]") and image.GetMetaData("NRRD_kinds[pixel]") == "list")
    )
    if sequence:
        # Slicer sequence: components are the frames; volume (1, H, W) or (H, W)
        frames = np.moveaxis(array, -1, 0)
        if frames.ndim == 4:
            if frames.shape[1] != 1:
                raise ImageFileError(f"{path}: a sequence of 3-D volumes ({frames.shape[1]} slices) is not supported")
            frames = frames[:, 0]
        is_loop = True
        interval = _index_interval(image)
    else:
        if components not in (1, 3):
            raise ImageFileError(f"{path}: {components} components per pixel are not supported (1 or 3)")
        spatial = array.ndim - (1 if components == 3 else 0)
        if spatial == 2:
            frames = array[None]
        elif spatial == 3:
            frames = array
            is_loop = True
        elif spatial == 4:
            if array.shape[1] != 1:
                raise ImageFileError(
                    f"{path}: 3-D+t volumes ({array.shape[1]} slices per frame) are not supported; "
                    "expected 2-D frames or 2-D+t loops"
                )
            frames = array[:, 0]
            is_loop = True
            interval = spacing[3] if dim == 4 and spacing[3] > 0 else None
        else:
            raise ImageFileError(f"{path}: {dim}-D image is not supported (2-D frames or 2-D+t loops)")
    frames = np.ascontiguousarray(frames)
    if frames.dtype.kind == "f" and frames.size and (frames.min() < 0 or frames.max() > 1):
        raise ImageFileError(f"{path}: floating-point image must hold values in [0, 1]")
    if frames.dtype not in (np.uint8, np.uint16) and frames.dtype.kind != "f":
        raise ImageFileError(f"{path}: pixel type {frames.dtype} is not supported (uint8, uint16 or float in [0, 1])")
    return Volume(frames, (spacing[0], spacing[1]), interval, is_loop)


def _index_interval(image) -> float | None:
    for key in ("axis 0 index values",):
        if image.HasMetaDataKey(key):
            try:
                values = [float(v) for v in image.GetMetaData(key).split()]
            except ValueError:
                return None
            if len(values) > 1:
                return (values[-1] - values[0]) / (len(values) - 1)
    return None


def write_volume(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    *,
    spacing_mm: tuple[float, float] = (1.0, 1.0),
    frame_interval_s: float | None = None,
    loop: bool | None = None,
    note: str = "",
) -> None:
    """Write a 2-D frame or a loop as NIfTI / NRRD / Slicer sequence / MHA (by suffix), atomically.

    Args:
        path: output; its suffix picks the format (see :data:`VOLUME_SUFFIXES`).
        frames: ``(H, W)``, ``(H, W, 3)`` (one frame) or ``(F, H, W)``, ``(F, H, W, 3)`` (a loop).
        spacing_mm: pixel size ``(x, y)`` in mm.
        frame_interval_s: time between frames (stored as the 4th spacing / sequence index values).
        loop: whether ``frames`` is a loop (default: 4-D colour or 3-D grey arrays are loops,
            except ``(H, W, 3)``).
        note: free text stored in the header where the format has a place for it (NRRD, MHA).
    """
    sitk = _sitk()
    path = Path(path)
    frames = np.asarray(frames)
    if loop is None:
        loop = frames.ndim == 4 or (frames.ndim == 3 and frames.shape[-1] != 3)
    if not loop:
        frames = frames[None]
    colour = frames.ndim == 4
    if colour and frames.shape[-1] != 3:
        raise ValueError(f"{path}: colour frames must have 3 channels, got shape {frames.shape}")
    count = frames.shape[0]
    dt = float(frame_interval_s) if frame_interval_s else 1.0
    sequence = suffix_of(path) == SEQUENCE_SUFFIX
    if sequence:
        if colour:
            raise ImageFileError(f"{path}: colour Slicer sequences are not supported; write grey frames")
        image = sitk.GetImageFromArray(np.moveaxis(frames, 0, -1)[None], isVector=True)  # (1, H, W, F)
        image.SetSpacing((*spacing_mm, 1.0))
        image.SetMetaData("DataNodeClassName", "vtkMRMLScalarVolumeNode")
        image.SetMetaData("axis 0 index type", "numeric")
        image.SetMetaData("axis 0 quantity", "time")
        image.SetMetaData("axis 0 unit", "s")
        image.SetMetaData("axis 0 index values", " ".join(f"{i * dt:g}" for i in range(count)))
    elif not loop:
        image = sitk.GetImageFromArray(frames[0], isVector=colour)
        image.SetSpacing(tuple(float(s) for s in spacing_mm))
    else:
        if colour:
            image = sitk.GetImageFromArray(frames[:, None], isVector=True)  # (F, 1, H, W, 3): 4-D vector
        else:
            image = sitk.GetImageFromArray(frames[:, None], isVector=False)  # (F, 1, H, W)
        image.SetSpacing((*spacing_mm, 1.0, dt))
    if note and suffix_of(path) not in (".nii", ".nii.gz"):
        image.SetMetaData("pocusiq_note", note.replace("\n", " "))
    # the temporary file keeps the whole suffix (.nii.gz, .seq.nrrd): ITK picks its writer by it
    with scratch_path(path, suffix_of(path)) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), True)
        except RuntimeError as exc:
            raise ImageFileError(f"{path}: cannot write image: {str(exc).strip().splitlines()[-1]}") from exc
        if sequence:
            _mark_list_axis(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mark_list_axis(path: Path) -> None:
    """Rewrite the NRRD header's first kind ``vector`` -> ``list`` (how Slicer marks a sequence axis)."""
    data = path.read_bytes()
    end = data.find(b"\n\n")
    header, rest = data[:end], data[end:]
    lines = header.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"kinds: vector "):
            lines[i] = b"kinds: list " + line[len(b"kinds: vector ") :]
    atomic_write_bytes(path, b"\n".join(lines) + rest)
