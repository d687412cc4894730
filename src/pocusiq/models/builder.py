"""Configs -> networks (as pix2pix's ``define_G``/``define_D``): the only place that knows both.

The networks (:class:`~pocusiq.models.unet.UNetGenerator`,
:class:`~pocusiq.models.patchgan.PatchGANDiscriminator`) take plain arguments; these functions
check a :class:`~pocusiq.models.config.ModelConfig` / :class:`~pocusiq.models.config.DiscriminatorConfig`
(:class:`pocusiq.errors.ConfigError` naming the key) and pass its fields on.
"""

from __future__ import annotations

from torch import nn

from pocusiq.models.config import DiscriminatorConfig, ModelConfig
from pocusiq.models.lean_unet import LeanUNetGenerator
from pocusiq.models.patchgan import PatchGANDiscriminator
from pocusiq.models.unet import UNetGenerator

__all__ = ["build_generator", "build_discriminator", "model_config_of"]


def build_generator(config: ModelConfig | None = None) -> nn.Module:
    """A freshly initialised generator for ``config`` (default :class:`ModelConfig`): a
    :class:`UNetGenerator`, or a :class:`LeanUNetGenerator` for ``arch: lean``; draws its initial
    weights from torch's global RNG."""
    config = ModelConfig() if config is None else config
    config.validate()
    generator: nn.Module
    if config.arch == "lean":
        generator = LeanUNetGenerator(
            in_channels=config.in_channels,
            out_channels=config.out_channels,
            ngf=config.ngf,
            depth=config.depth,
            factor=config.factor,
            norm=config.norm,
            init_std=config.init_std,
            residual=config.residual,
            skip_sharpen=config.skip_sharpen,
        )
    else:
        generator = UNetGenerator(
            in_channels=config.in_channels,
            out_channels=config.out_channels,
            ngf=config.ngf,
            depth=config.depth,
            norm=config.norm,
            dropout=config.dropout,
            dropout_blocks=config.resolved_dropout_blocks(),
            init_std=config.init_std,
            residual=config.residual,
            upsample=config.upsample,
            skip_sharpen=config.skip_sharpen,
        )
    generator.model_config = config  # what the checkpoint records (not part of the state dict)
    return generator


def build_discriminator(config: DiscriminatorConfig | None = None) -> PatchGANDiscriminator:
    """A freshly initialised PatchGAN for ``config`` (default :class:`DiscriminatorConfig`)."""
    config = DiscriminatorConfig() if config is None else config
    config.validate()
    return PatchGANDiscriminator(
        in_channels=config.in_channels,
        ndf=config.ndf,
        n_layers=config.n_layers,
        norm=config.norm,
        init_std=config.init_std,
    )


def model_config_of(generator: nn.Module) -> ModelConfig | None:
    """The :class:`ModelConfig` a generator was built from, if it came from :func:`build_generator`
    (``None`` otherwise)."""
    return getattr(generator, "model_config", None)
