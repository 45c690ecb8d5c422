"""Layers shared by the paper's architectures, and the DCGAN weight init."""

from __future__ import annotations

import torch
from torch import nn

LEAK = 0.1  # leaky ReLU slope in D (paper, Sec. 6)


def init_weights(module: nn.Module) -> None:
    """DCGAN init: conv/linear weights ~ N(0, 0.02), BN scale ~ N(1, 0.02), biases 0.

    Layers marked ``variance_preserving`` (hidden layers with no batch norm after them, as in the
    SVHN/CelebA generator) get Kaiming-normal weights instead: N(0, 0.02) shrinks the signal at
    every such layer, and the generator then starts (and stays) nearly constant.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if getattr(m, "variance_preserving", False):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def d_conv(c_in: int, c_out: int, bn: bool, stride: int = 2) -> nn.Sequential:
    """4x4 conv (s2 halves the size), optional BN, leaky ReLU 0.1. No bias before BN."""
    pad = 1 if stride == 2 else "same"
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride, pad, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(LEAK))
    return nn.Sequential(*layers)


def d_fc(n_in: int, n_out: int, bn: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(nn.LeakyReLU(LEAK))
    return nn.Sequential(*layers)


def g_fc(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), nn.ReLU())


def g_upconv(c_in: int, c_out: int, stride: int = 2, bn: bool = True) -> nn.Sequential:
    """4x4 transposed conv (s2 doubles the size; s1 keeps it), optional BN, ReLU."""
    if stride == 2:
        conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=not bn)
    else:  # a size-preserving 4x4 "upconv" (chairs): asymmetric padding done by a conv
        conv = nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(c_in, c_out, 4, 1, 0, bias=not bn))
    layers: list[nn.Module] = [conv]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)


class QHead(nn.Module):
    """Q's head on D's shared trunk: FC 128 + BN + lReLU + FC to the spec's q_dim (authors' code)."""

    def __init__(self, n_in: int, q_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(d_fc(n_in, hidden), nn.Linear(hidden, q_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class _PerViewNorm:
    """Batch norm that, given ``view_sizes``, normalises each consecutive block of rows (one *view*
    of a batch: real, fake, warped copies ...) with its own statistics, in one call: the same
    numbers (and the same running-statistics updates, in block order) as one forward per view,
    while the layers around it see one large batch. Same parameters and state-dict keys as
    ``nn.BatchNorm1d/2d``."""

    view_sizes: list[int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = self.view_sizes
        if sizes is None or len(sizes) == 1 or not self.training:  # eval: running statistics, per row
            return super().forward(x)
        return torch.cat([super(_PerViewNorm, self).forward(part) for part in x.split(sizes)])


class PerViewBatchNorm1d(_PerViewNorm, nn.BatchNorm1d):
    pass


class PerViewBatchNorm2d(_PerViewNorm, nn.BatchNorm2d):
    pass


def _per_view_norms(module: nn.Module) -> list[_PerViewNorm]:
    """Replace every BatchNorm1d/2d under ``module`` by its per-view form (in place); return them."""
    out: list[_PerViewNorm] = []
    for name, child in module.named_children():
        if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d):
            cls = PerViewBatchNorm1d if isinstance(child, nn.BatchNorm1d) else PerViewBatchNorm2d
            new = cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
            out.append(new)
        elif isinstance(child, _PerViewNorm):
            out.append(child)
        else:
            out += _per_view_norms(child)
    return out


def minibatch_std(h: torch.Tensor, segments: list[int] | None = None) -> torch.Tensor:
    """The minibatch standard deviation feature (Karras et al., ICLR 2018, Sec. 3): per block of
    rows (``segments``, summing to B; default: the whole batch), the std of every feature across
    the block's rows, averaged over the features; (B, 1), each row carrying its block's value. A
    block of one row has no spread: 0."""
    sizes = list(segments) if segments else [h.shape[0]]
    if sum(sizes) != h.shape[0]:
        raise ValueError(f"segments {sizes} do not add up to the batch of {h.shape[0]} rows")
    out = []
    for part in h.float().split(sizes):
        if len(part) < 2:
            out.append(part.new_zeros(len(part), 1))
            continue
        spread = (part.var(0, unbiased=False) + 1e-8).sqrt().mean()
        out.append(spread.expand(len(part), 1))
    return torch.cat(out).to(h.dtype)


class Discriminator(nn.Module):
    """D and Q in one module: a shared trunk, a 1-unit D head and the Q head.

    forward(x) -> (d_logit (B,), q_params (B, q_dim)). ``detach_q=True`` stops Q's gradient at the
    trunk (the MI term then trains only the Q head through D's parameters); a (B,) bool tensor
    does so for the rows where it is True. ``views=[n1, n2, ...]`` (summing to B) says that ``x``
    holds several views one after another: every batch norm then normalises each with its own
    statistics, exactly as one forward per view would, in one pass through the trunk.

    With ``mbstd`` (``model.mbstd``) the D head also reads the minibatch standard deviation of the
    trunk's features (:func:`minibatch_std`), taken per block of ``segments`` (rows of one source:
    real, generated, a warped copy ...; default ``views``, else the whole batch), so D can tell a
    batch of near-identical fakes from real ones. Q's head does not read it: what Q says about an
    image does not depend on the other images of its batch.
    """

    def __init__(self, trunk: nn.Module, feat: int, q_dim: int, q_hidden: int = 128) -> None:
        super().__init__()
        self.trunk = trunk
        self.d_head = nn.Linear(feat, 1)
        self.q_head = QHead(feat, q_dim, q_hidden) if q_dim > 0 else None
        self.q_dim = q_dim
        self.mbstd = False
        _per_view_norms(self)

    def enable_mbstd(self) -> None:
        """Give the D head the minibatch-std input (a new, untrained D head)."""
        self.d_head = nn.Linear(self.d_head.in_features + 1, 1)
        self.mbstd = True

    def forward(self, x: torch.Tensor, detach_q: bool | torch.Tensor = False,
                views: list[int] | None = None, segments: list[int] | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        norms = [m for m in self.modules() if isinstance(m, _PerViewNorm)] if views else []
        if norms and sum(views) != x.shape[0]:
            raise ValueError(f"views {list(views)} do not add up to the batch of {x.shape[0]} images")
        for m in norms:
            m.view_sizes = list(views)
        try:
            h = self.trunk(x)  # (B, feat)
            if self.mbstd:
                d = self.d_head(torch.cat([h, minibatch_std(h, segments or views)], 1)).squeeze(1)
            else:
                d = self.d_head(h).squeeze(1)  # (B,)
            if self.q_head is None:
                return d, h.new_zeros(h.shape[0], 0)
            if isinstance(detach_q, torch.Tensor):
                h = torch.where(detach_q[:, None], h.detach(), h)
            elif detach_q:
                h = h.detach()
            return d, self.q_head(h)  # (B,), (B, q_dim)
        finally:
            for m in norms:
                m.view_sizes = None


class Generator(nn.Module):
    """G: latent (B, input_dim) -> image (B, C, H, W) in the data range of ``output``."""

    def __init__(self, net: nn.Module, input_dim: int, image_shape: tuple[int, int, int], output: str) -> None:
        super().__init__()
        self.net = net
        self.input_dim = input_dim
        self.image_shape = image_shape
        self.output = output  # "sigmoid" -> [0, 1], "tanh" -> [-1, 1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.input_dim:
            raise ValueError(f"G input must be (B, {self.input_dim}), got {tuple(z.shape)}")
        x = self.net(z)
        return torch.sigmoid(x) if self.output == "sigmoid" else torch.tanh(x)
