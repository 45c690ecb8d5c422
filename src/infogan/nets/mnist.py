"""MNIST (Table 1) and 3D faces (Table 4): 28x28 / 32x32 gray.

D: conv 64 lReLU s2 -> conv 128 lReLU s2 BN -> FC 1024 lReLU BN -> FC output (D: 1, Q: head).
G: FC 1024 ReLU BN -> FC s·s·128 ReLU BN -> upconv 64 ReLU s2 BN -> upconv 1 s2 (sigmoid).
"""

from __future__ import annotations

from torch import nn

from .blocks import Discriminator, Generator, Reshape, d_conv, d_fc, g_fc


def build(input_dim: int, q_dim: int, image_shape: tuple[int, int, int], q_hidden: int = 128):
    c, h, w = image_shape
    if h != w or h % 4:
        raise ValueError(f"the MNIST/faces architecture needs square images with side divisible by 4, got {h}x{w}")
    s = h // 4  # 7 for MNIST, 8 for faces
    trunk = nn.Sequential(
        d_conv(c, 64, bn=False),  # (B, 64, h/2, w/2)
        d_conv(64, 128, bn=True),  # (B, 128, s, s)
        nn.Flatten(),
        d_fc(128 * s * s, 1024),  # (B, 1024)
    )
    net = nn.Sequential(
        g_fc(input_dim, 1024),
        g_fc(1024, 128 * s * s),
        Reshape(128, s, s),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, c, 4, 2, 1),  # (B, c, h, w)
    )
    return Generator(net, input_dim, image_shape, "sigmoid"), Discriminator(trunk, 1024, q_dim, q_hidden)
