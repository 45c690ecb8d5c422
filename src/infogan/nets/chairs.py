"""3D chairs (Table 6): 64x64 gray.

D: conv 64 s2 -> conv 128 s2 BN -> conv 256 s2 BN -> conv 256 BN -> conv 256 BN -> FC 1024 BN
   -> FC output (lReLU throughout).
G: FC 1024 BN -> FC 8·8·256 BN -> upconv 256 BN -> upconv 256 BN -> upconv 128 s2 BN
   -> upconv 64 s2 BN -> upconv 1 s2 (sigmoid) (ReLU throughout).

The received table stops after three rows; the rest follows the published paper. The stride-1
layers keep the size (8x8), so three stride-2 upconvs from 8x8 give 64x64.
"""

from __future__ import annotations

from torch import nn

from .blocks import LEAK, Discriminator, Generator, Reshape, d_conv, d_fc, g_fc, g_upconv


def d_conv_same(c_in: int, c_out: int) -> nn.Sequential:
    """Stride-1 4x4 conv + BN + lReLU keeping the size. The even kernel needs asymmetric padding
    (1 before, 2 after, as ``padding="same"`` would do, minus its per-call copy and warning)."""
    return nn.Sequential(
        nn.ZeroPad2d((1, 2, 1, 2)),
        nn.Conv2d(c_in, c_out, 4, 1, 0, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(LEAK),
    )


def build(input_dim: int, q_dim: int, image_shape: tuple[int, int, int], q_hidden: int = 128):
    c, h, w = image_shape
    if (h, w) != (64, 64):
        raise ValueError(f"the chairs architecture needs 64x64 images, got {h}x{w}")
    trunk = nn.Sequential(
        d_conv(c, 64, bn=False),  # (B, 64, 32, 32)
        d_conv(64, 128, bn=True),  # (B, 128, 16, 16)
        d_conv(128, 256, bn=True),  # (B, 256, 8, 8)
        d_conv_same(256, 256),  # (B, 256, 8, 8)
        d_conv_same(256, 256),  # (B, 256, 8, 8)
        nn.Flatten(),
        d_fc(256 * 8 * 8, 1024),  # (B, 1024)
    )
    net = nn.Sequential(
        g_fc(input_dim, 1024),
        g_fc(1024, 8 * 8 * 256),
        Reshape(256, 8, 8),
        g_upconv(256, 256, stride=1),  # (B, 256, 8, 8)
        g_upconv(256, 256, stride=1),  # (B, 256, 8, 8)
        g_upconv(256, 128),  # (B, 128, 16, 16)
        g_upconv(128, 64),  # (B, 64, 32, 32)
        nn.ConvTranspose2d(64, c, 4, 2, 1),  # (B, c, 64, 64)
    )
    return Generator(net, input_dim, image_shape, "sigmoid"), Discriminator(trunk, 1024, q_dim, q_hidden)
