"""Enhance files: images, DICOM and videos, one at a time or a whole list/folder.

:func:`enhance_file` reads one file, enhances every frame inside its imaging region (see
:mod:`pocusiq.imaging.region`) and writes the result in the input's format beside an optional
side-by-side view (``<stem>_side_by_side<suffix>``: input | enhanced, same format).
:func:`enhance_files` runs it over many inputs (folders are walked), keeps going after a bad
file, and writes ``README-pocusiq.txt`` in the output folder with the not-for-diagnosis note and
one line per file (appending to an existing one).

Every write is atomic; nothing is overwritten unless ``overwrite=True``, an output is never
written onto its own input, and outputs are never inputs (:func:`collect_inputs` skips the output
folder and files pocusiq wrote).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.atomic import atomic_write_text, remove_stale_temps
from pocusiq.imaging.formats import DESCRIPTION, file_kind, suffix_of
from pocusiq.imaging.dicom import DerivedDicomWriter, read_dicom
from pocusiq.imaging.still import read_image, write_image
from pocusiq.imaging.region import ImagingRegion, RegionSpec, resolve_region
from pocusiq.imaging.video import PartialReadWarning, VideoWriter, probe_video, read_frames
from pocusiq.errors import ImageFileError, PocusiqError, RegionNotFoundError

NOT_FOR_DIAGNOSIS = (
    "Machine-enhanced image (pocusiq): not for diagnosis; derived from the original by a neural network "
    "that can add, remove or move image features."
)
"""The note every enhanced output carries (also exported by :mod:`pocusiq.enhance.enhancer`)."""

README_NAME = "README-pocusiq.txt"
SIDE_BY_SIDE_SUFFIX = "_side_by_side"


@dataclass
class FileResult:
    """What happened to one input file.

    Attributes:
        source: the input file.
        output: the enhanced file written (None if it failed).
        kind: "image", "dicom" or "video".
        frames: number of frames enhanced.
        region: ``(x, y, w, h)`` of the enhanced region, or None.
        region_kind: "full", "box", "linear" or "sector".
        frame_region: the resolved :class:`~pocusiq.imaging.region.ImagingRegion` (box and frame mask), or None.
        side_by_side: the side-by-side file written, if any.
        error: the failure message (None on success).
        warnings: what went wrong without failing (e.g. a partial read allowed by ``allow_partial``).
        spacing_mm: the input's pixel spacing used (mm/pixel, or ``(x, y)``), None if unknown.
        spacing_source: where it came from: "file", "given" (``--spacing``), "depth ruler" or "".
        seconds: wall time spent on the file.
    """

    source: Path
    output: Path | None = None
    kind: str = ""
    frames: int = 0
    region: tuple[int, int, int, int] | None = None
    region_kind: str = ""
    frame_region: ImagingRegion | None = None
    side_by_side: Path | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    spacing_mm: Any = None
    spacing_source: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class BatchReport:
    """Results of :func:`enhance_files`; ``ok`` is True when every file succeeded."""

    results: list[FileResult] = field(default_factory=list)
    readme: Path | None = None
    skipped: list[Path] = field(default_factory=list)  # pocusiq-written files found in input folders

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and bool(self.results)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]


#: Text pocusiq puts in every output it writes (the not-for-diagnosis note starts with it).
_POCUSIQ_NOTE = "Machine-enhanced image (pocusiq)"


def written_by_pocusiq(path: str | os.PathLike[str], kind: str | None = None) -> bool:
    """True if ``path`` carries the tag pocusiq writes into every enhanced output.

    Images: PNG ``Software`` text / TIFF Software tag ``pocusiq <version>``, or the
    not-for-diagnosis note (PNG ``Comment``, JPEG comment, TIFF ImageDescription); DICOM:
    ``DerivationDescription`` starting ``Enhanced by pocusiq``; video: the note in the container
    ``comment``. Only headers are read. A file that cannot be read counts as not written by
    pocusiq (:func:`enhance_file` then reports the problem).
    """
    kind = kind or file_kind(path)
    try:
        if kind == "image":
            from PIL import Image

            with Image.open(path) as image:
                texts = [image.info.get("Software"), image.info.get("comment"), image.info.get("Comment")]
                tags = getattr(image, "tag_v2", None)
                if tags is not None:
                    texts += [tags.get(305), tags.get(270)]
            for text in texts:
                if isinstance(text, bytes):
                    text = text.decode("utf-8", "replace")
                if isinstance(text, str) and (text.startswith("pocusiq ") or _POCUSIQ_NOTE in text):
                    return True
            return False
        if kind == "dicom":
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["DerivationDescription"], force=True)
            return str(getattr(ds, "DerivationDescription", "")).startswith("Enhanced by pocusiq")
        if kind == "video":
            import av

            with av.open(str(path)) as container:
                return _POCUSIQ_NOTE in str(container.metadata.get("comment", ""))
    except Exception:  # noqa: BLE001 - unreadable: not ours to judge here
        return False
    return False


def collect_inputs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    exclude: str | os.PathLike[str] | None = None,
    skip_written: bool = False,
    skipped: list[Path] | None = None,
) -> list[tuple[Path, Path]]:
    """Expand files and folders into ``(input file, output path relative to the out folder)``.

    Folders are walked recursively (sorted; hidden entries skipped) and keep their inner
    structure; a file given directly maps to its own name. Files of unknown type inside folders
    are skipped; a missing path or a directly named file of unknown type is returned anyway so
    that :func:`enhance_file` reports it.

    So that outputs are never inputs (:func:`enhance_files`): the folder ``exclude`` (the output
    folder, which may lie inside an input folder) is not walked, and with ``skip_written`` the
    files met while walking that pocusiq wrote (:func:`written_by_pocusiq`, e.g. an earlier
    run's outputs moved elsewhere) are left out and appended to ``skipped``. Without it the
    walk lists outputs too (``pocusiq view`` lists an output folder this way).
    """
    excluded = Path(exclude).resolve() if exclude is not None else None
    pairs: list[tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            if excluded is not None and path.resolve() == excluded:
                continue
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(
                    d for d in dirs
                    if not d.startswith(".") and (excluded is None or (Path(root) / d).resolve() != excluded)
                )
                for name in sorted(files):
                    if name.startswith(".") or name == README_NAME:
                        continue
                    file = Path(root) / name
                    kind = file_kind(file)
                    if kind is None:
                        continue
                    if skip_written and written_by_pocusiq(file, kind):
                        if skipped is not None:
                            skipped.append(file)
                        continue
                    pairs.append((file, file.relative_to(path)))
        else:
            pairs.append((path, Path(path.name)))
    return pairs


def side_by_side_path(out: Path) -> Path:
    """``out/name.ext`` -> ``out/name_side_by_side.ext`` (``.nii.gz``-style suffixes kept whole)."""
    suffix = suffix_of(out)
    stem = out.name[: len(out.name) - len(suffix)] if suffix else out.name
    return out.with_name(f"{stem}{SIDE_BY_SIDE_SUFFIX}{suffix}")


def _check_target(source: Path, target: Path, overwrite: bool) -> None:
    if target.resolve() == source.resolve():
        raise ImageFileError(f"{source}: the output {target} would replace the input; choose another --out folder")
    if target.exists() and not overwrite:
        raise ImageFileError(f"{source}: output {target} already exists (pass --overwrite to replace it)")


def _stack_side_by_side(original: np.ndarray, enhanced: np.ndarray, axis: int) -> np.ndarray:
    """``original | enhanced`` along the width ``axis`` (1 for (H, W[, C]), 2 for (F, H, W[, C]))."""
    return np.concatenate([original, enhanced], axis=axis)


def enhance_file(
    enhancer: Any,
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    roi: RegionSpec = "auto",
    overwrite: bool = False,
    side_by_side: bool = False,
    allow_partial: bool = False,
    spacing_mm: float | None = None,
) -> FileResult:
    """Enhance one file into ``out`` (same format as the input).

    Args:
        enhancer: a :class:`pocusiq.enhance.enhancer.Enhancer`.
        path: PNG/JPEG/TIFF image, DICOM file (single or multi-frame) or video.
        out: output file path.
        roi: region to enhance ("auto", "full", ``(x, y, w, h)`` or a region object); for DICOM
            and video it is resolved on the first frame and used for all.
        overwrite: replace an existing output.
        side_by_side: also write ``<stem>_side_by_side<suffix>`` (input | enhanced).
        allow_partial: a video with fewer decodable frames than its container declares is
            enhanced with a warning (in ``FileResult.warnings``) instead of failing.
        spacing_mm: pixel size (mm/pixel) of inputs that do not record one (PNG, video); DICOM
            (ultrasound regions, PixelSpacing) and NIfTI/NRRD/MHA spacing is read from the file.
            With the model's spacing known, frames are enhanced at the model's scale; when the
            input's is unknown a warning says so.

    Temporary files that an earlier, killed run left for these outputs are removed first
    (:func:`pocusiq.atomic.remove_stale_temps`).

    Returns:
        A :class:`FileResult` (``error`` is None).

    Raises:
        ImageFileError, RegionNotFoundError, PocusiqError: the message names the file.
    """
    source, target = Path(path), Path(out)
    start = time.perf_counter()
    if not source.exists():
        raise ImageFileError(f"{source}: file not found")
    if not source.is_file():
        raise ImageFileError(f"{source}: not a file")
    kind = file_kind(source)
    if kind is None:
        raise ImageFileError(
            f"{source}: unsupported file type {source.suffix or '(no suffix)'} "
            f"(expected {DESCRIPTION})"
        )
    _check_target(source, target, overwrite)
    sbs = side_by_side_path(target) if side_by_side else None
    if sbs is not None:
        _check_target(source, sbs, overwrite)
    for written in (target, sbs):
        if written is not None:
            remove_stale_temps(written.parent, written.stem)
    result = FileResult(source=source, kind=kind)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PartialReadWarning)
            if kind == "image":
                _enhance_image(enhancer, source, target, sbs, roi, NOT_FOR_DIAGNOSIS, result, spacing_mm)
            elif kind == "volume":
                _enhance_volume(enhancer, source, target, sbs, roi, NOT_FOR_DIAGNOSIS, result, spacing_mm)
            elif kind == "dicom":
                _enhance_dicom(enhancer, source, target, sbs, roi, NOT_FOR_DIAGNOSIS, result, spacing_mm)
            else:
                _enhance_video(enhancer, source, target, sbs, roi, NOT_FOR_DIAGNOSIS, result, allow_partial, spacing_mm)
        for warning in caught:
            if issubclass(warning.category, PartialReadWarning):
                result.warnings.append(str(warning.message))
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    except PocusiqError as exc:
        message = str(exc)
        if isinstance(exc, RegionNotFoundError) and isinstance(roi, str) and roi == "auto":
            message += "; pass --roi full to enhance the whole frame, or --roi x,y,w,h"
        if str(source) not in message:
            message = f"{source}: {message}"
        if message != str(exc):
            raise type(exc)(message) from exc
        raise
    result.output = target
    result.side_by_side = sbs
    result.seconds = time.perf_counter() - start
    return result


def _record_region(result: FileResult, region: ImagingRegion) -> None:
    result.region = tuple(int(v) for v in region.box)  # type: ignore[assignment]
    result.region_kind = region.kind
    result.frame_region = region


def _input_spacing(enhancer, recorded, given, result: FileResult, frame=None, region=None):
    """The spacing to enhance at: the file's own, else ``given``, else (screenshots: ``frame``) the
    depth ruler's (:func:`pocusiq.imaging.ruler.spacing_from_ruler`); warns when the model's is
    known and the input's is not (the model then sees the input at the input's own scale)."""
    spacing = recorded if recorded is not None else given
    source = "file" if recorded is not None else "given" if given is not None else ""
    model = getattr(enhancer, "spacing_mm", None)
    if spacing is None and model is not None and frame is not None:
        from pocusiq.imaging.ruler import spacing_from_ruler

        spacing = spacing_from_ruler(frame, region.box if region is not None and region.kind != "full" else None)
        source = "depth ruler" if spacing is not None else ""
    result.spacing_mm = spacing
    result.spacing_source = source
    if spacing is None and model is not None:
        result.warnings.append(
            f"{result.source}: pixel spacing unknown; enhanced at the input's own scale although the model "
            f"was trained at {model:g} mm/pixel (pass --spacing MM)"
        )
    return spacing


def _enhance_image(enhancer, source, target, sbs, roi, note, result, spacing_mm=None) -> None:
    image = read_image(source)
    pixels = image.pixels
    if pixels.ndim == 3 and pixels.shape[2] == 2:  # grey + alpha: enhance grey, keep alpha
        region = resolve_region(pixels[..., 0], roi)
        spacing = _input_spacing(enhancer, None, spacing_mm, result, pixels[..., 0], region)
        grey = enhancer.enhance_region(pixels[..., 0], region, spacing_mm=spacing)
        enhanced = np.stack([grey, pixels[..., 1]], axis=-1)
    else:
        region = resolve_region(pixels, roi)
        spacing = _input_spacing(enhancer, None, spacing_mm, result, pixels, region)
        enhanced = enhancer.enhance_region(pixels, region, spacing_mm=spacing)
    _record_region(result, region)
    write_image(target, enhanced, image, note)
    if sbs is not None:
        write_image(sbs, _stack_side_by_side(pixels, enhanced, 1), image, note)
    result.frames = 1


def _enhance_dicom(enhancer, source, target, sbs, roi, note, result, spacing_mm=None) -> None:
    dicom = read_dicom(source)
    spacing = _input_spacing(enhancer, dicom.spacing_mm, spacing_mm, result)
    max_value = None if dicom.is_colour else dicom.max_value
    originals = dicom.iter_frames()
    first = next(originals)
    recorded = dicom.imaging_region() if isinstance(roi, str) and roi == "auto" else None
    region = recorded if recorded is not None else resolve_region(first, roi)  # the header's region wins
    _record_region(result, region)

    def frames() -> Iterator[np.ndarray]:
        yield first
        yield from originals

    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(
            DerivedDicomWriter(target, dicom, model_name=enhancer.model_name, note=note)
        )
        side = None
        if sbs is not None:
            side = stack.enter_context(
                DerivedDicomWriter(sbs, dicom, model_name=enhancer.model_name, note=note,
                                   description="pocusiq side-by-side")
            )
        for frame in frames():
            enhanced = enhancer.enhance_region(frame, region, max_value=max_value, spacing_mm=spacing)
            writer.write(enhanced)
            if side is not None:
                side.write(_stack_side_by_side(frame, enhanced, 1))
    result.frames = writer.count


def _enhance_volume(enhancer, source, target, sbs, roi, note, result, spacing_mm=None) -> None:
    from pocusiq.imaging.volumes import read_volume, write_volume

    volume = read_volume(source)
    spacing = _input_spacing(enhancer, volume.spacing_mm, spacing_mm, result)
    frames = volume.frames
    region = resolve_region(frames[0], roi)
    _record_region(result, region)
    enhanced = np.stack([enhancer.enhance_region(frame, region, spacing_mm=spacing) for frame in frames])
    options = dict(spacing_mm=volume.spacing_mm, frame_interval_s=volume.frame_interval_s, loop=volume.is_loop, note=note)
    write_volume(target, enhanced if volume.is_loop else enhanced[0], **options)
    if sbs is not None:
        both = _stack_side_by_side(frames, enhanced, 2)
        write_volume(sbs, both if volume.is_loop else both[0], **options)
    result.frames = int(frames.shape[0])


def _enhance_video(enhancer, source, target, sbs, roi, note, result, allow_partial=False, spacing_mm=None) -> None:
    info = probe_video(source)
    frames = read_frames(source, allow_partial=allow_partial)
    first = next(frames, None)
    if first is None:
        raise ImageFileError(f"{source}: video has no frames")
    region = resolve_region(first, roi)
    _record_region(result, region)
    spacing = _input_spacing(enhancer, None, spacing_mm, result, first, region)

    def originals() -> Iterator[np.ndarray]:
        yield first
        yield from frames

    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(VideoWriter(target, rate=info.rate, note=note))
        side = stack.enter_context(VideoWriter(sbs, rate=info.rate, note=note)) if sbs is not None else None
        for frame in originals():
            enhanced = enhancer.enhance_region(frame, region, spacing_mm=spacing)
            writer.write(enhanced)
            if side is not None:
                side.write(np.concatenate([frame, enhanced], axis=1))
    result.frames = writer.count


def enhance_files(
    enhancer: Any,
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    roi: RegionSpec = "auto",
    overwrite: bool = False,
    side_by_side: bool = False,
    allow_partial: bool = False,
    spacing_mm: float | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> BatchReport:
    """Enhance many files/folders into ``out_dir``; a failing file does not stop the others.

    Args:
        enhancer: a :class:`pocusiq.enhance.enhancer.Enhancer`.
        inputs: files and folders (walked recursively, structure kept under ``out_dir``).
        out_dir: output folder (created).
        roi, overwrite, side_by_side, allow_partial, spacing_mm: as :func:`enhance_file`.
        on_result: called with each :class:`FileResult` as soon as it is known (CLI progress).

    Returns:
        A :class:`BatchReport`; failures carry their message in ``FileResult.error``.
    """
    out_dir = Path(out_dir)
    report = BatchReport()
    seen: dict[Path, Path] = {}
    pairs = collect_inputs(inputs, exclude=out_dir, skip_written=True, skipped=report.skipped)
    for source, relative in pairs:
        target = out_dir / relative
        start = time.perf_counter()
        try:
            key = target.resolve()
            if key in seen:
                raise ImageFileError(f"{source}: output {target} is also the output of {seen[key]}; rename one input")
            seen[key] = source
            result = enhance_file(
                enhancer, source, target, roi=roi, overwrite=overwrite, side_by_side=side_by_side,
                allow_partial=allow_partial, spacing_mm=spacing_mm,
            )
        except (PocusiqError, ValueError, TypeError, OSError) as exc:
            message = str(exc)
            if str(source) not in message:
                message = f"{source}: {message}"
            result = FileResult(source=source, kind=file_kind(source) or "", error=message)
            result.seconds = time.perf_counter() - start
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    if not pairs:
        return report
    report.readme = write_readme(out_dir, report, enhancer)
    return report


def write_readme(out_dir: Path, report: BatchReport, enhancer: Any) -> Path:
    """Append this run's lines (note, model, one line per file) to ``out_dir/README-pocusiq.txt``."""
    from pocusiq import __version__

    path = out_dir / README_NAME
    # an edited/foreign README with stray bytes must not lose this run's lines
    previous = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    lines = []
    if not previous:
        lines += [
            "IMPORTANT: every image in this folder written by pocusiq is MACHINE-ENHANCED.",
            NOT_FOR_DIAGNOSIS,
            "",
        ]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines.append(
        f"== pocusiq {__version__} enhance, {stamp}, model {enhancer.model_name}, engine {enhancer.engine_name}"
    )
    for r in report.results:
        if r.ok:
            where = f"region {r.region_kind} {r.region}" if r.region else ""
            lines.append(f"OK     {r.source} -> {r.output} ({r.kind}, {r.frames} frame(s), {where})")
            lines.extend(f"WARN   {w}" for w in r.warnings)
        else:
            lines.append(f"FAILED {r.error}")
    lines.append("")
    atomic_write_text(path, previous + "\n".join(lines) + "\n")
    return path
