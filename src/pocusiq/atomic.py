"""Atomic file writes: write to a temporary file in the target folder, fsync, then rename.

A reader (or a resumed job) therefore sees either the old file or the complete new one,
never a truncated file, even if the process is killed mid-write.

Temporary files are named ``.<stem>.pocusiq-<pid>-<random>.tmp<suffix>`` beside their target,
so that a later run can tell the ones it owns from anything else: after a ``kill -9`` (no
``finally`` runs), :func:`remove_stale_temps` deletes those whose writing process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_MARKER = "pocusiq-"
"""Part of every temporary file name this module makes (``.<stem>.pocusiq-<pid>-<random>.tmp<suffix>``)."""

_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)\.pocusiq-(?P<pid>\d+)-[^.]+\.tmp(?P<suffix>.*)$")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The temporary file keeps ``path``'s suffix so that writers that pick a format from the
    extension (PIL, safetensors, OpenCV) still work. On error the temporary file is removed
    and ``path`` is left untouched.
    """
    target = Path(path)
    tmp = _make_temp(target, target.suffix)
    mode = 0o666 & ~_current_umask()
    os.chmod(tmp, mode)  # mkstemp makes 0600; give the usual file mode
    try:
        yield tmp
        # writers that replace the file (safetensors does) would leave their own 0600 mode
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _make_temp(target: Path, suffix: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.{TEMP_MARKER}{os.getpid()}-", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(fd)
    return Path(tmp_name)


@contextlib.contextmanager
def scratch_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a scratch file beside ``target`` (named as :func:`atomic_path` names its temporaries,
    so :func:`remove_stale_temps` finds it after a kill); it is always deleted afterwards.

    For large intermediate data (e.g. the pixel data of a long DICOM cine) kept out of memory.
    """
    tmp = _make_temp(Path(target), suffix)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike[str], stem: str | None = None) -> list[Path]:
    """Delete temporary files left in ``folder`` by :func:`atomic_path` writers that died.

    Only names of this module's pattern whose process id is no longer running are removed
    (a live writer's file, or any other file, is never touched); ``stem`` limits it to the
    temporaries of one target (``out/scan.mp4`` -> stem ``"scan"``).

    Returns:
        The paths removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TEMP_NAME.match(path.name)
        if match is None or (stem is not None and match["stem"] != stem) or not path.is_file():
            continue
        if _pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_output_folder(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Check, before any work is done, that ``path`` is (or can become) a folder we can write into.

    Nothing is created: the nearest existing ancestor must be a folder, and a probe file is
    created and removed there (``tempfile``), which also catches read-only mounts and ACLs that
    ``os.access`` misses. ``what`` names the option in the message (e.g. ``"--out"``).

    Raises:
        OutputLocationError: a file is in the way (``path`` itself or a parent), or the folder is
            not writable.
    """
    from pocusiq.errors import OutputLocationError

    target = Path(path)
    existing = target
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == target else f"cannot be created: {existing} is a file"
        raise OutputLocationError(f"{what} {target}: {where}, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".pocusiq-write-probe."):
            pass
    except OSError as exc:
        raise OutputLocationError(
            f"{what} {target}: folder {existing} is not writable ({exc.strerror or exc})"
        ) from exc
    return target
