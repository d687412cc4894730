"""The pix2pix PatchGAN discriminator, conditioned on the input image.

Input: the condition (low-end image) and a candidate (real high-end or generated image),
each ``(N, 1, H, W)`` in ``[-1, 1]``, concatenated on the channel axis ->
``(N, in_channels, H, W)`` (``in_channels = 2`` for greyscale). Output: ``(N, 1, H', W')``
real/fake logits, one per overlapping patch (no sigmoid: the loss applies it).

Layers (pix2pix ``NLayerDiscriminator``): a 4x4 stride-2 conv to ``ndf`` + LeakyReLU(0.2);
``n_layers - 1`` further 4x4 stride-2 convs to ``ndf * min(2**n, 8)`` + norm + LeakyReLU; one
4x4 stride-1 conv + norm + LeakyReLU; a final 4x4 stride-1 conv to 1 channel. The receptive
field of each output logit is 70x70 pixels at ``n_layers = 3`` (:func:`receptive_field`).
"""

from __future__ import annotations

import torch
from torch import nn

from pocusiq.models.unet import init_weights, norm_layer

__all__ = ["PatchGANDiscriminator", "receptive_field"]


class PatchGANDiscriminator(nn.Module):
    """pix2pix PatchGAN: ``(N, in_channels, H, W)`` -> ``(N, 1, H', W')`` logits.

    ``forward(condition, candidate)`` concatenates the two ``(N, 1, H, W)`` images; calling it with
    one pre-concatenated tensor also works. ``H, W >= receptive_field(n_layers)`` is not required
    but smaller inputs see padding only at the edges.
    """

    def __init__(
        self, in_channels: int = 2, ndf: int = 64, n_layers: int = 3, norm: str = "instance", init_std: float = 0.02
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, int):  # the old PatchGANDiscriminator(DiscriminatorConfig) call
            raise TypeError(
                f"PatchGANDiscriminator takes plain arguments (in_channels, ndf, n_layers, ...), got "
                f"{type(in_channels).__name__}; build one from a config with pocusiq.models.build_discriminator(config)"
            )
        if min(in_channels, ndf, n_layers) < 1:
            raise ValueError(f"PatchGANDiscriminator needs in_channels, ndf and n_layers >= 1, got {in_channels}, {ndf}, {n_layers}")
        self.in_channels = in_channels
        norm_cls = norm_layer(norm)
        use_bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=use_bias),
                norm_cls(ndf * mult),
                nn.LeakyReLU(0.2),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=use_bias),
            norm_cls(ndf * mult),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * mult, 1, 4, 1, 1),
        ]
        self.model = nn.Sequential(*layers)
        init_weights(self, init_std)

    def forward(self, condition: torch.Tensor, candidate: torch.Tensor | None = None) -> torch.Tensor:
        x = condition if candidate is None else torch.cat([condition, candidate], dim=1)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"PatchGANDiscriminator expects (N, {self.in_channels}, H, W) after "
                f"concatenation, got {tuple(x.shape)}"
            )
        return self.model(x)


def receptive_field(module: nn.Module) -> int:
    """Receptive field (pixels, one side) of one output unit of a stack of convolutions.

    Walks the ``nn.Conv2d`` layers of ``module`` in order: ``r <- r + (k - 1) * j``,
    ``j <- j * s`` starting at ``r = 1, j = 1`` (kernel ``k``, stride ``s``, dilation 1).
    """
    r, jump = 1, 1
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            k, s = m.kernel_size[0], m.stride[0]
            r += (k - 1) * jump * m.dilation[0]
            jump *= s
    return r

