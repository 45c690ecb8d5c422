"""The InfoGAN objective: pure loss functions on tensors, and the objective as a list of terms.

Equations are those of Chen et al. 2016 (see docs / PAPER.md):
  eq. 1  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]
  eq. 5  L_I(G, Q) = E_{c~P(c), x~G(z,c)}[log Q(c|x)] + H(c)  <=  I(c; G(z, c))
  eq. 6  min_{G,Q} max_D  V(D, G) - λ L_I(G, Q)

An :class:`Objective` is a tuple of :class:`Term` objects built from the config
(:func:`build_objective`). Each term says which *views* of a batch it needs on the D/Q side and on
the G side (``real``, ``fake``, ``real_warped``, ``fake_warped``, ``pairs``), and what it adds to L_D
and to L_G, with the numbers it logs. The trainer computes the views the terms ask for, calls the
objective, backpropagates and steps; it knows no term by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from .latent import Latents, LatentSpec

__all__ = [
    "VIEWS",
    "Adversarial",
    "ContrastivePairs",
    "MutualInformation",
    "Objective",
    "RealConsistency",
    "Term",
    "Views",
    "WarpedFakeInformation",
    "build_objective",
    "d_loss",
    "g_loss",
    "mi_loss",
    "paired_mi",
]


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss, -V(D, G) of eq. 1 as BCE on logits: real -> 1, fake -> 0. Shapes (B,)."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float))
    return real + fake


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z)) (Goodfellow et al. 2014, as in the paper)."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float))


def mi_loss(
    spec: LatentSpec, q_params: torch.Tensor, latents: Latents, categorical_only: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The information term of eq. 6 for every code through one code path: exactly what training
    optimises (each code scores itself: cross-entropy on logits for categorical codes, a factored
    Gaussian with the std mode the code declares for continuous ones).

    Args:
        spec: the latent spec (gives each code's head slice, log-likelihood, λ and H(c)).
        q_params: (B, spec.q_dim) raw Q head output for images generated from ``latents``.
        latents: the codes those images were generated from.
        categorical_only: leave the continuous codes out (the warped-fake term).

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
        log_q = code.log_prob(q_params[:, sl], value).mean()  # E[log Q(c|x)]
        loss = loss - code.lam * log_q
        parts[code.name] = log_q.detach() + code.entropy()
    return loss, parts


def _paired_information(logp_a: torch.Tensor, logp_b: torch.Tensor) -> torch.Tensor:
    joint = logp_a.exp().t() @ logp_b.exp() / logp_a.shape[0]  # (k, k)
    joint = ((joint + joint.t()) / 2).clamp_min(1e-12)
    log_marg = joint.sum(1).log()
    return (joint * (joint.log() - log_marg[:, None] - log_marg[None, :])).sum()


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
    total = q_a.new_zeros((), dtype=torch.float)
    parts: dict[str, torch.Tensor] = {}
    for code, sl in zip(spec.codes, spec.q_slices()):
        if code.continuous:
            continue
        value = _paired_information(torch.log_softmax(q_a[:, sl].float(), 1), torch.log_softmax(q_b[:, sl].float(), 1))
        total = total + code.lam * value
        parts[code.name] = value.detach()
    return total, parts


# ---- the objective as terms -------------------------------------------------------------------

# What a term may ask the trainer to compute. real/fake: D logits and Q params of the real batch and
# of G(z, c); *_warped: the same for randomly transformed copies (the invariance family,
# augment.invariance_for(cfg.train)); pairs:
# InfoGAN-CR's pair classifier on two generated images whose codes agree in one coordinate.
VIEWS = ("real", "fake", "real_warped", "fake_warped", "pairs")


@dataclass
class Views:
    """One side's forward results: ``d[view]`` (B,) D logits and ``q[view]`` (B, q_dim) Q params per
    view; ``latents`` the codes of the fakes; ``pairs`` = (H logits (n, L), shared index (n,))."""

    latents: Latents
    d: dict[str, torch.Tensor] = field(default_factory=dict)
    q: dict[str, torch.Tensor] = field(default_factory=dict)
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # a term's value shared by its two sides


Part = tuple[torch.Tensor | None, dict[str, torch.Tensor]]


class Term:
    """One part of the objective. ``d``/``g`` return (what it adds to L_D / L_G or None, logged
    numbers); ``d_views``/``g_views`` name the views each side needs."""

    name = "term"
    d_views: tuple[str, ...] = ()
    g_views: tuple[str, ...] = ()

    def d(self, v: Views) -> Part:
        return None, {}

    def g(self, v: Views) -> Part:
        return None, {}


class Adversarial(Term):
    """The GAN game of eq. 1: L_D = BCE(real→1, fake→0), L_G = -log D(G(z)) (non-saturating)."""

    name = "adversarial"
    d_views = ("real", "fake")
    g_views = ("fake",)

    def d(self, v: Views) -> Part:
        return d_loss(v.d["real"], v.d["fake"]), {}

    def g(self, v: Views) -> Part:
        return g_loss(v.d["fake"]), {}


class MutualInformation(Term):
    """-λ·L_I of eq. 6 on the fakes, in both players' losses (Q and D's trunk through L_D, G through
    L_G); ``to_g=False`` is the paper's Fig. 1 baseline (G gets no MI gradient). Logs mi/<code>."""

    name = "mi"
    d_views = ("fake",)

    def __init__(self, spec: LatentSpec, to_g: bool = True) -> None:
        self.spec, self.to_g = spec, to_g
        self.g_views = ("fake",) if to_g else ()

    def _value(self, v: Views) -> Part:
        if self.name not in v.cache:
            v.cache[self.name] = mi_loss(self.spec, v.q["fake"], v.latents)
        return v.cache[self.name]

    def d(self, v: Views) -> Part:
        loss, parts = self._value(v)
        return loss, {f"mi/{k}": p for k, p in parts.items()}

    def g(self, v: Views) -> Part:
        return (self._value(v)[0] if self.to_g else None), {}


