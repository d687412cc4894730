"""End to end, tiny: ``acquire`` (simulated gantry) -> ``pair`` -> ``dataset validate`` -> ``train`` -> ``enhance``.

Uses ``examples/sim_gantry.yaml`` with fewer poses and smaller frames so that the whole chain
runs in well under a minute on 2 CPU cores, through the real command line entry point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from pocusiq.cli import main as cli_main
from pocusiq.imaging.grey import read_grey_image
from pocusiq.data.manifest import low_path, read_manifest
from pocusiq.pair.session import read_pair_report

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_torch_thread():
    """Tiny networks: one torch thread is faster than two on a shared 2-core machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow
def test_acquire_pair_validate_train(tmp_path, capsys, one_torch_thread):
    plan = yaml.safe_load((REPO / "examples" / "sim_gantry.yaml").read_text(encoding="utf-8"))
    plan["poses"] = {"x_mm": [30, 40], "y_mm": [5], "z_mm": [0], "tilt_deg": [0]}
    plan["devices"][0].update(frame_size=[240, 230], fov_mm=20, depth_mm=22)
    plan["devices"][1].update(frame_size=[210, 200], fov_mm=19, depth_mm=18)
    plan["phantom"]["depth_mm"] = 30
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    session, dataset, runs = tmp_path / "session", tmp_path / "dataset", tmp_path / "runs"

    assert cli_main(["acquire", "--plan", str(plan_file), "--out", str(session), "--no-progress"]) == 0
    assert cli_main(["pair", "--session", str(session), "--out", str(dataset), "--size", "64",
                     "--no-progress"]) == 0
    report = read_pair_report(dataset / "pair_report.csv")
    assert [r["status"] for r in report] == ["accepted", "accepted"]
    rows = read_manifest(dataset)
    assert len(rows) == 2 and {(r.height, r.width) for r in rows} == {(64, 64)}
    assert cli_main(["dataset", "validate", str(dataset)]) == 0
    assert "OK, 2 pairs" in capsys.readouterr().out

    assert cli_main([
        "train", str(dataset), "--preset", "cpu", "--steps", "2", "--out", str(runs), "--name", "tiny",
        "--set", "model.ngf=4", "--set", "model.depth=5", "--set", "discriminator.ndf=4",
        "--set", "data.crop=32", "--set", "data.batch_size=1", "--no-progress",
    ]) == 0
    out = capsys.readouterr().out
    assert "steps: 2/2" in out
    assert (runs / "tiny" / "last.safetensors").is_file()

    # the trained generator enhances a pair's POCUS image: same size and dtype, not a copy
    low = low_path(dataset, rows[0].id)
    enhanced_dir = tmp_path / "enhanced"
    assert cli_main(["enhance", str(low), "--model", str(runs / "tiny"), "--out", str(enhanced_dir),
                     "--roi", "full", "--engine", "torch"]) == 0
    before, after = read_grey_image(low), read_grey_image(enhanced_dir / low.name)
    assert after.shape == before.shape == (64, 64) and after.dtype == before.dtype
    assert not np.array_equal(after, before)
