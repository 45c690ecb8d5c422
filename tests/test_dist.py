"""Two CPU processes (gloo) train a few steps under DDP: both ranks must end with identical weights."""

import hashlib
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, run_dir, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from helpers import synthetic_store, tiny_config

    from infogan.train import Trainer

    cfg = tiny_config(steps=4, batch=16, log_every=2, ckpt_every=2)
    tr = Trainer(cfg, run_dir, synthetic_store(128), progress=False)
    assert tr.world == world and tr.local_batch == 16 // world
    tr.fit()
    h = hashlib.sha256()
    # Parameters must agree exactly; BN running statistics are local until DDP broadcasts rank 0's
    # at the next forward, and rank 0's are the ones saved.
    for m in (tr.G, tr.D):
        for k, v in sorted(m.named_parameters()):
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
    # the data/latent streams differ per rank
    out[rank] = (h.hexdigest(), tr.gen.initial_seed())
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_keeps_ranks_identical(tmp_path):
    world = 2
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(world, _free_port(), str(tmp_path / "run"), out), nprocs=world, join=True)
    (h0, s0), (h1, s1) = out[0], out[1]
    assert h0 == h1, "ranks diverged: DDP did not keep the weights in sync"
    assert s0 != s1, "ranks drew the same data and latents"
    from infogan import checkpoint as ckpt

    _, state = ckpt.load_latest(tmp_path / "run" / "checkpoints")
    assert state["step"] == 4 and len(state["rng_ranks"]) == 2  # rank-0 I/O, every rank's RNG saved
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
    assert len(list((tmp_path / "run" / "tb").iterdir())) == 1  # only rank 0 writes TensorBoard events
