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

__all__ = ["ARCHITECTURES", "Discriminator", "Generator", "build", "build_classifier", "build_for"]


def build(arch: str, spec, image_shape: tuple[int, int, int], q_hidden: int = 128,
          d_batchnorm: bool = True, g_batchnorm: bool = False, mbstd: bool = False) -> tuple[Generator, Discriminator]:
    """Build (G, D) for ``arch`` with sizes taken from the latent ``spec``; DCGAN-initialised.

    ``d_batchnorm=False`` replaces the batch norms of D's trunk by identities (the Q head keeps
    its own): D sees all-real and all-fake batches separately, and per-batch normalisation can
    hide what tells them apart (a collapsed fake batch has no variance left to judge).
    ``g_batchnorm=True`` puts a batch norm after every hidden layer of G that has none (the SVHN/
    CelebA generator has none after its 128- and 64-channel upconvs in the published table).
    ``mbstd=True`` gives D's head the minibatch standard deviation of the trunk's features
    (``blocks.minibatch_std``; not in the paper).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    g, d = ARCHITECTURES[arch](spec.input_dim, spec.q_dim, tuple(image_shape), q_hidden)
    if not d_batchnorm:
        _strip_batchnorm(d.trunk)
    if g_batchnorm:
        _add_batchnorm(g.net)
    if mbstd:
        d.enable_mbstd()
    init_weights(g)
    init_weights(d)
    return g, d


def build_for(model, spec, image_shape: tuple[int, int, int]) -> tuple[Generator, Discriminator]:
    """``build`` with the options of a ``config.ModelConfig``."""
    return build(model.arch, spec, image_shape, model.q_hidden, model.d_batchnorm, model.g_batchnorm, model.mbstd)


def _strip_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(module, name, nn.Identity())
        else:
            _strip_batchnorm(child)


def _add_batchnorm(module: nn.Module) -> None:
    """Insert BN between every hidden (conv/linear, ReLU) pair of G that lacks one."""
    for name, child in module.named_children():
        kids = list(child.children())
        if (isinstance(child, nn.Sequential) and len(kids) == 2 and isinstance(kids[1], nn.ReLU)
                and isinstance(kids[0], (nn.ConvTranspose2d, nn.Conv2d, nn.Linear))):
            layer = kids[0]
            layer.variance_preserving = False  # BN follows now: DCGAN init as for the other layers
            bn = nn.BatchNorm1d(layer.out_features) if isinstance(layer, nn.Linear) else nn.BatchNorm2d(layer.out_channels)
            setattr(module, name, nn.Sequential(layer, bn, kids[1]))


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
