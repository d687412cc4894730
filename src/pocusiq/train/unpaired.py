"""Unpaired adaptation: a pretrained generator adapted to real POCUS frames and real high-end images
that are NOT paired, CUT-style (Park et al. 2020, "Contrastive Learning for Unpaired
Image-to-Image Translation"), with the fidelity terms on.

Why CUT and not CycleGAN: CycleGAN needs a second generator (high-end -> POCUS) and a second
discriminator, about twice the compute and memory per step; on the CPU presets that halves the
steps a budget buys. CUT keeps one generator and ties output to input with PatchNCE: a patch of
``G(x)`` must be recognisable, among the other patches of the same image, as the patch at the same
place of ``x`` (InfoNCE over encoder features). Here that tie is reinforced by the fidelity terms
of :mod:`pocusiq.train.fidelity_losses` (low-frequency consistency, structure, invented blobs):
the GAN may change texture toward the high-end domain, never coarse content. This is the
"FastCUT" variant (no identity NCE on high-end images: one generator pass less per step).

One step (``CUTTrainer.train_step(pocus01, highend01)``), images ``(N, 1, h, w)`` in ``[0, 1]``
that are unrelated crops:

1. ``fake = G(x)``; ``q = E(fake)``, ``k = E(x)`` (encoder features of the same generator at
   ``unpaired.nce_layers``; ``k`` without gradient);
2. D (unconditional PatchGAN, 1 input channel): ``0.5 (GAN(D(y), real) + GAN(D(fake), fake))``;
3. G and the projection heads F: ``lambda_gan GAN(D(fake), real) + lambda_nce PatchNCE(F(q), F(k))
   + fidelity terms(fake, x)``.

Under ``torchrun`` the generator-with-features, D and F are each wrapped in
DistributedDataParallel (every parameter a wrapped module uses is used inside its own forward,
which DDP requires). Checkpoints, resume, RNG state, learning-rate schedule and logging are those
of :func:`pocusiq.train.trainer.train`: the discriminator slot of the checkpoint holds D and F
together (:class:`CUTCritic`), the optimisers are ``G``, ``D`` and ``F``.

Data (:class:`UnpairedDataset`): every PNG/JPEG/TIFF of ``unpaired.pocus_dir`` (cropped to its
imaging region, :func:`pocusiq.imaging.region.find_imaging_region`) and of ``unpaired.highend_dir``
(whole images), luma, optionally rescaled, minus the files matched by ``unpaired.holdout``
(held out for the fidelity test). Item ``i`` of epoch ``e`` draws from ``default_rng([seed, e, i])``
one crop of POCUS frame ``i mod n`` and one crop of a random high-end image.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from pocusiq.errors import ConfigError, DatasetError
from pocusiq.models.builder import build_discriminator, build_generator
from pocusiq.models.inference import to_model_range
from pocusiq.models.patchgan import PatchGANDiscriminator
from pocusiq.models.unet import UNetGenerator
from pocusiq.train.config import TrainConfig
from pocusiq.train.distributed import DistributedContext
from pocusiq.train.losses import discriminator_loss, generator_loss
from pocusiq.train.schedule import learning_rate_factor
from pocusiq.train.trainer import Pix2PixTrainer

__all__ = [
    "IMAGE_SUFFIXES",
    "UnpairedDataset",
    "PatchSampleHeads",
    "CUTCritic",
    "CUTTrainer",
    "patch_nce_loss",
    "encoder_features",
    "list_images",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def list_images(folder: str | Path, holdout: str = "") -> tuple[list[Path], list[Path]]:
    """``(used, held_out)`` image files of ``folder`` (sorted); ``holdout`` is a comma-separated list
    of file-name globs (matched against the name and the path relative to ``folder``)."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root}: unpaired image folder not found")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    patterns = [p.strip() for p in holdout.split(",") if p.strip()]
    held = [p for p in files if any(fnmatch.fnmatch(p.name, pat) or fnmatch.fnmatch(str(p.relative_to(root)), pat)
                                    for pat in patterns)]
    used = [p for p in files if p not in held]
    if not used:
        raise DatasetError(f"{root}: no training images ({len(files)} image file(s), {len(held)} held out)")
    return used, held


