"""Each speed lever of the training step, measured side by side in one process.

    python benchmarks/cpu_levers.py --out benchmarks/results/cpu_levers_<date>.json [--compile]

Builds one trainer per variant of the mnist preset (synthetic images: timing does not depend on the
pixels), the plain GAN (no codes, no Q head: the same trainer with an empty latent spec) with and
without bf16, and the eager reference loop of the paper's recipe (``infogan.bench.ReferenceLoop``).
Timed blocks alternate between all of them, so machine noise hits every variant alike; each
variant's number is its median block. Ratios within one file are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from infogan.bench import ReferenceLoop, synthetic_store
from infogan.config import preset
from infogan.dist import native_bf16
from infogan.latent import LatentSpec
from infogan.train import Trainer

VARIANTS = {
    # name: (train settings over the preset's, plain GAN?)
    "one_forward_per_view_fp32": ({"fuse_views": False, "amp": "off"}, False),
    "fused_fp32": ({"amp": "off"}, False),
    "fused_fp32_channels_last": ({"amp": "off", "channels_last": True}, False),
    "fused_bf16": ({"amp": "bf16"}, False),
    "fused_bf16_channels_last": ({"amp": "bf16", "channels_last": True}, False),
    "fused_bf16_warp_half": ({"amp": "bf16", "warp_fraction": 0.5}, False),
    "fused_bf16_warp_quarter": ({"amp": "bf16", "warp_fraction": 0.25}, False),
    "threads1_fused_bf16": ({"amp": "bf16", "threads": 1}, False),
    "plain_gan_fp32": ({"amp": "off"}, True),
    "plain_gan_bf16": ({"amp": "bf16"}, True),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="steps per timed block")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (compiles for minutes on 2 cores)")
    p.add_argument("--only", nargs="+", metavar="VARIANT", help="time only these variants (and the reference)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    threads = torch.get_num_threads()
    cfg = preset("mnist")
    store = synthetic_store((1, 28, 28), 1024)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"infogan-levers-{os.getpid()}"
    variants = dict(VARIANTS)
    if args.compile:
        variants["fused_bf16_warp_half_compile"] = ({"amp": "bf16", "warp_fraction": 0.5, "compile": True}, False)
    if args.only:
        unknown = sorted(set(args.only) - set(variants))
        if unknown:
            p.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(variants)}")
        variants = {k: v for k, v in variants.items() if k in args.only}
    loops = {}
    for name, (train, gan) in variants.items():
        c = replace(cfg, train=replace(cfg.train, **{"threads": threads, **train}))
        if gan:
            c = replace(c, latent=LatentSpec(c.latent.input_dim, (), c.latent.noise_prior))
        loops[name] = Trainer(c, tmp / name, store, progress=False).step
    torch.set_num_threads(threads)
    loops["reference_fp32"] = ReferenceLoop(cfg, store, torch.device("cpu")).step
    warmup_s = {}
    for name, step in loops.items():
        print(f"warm-up {name}", flush=True)
        t0 = time.perf_counter()
        for _ in range(2):
            step()
        warmup_s[name] = time.perf_counter() - t0  # includes compilation where compiled
    times: dict[str, list[float]] = {k: [] for k in loops}
    for b in range(args.blocks):
        for name, step in loops.items():
            torch.set_num_threads(1 if name.startswith("threads1") else threads)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append(1000 * (time.perf_counter() - t0) / args.steps)
        print(f"block {b + 1}/{args.blocks}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in times.items()), flush=True)
    ms = {k: statistics.median(v) for k, v in times.items()}
    default = "fused_bf16_warp_half" if native_bf16(torch.device("cpu")) else "fused_fp32"
    out = {
        "warmup_s": warmup_s,
        "what": "ms per training step of the mnist preset (batch 128), median of alternating timed blocks",
        "torch": torch.__version__, "threads": threads, "cpus": os.cpu_count(),
        "native_bf16": native_bf16(torch.device("cpu")), "load_before": os.getloadavg(),
        "ms_per_step": ms, "blocks": times, "default": default,
    }
    ratios = {
        "default_over_plain_gan_same_settings": (default, "plain_gan_bf16" if "bf16" in default else "plain_gan_fp32"),
        "default_over_plain_gan_fp32": (default, "plain_gan_fp32"),
        "reference_over_default": ("reference_fp32", default),
        "warp_quarter_over_plain_gan_bf16": ("fused_bf16_warp_quarter", "plain_gan_bf16"),
        "compiled_over_eager": ("fused_bf16_warp_half_compile", "fused_bf16_warp_half"),
    }
    for k, (a, b) in ratios.items():
        if a in ms and b in ms:
            out[k] = ms[a] / ms[b]
            print(f"{k}: {out[k]:.2f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
