"""pocusiq.simulate: physics-based paired ultrasound simulator.

Digital phantoms (:mod:`.phantoms`) imaged with transducer profiles (:mod:`.profiles`) by a
complex-baseband convolution B-mode model (:mod:`.bmode`) into exactly aligned
POCUS / high-end pairs (:mod:`.pairs`).
"""

from pocusiq.simulate.bmode import (
    BModeImage,
    ImagingRegion,
    lateral_fwhm_mm,
    point_spread_image,
    resample_masks,
    simulate_bmode,
)
from pocusiq.simulate.pairs import SimulatedPair, simulate_pair
from pocusiq.simulate.phantoms import PHANTOM_PRESETS, Phantom, make_phantom
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
    "resample_masks",
    "simulate_bmode",
    "simulate_pair",
]
