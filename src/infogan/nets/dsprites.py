"""dSprites: 64x64 binary images. Not in the InfoGAN paper: a small convnet of the kind used for
dSprites in the disentanglement literature (disentanglement_lib, InfoGAN-CR; see docs/presets.md),
with this package's conventions (lReLU 0.1, DCGAN init).

D has no batch norm: D sees all-real and all-fake batches separately, and per-batch
normalisation removed the very statistics that tell sparse binary sprites from grey texture (with
BN in D, G produced grey textures that D never rejected in 500 steps; docs/experiments.md).

D: conv 32 s2 -> conv 32 s2 -> conv 64 s2 -> conv 64 s2 -> FC 128 -> FC output
   (lReLU throughout; Q head on the FC 128 features).
G: FC 128 BN -> FC 4·4·64 BN -> upconv 64 s2 BN -> upconv 32 s2 BN -> upconv 32 s2 BN
   -> upconv 1 s2 (sigmoid) (ReLU throughout).
"""

from __future__ import annotations

from torch import nn

from .blocks import Discriminator, Generator, Reshape, d_conv, d_fc, g_fc, g_upconv


def build(input_dim: int, q_dim: int, image_shape: tuple[int, int, int], q_hidden: int = 128):
    c, h, w = image_shape
    if (h, w) != (64, 64):
        raise ValueError(f"the dSprites architecture needs 64x64 images, got {h}x{w}")
    trunk = nn.Sequential(
        d_conv(c, 32, bn=False),  # (B, 32, 32, 32)
        d_conv(32, 32, bn=False),  # (B, 32, 16, 16)
        d_conv(32, 64, bn=False),  # (B, 64, 8, 8)
        d_conv(64, 64, bn=False),  # (B, 64, 4, 4)
        nn.Flatten(),
        d_fc(64 * 4 * 4, 128, bn=False),  # (B, 128)
    )
    net = nn.Sequential(
        g_fc(input_dim, 128),
        g_fc(128, 4 * 4 * 64),
        Reshape(64, 4, 4),
        g_upconv(64, 64),  # (B, 64, 8, 8)
        g_upconv(64, 32),  # (B, 32, 16, 16)
        g_upconv(32, 32),  # (B, 32, 32, 32)
        nn.ConvTranspose2d(32, c, 4, 2, 1),  # (B, c, 64, 64)
    )
    return Generator(net, input_dim, image_shape, "sigmoid"), Discriminator(trunk, 128, q_dim, q_hidden)
