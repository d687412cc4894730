"""Which enhanced file belongs to which input: the before | after pairs a page shows.

Two ways in:

* :func:`pairs_from_enhance_dir` — a ``pocusiq enhance`` output folder. Its ``README-pocusiq.txt``
  has one ``OK <input> -> <output> (<kind>, <n> frame(s), region <kind> (x, y, w, h))`` line per
  enhanced file (see :func:`pocusiq.enhance.files.write_readme`); the latest line for an output
  wins. The input is found as written (absolute or relative to the current folder), else relative to
  the output folder's parent. Where the input is gone but ``<stem>_side_by_side<suffix>`` exists
  (``pocusiq enhance --side-by-side``), the left half of that file is the "before".
* :func:`pairs_from_dirs` — ``--before DIR --after DIR``: files matched by relative path, or by
  relative path without suffix (``a/x.png`` <-> ``a/x.tif``).

Nothing here reads pixels; :mod:`pocusiq.view.frames` does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pocusiq.enhance.files import README_NAME, SIDE_BY_SIDE_SUFFIX, collect_inputs, file_kind, side_by_side_path
from pocusiq.errors import ImageFileError

# "OK     <source> -> <output> (<kind>, <n> frame(s), <where>)", as written by enhance.files.write_readme
_OK_LINE = re.compile(r"^OK\s+(?P<source>.+?) -> (?P<output>.+) \((?P<kind>image|dicom|video), "
                      r"(?P<frames>\d+) frame\(s\), ?(?P<where>.*)\)\s*$")
_REGION = re.compile(r"region (?P<kind>\w+) \((?P<x>\d+), (?P<y>\d+), (?P<w>\d+), (?P<h>\d+)\)")


@dataclass
class Pair:
    """One before | after comparison.

    Attributes:
        name: the output's path relative to the folder shown (its title on the page).
        before: the input file, or the side-by-side file when ``before_is_left_half``.
        after: the enhanced file.
        kind: "image", "dicom" or "video".
        region: ``(x, y, w, h)`` the enhancer worked on (from the README), or None (unknown).
        region_kind: "full", "box", "linear", "sector" or "" (unknown).
        before_is_left_half: ``before`` is a side-by-side file whose left half is the input.
        note: why the input was taken from where it was (shown on the page), or "".
    """

    name: str
    before: Path
    after: Path
    kind: str
    region: tuple[int, int, int, int] | None = None
    region_kind: str = ""
    before_is_left_half: bool = False
    note: str = ""


@dataclass(frozen=True)
class ReadmeEntry:
    """One ``OK`` line of ``README-pocusiq.txt``."""

    source: str
    output: str
    kind: str
    frames: int
    region: tuple[int, int, int, int] | None
    region_kind: str


def read_readme(folder: str | os.PathLike[str]) -> list[ReadmeEntry]:
    """The ``OK`` lines of ``folder/README-pocusiq.txt`` in file order ([] if there is none)."""
    path = Path(folder) / README_NAME
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _OK_LINE.match(line)
        if match is None:
            continue
        region = None
        region_kind = ""
        found = _REGION.search(match["where"])
        if found is not None:
            region = (int(found["x"]), int(found["y"]), int(found["w"]), int(found["h"]))
            region_kind = found["kind"]
        entries.append(ReadmeEntry(match["source"], match["output"], match["kind"], int(match["frames"]),
                                   region, region_kind))
    return entries


def _is_side_by_side(path: Path) -> bool:
    return path.stem.endswith(SIDE_BY_SIDE_SUFFIX)


def _outputs(folder: Path) -> list[tuple[Path, Path]]:
    """Enhanced files under ``folder`` (walked, side-by-side files left out) with their relative paths."""
    return [(path, rel) for path, rel in collect_inputs([folder]) if not _is_side_by_side(path)]


def _find_source(source: str, folder: Path) -> Path | None:
    raw = Path(source)
    candidates = [raw] if raw.is_absolute() else [Path.cwd() / raw, folder.parent / raw, folder / raw]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def pairs_from_enhance_dir(folder: str | os.PathLike[str]) -> tuple[list[Pair], list[str]]:
    """Pairs of a ``pocusiq enhance`` output folder.

    Returns:
        ``(pairs, skipped)``: pairs in file order, and one message per enhanced file whose input
        could not be found (neither the input named in the README nor a side-by-side file).

    Raises:
        ImageFileError: ``folder`` is not a folder, or holds no enhanced file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageFileError(f"{folder}: not a folder (expected a 'pocusiq enhance --out' folder)")
    entries = read_readme(folder)
    by_output: dict[Path, ReadmeEntry] = {}
    for entry in entries:  # latest line for an output wins
        out = Path(entry.output)
        key = (out if out.is_absolute() else Path.cwd() / out).resolve()
        by_output[key] = entry
    # an output path written relative to another working folder: match on the path inside the folder
    by_tail = {}
    for entry in entries:
        parts = Path(entry.output).parts
        for i in range(len(parts)):
            by_tail[Path(*parts[i:])] = entry
    pairs: list[Pair] = []
    skipped: list[str] = []
    outputs = _outputs(folder)
    if not outputs:
        raise ImageFileError(f"{folder}: holds no enhanced image, DICOM or video file")
    for path, rel in outputs:
        entry = by_output.get(path.resolve()) or by_tail.get(rel)
        kind = file_kind(path) or ""
        source = _find_source(entry.source, folder) if entry is not None else None
        region = entry.region if entry is not None else None
        region_kind = entry.region_kind if entry is not None else ""
        if source is not None and source.resolve() != path.resolve():
            pairs.append(Pair(rel.as_posix(), source, path, kind, region, region_kind))
            continue
        sbs = side_by_side_path(path)
        if sbs.is_file():
            why = ("input not found; " if entry is not None else "no README line; ") + \
                  f"'before' is the left half of {sbs.name}"
            pairs.append(Pair(rel.as_posix(), sbs, path, kind, region, region_kind, True, why))
            continue
        if entry is None:
            skipped.append(f"{rel.as_posix()}: not listed in {README_NAME} and no side-by-side file; "
                           "pass --before INPUT_DIR --after OUTPUT_DIR")
        else:
            skipped.append(f"{rel.as_posix()}: its input {entry.source} was not found (and there is no "
                           f"side-by-side file); pass --before INPUT_DIR --after OUTPUT_DIR")
    return pairs, skipped


