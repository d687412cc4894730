"""Adversarial acquisition plans (issue 13): pose and frame counts beyond any real session.

Before the fix ``num: 1000000000`` built a billion poses (1.8 GB) under ``--check`` before saying
anything; now the counts are checked before anything is expanded, naming the field and the limit.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from pocusiq.acquire.plan import MAX_FRAMES_PER_POSE, MAX_POSES, plan_from_dict
from pocusiq.errors import ConfigError

GOOD = {
    "specimen": "phantom-01",
    "stage": {"kind": "simulated", "limits_mm": {"x": [0, 80], "y": [0, 20], "z": [0, 10]}},
    "poses": {"x_mm": [25, 35, 45], "y_mm": {"start": 0, "stop": 10, "num": 2}},
    "frames_per_pose": 1,
    "devices": [{"name": "pocus", "kind": "simulated", "profile": "pocus"}],
}


def _check(tmp_path, plan: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    # VmHWM (peak RSS of this process image): ru_maxrss would include the forking pytest parent
    code = ("import re, sys; from pocusiq.cli import main; rc = main(sys.argv[1:]); "
            "import os; status = open('/proc/self/status').read() if os.path.exists('/proc/self/status') "
            "else 'VmHWM: 0'; "
            "print('MAXRSS_KB', re.search(r'VmHWM:\\s*(\\d+)', status).group(1)); sys.exit(rc)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code, "acquire", "--plan", str(path), "--check"],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda p: p["poses"]["y_mm"].update(num=1_000_000_000), "poses.y_mm.num"),
        (lambda p: p.update(poses={"x_mm": {"start": 25, "stop": 45, "num": 1000},
                                   "y_mm": {"start": 0, "stop": 10, "num": 1000}}), "poses"),
        (lambda p: p.update(frames_per_pose=1_000_000_000), "frames_per_pose"),
    ],
    ids=["num-1e9", "grid-1e6", "frames-1e9"],
)
def test_huge_counts_are_refused_under_check_without_growing_memory(tmp_path, edit, field):
    plan = copy.deepcopy(GOOD)
    edit(plan)
    done = _check(tmp_path, plan)
    assert done.returncode == 2, done.stdout + done.stderr
    assert field in done.stderr and "at most" in done.stderr
    assert "Traceback" not in done.stderr
    rss_mb = int(done.stdout.split("MAXRSS_KB")[1]) / 1024
    assert rss_mb < 400, f"peak RSS {rss_mb:.0f} MB under --check"


def test_limits_allow_a_large_real_session():
    plan = copy.deepcopy(GOOD)
    plan["poses"] = {"x_mm": {"start": 25, "stop": 45, "num": 100}, "y_mm": {"start": 0, "stop": 10, "num": 100}}
    plan["frames_per_pose"] = 300  # a 10 s cine loop at 30 fps per pose
    parsed = plan_from_dict(plan)
    assert len(parsed.poses) == 10_000 <= MAX_POSES and parsed.frames_per_pose <= MAX_FRAMES_PER_POSE


def test_explicit_pose_list_over_the_limit_is_refused():
    plan = copy.deepcopy(GOOD)
    plan["poses"] = [{"x_mm": 30, "y_mm": 5}] * (MAX_POSES + 1)
    with pytest.raises(ConfigError, match="at most"):
        plan_from_dict(plan)
