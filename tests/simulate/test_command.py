"""``pocusiq simulate``: the dataset it writes, resume after interruption, worker independence.

Uses the real simulator on a few 64x64 pairs of one phantom preset (fast).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import pocusiq.data.simulated as simulated
from pocusiq.cli import main
from pocusiq.data.manifest import JOURNAL_NAME, MANIFEST_NAME, read_manifest
from pocusiq.data.simulated import SimulatedDatasetConfig, pair_seed_for, write_simulated_dataset
from pocusiq.data.validate import validate_dataset
from pocusiq.errors import ConfigError

N = 5
ARGS = ["--n", str(N), "--size", "64", "--seed", "3", "--phantom", "random_tissue", "--no-progress", "--workers", "1"]
CONFIG = SimulatedDatasetConfig(n=N, size=64, seed=3, phantom="random_tissue")


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted single-process run."""
    root = tmp_path_factory.mktemp("sim") / "ref"
    assert main(["simulate", "--out", str(root), *ARGS]) == 0
    return root


@pytest.fixture
def count_simulations(monkeypatch):
    calls: list[int] = []
    original = simulated._simulate_one

    def counting(task):
        calls.append(task[0])
        return original(task)

    monkeypatch.setattr(simulated, "_simulate_one", counting)
    return calls


def test_writes_a_valid_split_by_specimen_dataset(reference):
    assert validate_dataset(reference) == []
    rows = read_manifest(reference)
    assert [r.id for r in rows] == [f"sim{i:06d}" for i in range(N)]
    assert sorted(p.name for p in (reference / "low").iterdir()) == sorted(p.name for p in (reference / "high").iterdir())
    for index, row in enumerate(rows):
        assert row.source == "sim" and (row.height, row.width) == (64, 64) and row.spacing_mm > 0
        assert row.specimen == f"sim-{pair_seed_for(3, index)}"
        assert row.params["request"]["pair_seed"] == pair_seed_for(3, index)
        assert row.low_device == "sim:pocus~" and row.high_device == "sim:high_end"  # ~: randomised per pair
        assert row.spacing_mm == pytest.approx(0.08)  # the default spacing reaches the manifest
    assert len({r.specimen for r in rows}) == N
    assert {r.split for r in rows} == {"train", "val", "test"}  # 5 specimens: 0.8/0.1/0.1 -> 3/1/1


def test_two_workers_write_the_same_bytes(reference, tmp_path):
    out = tmp_path / "w2"
    assert main(["simulate", "--out", str(out), *ARGS, "--workers", "2"]) == 0
    assert _tree(out) == _tree(reference)


def test_rerun_after_deleting_files_fills_only_the_missing_pairs(reference, tmp_path, count_simulations, capsys):
    out = tmp_path / "resume"
    shutil.copytree(reference, out)
    (out / "low" / "sim000001.png").unlink()
    (out / "high" / "sim000003.png").write_bytes(b"garbage")  # e.g. damaged by hand
    assert main(["simulate", "--out", str(out), *ARGS]) == 0
    assert sorted(count_simulations) == [1, 3]
    assert "2 pairs simulated, 3 already complete" in capsys.readouterr().out
    assert _tree(out) == _tree(reference)


def test_rerun_after_a_kill_gives_the_same_bytes_as_an_uninterrupted_run(reference, tmp_path, count_simulations):
    out = tmp_path / "killed"
    shutil.copytree(reference, out)
    # State a kill leaves: pairs 0-1 recorded only in the journal (manifest not yet written),
    # pair 2's files on disk but its journal line cut short, pairs 3-4 never written, a temp file.
    rows = {r.id: r for r in read_manifest(out)}
    (out / MANIFEST_NAME).unlink()
    journal = "".join(
        json.dumps(rows[i].to_record(), sort_keys=True) + "\n" for i in ("sim000000", "sim000001")
    )
    (out / JOURNAL_NAME).write_text(journal + json.dumps(rows["sim000002"].to_record())[:50])
    for pair_id in ("sim000003", "sim000004"):
        for folder in ("low", "high"):
            (out / folder / f"{pair_id}.png").unlink()
        for mask in (out / "masks").glob(f"{pair_id}_*.png"):
            mask.unlink()
    (out / "low" / ".sim000003.k2j4.tmp.png").write_bytes(b"\x89PNG")
    summary = write_simulated_dataset(out, CONFIG, workers=1, progress=False)
    assert summary.skipped == ["sim000000", "sim000001"] and summary.written == ["sim000002", "sim000003", "sim000004"]
    assert sorted(count_simulations) == [2, 3, 4]
    assert _tree(out) == _tree(reference)