class WarpedFakeInformation(Term):
    """Beyond the paper (Elastic-InfoGAN's idea): weight·(-λ·L_I) of the *categorical* codes on
    randomly transformed fakes (the invariance family's transformations), in both losses, so G's
    categories must survive them (continuous codes are left out: a rotation code must not become
    rotation-invariant). Logs warped/<code>."""

    name = "warped"
    d_views = ("fake_warped",)

    def __init__(self, spec: LatentSpec, weight: float, to_g: bool = True) -> None:
        self.spec, self.weight, self.to_g = spec, weight, to_g
        self.g_views = ("fake_warped",) if to_g else ()

    def _value(self, v: Views) -> Part:
        if self.name not in v.cache:
            q = v.q["fake_warped"]  # the warped copies of the first len(q) fakes (train.warp_fraction)
            v.cache[self.name] = mi_loss(self.spec, q, v.latents.head(len(q)), categorical_only=True)
        return v.cache[self.name]

    def d(self, v: Views) -> Part:
        loss, parts = self._value(v)
        return self.weight * loss, {f"warped/{k}": p for k, p in parts.items()}

    def g(self, v: Views) -> Part:
        return (self.weight * self._value(v)[0] if self.to_g else None), {}


class RealConsistency(Term):
    """Beyond the paper (IIC, Ji et al. 2019): -weight·I(c; c') between Q's categories for a real
    batch and a transformed copy (:func:`paired_mi`; the invariance family's transformations), in
    L_D only: Q must split real images into confident, balanced categories that survive them.
    Logs consistency/<code>."""

    name = "consistency"
    d_views = ("real", "real_warped")

    def __init__(self, spec: LatentSpec, weight: float) -> None:
        self.spec, self.weight = spec, weight

    def d(self, v: Views) -> Part:
        warped = v.q["real_warped"]  # warped copies of the first len(warped) real images (train.warp_fraction)
        value, parts = paired_mi(self.spec, v.q["real"][: len(warped)], warped)
        return -self.weight * value, {f"consistency/{k}": p for k, p in parts.items()}


class ContrastivePairs(Term):
    """InfoGAN-CR's contrastive regularizer (Lin et al., ICML 2020): a classifier H sees two
    generated images whose codes agree in one coordinate and must say which; G and H both minimise
    weight·cross-entropy (H's parameters step with G's). Logs cr/loss and cr/accuracy."""

    name = "cr"
    g_views = ("pairs",)

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def g(self, v: Views) -> Part:
        logits, shared = v.pairs
        logits = logits.float()
        loss = F.cross_entropy(logits, shared)
        acc = (logits.argmax(1) == shared).float().mean().detach()
        return self.weight * loss, {"cr/loss": loss.detach(), "cr/accuracy": acc}


class Objective:
    """The sum of its terms, per player. ``d_views``/``g_views``: every view either side needs."""

    def __init__(self, terms: tuple[Term, ...]) -> None:
        self.terms = tuple(terms)
        self.d_views = _union(t.d_views for t in self.terms)
        self.g_views = _union(t.g_views for t in self.terms)
        self.views = _union((self.d_views, self.g_views))  # both sides from one forward (simultaneous update)

    def _side(self, v: Views, side: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, logs = None, {}
        for t in self.terms:
            loss, parts = getattr(t, side)(v)
            if loss is not None:
                total = loss if total is None else total + loss
            logs.update(parts)
        if total is None:
            total = next(iter(v.q.values())).new_zeros((), dtype=torch.float)
        return total, logs

    def d_loss(self, v: Views) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_D (D and Q minimise it) and the numbers the terms log."""
        return self._side(v, "d")

    def g_loss(self, v: Views) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_G (G, and InfoGAN-CR's H, minimise it) and the numbers the terms log."""
        return self._side(v, "g")

    def __repr__(self) -> str:
        return f"Objective({', '.join(t.name for t in self.terms)})"


def _union(groups) -> tuple[str, ...]:
    names = {n for g in groups for n in g}
    return tuple(n for n in VIEWS if n in names)


def build_objective(cfg) -> Objective:
    """The objective a config asks for (``cfg``: infogan.config.Config): the GAN game and the MI
    term always (eq. 6; ``train.baseline`` keeps the MI gradient out of G), then the terms beyond
    the paper whose weight is > 0 and that the spec can use. The two terms on transformed views
    need a categorical code and an invariance family (``train.invariance``) other than ``none``."""
    t, spec = cfg.train, cfg.latent
    terms: list[Term] = [Adversarial(), MutualInformation(spec, to_g=not t.baseline)]
    warps = bool(spec.categorical) and t.invariance != "none"
    # train.invariance_weighting="shared": each weight is the term's total over the k categorical codes
    share = 1.0 / len(spec.categorical) if warps and t.invariance_weighting == "shared" else 1.0
    if t.cat_invariance > 0 and warps:
        terms.append(WarpedFakeInformation(spec, t.cat_invariance * share, to_g=not t.baseline))
    if t.real_consistency > 0 and warps:
        terms.append(RealConsistency(spec, t.real_consistency * share))
    if t.cr_weight > 0:
        terms.append(ContrastivePairs(t.cr_weight))
    return Objective(tuple(terms))
