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
* **head**: a 3x3 convolution from ``ngf`` to ``out_channels * f * f`` channels, ``PixelShuffle(f)``
  (depth-to-space, ONNX ``DepthToSpace``) back to full resolution, then a zero-order hold: an
  ``f x f`` moving average (:meth:`LeanUNetGenerator.hold`). ``residual=True``: output
  ``clamp(input + detail, -1, 1)`` with the head initialised to zero, so a fresh network is exactly
  the identity (as the residual U-Nets); ``residual=False``: ``tanh(detail)``.
  Why the hold: the ``f * f`` sub-pixel phases of a depth-to-space head have their own weights; a
  zero (or ICNR) initialisation makes them equal only at the start. Trained by the default recipe
  without the hold, the phases drifted apart: checkerboard energy 2660x the input's on the real
  handheld frames (``bench/fidelity.py``; the transposed-convolution realtime U-Net: 601x). The
  moving average over exactly one of each phase turns any pattern that repeats with the period
  ``f`` into a constant, by construction; it low-passes the *added detail* only (first zero at
  ``1 / f`` cycles/pixel), not the input, and the real frames' speckle is 5-8 px axially.

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
* this network with ``factor 4``, ngf 16, depth 4 (the ``realtime`` preset: 160 k params, 1.08 G
  multiply-adds, receptive field ~100 px): ONNX 41.2, torch 26.0 with the hold (2.4x / 3.0x the
  pix2pix realtime U-Net), 44.6 / 28.4 without it. Without the hold, ngf 8 was 5.3x cheaper than the
  U-Net, ngf 24 1.05x; depth 3 1.2x cheaper than depth 4, with a receptive field of ~50 px.

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
        residual: output ``clamp(x + head, -1, 1)``, head initialised to zero (identity at
            initialisation; needs ``in_channels == out_channels``), else ``tanh(head)``.

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
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels, ngf, depth) < 1:
            raise ValueError(
                f"LeanUNetGenerator needs in/out_channels, ngf and depth >= 1, got {in_channels}, {out_channels}, {ngf}, {depth}"
            )
        if factor not in SPACE_TO_DEPTH_FACTORS:
            raise ValueError(f"LeanUNetGenerator factor must be one of {SPACE_TO_DEPTH_FACTORS}, got {factor}")
        if residual and in_channels != out_channels:
            raise ValueError(f"LeanUNetGenerator(residual=True) needs in_channels == out_channels, got {in_channels}, {out_channels}")
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
        self.head = nn.Conv2d(channels[0], out_channels * factor * factor, 3, 1, 1, bias=True)
        self.to_full = nn.PixelShuffle(factor)
        init_weights(self, init_std)
        if residual:  # identity at initialisation: the head adds nothing yet (and all phases are equal)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def multiple(self) -> int:
        """``H`` and ``W`` must be multiples of this (``factor * 2 ** (depth - 1)``)."""
        return self.factor * 2 ** (self.depth - 1)

    def hold(self, detail: torch.Tensor) -> torch.Tensor:
        """The zero-order hold after depth-to-space: a ``factor x factor`` moving average (zero-padded,
        ``factor // 2 - 1`` before and ``factor // 2`` after; two separable passes). Every window holds
        each of the ``factor**2`` sub-pixel phases once, so a phase pattern repeated over a flat region
        averages to a constant: no period-``factor`` (incl. period-2 checkerboard) pattern can leave the
        head, whatever the weights learn (Sugawara et al. 2019, "Checkerboard artifacts free
        convolutional neural networks")."""
        f = self.factor
        h, w = detail.shape[-2:]
        padded = F.pad(detail, (f // 2 - 1, f // 2, f // 2 - 1, f // 2))
        if torch.onnx.is_in_onnx_export():  # ONNX Runtime: AveragePool (1280x960: ~1.8 ms; shifted slices ~3 ms more)
            return F.avg_pool2d(F.avg_pool2d(padded, (f, 1), stride=1), (1, f), stride=1)
        # torch: sums of shifted slices (1280x960 at 1 thread: 2.3 ms; avg_pool2d 18.8 ms), the same average
        rows = sum(padded[..., k : k + h, :] for k in range(f))
        return sum(rows[..., k : k + w] for k in range(f)) * (1.0 / (f * f))

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
        detail = self.hold(self.to_full(self.head(t)))
        if self.residual:
            return (source + detail).clamp(-1.0, 1.0)
        return torch.tanh(detail)