def pairs_from_dirs(before: str | os.PathLike[str], after: str | os.PathLike[str]) -> tuple[list[Pair], list[str]]:
    """Pairs of two folders matched by relative path (suffix may differ).

    Returns:
        ``(pairs, skipped)``: one message per file of ``after`` without a match in ``before``.

    Raises:
        ImageFileError: either is not a folder, or ``after`` holds no image/DICOM/video file.
    """
    before, after = Path(before), Path(after)
    for folder, flag in ((before, "--before"), (after, "--after")):
        if not folder.is_dir():
            raise ImageFileError(f"{flag} {folder}: not a folder")
    originals = dict((rel, path) for path, rel in _outputs(before))
    by_stem = {rel.with_suffix(""): path for rel, path in originals.items()}
    enhanced = _outputs(after)
    if not enhanced:
        raise ImageFileError(f"--after {after}: holds no image, DICOM or video file")
    entries = {Path(e.output).name: e for e in read_readme(after)}
    pairs, skipped = [], []
    for path, rel in enhanced:
        source = originals.get(rel) or by_stem.get(rel.with_suffix(""))
        if source is None:
            skipped.append(f"{rel.as_posix()}: no file of the same name in {before}")
            continue
        entry = entries.get(path.name)
        pairs.append(Pair(rel.as_posix(), source, path, file_kind(path) or "",
                          entry.region if entry else None, entry.region_kind if entry else ""))
    return pairs, skipped
