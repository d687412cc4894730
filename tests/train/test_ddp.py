"""DistributedDataParallel: the same training entry point under torchrun, 2 CPU processes, gloo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from pocusiq.train.checkpoints import load_checkpoint

SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    from safetensors.torch import save_file
    from pocusiq.train.config import load_config
    from pocusiq.train.trainer import train

    torch.set_num_threads(1)
    config = load_config(sys.argv[1])
    result = train(config, progress=False)
    rank = int(os.environ["RANK"])
    weights = {f"g.{k}": v for k, v in result.generator.state_dict().items()}
    weights.update({f"d.{k}": v for k, v in result.discriminator.state_dict().items()})
    save_file({k: v.contiguous() for k, v in weights.items()}, os.path.join(sys.argv[2], f"rank{rank}.safetensors"))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights(tmp_path, disk_dataset, make_config):
    config = make_config(tmp_path, "ddp", max_steps=4, checkpoint_every=2, data__root=str(disk_dataset),
                         data__crop=16, data__flip=True, device="cpu")
    from pocusiq.train.config import save_config

    cfg_path = tmp_path / "ddp.yaml"
    save_config(config, cfg_path)
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(script), str(cfg_path), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # rank 0 alone wrote the checkpoint; it holds the same weights and both ranks' RNG states
    ck = load_checkpoint(config.run_dir / "last.safetensors")
    assert ck.state["step"] == 4 and ck.state["world_size"] == 2
    assert {"torch.rank0", "torch.rank1"} <= set(ck.rng)
    for k, v in ck.generator.items():
        assert torch.equal(v, w0[f"g.{k}"])
    # each rank saw its own half of the 8 training pairs: 4 per rank / batch 2 = 2 steps per epoch
    assert ck.state["steps_per_epoch"] == 2
    # and the weights actually moved (not a no-op run)
    torch.manual_seed(config.seed)
    from pocusiq.models import build_generator

    init = build_generator(config.model).state_dict()
    assert any(not torch.equal(init[k], ck.generator[k]) for k in init)
