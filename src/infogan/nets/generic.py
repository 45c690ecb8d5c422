"""Generic DCGAN-style nets for image folders: 32, 64 or 128 px, 1 or 3 channels (and, for
sides of 8-28 px that are multiples of 4, the paper's small-image net: see ``_small``).

With n = log2(size / 4) stride-2 stages (3, 4, 5) and widths w_i = min(64·2^i, 512):
D: conv w_0 s2 -> conv w_1 s2 BN -> ... -> conv w_{n-1} s2 BN (4x4 maps) -> FC output (lReLU 0.1).
G: FC 4·4·w_{n-1} BN -> upconv w_{n-2} s2 BN -> ... -> upconv w_0 s2 BN -> upconv C s2
   (ReLU; tanh for colour, sigmoid for gray, matching the paper's presets).
"""

from __future__ import annotations

import itertools

from torch import nn

from . import mnist
from .blocks import Discriminator, Generator, Reshape, d_conv, g_fc, g_upconv

SIZES = {32: 3, 64: 4, 128: 5}  # image side -> stride-2 stages
SMALL = range(8, 32, 4)  # sides below 32 px: the paper's net for small images (Tables 1 and 4)
BASE_WIDTH = 64
MAX_WIDTH = 512


def widths(size: int) -> list[int]:
    return [min(BASE_WIDTH * 2**i, MAX_WIDTH) for i in range(SIZES[size])]


def build(input_dim: int, q_dim: int, image_shape: tuple[int, int, int], q_hidden: int = 128):
    c, h, w = image_shape
    if c not in (1, 3):
        raise ValueError(f"the generic architecture needs 1 or 3 channels, got {c}")
    if h == w and h in SMALL:
        return _small(input_dim, q_dim, image_shape, q_hidden)
    if h != w or h not in SIZES:
        raise ValueError(f"the generic architecture needs square 32, 64 or 128 px images or a side that is a "
                         f"multiple of 4 from 8 to 28, got {h}x{w}")
    ws = widths(h)
    d_layers: list[nn.Module] = [d_conv(c, ws[0], bn=False)]  # (B, w0, h/2, h/2)
    d_layers += [d_conv(a, b, bn=True) for a, b in itertools.pairwise(ws)]  # ... (B, w_{n-1}, 4, 4)
    trunk = nn.Sequential(*d_layers, nn.Flatten())
    top = ws[-1]
    g_layers: list[nn.Module] = [g_fc(input_dim, 4 * 4 * top), Reshape(top, 4, 4)]
    rev = ws[::-1]
    g_layers += [g_upconv(a, b) for a, b in itertools.pairwise(rev)]  # ... (B, w0, h/2, h/2)
    g_layers.append(nn.ConvTranspose2d(ws[0], c, 4, 2, 1))  # (B, c, h, w)
    output = "tanh" if c == 3 else "sigmoid"
    return Generator(nn.Sequential(*g_layers), input_dim, image_shape, output), Discriminator(
        trunk, top * 4 * 4, q_dim, q_hidden
    )


def _small(input_dim: int, q_dim: int, image_shape: tuple[int, int, int], q_hidden: int):
    """Sides 8-28 px: the layers of the paper's MNIST (28 px, Table 1) and 3D-faces (32 px, Table 4)
    nets, two stride-2 stages around FC 1024 layers; its output tanh for colour, sigmoid for gray."""
    g, d = mnist.build(input_dim, q_dim, image_shape, q_hidden)
    if image_shape[0] == 3:
        g = Generator(g.net, input_dim, image_shape, "tanh")
    return g, d
