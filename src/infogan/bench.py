"""Benchmark harness: time training steps of the project's trainer against a plain eager reference.

The reference loop is written the way a typical InfoGAN implementation is: two optimizers
(default, non-fused Adam), D forward on the fakes twice (once detached for the D/Q step, once for
the G step), float32, and a ``DataLoader`` over a ``TensorDataset`` of float images. Both loops use
the same networks, batch size and latent spec, in the same process, alternating timed blocks so
that machine noise hits both alike.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .config import Config
from .data.store import ImageStore, to_float
from .latent import LatentSpec
from .losses import d_loss, g_loss, mi_loss
from .nets import build_for


def synthetic_store(shape: tuple[int, int, int], n: int = 4096, seed: int = 0) -> ImageStore:
    """Random uint8 images: timing does not depend on the pixels."""
    g = torch.Generator().manual_seed(seed)
    return ImageStore(torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8), name="synthetic")


class ReferenceLoop:
    """A plain eager InfoGAN step, as commonly written (for comparison only)."""

    def __init__(self, cfg: Config, store: ImageStore, device: torch.device) -> None:
        torch.manual_seed(cfg.train.seed)
        self.spec = cfg.latent
        self.G, self.D = build_for(cfg.model, self.spec, store.image_shape)
        self.G.to(device)
        self.D.to(device)
        self.device = device
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.optim.lr_d, betas=betas)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.optim.lr_g, betas=betas)
        data = torch.utils.data.TensorDataset(to_float(store.images, self.G.output))
        self.loader = torch.utils.data.DataLoader(data, batch_size=cfg.train.batch_size, shuffle=True, drop_last=True)
        self.it = iter(self.loader)
        self.B = cfg.train.batch_size

    def _real(self) -> torch.Tensor:
        try:
            (x,) = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            (x,) = next(self.it)
        return x.to(self.device)

    def step(self) -> None:
        real = self._real()
        lat = self.spec.sample(self.B, device=self.device)
        fake = self.G(self.spec.to_input(lat))
        # D/Q step on detached fakes
        d_real, _ = self.D(real)
        d_fake, q = self.D(fake.detach())
        mi, _ = mi_loss(self.spec, q, lat)
        self.opt_d.zero_grad()
        (d_loss(d_real, d_fake) + mi).backward()
        self.opt_d.step()
        # G step: D forward on the fakes again
        d_fake, q = self.D(fake)
        mi, _ = mi_loss(self.spec, q, lat)
        self.opt_g.zero_grad()
        (g_loss(d_fake) + mi).backward()
        self.opt_g.step()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_block(step: Callable[[], Any], n: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    _sync(device)
    return time.perf_counter() - t0


def step_flops(trainer) -> int:
    """FLOPs of one training step of ``trainer`` counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        trainer.step()
    return int(counter.get_total_flops())


def matmul_peak(device: torch.device, n: int = 2048, dtype: torch.dtype = torch.float32, reps: int = 5) -> float:
    """Measured FLOP/s of a square matmul: a practical roofline for this machine."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def peak_rss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if platform.system() != "Darwin" else r / 2**20


def bench(
    cfg: Config, steps: int = 30, warmup: int = 5, blocks: int = 3, reference: bool = True,
    plain_gan: bool = True, other_update: bool = True, shape: tuple[int, int, int] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time the trainer's step (and the reference loop, a plain GAN and the trainer with the other
    ``train.update`` scheme) in one process.

    Timed blocks of ``steps // blocks`` steps alternate between the loops; each loop's time is
    the median block. Returns a JSON-ready dict.
    """
    from .dist import resolve_device
    from .train import Trainer

    device = resolve_device(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    shape = shape or _preset_shape(cfg)
    store = synthetic_store(shape, n=max(4 * cfg.train.batch_size, 1024))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"infogan-bench-{os.getpid()}"
    loops: dict[str, Callable[[], Any]] = {}
    trainer = Trainer(cfg, tmp, store, progress=False)
    loops["infogan"] = trainer.step
    flops = step_flops(trainer)
    if plain_gan:
        # Same G input width, no codes, no Q head: the overhead of the MI term.
        gan_spec = LatentSpec(cfg.latent.input_dim, (), cfg.latent.noise_prior)
        gan = Trainer(replace(cfg, latent=gan_spec), tmp, store, progress=False)
        loops["plain_gan"] = gan.step
    if other_update:
        from .config import UPDATES

        other = next(u for u in UPDATES if u != cfg.train.update)
        loops[f"update_{other}"] = Trainer(replace(cfg, train=replace(cfg.train, update=other)), tmp, store,
                                           progress=False).step
    if reference:
        loops["reference"] = ReferenceLoop(cfg, store, device).step
    for name, step in loops.items():
        log(f"warm-up {name} ({warmup} steps)")
        _time_block(step, warmup, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    per_block = max(1, steps // blocks)
    times: dict[str, list[float]] = {k: [] for k in loops}
    for b in range(blocks):
        for name, step in loops.items():
            times[name].append(_time_block(step, per_block, device) / per_block)
            log(f"block {b + 1}/{blocks} {name}: {1000 * times[name][-1]:.1f} ms/step")
    ms = {k: 1000 * sorted(v)[len(v) // 2] for k, v in times.items()}
    B = cfg.train.batch_size
    out: dict[str, Any] = {
        "preset": cfg.preset,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "batch_size": B,
        "update": cfg.train.update,
        "steps_timed": per_block * blocks,
        "ms_per_step": ms["infogan"],
        "images_per_s": 1000 * B / ms["infogan"],
        "step_flops": flops,
        "effective_flops": flops / (ms["infogan"] / 1000),
        "peak_memory_mib": (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else peak_rss_mib(),
        "matmul_peak_flops": matmul_peak(device),
    }
    out["fraction_of_matmul_peak"] = out["effective_flops"] / out["matmul_peak_flops"]
    if "reference" in ms:
        out["reference_ms_per_step"] = ms["reference"]
        out["speedup_vs_reference"] = ms["reference"] / ms["infogan"]
    other = [k for k in ms if k.startswith("update_")]
    if other:
        out["ms_per_step_by_update"] = {cfg.train.update: ms["infogan"], other[0][len("update_"):]: ms[other[0]]}
    if "plain_gan" in ms:
        out["plain_gan_ms_per_step"] = ms["plain_gan"]
        out["mi_overhead_percent"] = 100 * (ms["infogan"] / ms["plain_gan"] - 1)
    return out


def _preset_shape(cfg: Config) -> tuple[int, int, int]:
    from .config import PRESET_SHAPES

    return PRESET_SHAPES.get(cfg.preset, (1, 28, 28))
