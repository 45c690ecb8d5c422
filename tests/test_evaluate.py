import numpy as np
import torch

from infogan.data import load_dsprites, make_dsprites
from infogan.evaluate import disentanglement, evaluate
from infogan.latent import LatentSpec
from infogan.nets import build


def test_evaluate_on_a_factor_data_set_reports_disentanglement(tmp_path):
    make_dsprites(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", factor_sizes=(1, 3, 2, 2, 4, 4))
    store = load_dsprites("train", tmp_path, download=False, verify=False, cache=False)
    assert store.factors.shape == (3 * 2 * 2 * 4 * 4, 5)
    spec = LatentSpec.parse("unif5,noise5")
    torch.manual_seed(0)
    G, D = build("dsprites", spec, store.image_shape)
    res = evaluate(G, D, spec, G.output, store, n_samples=64, disent_samples=100, disent_metrics=("mig", "dci", "sap"))
    d = res["disentanglement"]
    for k in ("mig", "dci_disentanglement", "sap"):
        assert k in d and (d[k] is None or np.isfinite(d[k]))
    # untrained Q: far from disentangled
    assert d["mig"] < 0.3


def test_disentanglement_is_high_when_q_reads_the_factors():
    """A stand-in D whose Q means are the true factors scores near the top; one that reads noise, near 0."""
    from infogan.data.store import ImageStore

    sizes = (3, 4, 5)
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij"), -1).reshape(-1, 3)
    imgs = torch.zeros(len(grid), 1, 8, 8, dtype=torch.uint8)
    imgs[:, 0, 0, :3] = torch.from_numpy(grid).to(torch.uint8)  # the factors, written into the pixels
    imgs[:, 0, 1:] = torch.randint(0, 255, (len(grid), 7, 8), generator=torch.Generator().manual_seed(0))
    store = ImageStore(imgs, factors=grid)
    spec = LatentSpec.parse("unif3,noise1")

    class Reader(torch.nn.Module):
        def __init__(self, row):
            super().__init__()
            self.row = row
            self.unused = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

        def forward(self, x):
            q = torch.zeros(len(x), 6)
            q[:, 0::2] = (x[:, 0, self.row, :3] * 255).round()
            return torch.zeros(len(x)), q

    which = ("mig", "dci", "factor_vae")
    good = disentanglement(Reader(0), spec, "sigmoid", store, n=300, metrics=which)
    bad = disentanglement(Reader(3), spec, "sigmoid", store, n=300, metrics=which)
    assert good["mig"] > 0.9 and good["dci_disentanglement"] > 0.9 and good["factor_vae"] > 0.9
    assert bad["mig"] < 0.1 and bad["dci_disentanglement"] < 0.3

