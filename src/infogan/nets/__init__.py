"""Architecture registry: name -> builder(input_dim, q_dim, image_shape, q_hidden) -> (G, D)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from . import chairs, dsprites, generic, mnist, svhn_celeba
from .blocks import Discriminator, Generator, init_weights

ARCHITECTURES: dict[str, Callable] = {
    "mnist": mnist.build,  # Table 1, 28x28 gray
    "faces": mnist.build,  # Table 4, 32x32 gray: the same layers with 8x8 maps
    "svhn_celeba": svhn_celeba.build,  # Tables 2 and 3, 32x32 colour
    "chairs": chairs.build,  # Table 6, 64x64 gray
    "dsprites": dsprites.build,  # not in the paper: InfoGAN-CR-style 64x64 binary
    "generic": generic.build,  # DCGAN-style for image folders: 32/64/128, 1 or 3 channels
}

__all__ = ["ARCHITECTURES", "Discriminator", "Generator", "build", "build_classifier"]


def build(arch: str, spec, image_shape: tuple[int, int, int], q_hidden: int = 128) -> tuple[Generator, Discriminator]:
    """Build (G, D) for ``arch`` with sizes taken from the latent ``spec``; DCGAN-initialised."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    g, d = ARCHITECTURES[arch](spec.input_dim, spec.q_dim, tuple(image_shape), q_hidden)
    init_weights(g)
    init_weights(d)
    return g, d


def build_classifier(arch: str, image_shape: tuple[int, int, int], n_out: int, q_hidden: int = 128) -> Discriminator:
    """D's architecture as a classifier: the trunk for ``image_shape`` with an ``n_out``-way head
    (its Q head); used by InfoGAN-CR's pair classifier. The D head is unused."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    _, d = ARCHITECTURES[arch](1, n_out, tuple(image_shape), q_hidden)
    init_weights(d)
    return d


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
