"""Network settings: the generator's and the discriminator's config dataclasses.

They live with the networks (not with training) so that anything that builds a network --
training, checkpoint loading, :class:`pocusiq.enhance.enhancer.Enhancer` -- depends on
``models`` only. :mod:`pocusiq.models.builder` maps them to the networks, which take plain
arguments. Checks are declared per field (:func:`pocusiq.config.setting`) and run by
``validate()`` (:func:`pocusiq.config.check`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pocusiq.config import check, setting

__all__ = ["ModelConfig", "DiscriminatorConfig", "NORMS", "UPSAMPLE_MODES", "ARCHS", "SPACE_TO_DEPTH_FACTORS"]

NORMS = ("batch", "instance")
ARCHS = ("unet", "lean")
"""Generator networks: "unet" (pix2pix U-Net, :mod:`pocusiq.models.unet`) or "lean" (the lean residual
U-Net for live CPU inference, :mod:`pocusiq.models.lean_unet`)."""
SPACE_TO_DEPTH_FACTORS = (2, 4)
"""``factor`` of the lean network: its stem stride and its head's upsampling factor."""
UPSAMPLE_MODES = ("transpose", "resize")
"""Generator decoder upsampling: 4x4 stride-2 transposed convolution (pix2pix) or nearest x2 + 3x3
convolution (:mod:`pocusiq.models.unet`)."""


@dataclass
class ModelConfig:
    """Generator settings (pix2pix U-Net, or the lean network with ``arch: lean``).

    Attributes:
        arch: "unet" (pix2pix U-Net; the default, and what a checkpoint without this key was
            trained with) or "lean" (:class:`pocusiq.models.lean_unet.LeanUNetGenerator`: stride-
            ``factor`` stem, adding decoder, bilinearly upsampled head; 2.2x / 3.0x cheaper than the
            realtime U-Net in CPU time per 1280x960 frame, ONNX Runtime / torch). The lean network uses ``ngf``,
            ``depth``, ``factor``, ``norm``, ``init_std``, ``residual``, ``skip_sharpen``; it has no
            dropout (``dropout`` must be 0), and ``upsample`` does not apply (it has no transposed
            convolutions: nearest x2 in the decoder, bilinear in the head, whatever ``upsample`` says).
        in_channels / out_channels: image channels (1: greyscale).
        ngf: channels of the first encoder level (pix2pix: 64); deeper levels have
            ``ngf * min(2**i, 8)``.
        depth: number of stride-2 levels (``num_downs``); ``log2(size)`` gives the pix2pix 1x1
            bottleneck (8 at 256^2). Image sides must be multiples of :attr:`multiple`
            (``2 ** depth``; lean: ``factor * 2 ** (depth - 1)``).
        factor: lean network only: stride of its stem (kernel ``2 * factor``) and upsampling
            factor of its head, 2 or 4 (default 4: nothing runs at half resolution either).
        norm: "batch" or "instance".
        dropout: dropout probability in the first decoder levels (pix2pix: 0.5).
        dropout_blocks: how many decoder levels after the bottleneck get dropout;
            ``None`` -> ``max(0, depth - 5)`` (pix2pix: 3 at depth 8).
        init_std: std of the normal initialisation (pix2pix: 0.02).
        residual: ``False`` (pix2pix): the output is ``tanh`` of the last layer. ``True``: the
            output is ``clamp(input + last layer, -1, 1)`` with the last layer initialised to
            zero, so a fresh generator is exactly the identity and training learns only the
            detail to add (needs ``in_channels == out_channels``). Used by the shipped default
            models (``pocusiq/models/pretrained``): an identity start cannot erase a target
            before the losses have pulled it anywhere.
        upsample: decoder upsampling, "transpose" (pix2pix 4x4 stride-2 transposed convolution;
            the default, and what a checkpoint without this key was trained with) or "resize"
            (nearest x2 + 3x3 convolution, Odena et al. 2016, and a full-resolution output head that
            also sees the input: no checkerboard pattern; see :mod:`pocusiq.models.unet`).
        skip_sharpen: residual models only: the skip path is an unsharp mask of the input,
            ``x + skip_sharpen * (x - G_1px * x)``, instead of ``x`` (0, the default: identity), so
            a fresh generator is exactly that unsharp mask and training learns a correction to it.
    """

    in_channels: int = setting(1, ge=1)
    out_channels: int = setting(1, ge=1)
    ngf: int = setting(64, ge=1)
    depth: int = setting(8, ge=1, le=12)
    norm: str = setting("instance", choices=NORMS)
    dropout: float = setting(0.5, ge=0.0, lt=1.0)
    dropout_blocks: int | None = setting(None, ge=0)
    init_std: float = setting(0.02, gt=0.0)
    residual: bool = False
    upsample: str = setting("transpose", choices=UPSAMPLE_MODES)
    skip_sharpen: float = setting(0.0, ge=0.0, le=4.0)
    arch: str = setting("unet", choices=ARCHS)
    factor: int = setting(4, choices=SPACE_TO_DEPTH_FACTORS)

    def resolved_dropout_blocks(self) -> int:
        n = max(0, self.depth - 5) if self.dropout_blocks is None else self.dropout_blocks
        return min(n, self.depth - 1)

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (``2 ** depth``; lean: ``factor * 2 ** (depth - 1)``)."""
        if self.arch == "lean":
            return self.factor * 2 ** (self.depth - 1)
        return 2**self.depth

    def validate(self) -> None:
        check(self, "model.")

    def check_consistency(self) -> None:
        from pocusiq.errors import ConfigError

        if self.residual and self.in_channels != self.out_channels:
            raise ConfigError("model.residual needs model.in_channels == model.out_channels")
        if self.arch == "lean" and self.dropout > 0:
            raise ConfigError(f"model.dropout is {self.dropout}, but model.arch 'lean' has no dropout; set model.dropout: 0")
        if self.skip_sharpen and not self.residual:
            raise ConfigError("model.skip_sharpen needs model.residual: true (it sharpens the residual skip path)")


@dataclass
class DiscriminatorConfig:
    """PatchGAN settings: ``in_channels`` = condition + candidate channels (2 for greyscale);
    ``ndf`` first-layer channels (pix2pix 64); ``n_layers`` stride-2 layers (3 -> 70x70 patches)."""

    in_channels: int = setting(2, ge=1)
    ndf: int = setting(64, ge=1)
    n_layers: int = setting(3, ge=1, le=8)
    norm: str = setting("instance", choices=NORMS)
    init_std: float = setting(0.02, gt=0.0)

    def validate(self) -> None:
        check(self, "discriminator.")
