"""Pair quality: a registered pair passes, an unrelated or shifted one is rejected with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from pocusiq.pair.quality import PairQuality, pair_quality


def _structure(rng, shape=(128, 128)):
    return ndi.gaussian_filter(rng.normal(size=shape), 6)


def _speckled(rng, structure):
    speckle = np.abs(rng.normal(size=structure.shape) + 1j * rng.normal(size=structure.shape))
    return (structure - structure.min() + 0.2) * speckle


def test_registered_pair_accepted_unrelated_rejected():
    rng = np.random.default_rng(0)
    tissue = _structure(rng)
    low = _speckled(rng, tissue)  # the same tissue, independent speckle, other gain
    high = 3.0 * _speckled(rng, tissue) + 10
    other = _speckled(rng, _structure(rng))
    good = pair_quality(low, high, spacing_mm=0.2, smoothing_mm=1.0)
    bad = pair_quality(other, high, spacing_mm=0.2, smoothing_mm=1.0)
    assert good.ncc > 0.6 and good.verdict(0.3) == ""
    assert bad.ncc < 0.3
    assert bad.verdict(0.3) == f"low NCC {bad.ncc:.2f} < 0.30"
    assert good.nmi > bad.nmi >= 1.0


def test_shifted_pair_scores_lower():
    rng = np.random.default_rng(1)
    tissue = _structure(rng, (160, 160))
    a = _speckled(rng, tissue)[16:144, 16:144]
    b = _speckled(rng, tissue)
    aligned = pair_quality(a, b[16:144, 16:144], spacing_mm=0.2)
    shifted = pair_quality(a, b[16:144, 32:160], spacing_mm=0.2)
    assert aligned.ncc > shifted.ncc + 0.2


def test_constant_image_and_bad_args():
    flat = np.ones((32, 32))
    q = pair_quality(flat, np.random.default_rng(2).random((32, 32)), spacing_mm=0.1)
    assert np.isnan(q.ncc) and "undefined" in q.verdict(0.3)
    with pytest.raises(ValueError, match="equal shape"):
        pair_quality(np.zeros((4, 4)), np.zeros((4, 5)), spacing_mm=0.1)
    assert PairQuality(ncc=0.5, nmi=1.1).verdict(0.3) == ""
