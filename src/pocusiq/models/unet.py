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
is ReLU, a 4x4 stride-2 transposed convolution (or, with ``upsample="resize"``, nearest-neighbour
x2 upsampling followed by a 3x3 convolution), the norm layer, and dropout in the first
``dropout_blocks`` decoder levels after the bottleneck (pix2pix: 3 at depth 8); its output is
concatenated with the encoder's input at that level (skip connection). The outermost decoder
ends with tanh. Written as explicit encoder/decoder lists (not pix2pix's recursive block) so the
state-dict keys are flat and the forward is easy to export (ONNX). No library in the
environment provides this network (torchvision/MONAI are not installed).

Upsampling (``upsample``): "transpose" (pix2pix, the default; what every checkpoint without the key
was trained with) or "resize" (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").
A 4x4 stride-2 transposed convolution gives the even and odd output pixels different kernels, so
it paints a period-2 pattern wherever its input is flat: the shipped transpose-upsampled default
models had checkerboard energy 126x (cpu) and 601x (realtime) the input's on the real handheld
frames. "resize" decoder levels are nearest-neighbour x2 upsampling then a 3x3 convolution (2.25x
the multiply-adds of the transposed one: 9 vs 4 per output pixel and channel pair); nearest
upsampling has a zero at the output's Nyquist frequency and the convolution is shift-invariant, so
a level adds no period-2 pattern of its own. The outermost level ends with nearest x2 and a
full-resolution head: one 3x3 convolution (tanh unless residual) over the upsampled features and
an input branch (3x3 convolution + ReLU, ``ngf`` channels, stride 1, on the input itself). Without
that branch the finest detail cannot be added at all (the upsampled path has no energy near
Nyquist): residual models trained by the default recipe so lowered NIQE/PIQE on the real frames by
under 1 %, the unsharp mask by 6-17 %. No nonlinearity follows the last upsampling on the decoder
path (a ReLU there regenerates period-2 energy: checkerboard energy 3-20 at random initialisation).

Sharpened skip (``skip_sharpen``, residual models): the skip path is the unsharp mask of the input
instead of the input, so a fresh network is exactly the classical filter the shipped models must
beat (:func:`pocusiq.benchmark.baselines.unsharp`, amount 1, sigma 1 px) and training learns only a
correction to it. Measured with the default recipe of the time (seed 0, resize upsampling, the
previous release's simulator, ``bench/fidelity.py``): the identity-skip models stayed near the
identity on the real frames (NIQE 8.87, PIQE 79.9; unsharp mask 8.43, 67.88); with the sharpened
skip, after the fidelity stage, cpu 7.76 / 64.2 and realtime 8.07 / 66.5, every target kept on 8 of
8 frames, checkerboard <= 1.21x. The shipped models' figures are in their model card.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from pocusiq.models.config import UPSAMPLE_MODES
from pocusiq.models.inference import from_model_range, to_model_range

__all__ = [
    "UNetGenerator",
    "depth_for_size",
    "init_weights",
    "norm_layer",
    "UPSAMPLE_MODES",
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


def _upsampling(mode: str, c_in: int, c_out: int, *, bias: bool) -> list[nn.Module]:
    """The layers that double H and W and map ``c_in`` to ``c_out`` channels (see ``UPSAMPLE_MODES``)."""
    if mode == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)]
    return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]


def _symmetric_pad(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Pad ``n`` pixels on both ends of ``dim`` by mirroring about the edge, edge pixel included
    (``d c b a | a b c d``: SciPy's "reflect"; torch's "reflect" leaves the edge pixel out)."""
    n = min(n, x.shape[dim])
    return torch.cat([x.narrow(dim, 0, n).flip(dim), x, x.narrow(dim, x.shape[dim] - n, n).flip(dim)], dim=dim)


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
        upsample: decoder upsampling, "transpose" (4x4 stride-2 transposed convolution, pix2pix) or
            "resize" (nearest-neighbour x2 then a 3x3 convolution, and a full-resolution head with an
            input branch: no checkerboard; see the module docstring).
        skip_sharpen: with ``residual``: the skip path is the unsharp mask
            ``x + skip_sharpen * (x - G(x))`` (``G``: Gaussian, sigma 1 px, radius 4, edge pixels
            mirrored about the edge -- ``skimage.filters.unsharp_mask``'s), so a fresh network is
            that filter (:func:`pocusiq.benchmark.baselines.unsharp`, within rounding); 0: ``x``.

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
        upsample: str = "transpose",
        skip_sharpen: float = 0.0,
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
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"UNetGenerator upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        if skip_sharpen and not residual:
            raise ValueError("UNetGenerator(skip_sharpen=...) needs residual=True")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.skip_sharpen = float(skip_sharpen)
        if self.skip_sharpen:  # fixed, derived from the arguments: not part of the state dict
            g = torch.exp(-0.5 * torch.arange(-4.0, 5.0) ** 2)
            self.register_buffer("sharpen_kernel", (g / g.sum()).view(1, 1, 1, 9), persistent=False)
        self.upsample = upsample
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
            if i == 0 and upsample == "resize":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))  # the head follows (below)
            elif i == 0:
                layers += _upsampling(upsample, c_in, out_channels, bias=True)
                if not residual:
                    layers.append(nn.Tanh())
            else:
                layers += [*_upsampling(upsample, c_in, channels[i - 1], bias=use_bias), norm_cls(channels[i - 1])]
                if 1 <= j <= n_dropout and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            self.decoder.append(nn.Sequential(*layers))
        # "resize": the full-resolution output layer (3x3 conv) also sees features of the input itself
        # (3x3 conv + ReLU at full resolution, stride 1): a nearest-upsampled path alone has a zero at
        # the output's Nyquist frequency and cannot add the finest detail (measured: residual models
        # trained so lowered NIQE/PIQE by < 1 % on the real frames, the unsharp mask by 6-17 %). No
        # nonlinearity follows the last upsampling on the decoder path, so nothing there regenerates
        # a period-2 pattern; the input branch is shift-invariant.
        self.input_branch: nn.Sequential | None = None
        self.head: nn.Sequential | None = None
        if upsample == "resize":
            c_head = 2 * channels[0] if depth > 1 else channels[0]
            self.input_branch = nn.Sequential(nn.Conv2d(in_channels, ngf, 3, 1, 1, bias=True), nn.ReLU(inplace=False))
            head: list[nn.Module] = [nn.Conv2d(c_head + ngf, out_channels, 3, 1, 1, bias=True)]
            if not residual:
                head.append(nn.Tanh())
            self.head = nn.Sequential(*head)
        init_weights(self, init_std)
        if residual:  # identity at initialisation: the last layer adds nothing yet
            last_level = self.head if self.head is not None else self.decoder[-1]
            last = [m for m in last_level if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
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
        if self.head is not None:
            x = self.head(torch.cat([x, self.input_branch(source)], dim=1))
        if self.residual:
            return (self._skip(source) + x).clamp(-1.0, 1.0)
        return x

    def _skip(self, x: torch.Tensor) -> torch.Tensor:
        """The residual skip path: ``x``, or its unsharp mask when ``skip_sharpen`` (per channel)."""
        if not self.skip_sharpen:
            return x
        n, c, h, w = x.shape
        flat = x.reshape(n * c, 1, h, w)
        k = self.sharpen_kernel.to(x.dtype)
        blurred = F.conv2d(_symmetric_pad(flat, 4, -1), k)
        blurred = F.conv2d(_symmetric_pad(blurred, 4, -2), k.transpose(-1, -2))
        return x + self.skip_sharpen * (x - blurred.reshape(n, c, h, w))

