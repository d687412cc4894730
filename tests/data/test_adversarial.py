"""Adversarial datasets for ``pocusiq dataset validate`` (issue 13): mixed sizes from two simulate
runs, and a malformed manifest row among good ones.

Before the fix a 128/256 mix was called OK, and one row with a bad number or JSON made the whole
manifest unreadable, hiding every row-level problem of the other rows (missing files, checksum drift).
"""

from __future__ import annotations

import numpy as np

from pocusiq.cli import main
from pocusiq.imaging.grey import write_grey_png
from pocusiq.data.manifest import MANIFEST_NAME
from pocusiq.data.validate import validate_dataset
from pocusiq.data.writer import PairedDatasetWriter


def _problems(root) -> list[str]:
    return [str(p) for p in validate_dataset(root)]


def test_mixed_sizes_of_simulated_pairs_are_flagged(tmp_path, capsys):
    rng = np.random.default_rng(0)
    with PairedDatasetWriter(tmp_path / "ds") as writer:
        for i, side in enumerate((32, 32, 32, 48)):
            img = rng.integers(0, 255, (side, side), dtype=np.uint8)
            writer.add(f"p{i}", img, 255 - img, split="train", source="sim", specimen=f"s{i}")
    problems = _problems(tmp_path / "ds")
    mixed = [p for p in problems if "mixed image sizes" in p]
    assert len(mixed) == 1, problems
    assert "32x32 (3 pairs" in mixed[0] and "48x48 (1 pair, e.g. p3)" in mixed[0]
    assert main(["dataset", "validate", str(tmp_path / "ds")]) != 0
    assert "mixed image sizes" in capsys.readouterr().out


def test_real_pairs_may_differ_in_size(tmp_path):
    """Imported real pairs keep their native sizes (training crops them); only sim runs must agree."""
    rng = np.random.default_rng(0)
    with PairedDatasetWriter(tmp_path / "ds") as writer:
        for i, shape in enumerate(((32, 40), (48, 40))):
            img = rng.integers(0, 255, shape, dtype=np.uint8)
            writer.add(f"p{i}", img, 255 - img, split="train", source="real", specimen=f"s{i}")
    assert _problems(tmp_path / "ds") == []


def test_malformed_row_does_not_hide_the_other_rows_checks(make_dataset):
    root = make_dataset(n=4)
    lines = (root / MANIFEST_NAME).read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")  # the row of p1
    cells[header.index("height")] = "tall"
    lines[2] = ",".join(cells)
    (root / MANIFEST_NAME).write_text("\n".join(lines) + "\n")
    (root / "high" / "p2.png").unlink()
    write_grey_png(root / "low" / "p3.png", np.zeros((24, 32), np.uint8))
    problems = _problems(root)
    assert any(p.startswith("manifest.csv line 3") and "height/width" in p for p in problems), problems
    assert "manifest.csv (id p2): row has no file high/p2.png" in problems
    assert any(p.startswith("low/p3.png: checksum drift") for p in problems), problems
    # the unparsed row's files are not called strays: the row exists, it is just malformed
    assert not any(p.startswith("low/p1.png: not in manifest.csv") for p in problems), problems
