"""Image files and the ``pocusiq enhance`` command: formats, notes, bad inputs, exit codes, overwrite."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pocusiq.cli import main
from pocusiq.enhance.files import NOT_FOR_DIAGNOSIS
from pocusiq.enhance.files import README_NAME, collect_inputs
from pocusiq.errors import ImageFileError

from .dicom_factory import write_native, write_unsupported
from .synthetic import screenshot_frame, speckle_frame


def test_png_grey_16bit_la_palette_round_trips(identity_enhancer, tmp_path):
    grey16 = (speckle_frame(20, 30).astype(np.uint16) * 257)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    la = np.stack([speckle_frame(20, 30), np.full((20, 30), 128, np.uint8)], axis=-1)
    Image.fromarray(la).save(tmp_path / "la.png")
    for name, expected in [("g16.png", grey16), ("la.png", la)]:
        out = identity_enhancer.enhance_file(tmp_path / name, tmp_path / "out" / name, roi="full").output
        got = np.asarray(Image.open(out))
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    palette = Image.fromarray(speckle_frame(20, 30)).convert("P")
    palette.save(tmp_path / "p.png")
    out = identity_enhancer.enhance_file(tmp_path / "p.png", tmp_path / "out" / "p.png", roi="full").output
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(palette.convert("RGB")))


def test_notes_in_png_jpeg_tiff(identity_enhancer, tmp_path):
    rgb, _ = screenshot_frame()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.jpg", quality=95)
    Image.fromarray(speckle_frame(20, 20)).save(tmp_path / "c.tif", compression="tiff_lzw")
    outs = {n: identity_enhancer.enhance_file(tmp_path / n, tmp_path / "o" / n, roi="full").output
            for n in ("a.png", "b.jpg", "c.tif")}
    with Image.open(outs["a.png"]) as img:
        assert img.text["Comment"] == NOT_FOR_DIAGNOSIS
        np.testing.assert_array_equal(np.asarray(img), rgb)  # identity: PNG exact
    with Image.open(outs["b.jpg"]) as img:
        assert img.format == "JPEG" and NOT_FOR_DIAGNOSIS.encode() in img.info["comment"]
    with Image.open(outs["c.tif"]) as img:
        assert img.format == "TIFF" and img.tag_v2[270] == NOT_FOR_DIAGNOSIS
        assert img.info["compression"] == "tiff_lzw"
        np.testing.assert_array_equal(np.asarray(img), speckle_frame(20, 20))


def test_unreadable_and_unsupported_files(identity_enhancer, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageFileError, match=r"bad\.png: cannot read image"):
        identity_enhancer.enhance_file(tmp_path / "bad.png", tmp_path / "o.png")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ImageFileError, match=r"notes\.txt: unsupported file type \.txt"):
        identity_enhancer.enhance_file(tmp_path / "notes.txt", tmp_path / "o.txt")
    with pytest.raises(ImageFileError, match=r"missing\.png: file not found"):
        identity_enhancer.enhance_file(tmp_path / "missing.png", tmp_path / "o.png")


def test_never_writes_onto_the_input(identity_enhancer, tmp_path):
    Image.fromarray(speckle_frame(8, 8)).save(tmp_path / "a.png")
    with pytest.raises(ImageFileError, match="would replace the input"):
        identity_enhancer.enhance_file(tmp_path / "a.png", tmp_path / "a.png", roi="full", overwrite=True)


def test_collect_inputs_walks_folders_and_keeps_structure(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for rel in ("a.png", "sub/b.dcm", "sub/c.mp4", "sub/readme.txt", ".hidden.png"):
        (tmp_path / "in" / rel).write_bytes(b"")
    pairs = collect_inputs([tmp_path / "in", tmp_path / "solo.jpg"])
    assert [str(rel) for _, rel in pairs] == ["a.png", "sub/b.dcm", "sub/c.mp4", "solo.jpg"]


@pytest.fixture
def mixed_inputs(tmp_path):
    folder = tmp_path / "in"
    (folder / "cine").mkdir(parents=True)
    Image.fromarray(speckle_frame(40, 48)).save(folder / "good.png")
    Image.fromarray(screenshot_frame()[0]).save(folder / "shot.jpg")
    write_native(folder / "cine" / "loop.dcm", np.stack([speckle_frame(16, 24, s) for s in range(2)]),
                 "MONOCHROME2", frame_time_ms=40.0)
    (folder / "broken.png").write_bytes(b"not a png")
    write_unsupported(folder / "cine" / "mpeg2.dcm")
    return folder


def test_cli_processes_good_files_reports_bad_ones(mixed_inputs, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["enhance", str(mixed_inputs), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--engine", "torch", "--roi", "full"])
    captured = capsys.readouterr()
    assert code == 1  # not all succeeded
    assert "broken.png: cannot read image" in captured.err
    assert "mpeg2.dcm: unsupported transfer syntax MPEG2" in captured.err
    assert "3 of 5 file(s) enhanced, 2 failed" in captured.out
    for rel in ("good.png", "shot.jpg", "cine/loop.dcm"):
        assert (out / rel).is_file()
    assert not (out / "broken.png").exists() and not (out / "cine" / "mpeg2.dcm").exists()
    readme = (out / README_NAME).read_text()
    assert NOT_FOR_DIAGNOSIS in readme and readme.count("FAILED") == 2 and readme.count("OK ") == 3
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".")]
    assert leftovers == []  # atomic writes leave no temporaries


def test_cli_all_good_exit_zero_no_overwrite_then_overwrite(tiny_checkpoint, tmp_path, capsys):
    Image.fromarray(speckle_frame(40, 48)).save(tmp_path / "a.png")
    args = ["enhance", str(tmp_path / "a.png"), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "o"),
            "--roi", "full", "--engine", "torch"]
    assert main(args) == 0
    target = tmp_path / "o" / "a.png"
    before = target.read_bytes()
    target.write_bytes(b"user's file")  # must not be replaced without --overwrite
    assert main(args) == 1
    assert "already exists (pass --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"user's file"
    assert main([*args, "--overwrite"]) == 0
    assert target.read_bytes() == before  # deterministic result, written again
    assert (tmp_path / "o" / README_NAME).read_text().count("== pocusiq") == 3  # appended per run


def test_cli_region_not_found_and_bad_roi(tiny_checkpoint, tmp_path, capsys):
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "blank.png")
    code = main(["enhance", str(tmp_path / "blank.png"), "--model", str(tiny_checkpoint),
                 "--out", str(tmp_path / "o"), "--engine", "torch"])
    err = capsys.readouterr().err
    assert code == 1 and "blank.png" in err and "imaging region not found" in err
    assert "pass --roi full to enhance the whole frame" in err
    code = main(["enhance", str(tmp_path / "blank.png"), "--model", str(tiny_checkpoint),
                 "--out", str(tmp_path / "o"), "--roi", "1,2,3", "--engine", "torch"])
    assert code == 2 and "four integers" in capsys.readouterr().err


def test_cli_box_roi_and_side_by_side_with_onnx(tiny_checkpoint, tmp_path, capsys):
    frame, box = screenshot_frame()
    Image.fromarray(frame).save(tmp_path / "shot.png")
    roi = ",".join(str(v) for v in box)
    code = main(["enhance", str(tmp_path / "shot.png"), "--model", str(tiny_checkpoint), "--out",
                 str(tmp_path / "o"), "--roi", roi, "--side-by-side", "--engine", "onnx", "--threads", "1"])
    assert code == 0 and "engine onnx" in capsys.readouterr().out
    out = np.asarray(Image.open(tmp_path / "o" / "shot.png"))
    x, y, w, h = box
    inside = np.zeros(frame.shape[:2], bool)
    inside[y : y + h, x : x + w] = True
    np.testing.assert_array_equal(out[~inside], frame[~inside])
    assert np.any(out[inside] != frame[inside])
    side = np.asarray(Image.open(tmp_path / "o" / "shot_side_by_side.png"))
    np.testing.assert_array_equal(side, np.concatenate([frame, out], axis=1))


def test_cli_no_inputs_found(tiny_checkpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["enhance", str(tmp_path / "empty"), "--model", str(tiny_checkpoint), "--out",
                 str(tmp_path / "o")]) == 2
    assert "no image, DICOM or video files found" in capsys.readouterr().err


def test_read_image_greyscale_goes_through_the_dataset_reader(tmp_path):
    from pocusiq.imaging.grey import read_grey_image
    from pocusiq.imaging.still import read_image

    bits = speckle_frame(12, 16) > 100
    Image.fromarray(bits).convert("1").save(tmp_path / "bw.png")
    still = read_image(tmp_path / "bw.png")
    assert still.format == "PNG" and still.pixels.dtype == np.uint8
    np.testing.assert_array_equal(still.pixels, bits.astype(np.uint8) * 255)
    grey16 = speckle_frame(12, 16).astype(np.uint16) * 257
    Image.fromarray(grey16).save(tmp_path / "g16.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "g16.tif").pixels, read_grey_image(tmp_path / "g16.tif"))
    # a PNG whose header is intact but whose pixel data is cut off
    Image.fromarray(speckle_frame(64, 64)).save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    with pytest.raises(ImageFileError, match=r"cut\.png: cannot decode image, truncated or corrupt"):
        read_image(tmp_path / "cut.png")