def test_interrupted_run_keeps_finished_pairs_and_resumes(reference, tmp_path, monkeypatch):
    out = tmp_path / "ctrl_c"
    original = simulated._simulate_one
    done: list[int] = []

    def interrupt_after_two(task):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(task[0])
        return original(task)

    monkeypatch.setattr(simulated, "_simulate_one", interrupt_after_two)
    assert main(["simulate", "--out", str(out), *ARGS]) == 130
    assert [r.id for r in read_manifest(out)] == ["sim000000", "sim000001"]
    monkeypatch.setattr(simulated, "_simulate_one", original)
    summary = write_simulated_dataset(out, CONFIG, progress=False)
    assert summary.written == ["sim000002", "sim000003", "sim000004"]
    assert _tree(out) == _tree(reference)


def test_changed_request_is_refused_not_simulated_again(reference, tmp_path, count_simulations):
    out = tmp_path / "reseeded"
    shutil.copytree(reference, out)
    with pytest.raises(ConfigError, match=r"seed \(dataset 3, this run 4, --seed\)"):
        write_simulated_dataset(out, SimulatedDatasetConfig(n=N, size=64, seed=4, phantom="random_tissue"), progress=False)
    assert count_simulations == [] and _tree(out) == _tree(reference)


def test_dataset_of_another_simulator_revision_is_refused(reference, tmp_path, count_simulations):
    """Same seed and options, but simulated by an older simulator (other bytes): never mixed in by a resume."""
    import json

    from pocusiq.simulate.pairs import SIMULATOR_REVISION

    out = tmp_path / "older-simulator"
    shutil.copytree(reference, out)
    params = json.loads((out / simulated.PARAMETERS_NAME).read_text())
    assert params["simulator_revision"] == SIMULATOR_REVISION
    params["simulator_revision"] = SIMULATOR_REVISION - 1
    (out / simulated.PARAMETERS_NAME).write_text(json.dumps(params))
    before = _tree(out)
    with pytest.raises(ConfigError, match=r"simulator_revision \(dataset 1, this run 2, a dataset simulated by another"):
        write_simulated_dataset(out, CONFIG, progress=False)
    assert count_simulations == [] and _tree(out) == before


def test_dataset_without_parameters_file_is_checked_row_by_row(reference, tmp_path, count_simulations):
    """A folder written before simulate.json existed: resumed when every row matches this run."""
    out = tmp_path / "older"
    shutil.copytree(reference, out)
    (out / simulated.PARAMETERS_NAME).unlink()
    summary = write_simulated_dataset(out, CONFIG, progress=False)
    assert len(summary.skipped) == N and count_simulations == [] and _tree(out) == _tree(reference)
    (out / simulated.PARAMETERS_NAME).unlink()
    with pytest.raises(ConfigError, match="dataset has pair sim000004"):
        write_simulated_dataset(out, SimulatedDatasetConfig(n=3, size=64, seed=3, phantom="random_tissue"),
                                progress=False)


def test_user_profiles_file(tmp_path):
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("my_probe:\n  base: pocus\n  center_frequency_mhz: 5.0\n")
    out = tmp_path / "custom"
    args = ["--n", "1", "--size", "64", "--no-progress"]  # the default phantom mix
    assert main(["simulate", "--out", str(out), *args, "--profiles", str(profiles), "--low-profile", "my_probe", "--no-randomise-device"]) == 0
    [row] = read_manifest(out)
    assert row.low_device == "sim:my_probe" and row.params["simulator"]["low_profile"]["center_frequency_mhz"] == 5.0
    assert len(row.params["request"]["low_profile_sha"]) == 16


def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "a"), "--n", "0", "--no-progress"]) == 2
    assert "n must be a positive int, got 0" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "b"), "--n", "1", "--low-profile", "nope", "--no-progress"]) == 2
    assert "unknown transducer profile 'nope'" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "c"), "--n", "1", "--workers", "0", "--no-progress"]) == 2
    assert "workers must be a positive int, got 0" in capsys.readouterr().err
