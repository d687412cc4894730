"""PatchGANDiscriminator: receptive field, conditioning, output shape, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pocusiq.models import build_discriminator
from pocusiq.models.patchgan import receptive_field
from pocusiq.models.config import DiscriminatorConfig


def _rf_by_hand(n_layers: int) -> int:
    # layers: n_layers stride-2 4x4 convs, then two stride-1 4x4 convs; walk back from one output unit
    strides = [2] * n_layers + [1, 1]
    r = 1
    for s in reversed(strides):
        r = (r - 1) * s + 4
    return r


@pytest.mark.parametrize("n_layers,expected", [(3, 70), (1, 16), (2, 34), (4, 142)])
def test_receptive_field(n_layers, expected):
    d = build_discriminator(DiscriminatorConfig(ndf=2, n_layers=n_layers))
    assert _rf_by_hand(n_layers) == expected
    assert receptive_field(d) == expected


def test_receptive_field_empirically_70_at_3_layers():
    # Gradient of one central output logit w.r.t. the input is non-zero over exactly 70x70 pixels.
    torch.manual_seed(0)
    d = build_discriminator(DiscriminatorConfig(ndf=2, n_layers=3, norm="batch")).eval()
    x = torch.randn(1, 2, 160, 160, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    nz = x.grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = nz.any(dim=1).nonzero(), nz.any(dim=0).nonzero()
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


def test_conditioned_on_input_and_output_shape():
    d = build_discriminator(DiscriminatorConfig(ndf=4, n_layers=3))
    cond, cand = torch.rand(2, 1, 256, 256), torch.rand(2, 1, 256, 256)
    out = d(cond, cand)
    assert out.shape == (2, 1, 30, 30)  # pix2pix: 30x30 patches at 256^2
    assert torch.equal(out, d(torch.cat([cond, cand], 1)))
    assert not torch.allclose(out, d(torch.rand(2, 1, 256, 256), cand))  # the condition matters
    assert d.model[0].in_channels == 2
    with pytest.raises(ValueError, match=r"expects \(N, 2, H, W\)"):
        d(cond)


def test_init_std_and_norm():
    torch.manual_seed(1)
    d = build_discriminator(DiscriminatorConfig(ndf=32, n_layers=3, norm="instance"))
    w = torch.cat([m.weight.flatten() for m in d.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.001
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in d.modules()) == 3
    assert sum(isinstance(m, nn.LeakyReLU) for m in d.modules()) == 4
