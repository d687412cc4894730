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
* **head**: a 3x3 convolution from ``ngf`` to one map per output channel at ``1 / f`` resolution, the
  *coarse detail*, upsampled bilinearly (x ``f``) to full resolution. ``residual=True``: output
  ``clamp(skip(input) + detail, -1, 1)`` with the head initialised to zero, where the skip path is
  the input itself (``skip_sharpen`` 0: a fresh network is exactly the identity, as the residual
  U-Nets) or its unsharp mask ``x + skip_sharpen * high_pass(x)`` (:meth:`LeanUNetGenerator.high_pass`:
  sigma 1 px; the default recipe's ``skip_sharpen`` 1 makes a fresh network the unsharp-mask
  baseline the models must beat, and training learns a coarse correction to it).
  ``residual=False``: ``tanh(detail)``.

  Why (measured with the default recipe, seed 0, on the 8 real handheld frames,
  ``bench/fidelity.py``; unsharp mask: NIQE 8.43, PIQE 67.88, checkerboard 1.15x):
  a ``PixelShuffle(f)`` head (zero-initialised, so ICNR at the start) drifted to checkerboard energy
  2660x the input's (the transposed-convolution realtime U-Net: 601x), each of the ``f * f``
  sub-pixel phases having its own weights; a ``f x f`` zero-order hold after it cured that (1.07x)
  but, like any head at ``1 / f`` resolution alone, could add no fine detail (NIQE 8.89, PIQE
  79.8: the identity's 8.93 / 80.09). A learned gain on the input's high-pass (amount
  ``skip_sharpen + g``) was trained to cancel the sharpening (NIQE 8.72, PIQE 80.55). The fixed
  unsharp skip plus the coarse correction: NIQE 8.15, PIQE 64.84, every target kept on 8 of 8
  frames, checkerboard 1.19x. Nothing in it has sub-pixel phases: bilinear upsampling filters the
  zero-stuffed map with a triangle (zeros at every multiple of ``1 / f`` cycles/pixel) and the
  high-pass is a fixed convolution of the input, so no period-2 or period-``f`` grid can be learned.

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
* this network with ``factor 4``, ngf 16, depth 4 (the ``realtime`` preset: 158 k params, 0.92 G
  multiply-adds, receptive field ~100 px), with the unsharp skip: ONNX 38.0, torch 26.1 (2.2x /
  3.0x the pix2pix realtime U-Net in the same run, load 2.3); without the skip 44.2 / 31.2. The
  pix2pix U-Net with ``upsample: resize`` and the unsharp skip (ngf 8, depth 5): ONNX 4.1, torch 1.4
  (its full-resolution input branch and head). ONNX Runtime lays a 1-channel Conv or Resize out in
  8/16-channel blocks (a 3x3 Conv on the full frame: 20 ms; the head's Resize: 16 ms, 1.7 ms in
  NCHW), hence AveragePools for the blur and a reshape before the Resize.
  With a ``PixelShuffle`` head instead: ngf 8 5.3x cheaper than the U-Net, ngf 24 1.05x; depth 3
  1.2x cheaper than depth 4, with a receptive field of ~50 px.

No library in the environment provides this network (torchvision/MONAI are not installed).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pocusiq.models.config import SPACE_TO_DEPTH_FACTORS
from pocusiq.models.unet import init_weights, norm_layer

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
            ``x + skip_sharpen * high_pass(x)`` (amount ``skip_sharpen``, sigma 1 px; see
            :meth:`high_pass`) instead of ``x`` (0: identity), so a fresh network is that unsharp mask.

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
        # the coarse detail at 1/factor resolution, one map per output channel
        self.head = nn.Conv2d(channels[0], out_channels, 3, 1, 1, bias=True)
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
        coarse = self.head(t)
        n, c, h, w = coarse.shape
        # upsampled as (N * C, 1, h, w): the reshape keeps ONNX Runtime's Resize in plain NCHW (on its
        # blocked 8-channel layout, which a 1-channel map would be padded to, it cost 16 ms, now ~2 ms)
        detail = F.interpolate(coarse.reshape(n * c, 1, h, w), scale_factor=float(self.factor), mode="bilinear",
                               align_corners=False).reshape(n, c, h * self.factor, w * self.factor)
        if self.residual:
            skip = source + self.skip_sharpen * self.high_pass(source) if self.skip_sharpen else source
            return (skip + detail).clamp(-1.0, 1.0)
        return torch.tanh(detail)

    def high_pass(self, x: torch.Tensor) -> torch.Tensor:
        """``x - B(x)``: the unsharp mask's high-pass, with ``B`` the 5x5 binomial blur
        ``[1, 4, 6, 4, 1] / 16`` per axis (variance 1 px^2: the Gaussian of sigma 1 px of
        :func:`pocusiq.benchmark.baselines.unsharp` in its two lowest moments), edge pixels repeated
        (replicate). The baseline mirrors about the edge (skimage's ``mode="reflect"``, as
        :class:`pocusiq.models.unet.UNetGenerator`'s Gaussian skip does); measured against it: 0.54 grey
        levels mean difference inside, 0.99 within 2 px of the border. Fixed and shift-invariant, so it
        adds no phase pattern.

        A binomial is four 2x2 box averages, which ONNX Runtime runs as AveragePools; a 9-tap Gaussian
        is a 1-channel Conv there, laid out in 16-channel blocks (20 ms at 1280x960), and a torch
        1-channel conv2d takes 46 ms; torch sums shifted slices instead (the same weights)."""
        h, w = x.shape[-2:]
        padded = F.pad(x, (2, 2, 2, 2), mode="replicate")
        if torch.onnx.is_in_onnx_export():
            blurred = padded
            for _ in range(4):
                blurred = F.avg_pool2d(blurred, 2, stride=1)
        else:
            rows = (padded[..., 0:h, :] + padded[..., 4 : h + 4, :]) + 4.0 * (
                padded[..., 1 : h + 1, :] + padded[..., 3 : h + 3, :]) + 6.0 * padded[..., 2 : h + 2, :]
            blurred = ((rows[..., 0:w] + rows[..., 4 : w + 4]) + 4.0 * (rows[..., 1 : w + 1] + rows[..., 3 : w + 3])
                       + 6.0 * rows[..., 2 : w + 2]) * (1.0 / 256.0)
        return x - blurred
