"""Adversarial runs of ``pocusiq simulate`` (issue 13): reruns with other parameters, absurd sizes
and counts, and ``kill -9`` of a multi-worker run.

Before the fix a rerun into an existing folder silently kept extra pairs (smaller ``--n``), mixed
sizes (other ``--size``) or overwrote every pair (other ``--seed``); ``--size 100000`` died with an
ArrayMemoryError traceback leaving a header-only manifest; ``--n 10**11`` grew memory writing
nothing; and a killed ``--workers 2`` run left its workers blocked on a pipe forever.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

import pocusiq.data.simulated as simulated
from pocusiq.cli import main
from pocusiq.data.manifest import read_manifest
from pocusiq.data.simulated import SimulatedDatasetConfig, write_simulated_dataset

BASE = ["--n", "4", "--size", "32", "--seed", "3", "--phantom", "random_tissue", "--no-progress"]


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _with(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    if option not in out:
        return [*out, option, value]
    out[out.index(option) + 1] = value
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adv") / "ds"
    assert main(["simulate", "--out", str(root), *BASE]) == 0
    return root


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--n", "2", ["n", "2", "4"]),
        ("--n", "6", ["n", "6", "4"]),
        ("--size", "48", ["size", "48", "32"]),
        ("--seed", "4", ["seed", "4", "3"]),
        ("--low-profile", "high_end", ["low_profile", "high_end", "pocus"]),
        ("--phantom", "abdominal", ["phantom", "abdominal", "random_tissue"]),
    ],
)
def test_rerun_with_other_parameters_is_refused_and_changes_nothing(dataset, capsys, option, value, words):
    before = _tree(dataset)
    rc = main(["simulate", "--out", str(dataset), *_with(BASE, option, value)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "differ" in err and all(word in err for word in words), err
    assert "Traceback" not in err
    assert _tree(dataset) == before


def test_rerun_with_the_same_parameters_resumes(dataset, capsys):
    before = _tree(dataset)
    assert main(["simulate", "--out", str(dataset), *BASE, "--workers", "2"]) == 0
    assert "0 pairs simulated, 4 already complete" in capsys.readouterr().out
    assert _tree(dataset) == before


def test_folder_holding_another_dataset_is_refused(tmp_path, capsys):
    from pocusiq.data.writer import PairedDatasetWriter
    import numpy as np

    with PairedDatasetWriter(tmp_path / "real") as writer:
        writer.add("p0", np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), split="train",
                   source="real", specimen="s0")
    before = _tree(tmp_path / "real")
    assert main(["simulate", "--out", str(tmp_path / "real"), *BASE]) == 2
    assert "not made by pocusiq simulate" in capsys.readouterr().err
    assert _tree(tmp_path / "real") == before


@pytest.mark.parametrize("size", ["100000", "16000"])
def test_huge_size_is_refused_up_front(tmp_path, size):
    out = tmp_path / "big"
    # VmHWM (peak RSS of this process image): ru_maxrss would include the forking pytest parent
    code = ("import re, sys; from pocusiq.cli import main; rc = main(sys.argv[1:]); "
            "import os; status = open('/proc/self/status').read() if os.path.exists('/proc/self/status') "
            "else 'VmHWM: 0'; "
            "print('MAXRSS_KB', re.search(r'VmHWM:\\s*(\\d+)', status).group(1)); sys.exit(rc)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code, "simulate", "--out", str(out), "--n", "1",
                           "--size", size, "--no-progress"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"--size {size}" in done.stderr and "at most 4096" in done.stderr
    assert "Traceback" not in done.stderr
    rss_mb = int(done.stdout.split("MAXRSS_KB")[1]) / 1024
    assert rss_mb < 400, f"peak RSS {rss_mb:.0f} MB: memory was allocated before the check"
    assert not out.exists()  # no header-only manifest, not even an empty folder


def test_unknown_phantom_is_refused_up_front(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "p"), *_with(BASE, "--phantom", "nope")]) == 2
    assert "--phantom nope: unknown preset" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_failure_before_any_pair_leaves_no_header_only_dataset(tmp_path, monkeypatch, capsys):
    def broken(task):
        raise ValueError("simulator exploded")

    monkeypatch.setattr(simulated, "_simulate_one", broken)
    assert main(["simulate", "--out", str(tmp_path / "new"), *BASE, "--workers", "1"]) == 2  # in-process: the patched simulator is not picklable
    assert "simulator exploded" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_absurd_worker_count_is_refused(tmp_path, capsys):
    workers = 4 * (os.cpu_count() or 1) + 1
    assert main(["simulate", "--out", str(tmp_path / "w"), *BASE, "--workers", str(workers)]) == 2
    assert f"--workers {workers}: at most 4 per CPU core" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_count_beyond_the_free_disk_is_refused_up_front(tmp_path, capsys):
    out = tmp_path / "many"
    started = time.perf_counter()
    assert main(["simulate", "--out", str(out), "--n", "100000000000", "--size", "256", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - started < 10
    assert "--n 100000000000" in err and "free" in err
    assert not out.exists()


def test_memory_does_not_grow_with_n(tmp_path, monkeypatch):
    """Only the pairs written are held: stop after 2 pairs of a 300 000-pair run and compare the
    peak of traced allocations with a 3-pair run (the old code built per-pair lists of seeds,
    specimens, splits and tasks first: measured 87 MB traced peak and 30 s for 300 000 pairs, against
    1.1 MB and 0.4 s now, on a loaded 2-core machine)."""
    original = simulated._simulate_one

    def peak_for(n: int, out: Path) -> int:
        done: list[int] = []

        def stop_after_two(task):
            if len(done) == 2:
                raise KeyboardInterrupt
            done.append(task[0])
            return original(task)

        monkeypatch.setattr(simulated, "_simulate_one", stop_after_two)
        monkeypatch.setattr(simulated, "_check_disk_space", lambda *a, **k: None)
        config = SimulatedDatasetConfig(n=n, size=16, seed=1, phantom="random_tissue")
        tracemalloc.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                write_simulated_dataset(out, config, progress=False)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = peak_for(3, tmp_path / "small")
    started = time.perf_counter()
    large = peak_for(300_000, tmp_path / "large")
    assert time.perf_counter() - started < 5
    assert large < small + 2_000_000, (small, large)
    assert [r.id for r in read_manifest(tmp_path / "large")] == ["sim000000", "sim000001"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_kill_9_of_a_multi_worker_run_leaves_no_workers(tmp_path):
    """SIGKILL the parent of ``--workers 2``: its workers must exit within a few seconds."""
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen(
        [sys.executable, "-m", "pocusiq.cli", "simulate", "--out", str(out), "--n", "2000", "--size", "256",
         "--workers", "2", "--no-progress"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = _children(parent.pid)
        assert len(workers) >= 2, "the workers did not start"
        time.sleep(1.0)  # let them take tasks
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        alive = workers
        while time.monotonic() < deadline and alive:
            time.sleep(0.2)
            alive = [pid for pid in alive if _alive(pid)]
        assert not alive, f"workers {alive} still running 10 s after their parent was killed"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
