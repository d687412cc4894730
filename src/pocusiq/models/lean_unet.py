"""A lean residual U-Net for live enhancement on the CPU (the ``realtime`` preset's network).

Same input/output convention as :class:`pocusiq.models.unet.UNetGenerator`: ``(N, C, H, W)`` float32
in ``[-1, 1]`` in and out, ``H`` and ``W`` multiples of :attr:`LeanUNetGenerator.multiple`
(``factor * 2 ** (depth - 1)``).

Architecture (a U-Net whose decoder adds instead of concatenating, as a feature pyramid does):

* **stem** (encoder level 0): one ``2f x 2f`` convolution with stride ``f`` (``f`` = ``factor``, 4 by
  default; padding ``f / 2``) from the input to ``ngf`` channels, norm, ReLU. It sees every input pixel
  (overlapping windows) and is a learned space-to-depth: no layer runs at full resolution, and no
  full-resolution tensor is reordered (a ``PixelUnshuffle`` front end exports to a Reshape/Transpose
  that cost ONNX Runtime more than the stem's convolution).
* **encoder** level ``i`` = 1 .. ``depth - 1``: 3x3 stride-2 convolution to ``ngf * min(2**i, 8)``
  channels, norm, ReLU (level ``i`` is at ``1 / (f * 2**i)`` of the input's resolution and has the
  channels of the pix2pix U-Net's level ``i``, so CUT's feature taps (:mod:`pocusiq.train.unpaired`)
  work unchanged).
* **decoder**, deepest first: ``t = ReLU(norm(conv3x3(e_i)) + up2(conv1x1(t)))`` -- a 3x3 lateral
  convolution of the encoder's output at that level plus the coarser result, brought to the level's
  channels by a 1x1 convolution at the *coarse* resolution and upsampled by nearest x2. The sum sits
  right after a convolution, so ONNX Runtime fuses it (and the ReLU) into that convolution; a
  concatenating decoder costs a Concat and wider convolutions per level (measured below).
* **head**: a 3x3 convolution from ``ngf`` to two maps per output channel at ``1 / f`` resolution, a
  *coarse detail* ``d`` and a *gain* ``g``, each upsampled bilinearly (x ``f``) to full resolution;
  the output adds ``d + g * high_pass(input)``, where ``high_pass(x) = x - mean3x3(x)`` is the unsharp
  mask's finest high-pass of the input itself (fixed, edge-padded). ``residual=True``: output
  ``clamp(input + detail, -1, 1)`` with the head initialised to zero, so a fresh network is exactly
  the identity (as the residual U-Nets); ``residual=False``: ``tanh(detail)``.
  Why: nothing in the head has sub-pixel phases, so no period-2 (checkerboard) or period-``f`` grid
  can be learned: bilinear upsampling is shift-invariant filtering of the zero-stuffed map (its
  kernel, a triangle, has zeros at every multiple of ``1 / f`` cycles/pixel) and the high-pass is a
  fixed convolution of the input. Measured with the default recipe on the real handheld frames
  (``bench/fidelity.py``): a ``PixelShuffle(f)`` head (zero-initialised, so ICNR at the start) drifted
  to checkerboard energy 2660x the input's (the transposed-convolution realtime U-Net: 601x); the
  same with a ``f x f`` zero-order hold after it had 1.07x but changed NIQE/PIQE by under 1 % (no
  detail finer than ``1 / f`` cycles/pixel can pass the hold). The input's high-pass, modulated by
  the learned gain, brings back the finest detail without phases.

Why this shape, measured on this 2-core AMD EPYC (AVX2, no AVX-512), ONNX Runtime 1.32 / torch 2.13,
BatchNorm folded, one 1280x960 frame, 1 thread, best of 12-15 calls of process CPU time, all variants
interleaved in one run (load average 4-6, shared machine), as frames/s of CPU time:

* the pix2pix realtime U-Net (ngf 8, depth 5, 4x4 stride-2 convolutions, transposed-convolution
  decoder, 261 k params, 1.69 G multiply-adds): ONNX 17.0, torch 9.4. Its five transposed
  convolutions took 64 % of ONNX Runtime's time, Concats and layout reorders another 10 %.
* ``PixelUnshuffle(2)`` + 3x3 U-Net (8-16-32-64, adding decoder): ONNX 22.2, torch 17.9 (the
  full-resolution Transpose, the Adds and the 3x3 convolutions at half resolution stay costly); the
  same with a concatenating decoder: ONNX 12.4.
* a prototype of this network with ``factor 2`` (ngf 8, 4x4 stride-2 stem, depth 4, no hold): ONNX 25.0.
* this network with ``factor 4``, ngf 16, depth 4 (the ``realtime`` preset: 158 k params, 0.93 G
  multiply-adds, receptive field ~100 px): ONNX 38.1, torch 26.5 (2.2x / 2.9x the pix2pix realtime
  U-Net in the same run). ONNX Runtime runs the bilinear upsampling on the split 1-channel maps
  (3.8 ms for both); on the 2-channel map it chose its blocked layout (8 channels a block): 25 ms.
  With a ``PixelShuffle`` head instead (no hold, no high-pass): ngf 8 5.3x cheaper than the U-Net,
  ngf 24 1.05x; depth 3 1.2x cheaper than depth 4, with a receptive field of ~50 px.

No library in the environment provides this network (torchvision/MONAI are not installed).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pocusiq.models.config import SPACE_TO_DEPTH_FACTORS
from pocusiq.models.unet import _symmetric_pad, init_weights, norm_layer

__all__ = ["LeanUNetGenerator", "SPACE_TO_DEPTH_FACTORS"]


class LeanUNetGenerator(nn.Module):
    """Lean residual U-Net (see the module docstring), built from plain arguments (a config goes
    through :func:`pocusiq.models.builder.build_generator` with ``arch: lean``).

    Args:
        in_channels / out_channels: image channels (1: greyscale).
        ngf: channels of encoder level 0 (level ``i``: ``ngf * min(2**i, 8)``).
        depth: encoder levels (level 0 is the stem, at ``1 / factor`` of the input's resolution).
        factor: stem stride, 2 or 4 (space-to-depth factor of stem and head).
        norm: "batch" (folded into the convolutions at inference) or "instance".
        init_std: std of the normal initialisation (pix2pix: 0.02).
        residual: output ``clamp(skip(x) + detail, -1, 1)``, head initialised to zero (a fresh
            network is the skip path), else ``tanh(detail)``.
        skip_sharpen: with ``residual``: the skip path is the unsharp mask
            ``x + skip_sharpen * (x - B(x))`` (``B``: 5x5 binomial blur, sigma 1 px; see ``_skip``)
            instead of ``x`` (0: identity).

    Forward: ``(N, in_channels, H, W)`` in ``[-1, 1]`` -> ``(N, out_channels, H, W)`` in ``[-1, 1]``;
    ``H`` and ``W`` multiples of :attr:`multiple`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        ngf: int = 16,
        depth: int = 4,
        factor: int = 4,
        norm: str = "batch",
        init_std: float = 0.02,
        residual: bool = True,
        skip_sharpen: float = 0.0,
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels, ngf, depth) < 1:
            raise ValueError(
                f"LeanUNetGenerator needs in/out_channels, ngf and depth >= 1, got {in_channels}, {out_channels}, {ngf}, {depth}"
            )
        if factor not in SPACE_TO_DEPTH_FACTORS:
            raise ValueError(f"LeanUNetGenerator factor must be one of {SPACE_TO_DEPTH_FACTORS}, got {factor}")
        if in_channels != out_channels:  # the input's fine detail is added per channel
            raise ValueError(f"LeanUNetGenerator needs in_channels == out_channels, got {in_channels}, {out_channels}")
        if skip_sharpen and not residual:
            raise ValueError("LeanUNetGenerator(skip_sharpen=...) needs residual=True")
        self.skip_sharpen = float(skip_sharpen)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.factor, self.residual = depth, factor, bool(residual)
        norm_cls = norm_layer(norm)
        use_bias = norm == "instance"  # batch norm has its own shift
        channels = [ngf * min(2**i, 8) for i in range(depth)]

        def conv_norm(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=use_bias), norm_cls(c_out)]

        self.encoder = nn.ModuleList()
        self.encoder.append(nn.Sequential(*conv_norm(in_channels, channels[0], 2 * factor, factor, factor // 2), nn.ReLU()))
        for i in range(1, depth):
            self.encoder.append(nn.Sequential(*conv_norm(channels[i - 1], channels[i], 3, 2, 1), nn.ReLU()))
        # lateral[i] and top_down[i] make decoder level i (i = depth - 2 .. 0) from encoder level i and level i + 1.
        self.lateral = nn.ModuleList(nn.Sequential(*conv_norm(channels[i], channels[i], 3, 1, 1)) for i in range(depth - 1))
        self.top_down = nn.ModuleList(nn.Conv2d(channels[i + 1], channels[i], 1, bias=False) for i in range(depth - 1))
        # 2 maps per output channel at 1/factor resolution: the coarse detail and the gain of the input's high-pass
        self.head = nn.Conv2d(channels[0], 2 * out_channels, 3, 1, 1, bias=True)
        init_weights(self, init_std)
        if residual:  # identity at initialisation: the head adds nothing yet (and all phases are equal)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def multiple(self) -> int:
        """``H`` and ``W`` must be multiples of this (``factor * 2 ** (depth - 1)``)."""
        return self.factor * 2 ** (self.depth - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"LeanUNetGenerator expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.multiple
        if h % m or w % m or h == 0 or w == 0:
            raise ValueError(
                f"LeanUNetGenerator(factor={self.factor}, depth={self.depth}) needs H and W that are multiples of {m}, "
                f"got {h}x{w}; pad or crop the image"
            )
        source = x
        features = []
        for level in self.encoder:
            x = level(x)
            features.append(x)
        t = features[-1]
        for i in range(self.depth - 2, -1, -1):
            t = F.relu(self.lateral[i](features[i]) + F.interpolate(self.top_down[i](t), scale_factor=2.0, mode="nearest"))
        c = self.out_channels
        coarse, gain = (F.interpolate(m, scale_factor=float(self.factor), mode="bilinear", align_corners=False)
                        for m in self.head(t).split(c, dim=1))
        detail = coarse + gain * self.high_pass(source)
        if self.residual:
            return (self._skip(source) + detail).clamp(-1.0, 1.0)
        return torch.tanh(detail)

    def _skip(self, x: torch.Tensor) -> torch.Tensor:
        """The residual skip path: ``x``, or its unsharp mask ``x + skip_sharpen * (x - B(x))`` when
        ``skip_sharpen`` (as :class:`~pocusiq.models.unet.UNetGenerator`'s), with ``B`` the 5x5
        binomial blur ``[1, 4, 6, 4, 1] / 16`` per axis -- variance 1 px^2, the Gaussian of sigma 1 px
        in the two lowest moments -- edge-mirrored. A binomial is four 2x2 box averages, which ONNX
        Runtime runs as AveragePools; the U-Net's 9-tap Gaussian is a 1-channel Conv there, laid out
        in 16-channel blocks (20 ms at 1280x960) and 46 ms as a torch conv2d."""
        if not self.skip_sharpen:
            return x
        h, w = x.shape[-2:]
        padded = _symmetric_pad(_symmetric_pad(x, 2, -1), 2, -2)
        if torch.onnx.is_in_onnx_export():
            blurred = padded
            for _ in range(4):
                blurred = F.avg_pool2d(blurred, 2, stride=1)
        else:  # torch: separable shifted slices
            rows = (padded[..., 0:h, :] + padded[..., 4 : h + 4, :]) + 4.0 * (
                padded[..., 1 : h + 1, :] + padded[..., 3 : h + 3, :]) + 6.0 * padded[..., 2 : h + 2, :]
            blurred = ((rows[..., 0:w] + rows[..., 4 : w + 4]) + 4.0 * (rows[..., 1 : w + 1] + rows[..., 3 : w + 3])
                       + 6.0 * rows[..., 2 : w + 2]) * (1.0 / 256.0)
        return x + self.skip_sharpen * (x - blurred)

    def high_pass(self, x: torch.Tensor) -> torch.Tensor:
        """The input's finest detail, ``x - mean3x3(x)`` (edge-padded; the unsharp mask's high-pass at
        the smallest scale): fixed and shift-invariant, so it adds no phase pattern; the network only
        learns where and how much of it to add (the gain map)."""
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        if torch.onnx.is_in_onnx_export():  # ONNX Runtime: one AveragePool (a 1-channel Conv is laid out in
            return x - F.avg_pool2d(padded, 3, stride=1)  # 16-channel blocks: 20 ms at 1280x960)
        # torch: separable sums of shifted slices (avg_pool2d and 1-channel conv2d are 10x slower in eager mode)
        rows = padded[..., 0:h, :] + padded[..., 1 : h + 1, :] + padded[..., 2 : h + 2, :]
        box = rows[..., 0:w] + rows[..., 1 : w + 1] + rows[..., 2 : w + 2]
        return x - box * (1.0 / 9.0)
