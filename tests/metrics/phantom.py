"""Synthetic B-mode test images: displayed speckle with planted wires and cysts (known answers)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def gaussian_spot(shape, centre, sigma, amplitude=100.0, background=10.0):
    """``background + amplitude * exp(-d^2 / 2 sigma^2)``, float64 ``shape``; sigma per axis (px)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    r0, c0 = centre
    return background + amplitude * np.exp(-0.5 * (((yy - r0) / sigma[0]) ** 2 + ((xx - c0) / sigma[1]) ** 2))


def speckle_envelope(shape, seed, psf=(1.0, 1.5)):
    """Fully developed speckle envelope (Rayleigh), PSF sigma ``psf`` px, median 1."""
    rng = np.random.default_rng(seed)
    iq = ndimage.gaussian_filter(rng.normal(size=shape), psf) + 1j * ndimage.gaussian_filter(rng.normal(size=shape), psf)
    env = np.abs(iq)
    return env / np.median(env)


def to_display(env, smooth=1.0):
    """Envelope -> 60 dB display uint8, smoothed over ``smooth`` px first as a scanner's display is
    (the real frames' speckle spreads ~12 grey levels; raw log-compressed speckle ~24, with
    pixel-size nulls)."""
    env = np.sqrt(ndimage.gaussian_filter(env**2, smooth)) if smooth else env
    db = 20 * np.log10(env / (30 * np.median(env)) + 1e-12)
    return np.clip(np.round((db + 60) / 60 * 255), 0, 255).astype(np.uint8)


WIRES = [(40.3, 50.6), (60.0, 180.2), (128.7, 128.4), (200.2, 70.9), (215.5, 215.5)]
CYST = (80, 90, 20)  # row, col, radius (px)
BRIGHT = (170, 170, 25)


def phantom_envelope(seed, *, wires=True, cyst=True, bright=False, shape=(256, 256)):
    """Speckle with wires 24 dB above the mean speckle (PSF-sized), an anechoic cyst, a +10 dB target."""
    env = speckle_envelope(shape, seed)
    if wires:
        for r, c in WIRES:
            env = env + 16.0 * gaussian_spot(shape, (r, c), (1.2, 1.8), amplitude=1.0, background=0.0)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    if cyst:
        r, c, rad = CYST
        env = env * np.where((yy - r) ** 2 + (xx - c) ** 2 < rad**2, 0.001, 1.0)
    if bright:
        r, c, rad = BRIGHT
        env = env * np.where((yy - r) ** 2 + (xx - c) ** 2 < rad**2, 3.0, 1.0)
    return env


def phantom(seed, **kwargs):
    """:func:`phantom_envelope` as a displayed uint8 image."""
    return to_display(phantom_envelope(seed, **kwargs))
