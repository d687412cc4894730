"""PIQE: parity with pypiqe and pyiqa, masks, invariances and errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pocusiq import metrics


def _smooth_textured(shape, seed):
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.normal(size=shape), 3.0)
    base = (base - base.min()) / (base.max() - base.min())
    noisy = base * 200 + rng.normal(0, 6, shape) + 20
    img = np.clip(noisy, 0, 255)
    img[0, 0] = 255  # max 255: the scaling 255 * I / max leaves values unrounded
    return img.astype(np.uint8)


@pytest.mark.parametrize("shape", [(128, 160), (101, 77)])
def test_matches_pypiqe_on_synthetic_images(shape, speckle_image):
    pypiqe = pytest.importorskip("pypiqe")
    for img in (speckle_image(shape, seed=7), _smooth_textured(shape, seed=8)):
        ours = metrics.piqe_maps(img)
        score, artifact, noise, activity = pypiqe.piqe(img)
        assert ours.score == pytest.approx(score, rel=0.01)
        # The masks agree block for block (allowing a block or two on threshold ties).
        for mine, theirs in ((ours.activity_mask, activity), (ours.artifact_mask, artifact), (ours.noise_mask, noise)):
            assert mine.shape == img.shape
            assert np.mean(mine != theirs) <= 2 * 256 / img.size


@pytest.mark.shared_data
def test_matches_reference_values_within_1_percent(reference_rows):
    for name, image, ref in reference_rows:
        got = metrics.piqe(image)
        assert got == pytest.approx(ref["piqe_pypiqe"], rel=0.01), name
        assert got == pytest.approx(ref["piqe_pyiqa"], rel=0.01), name


def test_uniform_image_scores_100():
    assert metrics.piqe(np.full((64, 64), 90, np.uint8)) == pytest.approx(100.0)
    assert metrics.piqe(np.zeros((32, 48), np.uint8)) == pytest.approx(100.0)


def test_range_direction_and_scale_invariance(speckle_image):
    img = _smooth_textured((128, 128), seed=2)
    s = metrics.piqe(img)
    assert 0.0 <= s <= 100.0
    # PIQE rescales by the image maximum: a uint16 copy scaled by 2 and a float copy give the same.
    assert metrics.piqe(img.astype(np.uint16) * 2) == pytest.approx(s, rel=1e-12)
    assert metrics.piqe(img / 255.0) == pytest.approx(s, rel=1e-12)
    rng = np.random.default_rng(0)
    noisier = np.clip(img + rng.normal(0, 30, img.shape), 0, 255).astype(np.uint8)
    assert metrics.piqe(noisier) > s


def test_activity_mask_follows_texture():
    img = np.zeros((64, 64), np.uint8)
    rng = np.random.default_rng(3)
    img[:, 32:] = rng.integers(0, 256, (64, 32))  # right half textured, left half flat
    res = metrics.piqe_maps(img)
    assert not res.activity_mask[:, :16].any()
    assert res.activity_mask[:, 40:].all()
    assert not (res.artifact_mask & ~res.activity_mask).any()
    assert not (res.noise_mask & ~res.activity_mask).any()


def test_batch_and_determinism():
    imgs = np.stack([_smooth_textured((48, 64), seed=s) for s in range(3)])
    got = metrics.piqe(imgs)
    assert got.shape == (3,)
    np.testing.assert_array_equal(got, [metrics.piqe(i) for i in imgs])


@pytest.mark.parametrize("shape", [(15, 100), (100, 8)])
def test_too_small_raises(shape):
    with pytest.raises(ValueError, match=r"PIQE needs an image of at least 16x16 pixels"):
        metrics.piqe(np.zeros(shape, np.uint8))


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-negative"):
        metrics.piqe(np.full((32, 32), -1.0))
    with pytest.raises(TypeError, match="numpy array"):
        metrics.piqe([[0] * 32] * 32)
    with pytest.raises(ValueError, match=r"shape \(H, W\)"):
        metrics.piqe_maps(np.zeros((2, 32, 32), np.uint8))
