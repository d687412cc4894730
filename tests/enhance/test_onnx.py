"""ONNX export: parity with torch (<= 1e-3 on [0, 1]), dynamic H/W, metadata, the export command."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq import Enhancer
from pocusiq.cli import main
from pocusiq.enhance.onnx_export import META_MULTIPLE, export_onnx
from pocusiq.errors import CheckpointError

from .synthetic import speckle_frame


def test_onnx_engine_matches_torch_at_other_sizes(tiny_checkpoint):
    torch_enh = Enhancer.from_checkpoint(tiny_checkpoint, engine="torch")
    onnx_enh = Enhancer.from_checkpoint(tiny_checkpoint, engine="onnx", onnx_threads=1)
    assert onnx_enh.engine_name == "onnx" and onnx_enh.multiple == 8
    rng = np.random.default_rng(0)
    for shape in [(40, 56), (123, 77)]:  # neither is the traced 64x64 size: axes are dynamic
        image = rng.random(shape, dtype=np.float32)
        diff = np.max(np.abs(torch_enh(image) - onnx_enh(image)))
        assert diff <= 1e-3, f"ONNX differs from torch by {diff} at {shape}"
    batch = rng.random((3, 24, 32), dtype=np.float32)
    assert np.max(np.abs(torch_enh.enhance_batch(batch) - onnx_enh.enhance_batch(batch))) <= 1e-3


def test_export_file_metadata_and_from_onnx(tiny_checkpoint, tmp_path):
    import onnx

    from pocusiq.train.checkpoints import load_generator

    module, _ = load_generator(tiny_checkpoint)
    path = tmp_path / "g.onnx"
    export_onnx(module, path, multiple=8, model_name="tiny")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta[META_MULTIPLE] == "8" and meta["pocusiq.model"] == "tiny"
    enhancer = Enhancer.from_checkpoint(path)  # .onnx -> ONNX Runtime
    assert enhancer.engine_name == "onnx" and enhancer.model_name == "tiny"
    image = speckle_frame(30, 45)
    reference = Enhancer.from_checkpoint(tiny_checkpoint)(image)
    assert np.max(np.abs(enhancer(image).astype(int) - reference.astype(int))) <= 1  # uint8 rounding


def test_onnx_without_metadata_is_rejected(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 8, 8]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain", [io[0]], [io[1]])
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(CheckpointError, match="lacks the 'pocusiq.multiple' metadata"):
        Enhancer.from_onnx(path)


def test_export_command_writes_and_refuses_overwrite(tiny_checkpoint, tmp_path, capsys):
    target = tmp_path / "m.onnx"
    assert main(["export", "--onnx", str(target), "--model", str(tiny_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert target.is_file() and "max |diff| =" in out
    diff = float(out.split("max |diff| = ")[1].split()[0])
    assert diff <= 1e-3
    before = target.read_bytes()
    assert main(["export", "--onnx", str(target), "--model", str(tiny_checkpoint)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert main(["export", "--onnx", str(target), "--model", str(tiny_checkpoint), "--overwrite"]) == 0


@pytest.mark.parametrize("norm,skip_sharpen", [("instance", 0.0), ("batch", 0.0), ("batch", 1.0)])
def test_onnx_parity_with_resize_upsampling(norm, skip_sharpen, tmp_path):
    """The nearest x2 + 3x3 conv decoder exports (ONNX Resize) and matches torch at dynamic sizes;
    with batch norm the torch engine folds it into the 3x3 convolution; the unsharp-mask skip path
    (mirror padding, separable Gaussian) exports too."""
    import torch

    from pocusiq.models import build_generator
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.config import ModelConfig, TrainConfig

    torch.manual_seed(0)
    config = TrainConfig(model=ModelConfig(ngf=4, depth=3, norm=norm, upsample="resize",
                                           residual=skip_sharpen > 0, skip_sharpen=skip_sharpen))
    generator = build_generator(config.model)
    if skip_sharpen:  # a trained-looking head, not the zero one of a fresh residual model
        with torch.no_grad():
            for p in generator.head.parameters():
                p.normal_(0, 0.05)
    if norm == "batch":  # non-trivial running statistics, so folding them is tested
        generator.train()
        with torch.no_grad():
            for _ in range(3):
                generator(torch.rand(2, 1, 32, 32) * 2 - 1)
    path = save_checkpoint(tmp_path / "resize.safetensors", generator=generator, config=config)
    torch_enh = Enhancer.from_checkpoint(path, engine="torch")
    onnx_enh = Enhancer.from_checkpoint(path, engine="onnx", onnx_threads=1)
    assert onnx_enh.engine_name == "onnx" and onnx_enh.multiple == 8
    rng = np.random.default_rng(0)
    for shape in [(40, 56), (123, 77)]:
        image = rng.random(shape, dtype=np.float32)
        diff = np.max(np.abs(torch_enh(image) - onnx_enh(image)))
        assert diff <= 1e-3, f"ONNX differs from torch by {diff} at {shape}"
        reference = generator.eval()
        with torch.no_grad():  # and the engine matches the plain module
            from pocusiq.models.inference import enhance_batch

            plain = enhance_batch(reference, torch.from_numpy(image)[None, None])[0, 0].numpy()
        assert np.max(np.abs(torch_enh(image) - plain)) <= 1e-4
