"""Training: learning on a fixed batch, determinism, lr schedule, exact kill-and-resume, init-from, CLI."""

from __future__ import annotations

import pytest
import torch

from pocusiq.cli import main as cli_main
from pocusiq.errors import CheckpointError
from pocusiq.train.checkpoints import load_checkpoint
from pocusiq.train.trainer import Pix2PixTrainer, StopTraining, learning_rate_factor, train


def test_few_steps_lower_l1_on_fixed_batch(tmp_path, make_config, make_pairs):
    config = make_config(tmp_path, optim__lr=1e-3, model__dropout=0.0)
    trainer = Pix2PixTrainer(config)
    pairs = make_pairs(4, 32, seed=5)
    low, high = pairs.low, pairs.high
    l1 = [trainer.train_step(low, high)["loss_l1"].item() for _ in range(25)]
    assert l1[-1] < 0.7 * l1[0]
    out = trainer.generator.eval()(low * 2 - 1)
    assert out.shape == (4, 1, 32, 32) and out.min() >= -1 and out.max() <= 1


def test_same_seed_same_losses_different_seed_differs(tmp_path, make_config, make_pairs, pairs_train):
    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        seen: list[dict] = []
        config = make_config(tmp_path, name, seed=seed, max_steps=5, data__flip=True, data__crop=16)
        train(config, train_dataset=pairs_train, progress=False, callback=lambda s, v: seen.append(v))
        runs.append(seen)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_learning_rate_constant_then_linear():
    f = [learning_rate_factor(s, 10, 0.5) for s in range(10)]
    assert f[:5] == [1.0] * 5
    assert f[5:] == pytest.approx([5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert [learning_rate_factor(s, 4, 0.0) for s in range(4)] == pytest.approx([4 / 5, 3 / 5, 2 / 5, 1 / 5])
    assert [learning_rate_factor(s, 3, 1.0) for s in range(3)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="got step=10, max_steps=10"):
        learning_rate_factor(10, 10, 0.5)


def _weights(path):
    ck = load_checkpoint(path)
    return {**{f"g.{k}": v for k, v in ck.generator.items()}, **{f"d.{k}": v for k, v in ck.discriminator.items()}}, ck


def test_kill_and_resume_equals_uninterrupted(tmp_path, make_config, disk_dataset, pairs_val):
    # dropout on, and the on-disk PairedDataset with random crops and flips (8 train pairs, batch 2:
    # 4 steps per epoch, so the kill at 8 and the resume at 6 sit at and inside epoch boundaries):
    # every source of randomness must be restored
    kw = dict(max_steps=11, checkpoint_every=3, data__crop=16, data__flip=True, val_every=4,
              data__root=str(disk_dataset))
    full = train(make_config(tmp_path, "full", **kw), val_dataset=pairs_val, progress=False)

    config = make_config(tmp_path, "killed", **kw)

    def kill_at_8(step, values):
        if step == 8:
            raise StopTraining("simulated kill")

    with pytest.raises(StopTraining):
        train(config, val_dataset=pairs_val, progress=False, callback=kill_at_8)
    assert load_checkpoint(config.run_dir / "last.safetensors").state["step"] == 6  # last save before the kill
    part = train(config, resume=True, max_steps_this_run=2, val_dataset=pairs_val, progress=False)
    assert part.step == 8  # planned stop saves last
    done = train(config, resume=True, val_dataset=pairs_val, progress=False)
    assert (done.step, done.steps_this_run, full.step) == (11, 3, 11)

    w_full, ck_full = _weights(full.last_checkpoint)
    w_done, ck_done = _weights(done.last_checkpoint)
    assert w_full.keys() == w_done.keys()
    for k in w_full:
        assert torch.equal(w_full[k], w_done[k]), k
    for name in ("G", "D"):
        for idx, entry in ck_full.optimizers[name]["state"].items():
            for key, value in entry.items():
                assert torch.equal(ck_done.optimizers[name]["state"][idx][key], value)
    # the logs are cut back to the resumed step and continue without duplicates
    rows = (config.run_dir / "train_log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4", "6", "8", "10"]
    assert (config.run_dir / "val_log.csv").read_text() == (full.run_dir / "val_log.csv").read_text()


def test_finished_run_stays_finished_on_resume(tmp_path, make_config, pairs_train):
    config = make_config(tmp_path, "r", max_steps=3)
    first = train(config, train_dataset=pairs_train, progress=False)
    again = train(config, resume=True, train_dataset=pairs_train, progress=False)
    assert (first.step, again.step, again.steps_this_run) == (3, 3, 0)


def test_init_from_pretrained_generator(tmp_path, make_config, pairs_train):
    pre = train(make_config(tmp_path, "pre", max_steps=4), train_dataset=pairs_train, progress=False)
    config = make_config(tmp_path, "fine", max_steps=1, init_from=str(pre.last_checkpoint), optim__lr=1e-12,
                         init_discriminator=True)
    fine = train(config, train_dataset=pairs_train, progress=False)
    a, b = load_checkpoint(pre.last_checkpoint), load_checkpoint(fine.last_checkpoint)
    for k in a.generator:  # lr ~ 0: one step leaves the pretrained weights (almost) unchanged
        assert torch.allclose(a.generator[k], b.generator[k], atol=1e-6)
    with pytest.raises(CheckpointError, match="generator config"):
        train(make_config(tmp_path, "bad", init_from=str(pre.last_checkpoint), model__ngf=8),
              train_dataset=pairs_train, progress=False)


def test_cli_train_on_dataset_folder(tmp_path, disk_dataset, capsys):
    args = ["train", str(disk_dataset), "--preset", "cpu", "--out", str(tmp_path / "runs"), "--name", "cli",
            "--steps", "4", "--no-progress", "--set", "model.ngf=4", "--set", "model.depth=3",
            "--set", "discriminator.ndf=4", "--set", "discriminator.n_layers=2", "--set", "data.crop=16", "--set", "data.batch_size=2",
            "--set", "checkpoint_every=2"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "steps: 4/4" in out and "validation (2 images)" in out
    run = tmp_path / "runs" / "cli"
    assert {"last.safetensors", "best.safetensors", "config.json", "val_log.csv"} <= {p.name for p in run.iterdir()}
    assert load_checkpoint(run / "last.safetensors").config.data.root == str(disk_dataset)
    assert cli_main(["train", str(disk_dataset), "--set", "optim.lr=x"]) == 2
    assert "optim.lr: expected a number" in capsys.readouterr().err


def test_deadline_stops_after_one_step_saving_and_validating(tmp_path, make_config, pairs_train, pairs_val):
    import time

    config = make_config(tmp_path, "late", max_steps=10, checkpoint_every=5, val_every=5)
    result = train(config, train_dataset=pairs_train, val_dataset=pairs_val, progress=False,
                   deadline=time.monotonic() - 1.0)
    assert (result.step, result.steps_this_run) == (1, 1)
    assert load_checkpoint(result.last_checkpoint).state["step"] == 1
    assert [v["step"] for v in result.validations] == [1]
    resumed = train(config, resume=True, train_dataset=pairs_train, val_dataset=pairs_val, progress=False)
    assert resumed.step == 10


def test_dataset_gets_each_epoch_and_every_pair_once_per_epoch(tmp_path, make_config, make_pairs):
    class Recording(make_pairs):
        def __init__(self) -> None:
            super().__init__(6, 32, seed=0)
            self.epochs: list[int] = []
            self.seen: list[tuple[int, int]] = []

        def set_epoch(self, epoch: int) -> None:
            self.epochs.append(epoch)

        def __getitem__(self, i: int) -> dict:
            self.seen.append((self.epochs[-1], i))
            return super().__getitem__(i)

    data = Recording()  # 6 pairs, batch 2: 3 steps per epoch; 8 steps = epochs 0, 1 and 2/3 of 2
    train(make_config(tmp_path, "epochs", max_steps=8), train_dataset=data, progress=False)
    assert data.epochs == [0, 1, 2]
    for epoch in (0, 1):
        assert sorted(i for e, i in data.seen if e == epoch) == list(range(6))
    assert len([i for e, i in data.seen if e == 2]) == 4
    assert [i for e, i in data.seen if e == 0] != [i for e, i in data.seen if e == 1]  # reshuffled


def test_fresh_run_in_used_folder_drops_the_old_best(tmp_path, make_config, pairs_train, pairs_val):
    from pocusiq.train.checkpoints import resolve_checkpoint_path

    first = train(make_config(tmp_path, "same", max_steps=2), train_dataset=pairs_train, val_dataset=pairs_val,
                  progress=False)
    assert first.best_checkpoint is not None and first.best_checkpoint.is_file()
    again = train(make_config(tmp_path, "same", max_steps=3), train_dataset=pairs_train, progress=False)
    assert again.best_checkpoint is None  # no validation in this run, and the old best is gone
    assert resolve_checkpoint_path(again.run_dir) == again.run_dir / "last.safetensors"
    assert load_checkpoint(again.run_dir).state["step"] == 3


def test_cli_string_flags_stay_strings(tmp_path):
    import argparse

    from pocusiq.train.command import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    folder = tmp_path / "data: yes #1"
    args = parser.parse_args([str(folder), "--name", "007", "--out", "yes", "--steps", "5", "--set", "seed=2"])
    config = build_config(args)
    assert (config.name, config.out_dir, config.data.root) == ("007", "yes", str(folder))
    assert (config.max_steps, config.seed) == (5, 2)
