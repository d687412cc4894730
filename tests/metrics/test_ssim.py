"""SSIM: known values, parity with scikit-image, numpy/torch agreement, gradients, input errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from pocusiq import metrics
from pocusiq.metrics.ssim import SSIM_RADIUS, gaussian_window_1d


def _pair(seed: int = 0, shape=(64, 72)):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    ref = (127 + 80 * np.sin(xx / 7.0) * np.cos(yy / 11.0)).astype(np.uint8)
    noisy = np.clip(ref + rng.normal(0, 25, shape), 0, 255).astype(np.uint8)
    return noisy, ref


def test_identical_images_give_one():
    _, ref = _pair()
    assert metrics.ssim(ref, ref) == pytest.approx(1.0, abs=1e-12)


def test_window_is_11_taps_sigma_1p5_normalised():
    w = gaussian_window_1d()
    assert w.shape == (11,)
    assert w.sum() == pytest.approx(1.0)
    assert w[SSIM_RADIUS + 1] / w[SSIM_RADIUS] == pytest.approx(np.exp(-1 / (2 * 1.5**2)))


def test_interior_map_matches_skimage_exactly():
    x, ref = _pair()
    expected = structural_similarity(
        x, ref, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    smap = metrics.ssim_map(x, ref)
    r = SSIM_RADIUS
    assert smap[r:-r, r:-r].mean() == pytest.approx(expected, rel=1e-9)
    # The full-image (MATLAB) mean differs only through the border pixels.
    assert metrics.ssim(x, ref) == pytest.approx(expected, abs=0.02)
    assert metrics.ssim(x, ref) != pytest.approx(expected, abs=1e-9)


def test_constant_images_known_value():
    # Constant images: variances 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 100.0, 140.0
    c1 = (0.01 * 255) ** 2
    x = np.full((20, 20), a, np.uint8)
    ref = np.full((20, 20), b, np.uint8)
    assert metrics.ssim(x, ref) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12)


def test_float_needs_data_range_and_scale_invariance():
    x, ref = _pair(1)
    with pytest.raises(ValueError, match="data_range is required for float images"):
        metrics.ssim(x.astype(np.float32), ref.astype(np.float32))
    s_uint8 = metrics.ssim(x, ref)
    s_float = metrics.ssim(x / 255.0, ref / 255.0, data_range=1.0)
    assert s_float == pytest.approx(s_uint8, rel=1e-10)


def test_symmetric_and_worse_with_more_noise():
    x, ref = _pair(2)
    assert metrics.ssim(x, ref) == pytest.approx(metrics.ssim(ref, x), rel=1e-12)
    rng = np.random.default_rng(3)
    worse = np.clip(ref + rng.normal(0, 60, ref.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(worse, ref) < metrics.ssim(x, ref)


def test_batched_matches_per_image():
    pairs = [_pair(s) for s in range(3)]
    xb = np.stack([p[0] for p in pairs])
    rb = np.stack([p[1] for p in pairs])
    got = metrics.ssim(xb, rb)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [metrics.ssim(p[0], p[1]) for p in pairs], rtol=1e-12)


def test_torch_matches_numpy_and_has_gradients():
    torch = pytest.importorskip("torch")
    pairs = [_pair(s, (48, 40)) for s in range(2)]
    xb = np.stack([p[0] for p in pairs])
    rb = np.stack([p[1] for p in pairs])
    expected = metrics.ssim(xb, rb)
    xt = torch.tensor(xb[:, None] / 255.0, dtype=torch.float32, requires_grad=True)
    rt = torch.tensor(rb[:, None] / 255.0, dtype=torch.float32)
    per = metrics.ssim_torch(xt, rt, reduction="none")
    np.testing.assert_allclose(per.detach().numpy(), expected, atol=1e-4)
    mean = metrics.ssim_torch(xt, rt)
    assert mean.item() == pytest.approx(expected.mean(), abs=1e-4)
    assert metrics.ssim_torch(xt, rt, reduction="sum").item() == pytest.approx(expected.sum(), abs=2e-4)
    (1 - mean).backward()
    assert xt.grad is not None and torch.isfinite(xt.grad).all() and xt.grad.abs().sum() > 0
    # Scaling the images and the data range together leaves SSIM unchanged.
    per2 = metrics.ssim_torch(xt.detach() * 2, rt * 2, data_range=2.0, reduction="none")
    np.testing.assert_allclose(per2.numpy(), per.detach().numpy(), atol=1e-5)


def test_torch_low_precision_inputs_computed_in_float32():
    torch = pytest.importorskip("torch")
    x, ref = _pair(4, (40, 40))
    expected = metrics.ssim(x, ref)
    xt = torch.tensor(x[None, None] / 255.0, dtype=torch.bfloat16)
    rt = torch.tensor(ref[None, None] / 255.0, dtype=torch.bfloat16)
    got = metrics.ssim_torch(xt, rt)
    assert got.dtype == torch.float32
    # Only the inputs' rounding to bfloat16 (8 significant bits) is left.
    assert got.item() == pytest.approx(expected, abs=5e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = metrics.ssim_torch(xt.float(), rt.float())
    assert under_autocast.dtype == torch.float32
    assert under_autocast.item() == pytest.approx(got.item(), abs=1e-6)


def test_torch_input_errors():
    torch = pytest.importorskip("torch")
    a = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"expected shape \(N, C, H, W\)"):
        metrics.ssim_torch(a[0], a[0])
    with pytest.raises(ValueError, match="same shape"):
        metrics.ssim_torch(a, torch.zeros(1, 1, 8, 9))
    with pytest.raises(TypeError, match="floating point"):
        metrics.ssim_torch(a.to(torch.uint8), a.to(torch.uint8))
    with pytest.raises(ValueError, match="reduction"):
        metrics.ssim_torch(a, a, reduction="max")


@pytest.mark.parametrize(
    ("x", "ref", "exc", "msg"),
    [
        (np.zeros((2, 4, 4, 3), np.uint8), np.zeros((2, 4, 4, 3), np.uint8), ValueError, "greyscale image of shape"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), ValueError, "same shape"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), ValueError, "looks like a colour"),
        (np.full((4, 4), np.nan), np.zeros((4, 4)), ValueError, "NaN"),
        ([[1, 2], [3, 4]], np.zeros((2, 2), np.uint8), TypeError, "numpy array"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint16), TypeError, "different dtypes"),
        (np.zeros((4, 4), np.complex64), np.zeros((4, 4), np.complex64), TypeError, "unsupported dtype"),
    ],
)
def test_input_errors(x, ref, exc, msg):
    with pytest.raises(exc, match=msg):
        metrics.ssim(x, ref)


def test_bad_data_range():
    x, ref = _pair()
    with pytest.raises(ValueError, match="positive finite"):
        metrics.ssim(x, ref, data_range=0)


def test_importing_metrics_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from pocusiq import metrics; metrics.ssim; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_metric_registry_directions():
    assert set(metrics.METRICS) >= {"ssim", "psnr", "niqe", "piqe", "gcnr", "cnr"}
    assert metrics.METRICS["ssim"].function is metrics.ssim
    assert metrics.METRICS["ssim"].higher_is_better and metrics.METRICS["psnr"].higher_is_better
    assert not metrics.METRICS["niqe"].higher_is_better and not metrics.METRICS["piqe"].higher_is_better
    assert metrics.METRICS["psnr"].unit == "dB"
    kinds = {name: m.kind for name, m in metrics.METRICS.items()}
    assert {k: kinds[k] for k in ("ssim", "psnr", "niqe", "piqe", "gcnr", "cnr")} == {
        "ssim": "full-reference", "psnr": "full-reference", "niqe": "no-reference", "piqe": "no-reference",
        "gcnr": "region", "cnr": "region"}
    assert metrics.METRICS["ssim"].full_reference and not metrics.METRICS["niqe"].full_reference
    import inspect

    for m in metrics.METRICS.values():  # every declared option is a real keyword of the function
        params = inspect.signature(m.function).parameters
        assert all(o in params for o in m.options), m.name
