"""pocusiq.simulate: physics-based paired ultrasound simulator.

Digital phantoms (:mod:`.phantoms`) imaged with transducer profiles (:mod:`.profiles`) by a
complex-baseband convolution B-mode model (:mod:`.bmode`) into exactly aligned
POCUS / high-end pairs (:mod:`.pairs`).

Example::

    import numpy as np
    from pocusiq.simulate import ImagingRegion, get_profile, make_phantom, simulate_bmode, simulate_pair

    pair = simulate_pair(seed=0, size=256)            # pair.low, pair.high: (256, 256) uint8
    phantom = make_phantom("resolution", np.random.default_rng(1), width_mm=80, depth_mm=50, spacing_mm=0.05)
    view = simulate_bmode(phantom, get_profile("pocus"), np.random.default_rng(2),
                          region=ImagingRegion(x0_mm=40, z0_mm=0, width_mm=38, depth_mm=40, angle_deg=10),
                          spacing_mm=0.1)                # view.image: float32 in [0, 1]
"""

from pocusiq.simulate.bmode import (
    BModeImage,
    ImagingRegion,
    lateral_fwhm_mm,
    point_spread_image,
    resample_masks,
    simulate_bmode,
    to_uint8,
)
from pocusiq.simulate.pairs import SimulatedPair, simulate_pair
from pocusiq.simulate.phantoms import PHANTOM_PRESETS, Phantom, make_phantom, point_target_phantom
from pocusiq.simulate.profiles import HIGH_END, POCUS, TransducerProfile, get_profile, load_profiles

__all__ = [
    "BModeImage",
    "HIGH_END",
    "ImagingRegion",
    "PHANTOM_PRESETS",
    "POCUS",
    "Phantom",
    "SimulatedPair",
    "TransducerProfile",
    "get_profile",
    "lateral_fwhm_mm",
    "load_profiles",
    "make_phantom",
    "point_spread_image",
    "point_target_phantom",
    "resample_masks",
    "simulate_bmode",
    "simulate_pair",
    "to_uint8",
]
