"""SVHN (Table 2) and CelebA (Table 3): 32x32 colour.

D: conv 64 lReLU s2 -> conv 128 lReLU s2 BN -> conv 256 lReLU s2 BN -> FC output (D: 1, Q: head).
G: FC 2·2·448 ReLU BN -> upconv 256 ReLU s2 BN -> upconv 128 ReLU s2 -> upconv 64 ReLU s2
   -> upconv C s2 (tanh).

The received tables stop after the third row; the last rows follow the published paper, which has
no batch norm after the 128 and 64 upconvs (kept as published). Four stride-2 upconvs from 2x2 give
32x32.
"""

from __future__ import annotations

from torch import nn

from .blocks import Discriminator, Generator, Reshape, d_conv, g_fc, g_upconv


def build(input_dim: int, q_dim: int, image_shape: tuple[int, int, int], q_hidden: int = 128):
    c, h, w = image_shape
    if (h, w) != (32, 32):
        raise ValueError(f"the SVHN/CelebA architecture needs 32x32 images, got {h}x{w}")
    trunk = nn.Sequential(
        d_conv(c, 64, bn=False),  # (B, 64, 16, 16)
        d_conv(64, 128, bn=True),  # (B, 128, 8, 8)
        d_conv(128, 256, bn=True),  # (B, 256, 4, 4)
        nn.Flatten(),  # (B, 4096)
    )
    net = nn.Sequential(
        g_fc(input_dim, 2 * 2 * 448),
        Reshape(448, 2, 2),  # (B, 448, 2, 2)
        g_upconv(448, 256, bn=True),  # (B, 256, 4, 4)
        g_upconv(256, 128, bn=False),  # (B, 128, 8, 8)
        g_upconv(128, 64, bn=False),  # (B, 64, 16, 16)
        nn.ConvTranspose2d(64, c, 4, 2, 1),  # (B, c, 32, 32)
    )
    for layer in (net[3][0], net[4][0]):  # the upconvs with no batch norm after them
        layer.variance_preserving = True
    return Generator(net, input_dim, image_shape, "tanh"), Discriminator(trunk, 256 * 4 * 4, q_dim, q_hidden)
