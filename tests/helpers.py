"""Small shared builders for tests: tiny configs and synthetic stores."""

from dataclasses import replace

import torch

from infogan.config import preset
from infogan.data.store import ImageStore
from infogan.latent import LatentSpec


def synthetic_store(n=256, shape=(1, 28, 28), seed=0, labels=True):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    return ImageStore(imgs, torch.randint(0, 10, (n,), generator=g) if labels else None, name="synthetic")


def tiny_config(steps=4, batch=16, latent="cat10,unif2,noise62", **train):
    cfg = preset("mnist")
    opts = dict(steps=steps, batch_size=batch, log_every=2, eval_every=0, ckpt_every=2, eval_samples=64, device="cpu")
    t = replace(cfg.train, **{**opts, **train})
    return replace(cfg, train=t, latent=LatentSpec.parse(latent))
