"""The shipped models' recipe (``bench/train_default_model.py``): seeded, resumable, a float16 export.

Run at a toy budget (6 simulated pairs of 128 px, a few steps per stage, folders of random frames
for the unpaired stage); the real budget and its metrics are in the model card.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pocusiq.models.checkpoints import load_checkpoint
from pocusiq.train.default_recipe import DefaultRecipe, train_default_models


def _frames(folder, n, seed):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray((rng.random((96, 96)) * 255).astype(np.uint8)).save(folder / f"f{i}.png")
    return str(folder)


def _run(tmp_path, name):
    recipe = DefaultRecipe(out=str(tmp_path / name), seed=3, n_pairs=6, size=128, crop=64,
                           supervised_steps=3, fidelity_steps=2, adapt_steps=2, sizes=("realtime",),
                           pocus_dir=_frames(tmp_path / name / "pocus", 3, 1),
                           highend_dir=_frames(tmp_path / name / "high", 3, 2), workers=1)
    return train_default_models(recipe, log=lambda m: None)["realtime"]


@pytest.mark.filterwarnings("ignore")
def test_recipe_is_seeded_and_exports_a_float16_generator(tmp_path):
    first, second = _run(tmp_path, "a"), _run(tmp_path, "b")
    ckpt = load_checkpoint(first)
    assert ckpt.discriminator is None and not ckpt.optimizers
    assert {str(t.dtype) for t in ckpt.generator.values() if t.is_floating_point()} == {"torch.float16"}
    assert ckpt.spacing_mm == pytest.approx(30.0 / 512) and ckpt.model_config.residual  # the real frames' scale
    assert ckpt.model_config.skip_sharpen == 1.0
    assert ckpt.config["loss"]["lambda_checkerboard"] > 0  # the grid term is part of the recipe
    # same seed -> the same weights, bit for bit (the files differ only in the run folders they name)
    other = load_checkpoint(second).generator
    assert ckpt.generator.keys() == other.keys()
    assert all(torch.equal(ckpt.generator[k], other[k]) for k in other)
