"""pocusiq.models: the pix2pix U-Net generator, the lean residual U-Net (the realtime preset's
network) and the PatchGAN discriminator, their configs and builder, checkpoints, and the one
inference path.

Generator convention: ``(N, 1, H, W)`` float in ``[-1, 1]`` in and out; see
:func:`pocusiq.models.inference.to_model_range` / :func:`pocusiq.models.inference.from_model_range`.

Modules: :mod:`~pocusiq.models.unet`, :mod:`~pocusiq.models.lean_unet`, :mod:`~pocusiq.models.patchgan` (networks, plain
arguments), :mod:`~pocusiq.models.config` (their config dataclasses),
:mod:`~pocusiq.models.builder` (config -> network), :mod:`~pocusiq.models.checkpoints`
(safetensors save/load), :mod:`~pocusiq.models.inference` (pad, batched forward, crop).
"""

from pocusiq.models.builder import build_discriminator, build_generator
from pocusiq.models.config import DiscriminatorConfig, ModelConfig
from pocusiq.models.inference import enhance_batch, from_model_range, pad_to_multiple, to_model_range
from pocusiq.models.lean_unet import LeanUNetGenerator
from pocusiq.models.patchgan import PatchGANDiscriminator, receptive_field
from pocusiq.models.unet import UNetGenerator, depth_for_size, init_weights

__all__ = [
    "UNetGenerator",
    "LeanUNetGenerator",
    "PatchGANDiscriminator",
    "ModelConfig",
    "DiscriminatorConfig",
    "build_generator",
    "build_discriminator",
    "depth_for_size",
    "enhance_batch",
    "from_model_range",
    "init_weights",
    "pad_to_multiple",
    "receptive_field",
    "to_model_range",
]
