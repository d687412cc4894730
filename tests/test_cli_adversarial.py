"""Every command that writes a folder refuses an output location it cannot use, up front and
without a traceback (issue 13): ``--out afile`` or ``--out afile/sub`` raised NotADirectoryError
tracebacks from ``simulate``, ``pair``, ``dataset import/export``, ``acquire`` and ``benchmark``
(after ``pair``/``benchmark`` had done their work). Also: any other OSError becomes a message.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from pocusiq.cli import main
from pocusiq.imaging.grey import write_grey_png
from pocusiq.data.writer import PairedDatasetWriter

PLAN = {
    "specimen": "p",
    "stage": {"kind": "simulated", "limits_mm": {"x": [0, 80], "y": [0, 20], "z": [0, 10]}},
    "poses": {"x_mm": [25, 35], "y_mm": [0]},
    "devices": [{"name": "pocus", "kind": "simulated", "profile": "pocus"}],
}


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    with PairedDatasetWriter(tmp_path / "ds") as writer:
        for i in range(2):
            img = rng.integers(0, 255, (32, 32), dtype=np.uint8)
            writer.add(f"p{i}", img, img, split="test", source="sim", specimen=f"s{i}")
    for folder in ("low", "high"):
        write_grey_png(tmp_path / "imp" / folder / "a.png", np.zeros((16, 16), np.uint8))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(PLAN))
    (tmp_path / "afile").write_text("x")
    return tmp_path


COMMANDS = {
    "simulate": lambda d, out: ["simulate", "--out", out, "--n", "1", "--size", "32", "--no-progress"],
    "dataset import": lambda d, out: ["dataset", "import", "--format", "folder", str(d / "imp"), "--out", out],
    "dataset export": lambda d, out: ["dataset", "export", "--format", "ab", str(d / "ds"), "--out", out],
    "acquire": lambda d, out: ["acquire", "--plan", str(d / "plan.yaml"), "--out", out, "--no-progress"],
    "benchmark": lambda d, out: ["benchmark", "--data", str(d / "ds"), "--method", "identity", "--out", out,
                                 "--no-progress"],
    "pair": lambda d, out: ["pair", "--session", str(d / "missing-session"), "--out", out, "--no-progress"],
}


@pytest.mark.parametrize("where", ["afile", "afile/sub"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_under_a_file_is_refused_up_front(inputs, capsys, command, where):
    rc = main(COMMANDS[command](inputs, str(inputs / where)))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--out" in err and str(inputs / "afile") in err and "not a folder" in err, err
    assert (inputs / "afile").read_text() == "x"


def test_an_out_file_is_written_again_and_its_folder_checked(tmp_path, capsys):
    # `view --out page.html` (and `calibrate --out cal.json`) name a file: a second run rewrites it
    # (the folder check refused it as "is a file, not a folder"); a file in the way of its folder is refused.
    from pocusiq.imaging.grey import write_grey_png as write

    for side in ("a", "b"):
        write(tmp_path / side / "x.png", np.full((16, 16), 100, np.uint8))
    args = ["view", "--before", str(tmp_path / "a"), "--after", str(tmp_path / "b"), "--no-scores", "--out"]
    assert main(args + [str(tmp_path / "page.html")]) == 0
    assert main(args + [str(tmp_path / "page.html")]) == 0, capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main(args + [str(tmp_path / "afile" / "page.html")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(tmp_path / "afile") in err and "not a folder" in err, err


def test_other_os_errors_are_messages_not_tracebacks(tmp_path, capsys, monkeypatch):
    import pocusiq.data.simulated as simulated

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "ds" / "low" / "sim000000.png"))

    monkeypatch.setattr(simulated.PairedDatasetWriter, "add", disk_full)
    rc = main(["simulate", "--out", str(tmp_path / "ds"), "--n", "1", "--size", "32", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "No space left on device" in err and "sim000000.png" in err
