"""Unpaired CUT adaptation: data folders, PatchNCE, one step, exact resume, CLI, 2-process gloo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from pocusiq.errors import ConfigError, DatasetError
from pocusiq.train.checkpoints import load_checkpoint
from pocusiq.train.config import DataConfig, DiscriminatorConfig, LossConfig, ModelConfig, TrainConfig, UnpairedConfig
from pocusiq.train.unpaired import UnpairedDataset, list_images, patch_nce_loss, train_unpaired


def _speckle(rng, shape, sigma=1.0):
    img = ndimage.gaussian_filter(rng.rayleigh(1.0, shape), sigma)
    return img / img.max()


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """3 'screenshots' (speckle region in a black frame with a white UI label) and 3 'high-end' images."""
    rng = np.random.default_rng(0)
    pocus, high = tmp_path / "pocus", tmp_path / "high"
    pocus.mkdir()
    high.mkdir()
    for i, name in enumerate(("a.png", "b.png", "held.png")):
        frame = np.zeros((200, 240), np.uint8)
        frame[30:190, 50:200] = (40 + 180 * _speckle(rng, (160, 150))).astype(np.uint8)
        frame[5:15, 5:40] = 255  # UI text block outside the imaging region
        Image.fromarray(frame).save(pocus / name)
    for i in range(3):
        Image.fromarray((255 * _speckle(rng, (80, 90), 2.0)).astype(np.uint8)).save(high / f"h{i}.png")
    return pocus, high


def cut_config(tmp_path: Path, pocus: Path, high: Path, **kw) -> TrainConfig:
    cfg = TrainConfig(
        name=kw.pop("name", "cut"), out_dir=str(tmp_path / "runs"), seed=4, max_steps=kw.pop("max_steps", 4),
        checkpoint_every=2, log_every=1, device="cpu",
        model=ModelConfig(ngf=4, depth=3, dropout=0.0, residual=True),
        discriminator=DiscriminatorConfig(in_channels=1, ndf=4, n_layers=2),
        loss=LossConfig(lambda_l1=0, lambda_ssim=0, lambda_lowfreq=50, lambda_structure=5, lambda_invented=50),
        data=DataConfig(crop=32, batch_size=2),
        unpaired=UnpairedConfig(enabled=True, pocus_dir=str(pocus), highend_dir=str(high), holdout="held*",
                                crops_per_epoch=4, nce_layers="0,1", nce_patches=16, nce_dim=8, spacing_mm=0.05),
    )
    data = cfg.to_dict()
    for key, value in kw.items():
        node = data
        *parents, last = key.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return TrainConfig.from_dict(data)


def test_dataset_holds_out_crops_the_region_and_is_reproducible(folders):
    pocus, high = folders
    used, held = list_images(pocus, "held*")
    assert [p.name for p in used] == ["a.png", "b.png"] and [p.name for p in held] == ["held.png"]
    ds = UnpairedDataset(pocus, high, crop=32, holdout="held*", seed=1, spacing_mm=0.05)
    assert [im.shape for im in ds.pocus] == [(160, 150), (160, 150)]  # the imaging region, not the frame
    assert len(ds) == 16 and ds.spacing_mm == 0.05
    item, again = ds[3], UnpairedDataset(pocus, high, crop=32, holdout="held*", seed=1)[3]
    assert item["low"].shape == (1, 32, 32) and item["high"].shape == (1, 32, 32)
    assert torch.equal(item["low"], again["low"]) and torch.equal(item["high"], again["high"])
    assert float(item["low"].min()) > 0.1  # no black margin or UI inside the crops
    with pytest.raises(DatasetError, match="no training images"):
        list_images(pocus, "*.png")
    with pytest.raises(DatasetError, match="smaller than the crop"):
        UnpairedDataset(pocus, high, crop=96)


def test_patch_nce_prefers_the_matching_patch():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(2, 32, 8), dim=-1)
    matched = float(patch_nce_loss(q, q))
    shuffled = float(patch_nce_loss(q, q[:, torch.randperm(32)]))
    assert matched < 0.5 < np.log(32) - 1 < shuffled


def test_cut_trains_resumes_exactly_and_records_spacing(tmp_path, folders):
    pocus, high = folders
    full = train_unpaired(cut_config(tmp_path, pocus, high, name="full"), progress=False)
    part_cfg = cut_config(tmp_path, pocus, high, name="part")
    first = train_unpaired(part_cfg, progress=False, max_steps_this_run=2)
    assert first.step == 2
    rest = train_unpaired(part_cfg, progress=False, resume=True)
    assert rest.step == 4
    a, b = load_checkpoint(full.last_checkpoint), load_checkpoint(rest.last_checkpoint)
    for key in a.generator:
        assert torch.equal(a.generator[key], b.generator[key]), key
    assert set(a.optimizers) == {"G", "D", "F"} and any(k.startswith("heads.") for k in a.discriminator)
    assert a.spacing_mm == pytest.approx(0.05)
    # the generator moved off its identity start, and PatchNCE was logged
    torch.manual_seed(0)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    g = a.build_generator()
    assert not torch.equal(g(x), x)
    log = (full.run_dir / "train_log.csv").read_text().splitlines()
    header = log[0].split(",")
    assert float(log[-1].split(",")[header.index("loss_nce")]) > 0


def test_unpaired_config_needs_fidelity_terms_and_an_unconditional_discriminator(tmp_path, folders):
    pocus, high = folders
    with pytest.raises(ConfigError, match="lambda_lowfreq"):
        cut_config(tmp_path, pocus, high, loss__lambda_lowfreq=0.0).validate()
    with pytest.raises(ConfigError, match="in_channels"):
        cut_config(tmp_path, pocus, high, discriminator__in_channels=2).validate()
    with pytest.raises(ConfigError, match="lambda_l1"):
        cut_config(tmp_path, pocus, high, loss__lambda_l1=1.0).validate()


def test_cli_unpaired_flags_build_the_config(folders):
    import argparse

    from pocusiq.train.command import add_arguments, build_config

    pocus, high = folders
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--unpaired", "--pocus", str(pocus), "--highend", str(high), "--holdout", "held*",
                              "--set", "loss.lambda_invented=7"])
    config = build_config(args)
    assert config.unpaired.enabled and config.unpaired.pocus_dir == str(pocus) and config.unpaired.holdout == "held*"
    assert config.discriminator.in_channels == 1 and config.loss.lambda_l1 == 0 and config.loss.lambda_lowfreq > 0
    assert config.loss.lambda_invented == 7  # user overrides win
    with pytest.raises(ConfigError, match="need --unpaired"):
        build_config(parser.parse_args(["data", "--pocus", str(pocus)]))


SCRIPT = """
import sys, torch
from pocusiq.train.config import load_config
from pocusiq.train.unpaired import train_unpaired
torch.set_num_threads(1)
train_unpaired(load_config(sys.argv[1]), progress=False)
"""


@pytest.mark.slow
def test_two_gloo_processes_run_cut(tmp_path, folders):
    from pocusiq.train.config import save_config

    pocus, high = folders
    config = cut_config(tmp_path, pocus, high, name="ddp", max_steps=2)
    save_config(config, tmp_path / "cut.yaml")
    (tmp_path / "cut.py").write_text(SCRIPT)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), str(tmp_path / "cut.py"), str(tmp_path / "cut.yaml")]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ck = load_checkpoint(config.run_dir / "last.safetensors")
    assert ck.state["world_size"] == 2 and ck.state["step"] == 2 and {"torch.rank0", "torch.rank1"} <= set(ck.rng)