def _load_luma(path: Path, imaging_region: bool, scale: float) -> np.ndarray:
    """``(H, W)`` float32 in [0, 1]: the file's luma, cropped to its imaging region, rescaled."""
    from pocusiq.imaging.grey import read_grey_image
    from pocusiq.imaging.intensity import to_unit

    image = read_grey_image(path, convert=True)
    if imaging_region:
        from pocusiq.imaging.region import find_imaging_region

        region = find_imaging_region(image)
        image = image[region.y: region.y + region.h, region.x: region.x + region.w]
    unit = to_unit(np.ascontiguousarray(image)).astype(np.float32)
    if scale != 1.0:
        from skimage.transform import rescale

        unit = rescale(unit, scale, order=1, anti_aliasing=scale < 1, preserve_range=True).astype(np.float32)
    return unit


class UnpairedDataset(Dataset):
    """Unrelated crops of real POCUS frames (``low``) and real high-end images (``high``).

    Args:
        pocus_dir / highend_dir: image folders.
        crop: crop side in pixels (every image, after scaling, must be at least this large).
        crops_per_epoch: items per epoch (default: 8 per POCUS frame).
        holdout: comma-separated globs of POCUS files NOT to train on (for the fidelity test).
        pocus_scale / highend_scale: resize factors applied after loading.
        spacing_mm: the POCUS crops' pixel spacing after scaling (recorded in checkpoints), or None.
        flip: 50 % lateral flips; seed: draws ``default_rng([seed, epoch, index])``.

    Items: ``{"low": (1, crop, crop), "high": (1, crop, crop)`` float32 in [0, 1], ``"id"}``.
    """

    def __init__(self, pocus_dir: str | Path, highend_dir: str | Path, *, crop: int, crops_per_epoch: int | None = None,
                 holdout: str = "", pocus_scale: float = 1.0, highend_scale: float = 1.0,
                 spacing_mm: float | None = None, flip: bool = True, seed: int = 0) -> None:
        self.pocus_files, self.held_out = list_images(pocus_dir, holdout)
        self.highend_files, _ = list_images(highend_dir)
        self.pocus = [_load_luma(p, True, pocus_scale) for p in self.pocus_files]
        self.highend = [_load_luma(p, False, highend_scale) for p in self.highend_files]
        for files, images in ((self.pocus_files, self.pocus), (self.highend_files, self.highend)):
            for path, image in zip(files, images):
                if min(image.shape) < crop:
                    raise DatasetError(f"{path}: image {image.shape} (after region crop/scaling) is smaller "
                                       f"than the crop {crop}")
        self.crop = int(crop)
        self.length = int(crops_per_epoch) if crops_per_epoch else 8 * len(self.pocus)
        self.flip = bool(flip)
        self.seed = int(seed)
        self.epoch = 0
        self.spacing_mm = spacing_mm

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def _crop(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape
        top = int(rng.integers(0, h - self.crop + 1))
        left = int(rng.integers(0, w - self.crop + 1))
        out = image[top: top + self.crop, left: left + self.crop]
        if self.flip and bool(rng.integers(0, 2)):
            out = out[:, ::-1]
        return np.ascontiguousarray(out)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = index % len(self)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        k = index % len(self.pocus)
        low = self._crop(self.pocus[k], rng)
        high = self._crop(self.highend[int(rng.integers(0, len(self.highend)))], rng)
        return {"low": torch.from_numpy(low[None]), "high": torch.from_numpy(high[None]),
                "id": self.pocus_files[k].name}


def encoder_features(generator: UNetGenerator, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
    """Outputs of the U-Net encoder levels ``layers`` (0 = first stride-2 level) for input ``x``."""
    feats: list[torch.Tensor] = []
    last = max(layers)
    for i, level in enumerate(generator.encoder):
        x = level(x)
        if i in layers:
            feats.append(x)
        if i >= last:
            break
    return feats


class _GeneratorWithFeatures(nn.Module):
    """``forward(x) -> (G(x), E(G(x)))``: one module so DDP sees every use of G's parameters."""

    def __init__(self, generator: UNetGenerator, layers: tuple[int, ...]) -> None:
        super().__init__()
        self.generator = generator
        self.layers = layers

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fake = self.generator(x)
        return fake, encoder_features(self.generator, fake, self.layers)


class PatchSampleHeads(nn.Module):
    """CUT's projection heads F: per layer a 2-layer MLP (``channels -> dim -> dim``) applied to
    feature vectors at sampled positions, L2-normalised.

    ``forward(feats, ids)``: ``feats`` list of ``(N, C_l, h_l, w_l)``, ``ids`` list of LongTensors
    of flat positions -> list of ``(N, P, dim)``.
    """

    def __init__(self, channels: list[int], dim: int = 128) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=False), nn.Linear(dim, dim)) for c in channels
        )

    def forward(self, feats: list[torch.Tensor], ids: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for mlp, feat, idx in zip(self.mlps, feats, ids):
            flat = feat.flatten(2).transpose(1, 2)  # (N, h*w, C)
            picked = flat[:, idx, :]
            out.append(F.normalize(mlp(picked), dim=-1))
        return out


class CUTCritic(nn.Module):
    """What a CUT checkpoint stores in its discriminator slot: the PatchGAN ``patchgan`` and the
    projection heads ``heads`` (both needed to resume)."""

    def __init__(self, patchgan: PatchGANDiscriminator, heads: PatchSampleHeads) -> None:
        super().__init__()
        self.patchgan = patchgan
        self.heads = heads

    def forward(self, candidate: torch.Tensor) -> torch.Tensor:
        return self.patchgan(candidate)


def patch_nce_loss(q: torch.Tensor, k: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """PatchNCE of ``(N, P, D)`` query/key vectors (L2-normalised): for each image, query ``p``
    must pick key ``p`` among the ``P`` keys (cross-entropy over ``q k^T / temperature``). ``k`` is
    detached (CUT). 0-ish when ``q == k`` and the patches are distinct; ``log P`` at chance."""
    logits = torch.bmm(q, k.detach().transpose(1, 2)) / temperature  # (N, P, P)
    n, p, _ = logits.shape
    target = torch.arange(p, device=q.device).expand(n, p)
    return F.cross_entropy(logits.reshape(n * p, p), target.reshape(n * p))


def _parse_layers(text: str, depth: int) -> tuple[int, ...]:
    try:
        layers = tuple(sorted({int(t) for t in text.split(",") if t.strip()}))
    except ValueError:
        raise ConfigError(f"unpaired.nce_layers must be comma-separated integers, got {text!r}") from None
    if not layers or layers[0] < 0 or layers[-1] >= depth:
        raise ConfigError(f"unpaired.nce_layers {text!r}: need levels in 0..{depth - 1} (model.depth {depth})")
    return layers


class CUTTrainer(Pix2PixTrainer):
    """Generator, unconditional PatchGAN, projection heads, their Adam optimisers and one CUT step.

    Same interface as :class:`Pix2PixTrainer` (``generator``, ``discriminator`` (a :class:`CUTCritic`),
    ``optimizers``, ``set_step_lr``, ``train_step``, RNG state), so :func:`pocusiq.train.trainer.train`
    runs it unchanged.
    """

    def __init__(self, config: TrainConfig, device: torch.device | str = "cpu", ctx: DistributedContext | None = None) -> None:
        self.config = config
        self.device = torch.device(device)
        self.ctx = ctx or DistributedContext(device=self.device)
        cfg = config.unpaired
        torch.manual_seed(config.seed)
        if "batch" in (config.model.norm, config.discriminator.norm) and self.ctx.distributed:
            raise ConfigError("unpaired training with several processes needs norm 'instance' (no SyncBatchNorm here)")
        self.layers = _parse_layers(cfg.nce_layers, config.model.depth)
        generator = build_generator(config.model)
        patchgan = build_discriminator(config.discriminator)
        channels = [config.model.ngf * min(2**i, 8) for i in self.layers]
        heads = PatchSampleHeads(channels, cfg.nce_dim)
        self.generator = generator.to(self.device)
        self.discriminator = CUTCritic(patchgan, heads).to(self.device)
        opt = config.optim
        betas = (opt.beta1, opt.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=opt.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.patchgan.parameters(), lr=opt.lr_d or opt.lr, betas=betas)
        self.opt_f = torch.optim.Adam(self.discriminator.heads.parameters(), lr=opt.lr, betas=betas)
        self.g_train: nn.Module = _GeneratorWithFeatures(self.generator, self.layers)
        self.d_train: nn.Module = self.discriminator.patchgan
        self.f_train: nn.Module = self.discriminator.heads
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train = DDP(self.g_train, device_ids=ids)
            self.d_train = DDP(self.d_train, device_ids=ids)
            self.f_train = DDP(self.f_train, device_ids=ids)

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d, "F": self.opt_f}

    def set_step_lr(self, step: int) -> float:
        factor = learning_rate_factor(step, self.config.max_steps, self.config.optim.decay_start)
        lr_g = self.config.optim.lr * factor
        for opt, base in ((self.opt_g, self.config.optim.lr), (self.opt_f, self.config.optim.lr),
                          (self.opt_d, self.config.optim.lr_d or self.config.optim.lr)):
            for group in opt.param_groups:
                group["lr"] = base * factor
        return lr_g

    def _sample_ids(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        n_patches = self.config.unpaired.nce_patches
        ids = []
        for feat in feats:
            hw = feat.shape[-2] * feat.shape[-1]
            ids.append(torch.randperm(hw, device=feat.device)[: min(n_patches, hw)])
        return ids

    def train_step(self, low01: torch.Tensor, high01: torch.Tensor) -> dict[str, torch.Tensor]:
        """One D + (G, F) update on unrelated batches ``(N, 1, h, w)`` in ``[0, 1]``; returns detached
        ``loss_g``, ``loss_gan``, ``loss_nce``, ``loss_<fidelity term>``, ``loss_d``."""
        cfg = self.config
        low = to_model_range(low01.to(self.device, non_blocking=True))
        high = to_model_range(high01.to(self.device, non_blocking=True))
        self.g_train.train()
        self.d_train.train()
        fake, q_feats = self.g_train(low)
        # D step
        patchgan = self.discriminator.patchgan
        patchgan.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = discriminator_loss(self.d_train(high), self.d_train(fake.detach()), cfg.loss.gan_mode)
        loss_d.backward()
        self.opt_d.step()
        patchgan.requires_grad_(False)
        # G + F step
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_f.zero_grad(set_to_none=True)
        fake_logits = patchgan(fake) if cfg.loss.lambda_gan > 0 else None
        terms = generator_loss(fake_logits, fake, None, cfg.loss, low=low)
        with torch.no_grad():
            k_feats = encoder_features(self.generator, low, self.layers)
        ids = self._sample_ids(q_feats)
        q = self.f_train(q_feats, ids)
        with torch.no_grad():
            k = self.discriminator.heads(k_feats, ids)
        nce = torch.stack([patch_nce_loss(qi, ki, cfg.unpaired.nce_temperature) for qi, ki in zip(q, k)]).mean()
        total = terms["total"] + cfg.unpaired.lambda_nce * nce
        total.backward()
        self.opt_g.step()
        self.opt_f.step()
        patchgan.requires_grad_(True)
        out = {"loss_g": total.detach(), "loss_nce": nce.detach()}
        out.update({f"loss_{k}": v.detach() for k, v in terms.items() if k != "total"})
        out["loss_d"] = loss_d.detach()
        return out


def open_unpaired_dataset(config: TrainConfig) -> UnpairedDataset:
    """The :class:`UnpairedDataset` described by ``config.unpaired`` (crop ``data.crop``)."""
    cfg = config.unpaired
    if not cfg.pocus_dir or not cfg.highend_dir:
        raise ConfigError("unpaired training needs unpaired.pocus_dir and unpaired.highend_dir (--pocus DIR --highend DIR)")
    if config.data.crop is None:
        raise ConfigError("unpaired training needs data.crop (images of different sizes are cropped)")
    return UnpairedDataset(cfg.pocus_dir, cfg.highend_dir, crop=config.data.crop,
                           crops_per_epoch=cfg.crops_per_epoch or None, holdout=cfg.holdout,
                           pocus_scale=cfg.pocus_scale, highend_scale=cfg.highend_scale,
                           spacing_mm=cfg.spacing_mm, flip=config.data.flip, seed=config.seed)


UNPAIRED_OVERRIDES = (
    "unpaired.enabled=true",
    "discriminator.in_channels=1",
    "loss.lambda_l1=0",
    "loss.lambda_ssim=0",
    "loss.lambda_lowfreq=100",
    "loss.lambda_structure=10",
    "loss.lambda_invented=100",
)
"""What ``pocusiq train --unpaired`` sets before the user's ``--set`` overrides: unconditional D, no
paired terms, the fidelity terms on (weights as the shipped default recipe's adaptation stage)."""


def train_unpaired(config: TrainConfig, **kwargs: Any) -> Any:
    """Run :func:`pocusiq.train.trainer.train` with :class:`CUTTrainer` on the unpaired folders of
    ``config.unpaired``; keyword arguments as ``train`` (``resume``, ``max_steps_this_run``, ...)."""
    from pocusiq.train.trainer import train

    if not config.unpaired.enabled:
        raise ConfigError("train_unpaired needs unpaired.enabled=true")
    config.validate()
    dataset = open_unpaired_dataset(config)
    return train(config, train_dataset=dataset, val_dataset=None, trainer_factory=CUTTrainer, **kwargs)
