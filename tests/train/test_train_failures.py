"""Training refuses what would be silently wrong (issue 13): divergence, bad lr, bad resumes,
no validation split, odd devices, non-finite or unreadable checkpoints, file modes, threads."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from pocusiq.errors import CheckpointError, ConfigError, TrainingError
from pocusiq.models import ModelConfig, build_generator
from pocusiq.models.checkpoints import load_generator, save_checkpoint
from pocusiq.train.config import TrainConfig, apply_overrides
from pocusiq.train.trainer import train


class PoisonedPairs(torch.utils.data.Dataset):
    """Pairs of which one item carries a NaN pixel (a diverging run, made certain)."""

    def __init__(self, base, bad_index: int) -> None:
        self.base, self.bad = base, bad_index

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[i])
        if i == self.bad:
            item["low"] = item["low"].clone()
            item["low"][0, 0, 0] = float("nan")
        return item


@pytest.mark.parametrize("value", ["1e30", "inf", "nan", "-1", "0", "2"])
def test_learning_rate_must_be_finite_and_sane(value):
    config = apply_overrides(TrainConfig(), [f"optim.lr={value}"])
    with pytest.raises(ConfigError, match=r"optim.lr must be"):
        config.validate()
    with pytest.raises(ConfigError, match=r"optim.lr_d must be"):
        apply_overrides(TrainConfig(), [f"optim.lr_d={value}"]).validate()


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, make_config, pairs_train):
    # 6 pairs, batch 2 -> 3 steps per epoch; every pair is seen in the first epoch, so the poisoned
    # one (all of its batch's losses NaN) is hit in steps 1..3; checkpoints every step.
    config = make_config(tmp_path, "nan", max_steps=6, checkpoint_every=1, log_every=1)
    poisoned = PoisonedPairs(pairs_train, bad_index=0)
    order = []
    with pytest.raises(TrainingError, match=r"training diverged at step \d: non-finite loss") as info:
        train(config, train_dataset=poisoned, progress=False, callback=lambda step, _: order.append(step))
    assert "last good checkpoint" in str(info.value) or "No checkpoint was written" in str(info.value)
    last = config.run_dir / "last.safetensors"
    if order:  # steps before the NaN batch were saved, and what was saved is finite and loads
        generator, _ = load_generator(last)
        assert all(torch.isfinite(p).all() for p in generator.parameters())
        assert str(last) in str(info.value)
    else:
        assert not last.exists()


def test_checkpoint_with_non_finite_weights_is_refused(tmp_path):
    g = build_generator(ModelConfig(ngf=2, depth=2))
    with torch.no_grad():
        next(g.parameters())[0].fill_(float("nan"))
    path = save_checkpoint(tmp_path / "bad.safetensors", generator=g, config={"model": {"ngf": 2, "depth": 2}})
    with pytest.raises(CheckpointError, match=r"bad.safetensors: checkpoint holds non-finite weights"):
        load_generator(path)
    from pocusiq import Enhancer

    with pytest.raises(CheckpointError, match="non-finite weights"):
        Enhancer.from_checkpoint(path)


def test_dataset_without_validation_split_warns(tmp_path, make_config):
    from pocusiq.data.writer import PairedDatasetWriter

    from .conftest import make_pair

    root, rng = tmp_path / "noval_data", np.random.default_rng(0)
    with PairedDatasetWriter(root, resume=False) as writer:
        for i in range(6):
            low, high = make_pair(rng, 32)
            writer.add(f"p{i}", (low * 255).astype(np.uint8), (high * 255).astype(np.uint8),
                       split="train" if i < 4 else "test", source="sim", specimen=f"s{i}")
    config = make_config(tmp_path, "noval", max_steps=2, data__root=str(root))
    with pytest.warns(UserWarning, match=r"no usable validation split 'val'.*no best.safetensors"):
        result = train(config, progress=False)
    assert result.best_checkpoint is None and result.last_checkpoint is not None


def test_resume_without_a_checkpoint_is_an_error(tmp_path, make_config, pairs_train):
    config = make_config(tmp_path, "none", max_steps=2)
    with pytest.raises(CheckpointError, match=r"nothing to resume \(no last.safetensors"):
        train(config, resume=True, train_dataset=pairs_train, progress=False)


def test_resume_with_changed_settings_or_dataset_names_what_differs(tmp_path, disk_dataset, make_config):
    config = make_config(tmp_path, "run", max_steps=4, data__root=str(disk_dataset))
    train(config, max_steps_this_run=2, progress=False)
    changed = make_config(tmp_path, "run", max_steps=4, data__root=str(disk_dataset), loss__lambda_l1=10.0,
                          optim__beta1=0.9)
    with pytest.raises(CheckpointError, match=r"cannot resume.*loss: .*lambda_l1=100.0.*lambda_l1=10.0.*optim: "):
        train(changed, resume=True, progress=False)
    manifest = disk_dataset / "manifest.csv"
    manifest.write_text(manifest.read_text() + "\n")  # any change to the dataset's manifest
    with pytest.raises(CheckpointError, match=r"cannot resume.*dataset .*manifest.csv sha256"):
        train(config, resume=True, progress=False)


def test_checkpoint_records_threads_and_has_the_usual_mode(tmp_path, make_config, pairs_train):
    from pocusiq.train.checkpoints import load_checkpoint

    old = os.umask(0o022)
    try:
        config = make_config(tmp_path, "t", max_steps=2)
        result = train(config, train_dataset=pairs_train, progress=False)
    finally:
        os.umask(old)
    ckpt = load_checkpoint(result.last_checkpoint)
    assert ckpt.state["torch_threads"] == torch.get_num_threads() == result.torch_threads
    assert stat.S_IMODE(result.last_checkpoint.stat().st_mode) == 0o644


def test_demo_thread_count_is_fixed_not_timed(monkeypatch):
    from pocusiq.train import demo

    monkeypatch.setattr(demo.time, "perf_counter", lambda: pytest.fail("the demo must not time threads"))
    assert demo.choose_threads(None, 0) == demo.DEMO_THREADS == 1
    assert demo.choose_threads(None, 3) == 3


@pytest.mark.parametrize(("device", "message"), [
    ("bogus", r"device 'bogus' is not a device"),
    ("cuda", r"device 'cuda': CUDA is not available here"),
    ("meta", r"pocusiq trains on cpu or cuda"),
])
def test_bad_devices_are_config_errors(tmp_path, make_config, pairs_train, device, message):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    config = make_config(tmp_path, "d", max_steps=1, device=device)
    with pytest.raises(ConfigError, match=message):
        train(config, train_dataset=pairs_train, progress=False)


def test_unreadable_checkpoint_is_reported_as_such(tmp_path, monkeypatch):
    g = build_generator(ModelConfig(ngf=2, depth=2))
    path = save_checkpoint(tmp_path / "c.safetensors", generator=g, config={"model": {"ngf": 2, "depth": 2}})
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads everything: make the permission check report what a user would see
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == str(path) else real(p, mode))
    with pytest.raises(CheckpointError, match=r"c.safetensors: cannot read checkpoint: permission denied"):
        load_generator(path)


def test_cli_train_device_error_is_clean(tmp_path, disk_dataset, capsys):
    from pocusiq.cli import main

    rc = main(["train", str(disk_dataset), "--out", str(tmp_path), "--device", "bogus", "--no-progress"])
    assert rc != 0
    assert "device 'bogus' is not a device" in capsys.readouterr().err
