"""Adversarial inputs to ``pocusiq enhance`` / ``pocusiq export`` (issue 13): a diverged model,
outputs inside the input folder, output locations that cannot be written, bad devices.

Each test fails on the code before the fix: NaN outputs came back as an all-black image with rc 0,
export printed ``max |diff| = nan`` with rc 0, ``--out`` inside the input folder re-enhanced its own
outputs (``enh/enh/...``), and an unwritable ``--out`` raised an OSError traceback after the model
had run on every file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pocusiq.cli import main
from pocusiq.imaging.grey import read_grey_image, write_grey_png
from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.tiling import TilingConfig
from pocusiq.errors import PocusiqError

from .synthetic import speckle_frame


class _NaNNet(torch.nn.Module):
    """A diverged generator: every output is NaN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


class _InfNet(torch.nn.Module):
    """An overflowing generator: +inf where the input is bright."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, torch.full_like(x, float("inf")), x)


@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint whose generator weights are all NaN (what ``--set optim.lr=1e30`` produced)."""
    from pocusiq.models import build_generator
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.config import ModelConfig, TrainConfig

    config = TrainConfig(model=ModelConfig(ngf=4, depth=3))
    generator = build_generator(config.model)
    with torch.no_grad():
        for param in generator.parameters():
            param.fill_(float("nan"))
    path = tmp_path_factory.mktemp("nan") / "diverged.safetensors"
    save_checkpoint(path, generator=generator, config=config)
    return path


