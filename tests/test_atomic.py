"""Atomic writes: all-or-nothing, usual file mode, suffix kept for format-by-extension writers."""

from __future__ import annotations

import os
import stat

import pytest

from pocusiq.atomic import atomic_path, atomic_write_text, sha256_file


def test_failed_write_leaves_target_and_no_temp_file(tmp_path):
    target = tmp_path / "data.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]


def test_written_file_has_umask_mode_and_temp_keeps_suffix(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "img.png") as tmp:
            assert tmp.suffix == ".png"
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "img.png").stat().st_mode) == 0o644


def test_sha256_of_known_bytes(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert sha256_file(tmp_path / "abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
