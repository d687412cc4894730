"""pocusiq.simulate: physics-based paired ultrasound simulator.

Digital phantoms (:mod:`.phantoms`, or real anatomy: :mod:`.anatomy`) imaged with transducer
profiles (:mod:`.profiles`; the handheld one drawn per pair from :mod:`.device_ranges`) by a
complex-baseband convolution B-mode model (:mod:`.bmode`, display filters :mod:`.display`) into
exactly aligned POCUS / high-end pairs (:mod:`.pairs`) at a real pixel spacing (default
:data:`DEFAULT_SPACING_MM` = 0.08 mm/pixel).

Example::

    import numpy as np
    from pocusiq.simulate import ImagingRegion, get_profile, make_phantom, simulate_bmode, simulate_pair

    pair = simulate_pair(seed=0, size=256, spacing_mm=0.08, randomise_device=True)  # low, high: (256, 256) uint8
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
from pocusiq.simulate.anatomy import AnatomySource
from pocusiq.simulate.device_ranges import POCUS_RANGES, sample_profile
from pocusiq.simulate.pairs import DEFAULT_SPACING_MM, SimulatedPair, simulate_pair
from pocusiq.simulate.phantoms import PHANTOM_PRESETS, Phantom, make_phantom, point_target_phantom
from pocusiq.simulate.profiles import HIGH_END, POCUS, TransducerProfile, get_profile, load_profiles

__all__ = [
    "AnatomySource",
    "DEFAULT_SPACING_MM",
    "POCUS_RANGES",
    "sample_profile",
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
