"""pocusiq.models: the pix2pix U-Net generator and PatchGAN discriminator.

Generator convention: ``(N, 1, H, W)`` float in ``[-1, 1]`` in and out; see
:func:`pocusiq.models.unet.to_model_range` / :func:`pocusiq.models.unet.from_model_range`.
"""

from pocusiq.models.patchgan import PatchGANDiscriminator, build_discriminator, receptive_field
from pocusiq.models.unet import (
    UNetGenerator,
    build_generator,
    depth_for_size,
    from_model_range,
    init_weights,
    to_model_range,
)

__all__ = [
    "UNetGenerator",
    "PatchGANDiscriminator",
    "build_generator",
    "build_discriminator",
    "depth_for_size",
    "from_model_range",
    "init_weights",
    "receptive_field",
    "to_model_range",
]
