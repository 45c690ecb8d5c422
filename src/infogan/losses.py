"""Loss maths: pure functions on tensors. Each returns (loss, parts) where parts are floats-to-be.

Equations are those of Chen et al. 2016 (see docs / PAPER.md):
  eq. 1  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]
  eq. 5  L_I(G, Q) = E_{c~P(c), x~G(z,c)}[log Q(c|x)] + H(c)  <=  I(c; G(z, c))
  eq. 6  min_{G,Q} max_D  V(D, G) - λ L_I(G, Q)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .latent import Latents, LatentSpec

__all__ = ["d_loss", "g_loss", "mi_loss", "paired_mi", "real_balance", "real_mi"]


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss, -V(D, G) of eq. 1 as BCE on logits: real -> 1, fake -> 0. Shapes (B,)."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float))
    return real + fake


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z)) (Goodfellow et al. 2014, as in the paper)."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float))


def mi_loss(
    spec: LatentSpec, q_params: torch.Tensor, latents: Latents, fixed_std: bool = False,
    categorical_only: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The information term of eq. 6 for every code through one code path.

    Args:
        spec: the latent spec (gives each code's head slice, log-likelihood, λ and H(c)).
        q_params: (B, spec.q_dim) raw Q head output for images generated from ``latents``.
        latents: the codes those images were generated from.
        fixed_std: continuous codes use std = 1 instead of the predicted one (authors' code).
        categorical_only: leave the continuous codes out (the categorical-invariance term).

    Returns:
        loss: Σ_i λ_i · (-E[log Q(c_i|x)]), to be *added* to the D/Q and G losses; minimising it
            maximises λ·L_I (H(c) is a constant and so carries no gradient).
        parts: code name -> L_I(c_i) = E[log Q(c_i|x)] + H(c_i), in nats (detached scalars).
    """
    if q_params.ndim != 2 or q_params.shape[1] != spec.q_dim:
        raise ValueError(f"Q output must be (B, {spec.q_dim}) for this spec, got {tuple(q_params.shape)}")
    loss = q_params.new_zeros((), dtype=torch.float)
    parts: dict[str, torch.Tensor] = {}
    for code, sl, value in zip(spec.codes, spec.q_slices(), latents.codes):
        if categorical_only and code.continuous:
            continue
        log_q = code.log_prob(q_params[:, sl], value, fixed_std=fixed_std).mean()  # E[log Q(c|x)]
        loss = loss - code.lam * log_q
        parts[code.name] = log_q.detach() + code.entropy()
    return loss, parts


def _over_categorical(spec: LatentSpec, stat, *q_params: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(Σ_i λ_i · stat_i, {code name: stat_i}) over the categorical codes, where stat_i =
    ``stat(*log Q(c_i|x), k)``, one (B, k) log-probability tensor per batch in ``q_params``."""
    total = q_params[0].new_zeros((), dtype=torch.float)
    parts: dict[str, torch.Tensor] = {}
    for code, sl in zip(spec.codes, spec.q_slices()):
        if code.continuous:
            continue
        value = stat(*(torch.log_softmax(q[:, sl].float(), 1) for q in q_params), code.k)
        total = total + code.lam * value
        parts[code.name] = value.detach()
    return total, parts


def _information(logp: torch.Tensor, k: int) -> torch.Tensor:
    p = logp.exp()
    marg = p.mean(0)
    h_marg = -(marg * torch.log(marg.clamp_min(1e-12))).sum()
    h_cond = -(p * logp).sum(1).mean()
    return h_marg - h_cond


def _kl_uniform_to_marginal(logp: torch.Tensor, k: int) -> torch.Tensor:
    log_marg = torch.logsumexp(logp, 0) - math.log(logp.shape[0])  # log E_x[Q(c|x)]
    return -math.log(k) - log_marg.mean()  # Σ_c (1/k) (log(1/k) - log marg_c)


def _paired_information(logp_a: torch.Tensor, logp_b: torch.Tensor, k: int) -> torch.Tensor:
    joint = logp_a.exp().t() @ logp_b.exp() / logp_a.shape[0]  # (k, k)
    joint = ((joint + joint.t()) / 2).clamp_min(1e-12)
    log_marg = joint.sum(1).log()
    return (joint * (joint.log() - log_marg[:, None] - log_marg[None, :])).sum()


def real_mi(spec: LatentSpec, q_params: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Q's mutual information with *real* images for each categorical code, on one batch:
    I(c; x) = H(E_x[Q(c|x)]) - E_x[H(Q(c|x))] (as in IMSAT, Hu et al. 2017). It needs no labels;
    it is high when Q spreads real images evenly over the categories and is confident on each.

    Returns (Σ_i λ_i · I_i, {code name: I_i in nats}); maximise the first.
    """
    return _over_categorical(spec, _information, q_params)


def real_balance(spec: LatentSpec, q_params: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """How far Q's category marginal on a batch of *real* images is from the code's uniform prior:
    KL(U || E_x[Q(c|x)]) summed over categorical codes (0 when balanced; no labels involved).

    If G matches the data, E_{x~data}[Q(c|x)] = E_{x~G}[Q(c|x)] ~= P(c) = uniform, so this is a
    consistency condition of the model itself. Returns (Σ_i λ_i · KL_i, {code name: KL_i}); minimise.
    """
    return _over_categorical(spec, _kl_uniform_to_marginal, q_params)


def paired_mi(
    spec: LatentSpec, q_a: torch.Tensor, q_b: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mutual information between Q's categories for two views of the same images (row i of
    ``q_a`` and ``q_b`` are Q's outputs for image i and a warped copy of it), per categorical code:
    I(c; c') of the symmetrised joint P = (1/B) Σ_i Q(c|x_i) Q(c'|x'_i)^T, as in IIC (Ji et al.,
    ICCV 2019). It needs no labels and is at most ln k, reached when Q is confident, the same
    for both views and uses every category equally; it is 0 when Q ignores the image.

    Returns (Σ_i λ_i · I_i, {code name: I_i in nats}); maximise the first.
    """
    return _over_categorical(spec, _paired_information, q_a, q_b)
