"""Sample and traversal PNGs of a generator, written into a run directory."""

from __future__ import annotations

from pathlib import Path

import torch

from .data.store import to_uint8
from .latent import Latents, LatentSpec
from .viz import grid, save_png


@torch.no_grad()
def generate(G: torch.nn.Module, spec: LatentSpec, lat: Latents, batch: int = 500) -> torch.Tensor:
    """uint8 images (N, C, H, W) from latents, G in eval mode (BN running statistics)."""
    was = G.training
    G.eval()
    dev = next(G.parameters()).device
    z = spec.to_input(Latents(lat.noise.to(dev), [v.to(dev) for v in lat.codes]))
    out = torch.cat([to_uint8(G(z[i : i + batch]), G.output).cpu() for i in range(0, len(z), batch)])
    G.train(was)
    return out


def sample_grid(G, spec: LatentSpec, seed: int, rows: int = 10, cols: int = 10):
    """Random samples; rows follow the first categorical code's categories when there is one."""
    gen = torch.Generator().manual_seed(seed)
    lat = spec.sample(rows * cols, gen)
    cats = spec.categorical
    if cats:
        i = spec.codes.index(cats[0])
        lat.codes[i] = (torch.arange(rows * cols) // cols) % cats[0].k
    return grid(generate(G, spec, lat), rows, cols)


def traversal_grid(G, spec: LatentSpec, name: str, seed: int, values=None, n: int = 10):
    gen = torch.Generator().manual_seed(seed)
    lat, rows, cols = spec.traversal(name, values, n, gen)
    return grid(generate(G, spec, lat), rows, cols)


def write_figures(G, spec: LatentSpec, run_dir: Path, step: int, seed: int) -> dict[str, Path]:
    """samples/step_N.png, samples/latest.png and traversals/<code>.png (latest)."""
    run_dir = Path(run_dir)
    scale = 2 if G.image_shape[-1] <= 32 else 1
    out = {"samples": save_png(sample_grid(G, spec, seed + 1), run_dir / "samples" / f"step_{step:07d}.png", scale)}
    save_png(sample_grid(G, spec, seed + 1), run_dir / "samples" / "latest.png", scale)
    for c in spec.codes:
        out[c.name] = save_png(traversal_grid(G, spec, c.name, seed + 2), run_dir / "traversals" / f"{c.name}.png", scale)
    return out
