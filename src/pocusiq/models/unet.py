"""The pix2pix U-Net generator (Isola et al. 2017), greyscale in and out.

Input/output convention (used by training, checkpoints and inference):

* input  ``x``: ``(N, in_channels, H, W)`` float32 in ``[-1, 1]`` (the low-end image),
* output ``y``: ``(N, out_channels, H, W)`` float32 in ``[-1, 1]`` (tanh), the enhanced image.

Use :func:`to_model_range` / :func:`from_model_range` to go from/to ``[0, 1]`` intensities.
``H`` and ``W`` must be positive multiples of ``2 ** depth`` (:attr:`UNetGenerator.multiple`);
at ``depth = log2(size)`` (8 at 256^2) the bottleneck is 1x1, as in pix2pix.

Architecture (pix2pix ``unet_256`` generalised to any depth): encoder level ``i`` is a 4x4
stride-2 convolution to ``ngf * min(2**i, 8)`` channels, preceded by LeakyReLU(0.2) (except the
first) and followed by the norm layer (except the first and the innermost); decoder level ``i``
is ReLU, a 4x4 stride-2 transposed convolution, the norm layer, and dropout in the first
``dropout_blocks`` decoder levels after the bottleneck (pix2pix: 3 at depth 8); its output is
concatenated with the encoder's input at that level (skip connection). The outermost decoder
ends with tanh. Written as explicit encoder/decoder lists (not pix2pix's recursive block) so the
state-dict keys are flat and the forward is easy to export (ONNX). No library in the
environment provides this network (torchvision/MONAI are not installed).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from pocusiq.models.inference import from_model_range, to_model_range

__all__ = [
    "UNetGenerator",
    "depth_for_size",
    "init_weights",
    "norm_layer",
    "to_model_range",
    "from_model_range",
]


def depth_for_size(size: int) -> int:
    """The pix2pix U-Net depth for a square ``size`` (a power of two): ``log2(size)``; 8 at 256."""
    if size < 2 or size & (size - 1):
        raise ValueError(f"image size must be a power of two >= 2, got {size}")
    return size.bit_length() - 1


def norm_layer(kind: str) -> type[nn.Module] | functools.partial:
    """The 2-D norm layer class for ``kind`` in {"batch", "instance"} (pix2pix settings)."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be 'batch' or 'instance', got {kind!r}")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix initialisation: conv weights ~ N(0, std), biases 0; batch-norm weights ~ N(1, std)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """pix2pix U-Net generator, built from plain arguments (a config goes through
    :func:`pocusiq.models.builder.build_generator`).

    Args:
        in_channels / out_channels: image channels (1: greyscale).
        ngf: channels of the first encoder level (deeper levels ``ngf * min(2**i, 8)``).
        depth: stride-2 levels; H and W must be multiples of ``2 ** depth``.
        norm: "batch" or "instance".
        dropout: dropout probability in the first ``dropout_blocks`` decoder levels after the
            bottleneck.
        dropout_blocks: that count; ``None`` -> ``max(0, depth - 5)`` (pix2pix: 3 at depth 8),
            at most ``depth - 1``.
        init_std: std of the normal initialisation.
        residual: output ``clamp(x + last layer, -1, 1)`` instead of ``tanh(last layer)``, the last
            layer initialised to zero (a fresh network is the identity); needs in == out channels.

    Forward: ``(N, in_channels, H, W)`` in ``[-1, 1]`` -> ``(N, out_channels, H, W)`` in ``[-1, 1]``;
    ``H`` and ``W`` multiples of :attr:`multiple` (``2 ** depth``).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        ngf: int = 64,
        depth: int = 8,
        norm: str = "instance",
        dropout: float = 0.5,
        dropout_blocks: int | None = None,
        init_std: float = 0.02,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, int):  # the old UNetGenerator(ModelConfig) call
            raise TypeError(
                f"UNetGenerator takes plain arguments (in_channels, ngf, depth, ...), got {type(in_channels).__name__}; "
                f"build one from a config with pocusiq.models.build_generator(config)"
            )
        if min(in_channels, out_channels, ngf, depth) < 1:
            raise ValueError(
                f"UNetGenerator needs in/out_channels, ngf and depth >= 1, got "
                f"{in_channels}, {out_channels}, {ngf}, {depth}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"UNetGenerator dropout must be in [0, 1), got {dropout}")
        if residual and in_channels != out_channels:
            raise ValueError(f"UNetGenerator(residual=True) needs in_channels == out_channels, got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.residual = bool(residual)
        norm_cls = norm_layer(norm)
        use_bias = norm == "instance"  # batch norm has its own shift
        channels = [ngf * min(2**i, 8) for i in range(depth)]
        n_dropout = max(0, depth - 5) if dropout_blocks is None else dropout_blocks
        n_dropout = min(n_dropout, depth - 1)

        self.encoder = nn.ModuleList()
        for i in range(depth):
            c_in = in_channels if i == 0 else channels[i - 1]
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(nn.LeakyReLU(0.2, inplace=False))
            layers.append(nn.Conv2d(c_in, channels[i], 4, 2, 1, bias=use_bias))  # as pix2pix
            if 0 < i < depth - 1:
                layers.append(norm_cls(channels[i]))
            self.encoder.append(nn.Sequential(*layers))

        # decoder[j] undoes encoder level i = depth - 1 - j (innermost first).
        self.decoder = nn.ModuleList()
        for j in range(depth):
            i = depth - 1 - j
            c_in = channels[i] if i == depth - 1 else 2 * channels[i]
            layers = [nn.ReLU(inplace=False)]
            if i == 0:
                layers += [nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1, bias=True)]
                if not residual:
                    layers.append(nn.Tanh())
            else:
                layers += [nn.ConvTranspose2d(c_in, channels[i - 1], 4, 2, 1, bias=use_bias), norm_cls(channels[i - 1])]
                if 1 <= j <= n_dropout and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            self.decoder.append(nn.Sequential(*layers))
        init_weights(self, init_std)
        if residual:  # identity at initialisation: the last layer adds nothing yet
            last = self.decoder[-1][1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    @property
    def multiple(self) -> int:
        """``H`` and ``W`` must be multiples of this (``2 ** depth``)."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"UNetGenerator expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        m = self.multiple
        if h % m or w % m or h == 0 or w == 0:
            raise ValueError(
                f"UNetGenerator(depth={self.depth}) needs H and W that are multiples of {m}, "
                f"got {h}x{w}; pad or crop the image"
            )
        source = x
        skips = []
        for level in self.encoder:
            skips.append(x)
            x = level(x)
        for j, level in enumerate(self.decoder):
            x = level(x)
            i = len(self.decoder) - 1 - j
            if i > 0:
                x = torch.cat([x, skips[i]], dim=1)
        if self.residual:
            return (source + x).clamp(-1.0, 1.0)
        return x

