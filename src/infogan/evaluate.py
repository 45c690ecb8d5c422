"""Evaluation of a trained (G, D/Q): L_I per code on fresh samples, and Q on real labelled images.

The accuracy of a categorical code is Q's argmax on the real test images, matched one-to-one to
the labels by the Hungarian algorithm (labels are used here only, never in training).

Batch norm at evaluation. D only ever sees pure batches in training (all real or all fake, batch
statistics), while its running statistics average real and fake batches and lag behind the
weights; used as they are, they can make Q useless at evaluation (seen on CelebA: L_I 1.09 nats
per code with batch statistics, 0.05 with the running ones). So Q is evaluated through copies of D
whose BN statistics are recomputed ("precise BN") on the population it is applied to: generated
images for L_I, real images for everything that reads real images. The copies are per-image
functions (no dependence on the rest of a batch), which the disentanglement metrics and `encode`
need. The checkpoint stores D's real-data statistics (``D_bn_real``) for inference.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .data.store import ImageStore, to_float
from .latent import LatentSpec
from .losses import mi_loss
from .metrics import ari, cluster_accuracy, confusion_table, nmi, purity


def _bn_modules(m: torch.nn.Module):
    return [x for x in m.modules() if isinstance(x, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def calibrate_bn(module: torch.nn.Module, batches) -> torch.nn.Module:
    """A copy of ``module`` in eval mode whose BN statistics are the exact average over ``batches``
    (float tensors fed to its forward in train mode). The module itself is not changed."""
    import copy

    m = copy.deepcopy(module)
    bns = _bn_modules(m)
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    m.train()
    for x in batches:
        m(x)
    return m.eval()


def real_batches(store: ImageStore, output: str, device, n_batches: int = 20, batch: int = 128, seed: int = 0):
    """Random batches of real images, as D sees them in training."""
    g = torch.Generator().manual_seed(seed)
    batch = min(batch, len(store))
    for _ in range(n_batches):
        idx = torch.randint(len(store), (batch,), generator=g)
        yield to_float(store.images[idx].to(device), output)


@torch.no_grad()
def fake_batches(G: torch.nn.Module, spec: LatentSpec, n_batches: int = 20, batch: int = 128, seed: int = 1):
    """Batches of generated images from the prior, G in eval mode."""
    was = G.training
    G.eval()
    dev = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    try:
        for _ in range(n_batches):
            lat = spec.sample(batch, g)
            yield G(spec.to_input(type(lat)(lat.noise.to(dev), [v.to(dev) for v in lat.codes])))
    finally:
        G.train(was)


def bn_state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The BN buffers of a module (running mean/var), keyed as in its state dict."""
    return {k: v.detach().clone() for k, v in m.state_dict().items() if "running_" in k}


@torch.no_grad()
def q_outputs(D: torch.nn.Module, images: torch.Tensor, output: str, batch: int = 500) -> torch.Tensor:
    """Q's raw head output (N, q_dim) for uint8 images (N, C, H, W); D in eval mode (BN running stats)."""
    was = D.training
    D.eval()
    dev = next(D.parameters()).device
    outs = [D(to_float(images[i : i + batch].to(dev), output))[1].float().cpu() for i in range(0, len(images), batch)]
    D.train(was)
    return torch.cat(outs) if outs else torch.zeros(0, 0)


def posterior(spec: LatentSpec, q: torch.Tensor) -> dict[str, np.ndarray]:
    """Per code, its posterior (``code.posterior``): categorical -> probabilities (N, k);
    continuous -> (N, 2) mean and the std the code is scored with."""
    return {code.name: code.posterior(q[:, sl]).numpy() for code, sl in zip(spec.codes, spec.q_slices())}


@torch.no_grad()
def mi_on_samples(
    G: torch.nn.Module, D: torch.nn.Module, spec: LatentSpec, n: int, seed: int = 12345, batch: int = 1000,
) -> dict[str, float]:
    """L_I per code (nats) on ``n`` fresh samples from the prior, G and D in eval mode (pass a D
    calibrated on generated images, see :func:`calibrate_bn`)."""
    gw, dw = G.training, D.training
    G.eval()
    D.eval()
    dev = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    sums: dict[str, float] = {c.name: 0.0 for c in spec.codes}
    done = 0
    while done < n:
        b = min(batch, n - done)
        lat = spec.sample(b, gen)
        lat_dev = type(lat)(lat.noise.to(dev), [v.to(dev) for v in lat.codes])
        _, q = D(G(spec.to_input(lat_dev)))
        _, parts = mi_loss(spec, q, lat_dev)
        for k, v in parts.items():
            sums[k] += float(v) * b
        done += b
    G.train(gw)
    D.train(dw)
    return {k: v / max(n, 1) for k, v in sums.items()}