def _image(folder: Path, name: str = "a.png", seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    write_grey_png(path, speckle_frame(48, 40, seed))
    return path


# --------------------------------------------------------------------------- non-finite outputs
@pytest.mark.parametrize("net", [_NaNNet(), _InfNet()], ids=["nan", "inf"])
def test_enhancer_refuses_non_finite_output(net):
    enhancer = Enhancer(net, multiple=8, tiling=TilingConfig(multiple=8, tile_size=None), model_name="bad")
    with pytest.raises(PocusiqError, match="non-finite"):
        enhancer(speckle_frame(32, 32))


@pytest.mark.parametrize("net", [_NaNNet(), _InfNet()], ids=["nan", "inf"])
def test_device_pipeline_refuses_non_finite_output(net):
    """The device pipeline (all steps after decoding on the torch device; CPU here) takes the same
    inference path and must refuse too, before the clamp turns +inf into white."""
    enhancer = Enhancer(net, multiple=8, tiling=TilingConfig(multiple=8, tile_size=None), pipeline="device")
    with pytest.raises(PocusiqError, match="non-finite"):
        enhancer(speckle_frame(32, 32))


def test_enhance_cli_with_diverged_model_fails_and_writes_no_black_image(nan_checkpoint, tmp_path, capsys):
    source = _image(tmp_path / "in")
    out = tmp_path / "out"
    rc = main(["enhance", str(source), "--model", str(nan_checkpoint), "--out", str(out),
               "--roi", "full", "--engine", "torch"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "non-finite" in err or "NaN" in err
    assert not (out / "a.png").exists()


def test_benchmark_model_method_with_diverged_model_counts_failures(nan_checkpoint, tmp_path, capsys):
    from pocusiq.data.writer import PairedDatasetWriter

    rng = np.random.default_rng(0)
    with PairedDatasetWriter(tmp_path / "ds") as writer:
        for i in range(3):
            img = rng.integers(0, 255, (64, 64), dtype=np.uint8)
            writer.add(f"p{i}", img, img, split="test", source="sim", specimen=f"s{i}")
    rc = main(["benchmark", "--data", str(tmp_path / "ds"), "--method", f"model:{nan_checkpoint}",
               "--out", str(tmp_path / "bench"), "--no-report", "--no-progress"])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert rc != 0
    assert "non-finite" in text or "NaN" in text


# --------------------------------------------------------------------------- export parity
def test_export_of_diverged_model_fails(nan_checkpoint, tmp_path, capsys):
    target = tmp_path / "m.onnx"
    rc = main(["export", "--onnx", str(target), "--model", str(nan_checkpoint)])
    err = capsys.readouterr().err
    assert rc != 0
    assert "nan" in err.lower() or "non-finite" in err
    assert not target.exists()


@pytest.mark.parametrize("measured", [0.25, float("nan")])
def test_export_fails_when_parity_is_not_met(tiny_checkpoint, tmp_path, capsys, monkeypatch, measured):
    import pocusiq.enhance.onnx_export as onnx_export

    monkeypatch.setattr(onnx_export, "onnx_parity", lambda *a, **k: measured)
    target = tmp_path / "m.onnx"
    rc = main(["export", "--onnx", str(target), "--model", str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "parity" in err and "tolerance 1e-03" in err
    assert (f"{measured:.2e}" in err) if measured == measured else ("nan" in err)
    assert not target.exists()  # nothing that fails parity is left for --engine onnx to pick up


def test_export_tolerance_flag_is_respected(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    import pocusiq.enhance.onnx_export as onnx_export

    monkeypatch.setattr(onnx_export, "onnx_parity", lambda *a, **k: 0.01)
    target = tmp_path / "m.onnx"
    assert main(["export", "--onnx", str(target), "--model", str(tiny_checkpoint), "--tolerance", "0.05"]) == 0
    assert target.is_file()


def test_export_onnx_under_a_file_is_refused_before_loading(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    # the model does not exist: the output location must be checked first
    rc = main(["export", "--onnx", str(afile / "m.onnx"), "--model", str(tmp_path / "missing.safetensors")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(afile) in err and "not a folder" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- outputs never inputs
def test_out_inside_input_folder_is_never_an_input(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "scans"
    _image(folder, "a.png", 0)
    _image(folder / "sub", "b.png", 1)
    out = folder / "enh"
    args = ["enhance", str(folder), "--model", str(tiny_checkpoint), "--out", str(out), "--roi", "full",
            "--engine", "torch", "--side-by-side"]
    assert main(args) == 0
    assert main([*args, "--overwrite"]) == 0
    text = capsys.readouterr().out
    assert not (out / "enh").exists()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "a.png", "a_side_by_side.png", "sub/b.png", "sub/b_side_by_side.png"]
    assert text.count("2 of 2 file(s) enhanced") == 2


def test_pocusiq_written_files_elsewhere_are_not_inputs(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "scans"
    _image(folder, "a.png")
    assert main(["enhance", str(folder), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "first"),
                 "--roi", "full", "--engine", "torch"]) == 0
    # the user moves the enhanced folder in beside the scans and enhances the scans again
    shutil.move(str(tmp_path / "first"), str(folder / "old-run"))
    out = tmp_path / "second"
    assert main(["enhance", str(folder), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--roi", "full", "--engine", "torch"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png"]
    assert "skipped 1 file(s) written by pocusiq" in capsys.readouterr().out


# --------------------------------------------------------------------------- output location first
@pytest.mark.parametrize("where", ["afile", "afile/sub"])
def test_out_that_cannot_be_a_folder_is_refused_before_the_model_runs(tmp_path, capsys, where):
    source = _image(tmp_path / "in")
    (tmp_path / "afile").write_text("x")
    rc = main(["enhance", str(source), "--model", str(tmp_path / "missing.safetensors"),
               "--out", str(tmp_path / where)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--out" in err and str(tmp_path / "afile") in err
    assert "checkpoint" not in err  # refused before the model was even looked at
    assert (tmp_path / "afile").read_text() == "x"


@pytest.fixture
def world_readable_dir():
    """A temporary folder other users can enter (pytest's own tmp_path is 0700 under root)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="pocusiq-unwritable-"))
    base.chmod(0o755)
    yield base
    for path in [base, *base.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


def test_unwritable_out_folder_is_refused_before_the_model_runs(tiny_checkpoint, world_readable_dir):
    """A non-root user and a read-only folder. As root (CI containers) permissions do not apply,
    so the CLI runs in a child process as user ``nobody`` (``setpriv``); as a normal user the
    folder's own 0555 mode is enough."""
    root = world_readable_dir
    source = _image(root / "in")
    locked = root / "locked"
    locked.mkdir()
    shutil.copy(tiny_checkpoint, root / "m.safetensors")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    locked.chmod(0o555)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "pocusiq.cli", "enhance", str(source), "--model", str(root / "m.safetensors"),
               "--out", str(locked / "enh"), "--roi", "full", "--engine", "torch"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a folder unwritable")
        if not all(os.stat(p).st_mode & 0o005 == 0o005 for p in root.parents):
            pytest.skip(f"{root}: not reachable by user nobody")
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run([*drop, sys.executable, "-c", "import pocusiq.cli"], capture_output=True,
                               env=env, timeout=60, cwd=root)
        if probe.returncode != 0:
            pytest.skip("user nobody cannot run this checkout's Python (its folders are not world-readable)")
        command = [*drop, *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=root)
    assert done.returncode == 2, done.stderr
    assert "not writable" in done.stderr and str(locked) in done.stderr
    assert "Traceback" not in done.stderr
    assert "model" not in done.stdout  # nothing ran: the model line is printed after loading


# --------------------------------------------------------------------------- devices
@pytest.mark.parametrize("device", ["bogus", "cuda:7"])
def test_enhance_bad_device_is_a_clear_error(tiny_checkpoint, tmp_path, capsys, device):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:  # pragma: no cover
        pytest.skip("this machine has a cuda:7")
    source = _image(tmp_path / "in")
    rc = main(["enhance", str(source), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "out"),
               "--engine", "torch", "--device", device])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"device {device!r}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "a.png").exists()


def test_enhanced_output_of_a_finite_model_is_unchanged_by_the_checks(tiny_checkpoint, tmp_path):
    source = _image(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["enhance", str(source), "--model", str(tiny_checkpoint), "--out", str(out), "--roi", "full",
                 "--engine", "torch"]) == 0
    expected = Enhancer.from_checkpoint(tiny_checkpoint, engine="torch")(read_grey_image(source))
    assert np.array_equal(read_grey_image(out / "a.png"), expected)


def test_negative_thread_count_is_refused(tiny_checkpoint, tmp_path, capsys):
    source = _image(tmp_path / "in")
    assert main(["enhance", str(source), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "out"),
                 "--threads", "-3"]) == 2
    assert "--threads -3: must be >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.tif", "a.dcm", "a.avi"])
def test_every_output_format_is_recognised_as_written_by_pocusiq(identity_enhancer, tmp_path, name):
    from fractions import Fraction

    from pocusiq.enhance.files import enhance_file, written_by_pocusiq

    from .dicom_factory import write_native
    from .test_video import make_video

    source = tmp_path / "in" / name
    source.parent.mkdir()
    if name.endswith(".dcm"):
        write_native(source, speckle_frame(48, 40), "MONOCHROME2")
    elif name.endswith(".avi"):
        make_video(source, frames=3, rate=Fraction(25), codec="mpeg4")
    else:
        from PIL import Image

        Image.fromarray(speckle_frame(48, 40)).save(source)
    out = tmp_path / "out" / name
    enhance_file(identity_enhancer, source, out, roi="full")
    assert not written_by_pocusiq(source)
    assert written_by_pocusiq(out)
