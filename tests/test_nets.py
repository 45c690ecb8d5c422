"""Every registered architecture: shapes, output ranges, parameter counts, gradient flow."""

import pytest
import torch

from infogan.latent import LatentSpec
from infogan.nets import ARCHITECTURES, build, count_params

# (arch, latent spec, image shape, G params, D params). The specs of the paper's presets give the G
# input widths of App. C: SVHN 168, CelebA 228, 3D faces 133, 3D chairs 189.
CASES = [
    ("mnist", "cat10,unif2,noise62", (1, 28, 28), 6_645_121, 6_691_151),
    ("svhn_celeba", "4xcat10,unif4,noise124", (3, 32, 32), 2_798_787, 1_194_097),  # SVHN
    ("svhn_celeba", "10xcat10,noise128", (3, 32, 32), 2_906_307, 1_200_805),  # CelebA
    ("faces", "unif5,noise128", (1, 32, 32), 8_675_457, 8_656_715),
    ("chairs", "3xcat20,unif1,noise128", (1, 64, 64), 19_760_513, 19_675_007),
    ("dsprites", "unif5,noise5", (1, 64, 64), 250_113, 264_651),
    ("generic", "cat10,unif2,noise62", (3, 32, 32), 970_115, 1_189_711),
    ("generic", "cat10,unif2,noise62", (1, 64, 64), 3_377_025, 3_814_223),
    ("generic", "cat10,unif2,noise62", (3, 128, 128), 7_574_403, 8_011_599),
    # below 32 px: the paper's small-image net; at 28 px gray exactly the mnist net
    ("generic", "cat10,unif2,noise62", (1, 28, 28), 6_645_121, 6_691_151),
    ("generic", "cat10,unif2,noise62", (3, 16, 16), 2_313_347, 2_367_823),
]
IDS = [f"{a}-{s[1]}x{s[2]}x{s[0]}-{lat}" for a, lat, s, _, _ in CASES]


def test_registry_names():
    assert {"mnist", "faces", "svhn_celeba", "chairs", "dsprites", "generic"} <= set(ARCHITECTURES)
    assert ARCHITECTURES["faces"] is ARCHITECTURES["mnist"]  # Table 4 is Table 1's layers at 32x32


def test_paper_input_widths():
    widths = {
        "svhn": ("4xcat10,unif4,noise124", 168),
        "celeba": ("10xcat10,noise128", 228),
        "faces": ("unif5,noise128", 133),
        "chairs": ("3xcat20,unif1,noise128", 189),
    }
    for name, (lat, want) in widths.items():
        assert LatentSpec.parse(lat).input_dim == want, name


@pytest.mark.parametrize("arch,lat,shape,g_params,d_params", CASES, ids=IDS)
def test_shapes_ranges_params_and_gradients(arch, lat, shape, g_params, d_params):
    torch.manual_seed(0)
    spec = LatentSpec.parse(lat)
    G, D = build(arch, spec, shape)
    assert (count_params(G), count_params(D)) == (g_params, d_params)

    z = spec.to_input(spec.sample(4, torch.Generator().manual_seed(0)))  # (4, input_dim)
    x = G(z)
    assert x.shape == (4, *shape)
    lo = -1.0 if G.output == "tanh" else 0.0
    assert x.min() >= lo and x.max() <= 1.0
    assert G.output == ("tanh" if arch == "svhn_celeba" or (arch == "generic" and shape[0] == 3) else "sigmoid")

    d, q = D(x)
    assert d.shape == (4,) and q.shape == (4, spec.q_dim)
    (d.sum() + q.square().sum()).backward()
    for net, tag in ((G, "G"), (D, "D")):
        dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not dead, f"{tag} parameters without gradient: {dead[:5]}"


@pytest.mark.parametrize(
    "arch,shape",
    [
        ("svhn_celeba", (3, 64, 64)),
        ("chairs", (1, 32, 32)),
        ("dsprites", (1, 32, 32)),
        ("generic", (3, 48, 48)),
        ("generic", (2, 32, 32)),
        ("generic", (1, 30, 30)),
        ("generic", (1, 4, 4)),
    ],
)
def test_wrong_image_shape_is_refused(arch, shape):
    with pytest.raises(ValueError, match="needs"):
        build(arch, LatentSpec.parse("cat10,noise10"), shape)


def test_generic_below_32_px_is_the_papers_mnist_net_layer_for_layer():
    spec = LatentSpec.parse("cat10,unif2,noise62")
    torch.manual_seed(0)
    g, d = build("generic", spec, (1, 28, 28))
    torch.manual_seed(0)
    g_ref, d_ref = build("mnist", spec, (1, 28, 28))
    for a, b in ((g, g_ref), (d, d_ref)):
        assert [tuple(p.shape) for p in a.parameters()] == [tuple(p.shape) for p in b.parameters()]
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_d_without_batchnorm_keeps_q_head_norm():
    from torch import nn

    from infogan.latent import LatentSpec
    from infogan.nets import build

    spec = LatentSpec.parse("10xcat10,noise128")
    _, d = build("svhn_celeba", spec, (3, 32, 32), d_batchnorm=False)
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in d.trunk.modules())
    assert any(isinstance(m, nn.BatchNorm1d) for m in d.q_head.modules())
    _, d_bn = build("svhn_celeba", spec, (3, 32, 32))
    assert any(isinstance(m, nn.BatchNorm2d) for m in d_bn.trunk.modules())


def test_g_batchnorm_adds_a_norm_after_every_hidden_upconv():
    import torch
    from torch import nn

    from infogan.latent import LatentSpec
    from infogan.nets import build

    spec = LatentSpec.parse("10xcat10,noise128")
    g_paper, _ = build("svhn_celeba", spec, (3, 32, 32))
    g_bn, _ = build("svhn_celeba", spec, (3, 32, 32), g_batchnorm=True)

    def count(g):
        return sum(isinstance(m, nn.BatchNorm2d) for m in g.modules())

    assert count(g_paper) == 1 and count(g_bn) == 3  # the 256 upconv had one; 128 and 64 get one
    last = [m for m in g_bn.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    assert last.out_channels == 3  # the output layer stays without a norm
    z = torch.randn(8, spec.input_dim)
    out = g_bn(z)
    assert out.shape == (8, 3, 32, 32) and out.std(0).mean() > 0.01
    g_mnist, _ = build("mnist", LatentSpec.parse("cat10,unif2,noise62"), (1, 28, 28), g_batchnorm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g_mnist.modules()) == 1  # Table 1 already has them


def test_generators_depend_on_their_input_at_init():
    """A generator that starts almost constant (N(0, 0.02) weights in layers with no batch norm
    after them) stayed collapsed on CelebA; every architecture must start with varied samples."""
    import torch

    from infogan.config import PRESETS, image_shape, preset
    from infogan.nets import build

    for name in PRESETS:
        cfg = preset(name)
        torch.manual_seed(0)
        G, _ = build(cfg.model.arch, cfg.latent, image_shape(cfg))
        with torch.no_grad():
            x = G(cfg.latent.to_input(cfg.latent.sample(64, torch.Generator().manual_seed(0))))
        spread = x.std(0).mean().item() / (2.0 if G.output == "tanh" else 1.0)  # relative to the output range
        assert spread > 0.02, (name, spread)