def real_data_mi(probs: np.ndarray) -> float:
    """I(c; x) of Q's categorical posterior over real images (N, k), in nats: the entropy of the
    average prediction minus the average entropy of a prediction. High when Q uses every
    category and is confident on real data; needs no labels (as in IMSAT / IIC)."""
    p = np.clip(probs.astype(np.float64), 1e-12, 1)
    marg = p.mean(0)
    return float(-(marg * np.log(marg)).sum() + (p * np.log(p)).sum(1).mean())


def representation(D: torch.nn.Module, spec: LatentSpec, output: str):
    """images (n, C, H, W) uint8 -> codes (n, D): Q's mean per continuous code and its
    probabilities per categorical code (the representation scored by the disentanglement metrics)."""

    def fn(images) -> np.ndarray:
        imgs = torch.as_tensor(np.asarray(images))
        post = posterior(spec, q_outputs(D, imgs, output))
        return np.concatenate([post[c.name][:, :1] if c.continuous else post[c.name] for c in spec.codes], 1)

    return fn


# Metrics that score one sample of (code, factor) pairs; BetaVAE and FactorVAE encode 64 images per
# training point and so cost ~100x more.
ARRAY_METRICS = ("mig", "dci", "sap", "modularity", "explicitness")


def disentanglement(D, spec: LatentSpec, output: str, data: ImageStore, n: int = 10000, seed: int = 0,
                    metrics=None) -> dict[str, float]:
    """disentanglement_lib-style scores of Q against ``data``'s ground-truth factors, with ``n``
    training points (literature default 10000) and n/2 test/eval points; ``metrics`` picks a
    subset of infogan.metrics.disentanglement.ALL_METRICS (default all)."""
    from .metrics.disentanglement import FactorGridData, compute_all

    grid = FactorGridData(data.images, np.asarray(data.factors))
    return compute_all(representation(D, spec, output), grid, np.random.default_rng(seed),
                       num_train=n, num_test=max(n // 2, 64), num_eval=max(n // 2, 64), num_variance_estimate=n,
                       metrics=metrics)


def evaluate(
    G: torch.nn.Module, D: torch.nn.Module, spec: LatentSpec, output: str,
    test: ImageStore | None = None, n_samples: int = 10000,
    disent_samples: int = 0, disent_metrics=None, real: ImageStore | None = None, confusion: bool = False,
) -> dict:
    """All metrics the data supports: ``mi_lower_bound`` and ``entropy`` per code (nats),
    ``mi_gap`` = H(c) - L_I for categorical codes, ``real_mi`` (label-free, on ``test``'s images),
    and ``cluster_accuracy``, ``nmi``, ``ari``, ``purity`` per categorical code when ``test`` has
    labels, and ``disentanglement`` scores when ``test`` has ground-truth factors and
    ``disent_samples`` > 0. With ``confusion``, also ``confusion``: per categorical code the
    (category × label) count table of the test images (see ``confusion_table``).

    ``D``'s BN statistics are recomputed on generated images for L_I and on ``real`` (for example
    the training images) for Q on real images; without ``real``, ``D`` is used for real images as
    given (a model loaded by ``load_model`` carries real-data statistics from its checkpoint)."""
    D_fake = calibrate_bn(D, fake_batches(G, spec)) if spec.codes else D
    D_real = calibrate_bn(D, real_batches(real, output, next(D.parameters()).device)) if real is not None else D
    mi = mi_on_samples(G, D_fake, spec, n_samples) if spec.codes else {}
    ent = spec.entropies()
    out: dict = {
        "mi_lower_bound": mi,
        "entropy": ent,
        "mi_gap": {c.name: ent[c.name] - mi[c.name] for c in spec.categorical},
    }
    if test is not None and spec.categorical:
        q = q_outputs(D_real, test.images, output)
        post = posterior(spec, q)
        # Label-free: Q's information about real images, I(c; x) ≈ H(E[p]) - E[H(p)].
        out["real_mi"] = {c.name: real_data_mi(post[c.name]) for c in spec.categorical}
        if test.labels is not None:
            labels = test.labels.numpy()
            for key, fn in (("cluster_accuracy", cluster_accuracy), ("nmi", nmi), ("ari", ari), ("purity", purity)):
                out[key] = {c.name: fn(post[c.name].argmax(1), labels) for c in spec.categorical}
    if disent_samples and test is not None and test.factors is not None and spec.codes:
        out["disentanglement"] = disentanglement(D_real, spec, output, test, disent_samples,
                                                 metrics=disent_metrics)
    for k, v in list(out.items()):
        if isinstance(v, dict):
            out[k] = {n: (float(x) if math.isfinite(float(x)) else None) for n, x in v.items()}
    if confusion and test is not None and test.labels is not None and spec.categorical:
        out["confusion"] = {c.name: confusion_table(post[c.name].argmax(1), test.labels.numpy(), c.k)
                            for c in spec.categorical}
    return out

