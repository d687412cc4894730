"""Checkpoints: safetensors round trip (weights, optimiser state, config, state, RNG) and refusals."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from pocusiq.errors import CheckpointError
from pocusiq.models import build_discriminator, build_generator
from pocusiq.train.checkpoints import load_checkpoint, load_generator, load_module_state, save_checkpoint
from pocusiq.train.config import ModelConfig, TrainConfig


def _trained(config: TrainConfig):
    torch.manual_seed(0)
    g, d = build_generator(config.model), build_discriminator(config.discriminator)
    og = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))
    x = torch.rand(2, 1, 32, 32)
    for _ in range(2):
        og.zero_grad()
        od.zero_grad()
        (g(x).mean() + d(x, g(x)).mean()).backward()
        og.step()
        od.step()
    return g, d, og, od


def test_round_trip(tmp_path, make_config):
    config = make_config(tmp_path)
    g, d, og, od = _trained(config)
    rng = torch.get_rng_state()
    path = save_checkpoint(tmp_path / "run" / "last.safetensors", generator=g, discriminator=d,
                           optimizers={"G": og, "D": od}, config=config, state={"step": 2, "best_ssim": 0.5},
                           rng={"torch.rank0": rng})
    ck = load_checkpoint(path)
    assert ck.config == config
    assert ck.state == {"step": 2, "best_ssim": 0.5}
    assert torch.equal(ck.rng["torch.rank0"], rng)
    for k, v in g.state_dict().items():
        assert torch.equal(ck.generator[k], v)
    for k, v in d.state_dict().items():
        assert torch.equal(ck.discriminator[k], v)
    og2 = torch.optim.Adam(build_generator(config.model).parameters())
    og2.load_state_dict(ck.optimizers["G"])
    sd, sd2 = og.state_dict(), og2.state_dict()
    assert sd2["param_groups"][0]["lr"] == 1e-3 and tuple(sd2["param_groups"][0]["betas"]) == (0.5, 0.999)
    assert ck.optimizers["D"]["param_groups"][0]["lr"] == 2e-3
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            assert torch.equal(sd2["state"][idx][key], value)
    # config.json beside the checkpoint
    assert TrainConfig.from_dict(json.loads((tmp_path / "run" / "config.json").read_text())) == config


def test_load_generator_eval_mode_and_same_output(tmp_path, make_config):
    config = make_config(tmp_path)
    g, d, og, od = _trained(config)
    save_checkpoint(tmp_path / "r" / "best.safetensors", generator=g, config=config)
    model, model_config = load_generator(tmp_path / "r")  # a run folder resolves to best
    assert model_config == config.model and not model.training
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    assert torch.equal(model(x), g.eval()(x))


def test_file_is_safetensors_not_pickle(tmp_path, make_config):
    config = make_config(tmp_path)
    path = save_checkpoint(tmp_path / "c.safetensors", generator=build_generator(config.model), config=config)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"]["format"] == "pocusiq.checkpoint/1"
    assert not raw.startswith(b"\x80")  # no pickle protocol marker


def test_refuses_corrupt_truncated_foreign_and_missing(tmp_path, make_config):
    from safetensors.torch import save_file

    config = make_config(tmp_path)
    good = save_checkpoint(tmp_path / "good.safetensors", generator=build_generator(config.model), config=config)
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="trunc.safetensors: not a readable safetensors checkpoint"):
        load_checkpoint(trunc)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04\x95 this is a pickle, not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="foreign.safetensors: not a pocusiq checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="nothere.safetensors: checkpoint file not found"):
        load_checkpoint(tmp_path / "nothere.safetensors")
    with pytest.raises(CheckpointError, match="neither best.safetensors nor last.safetensors"):
        load_generator(tmp_path / "emptyrun" if (tmp_path / "emptyrun").mkdir() is None else None)


def test_refuses_mismatched_model(tmp_path, make_config):
    config = make_config(tmp_path)
    path = save_checkpoint(tmp_path / "c.safetensors", generator=build_generator(config.model), config=config)
    ck = load_checkpoint(path)
    other = build_generator(ModelConfig(ngf=8, depth=3))
    with pytest.raises(CheckpointError, match=r"c.safetensors: generator weight .* has shape"):
        load_module_state(other, ck.generator, path, "generator")
    deeper = build_generator(ModelConfig(ngf=4, depth=4))
    with pytest.raises(CheckpointError, match=r"c.safetensors: generator weights do not match the model \(missing"):
        load_module_state(deeper, ck.generator, path, "generator")


def test_atomic_write_leaves_old_file_on_failure(tmp_path, make_config):
    config = make_config(tmp_path)
    path = save_checkpoint(tmp_path / "c.safetensors", generator=build_generator(config.model), config=config,
                           state={"step": 1})
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        save_checkpoint(path, generator=build_generator(config.model), config=config, state={"step": object()})
    assert load_checkpoint(path).state == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors", "config.json"]


def test_refuses_invalid_metadata(tmp_path, make_config):
    from safetensors.torch import save_file

    config = make_config(tmp_path)
    good = {"generator.w": torch.zeros(2)}
    meta = {"format": "pocusiq.checkpoint/1", "config": config.to_json(), "state": "{}", "optimizers": "{}"}
    path = tmp_path / "m.safetensors"
    save_file(good, str(path), metadata={**meta, "state": "[1, 2]"})
    with pytest.raises(CheckpointError, match="m.safetensors: checkpoint metadata is invalid: state is not a JSON"):
        load_checkpoint(path)
    bad_model = json.loads(config.to_json())
    bad_model["model"]["depth"] = 0
    save_file(good, str(path), metadata={**meta, "config": json.dumps(bad_model)})
    with pytest.raises(CheckpointError, match=r"m.safetensors: checkpoint metadata is invalid: model.depth must be"):
        load_checkpoint(path)
    save_file(good, str(path), metadata={**meta, "optimizers": '{"G": [1]}'})
    with pytest.raises(CheckpointError, match="m.safetensors: optimiser state is invalid"):
        load_checkpoint(path)


def test_upsample_is_recorded_and_old_checkpoints_load_as_transpose(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    torch.manual_seed(0)
    resize = TrainConfig(model=ModelConfig(ngf=4, depth=3, upsample="resize", residual=True))
    g = build_generator(resize.model)
    torch.nn.init.normal_([m for m in g.head if isinstance(m, torch.nn.Conv2d)][-1].weight, 0, 0.1)
    path = save_checkpoint(tmp_path / "resize.safetensors", generator=g, config=resize)
    model, model_config = load_generator(path)
    assert model_config.upsample == "resize" and model.upsample == "resize"
    x = torch.rand(1, 1, 24, 40) * 2 - 1
    assert torch.equal(model(x), g.eval()(x)) and not torch.equal(model(x), x)

    # a checkpoint written before the option existed: no "upsample" key in its config
    transpose = TrainConfig(model=ModelConfig(ngf=4, depth=3))
    old = save_checkpoint(tmp_path / "old.safetensors", generator=build_generator(transpose.model), config=transpose)
    with safe_open(str(old), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    config = json.loads(metadata["config"])
    del config["model"]["upsample"]
    metadata["config"] = json.dumps(config)
    save_file(tensors, str(old), metadata=metadata)
    model, model_config = load_generator(old)
    assert model_config.upsample == "transpose" and model.upsample == "transpose"
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    # the weights of one kind do not load into the other (different layers): a clear refusal
    config["model"]["upsample"] = "resize"
    metadata["config"] = json.dumps(config)
    save_file(tensors, str(tmp_path / "mismatch.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError):
        load_generator(tmp_path / "mismatch.safetensors")


def test_float16_export_halves_the_file_and_keeps_the_output(tmp_path, make_config):
    """A shipped model stored in float16 loads into the float32 network (load casts) and gives the
    same image within float16's precision; training checkpoints refuse it (resume must be exact)."""
    config = make_config(tmp_path)
    g, d, og, _ = _trained(config)
    g.eval()
    full = save_checkpoint(tmp_path / "f32.safetensors", generator=g, config=config, write_config_json=False)
    half = save_checkpoint(tmp_path / "f16.safetensors", generator=g, config=config, write_config_json=False,
                           weights_dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_generator(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        diff = (loaded(x) - g(x)).abs().max().item()
    assert 0 < diff < 1e-2  # rounded (not bit-identical), within 1 grey level of 255 in [-1, 1]
    with pytest.raises(CheckpointError, match="generator-only"):
        save_checkpoint(tmp_path / "x.safetensors", generator=g, optimizers={"G": og}, config=config,
                        weights_dtype=torch.float16)
    big = build_generator(config.model)
    with torch.no_grad():
        next(big.parameters()).fill_(1e6)  # beyond float16's 65504
    with pytest.raises(CheckpointError, match="do not fit"):
        save_checkpoint(tmp_path / "y.safetensors", generator=big, config=config, weights_dtype=torch.float16)
