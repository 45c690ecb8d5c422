"""The latent spec: the single source of truth for the generator input and the Q head.

A :class:`LatentSpec` holds the incompressible noise ``z`` (dimension and prior) and a tuple of
structured codes ``c_i``, each with its own λ. Everything with a size follows from it: G's input
width, Q's head layout, the MI terms, traversal grids and the explorer's controls.

Text form (CLI, ``--set latent=...``), comma-separated items, order kept::

    cat10            one Categorical(10) code
    3xcat20          three Categorical(20) codes
    unif2            two Uniform(-1, 1) codes
    unif1(-2:2)      one Uniform(-2, 2) code
    gauss2           two standard Gaussian codes
    unif2:learned    Q scores these codes with its predicted std, exp(log-std) (the paper's text);
                     without it (or with ``:fixed``) with std 1 (the authors' code, the default)
    ...@0.1          λ for the item's codes (default: 1 for categorical, 1 for continuous)
    noise62          62 noise dims, Uniform(-1, 1) (the authors' code)
    noise62:normal   62 noise dims, N(0, 1)

Example: the MNIST preset is ``cat10,unif2,noise62``. Codes are named ``c1, c2, ...`` in order.

Each code type owns what depends on it: its prior (support, centre, sampling, entropy), how G sees
it, how Q scores it (the log-likelihood the MI term maximises and the posterior that ``encode``
reports) and the range a traversal sweeps. Nothing outside this module asks which type a code is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "Categorical",
    "Code",
    "Gaussian",
    "LatentSpec",
    "Latents",
    "SpecError",
    "Uniform",
]


class SpecError(ValueError):
    """A latent spec that cannot be built; the message names the bad part."""


MAX_WIDTH = 1 << 16  # G's input width at most (the paper's largest is 228): a typo, not a model
# Codes at most (the paper's largest spec has 10): each code has its own loss term, posterior and
# traversal figure, so thousands of codes would make every step and evaluation crawl.
MAX_CODES = 128


def _finite(v: Any) -> bool:
    """A real number (not a bool) that is finite; huge ints that do not fit a float are not."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _check_lambda(lam: float, where: str) -> float:
    if not _finite(lam) or lam < 0:
        raise SpecError(f"{where}: λ must be a finite number >= 0, got {lam!r}")
    return float(lam)


_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def _check_name(name: Any) -> None:
    # Names become file names (traversals/<name>.png) and metric keys: no paths, no odd characters.
    if not isinstance(name, str) or (name and not _NAME_RE.fullmatch(name)):
        raise SpecError(f"code name must be letters, digits, '_', '.' or '-' (at most 64, not starting with "
                        f"'.' or '-'), got {name!r}")


@dataclass(frozen=True)
class Categorical:
    """Categorical(k) code, uniform prior. G sees it one-hot; Q predicts k logits."""

    k: int
    lam: float = 1.0
    name: str = ""

    kind = "categorical"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 2:
            raise SpecError(f"code {self.name or '?'}: categorical needs k >= 2 categories, got {self.k!r}")
        _check_lambda(self.lam, f"code {self.name or '?'}")

    @property
    def input_width(self) -> int:
        return self.k

    @property
    def q_width(self) -> int:
        return self.k

    @property
    def continuous(self) -> bool:
        return False

    def entropy(self) -> float:
        """H(c) in nats (a constant: the prior is fixed)."""
        return math.log(self.k)

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.k, (n,), generator=generator, device=device)  # (n,) long

    def to_input(self, value: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(value, self.k).float()  # (n, k)

    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """log Q(c|x) per sample from raw logits (B, k); cross-entropy on logits, no softmax first."""
        return -torch.nn.functional.cross_entropy(params.float(), value, reduction="none")

    def posterior(self, params: torch.Tensor) -> torch.Tensor:
        """Q's posterior from raw logits (B, k): the category probabilities (B, k)."""
        return torch.softmax(params.float(), 1)

    @property
    def support(self) -> tuple[int, int]:
        """The smallest and largest category index."""
        return 0, self.k - 1

    def describe(self) -> str:
        return f"Cat({self.k})"


STD_MODES = ("fixed", "learned")


@dataclass(frozen=True)
class _Continuous:
    lam: float = 1.0
    name: str = ""
    # How Q's factored Gaussian is scored: "fixed" std = 1 (the authors' code; the default, since a
    # learned std lets L_I grow without bound, docs/experiments.md) or "learned" std = exp(log-std)
    # from Q's second output (the paper's text).
    std: str = "fixed"

    def _check(self) -> None:
        _check_name(self.name)
        _check_lambda(self.lam, f"code {self.name or '?'}")
        if self.std not in STD_MODES:
            raise SpecError(f"code {self.name or '?'}: std must be 'fixed' or 'learned', got {self.std!r}")

    @property
    def input_width(self) -> int:
        return 1

    @property
    def q_width(self) -> int:
        return 2  # mean, log-std

    @property
    def continuous(self) -> bool:
        return True

    def to_input(self, value: torch.Tensor) -> torch.Tensor:
        return value.float().unsqueeze(1)  # (n, 1)

    @property
    def learned_std(self) -> bool:
        return self.std == "learned"

    def _log_std(self, params: torch.Tensor) -> torch.Tensor:
        return params[:, 1] if self.learned_std else torch.zeros_like(params[:, 0])

    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """log of a factored Gaussian Q(c|x) = N(mean, std²) per sample; params (B, 2) = mean, log-std.

        With ``std="learned"`` the std is exp(log-std) as in the paper; with ``"fixed"`` it is 1, as
        in the authors' code (Q's second output is then unused).
        """
        params = params.float()
        mean = params[:, 0]
        log_std = self._log_std(params)
        return -0.5 * ((value - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)

    def posterior(self, params: torch.Tensor) -> torch.Tensor:
        """Q's posterior from raw params (B, 2): (B, 2) mean and the std it is scored with."""
        params = params.float()
        return torch.stack([params[:, 0], torch.exp(self._log_std(params))], 1)

    @property
    def traversal_range(self) -> tuple[float, float]:
        """What a traversal sweeps by default: past the prior's bulk on purpose, as in Fig. 2."""
        raise NotImplementedError

    @property
    def centre(self) -> float:
        """Where the code sits while another code is traversed."""
        raise NotImplementedError

    @property
    def typical_range(self) -> tuple[float, float]:
        """Where the prior's bulk lies (the explorer marks it under a slider)."""
        raise NotImplementedError

    def keep_apart(self, a: torch.Tensor, b: torch.Tensor, gap: float) -> torch.Tensor:
        """``b`` (n,) moved where needed so that |a - b| >= gap·(half the prior's width); InfoGAN-CR's
        progressive gap. Codes without a bounded prior return ``b`` unchanged."""
        return b


@dataclass(frozen=True)
class Uniform(_Continuous):
    """Uniform(lo, hi) continuous code (the paper's Unif(-1, 1))."""

    lo: float = -1.0
    hi: float = 1.0

    kind = "uniform"

    def __post_init__(self) -> None:
        self._check()
        for v in (self.lo, self.hi):
            if not _finite(v):
                raise SpecError(f"code {self.name or '?'}: uniform bounds must be finite numbers, got {v!r}")
        if not self.lo < self.hi:
            raise SpecError(f"code {self.name or '?'}: uniform needs lo < hi, got ({self.lo}, {self.hi})")

    def entropy(self) -> float:
        """Differential entropy ln(hi - lo) in nats."""
        return math.log(self.hi - self.lo)

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=device)
        return self.lo + (self.hi - self.lo) * u

    @property
    def support(self) -> tuple[float, float]:
        return self.lo, self.hi

    @property
    def centre(self) -> float:
        return (self.lo + self.hi) / 2

    @property
    def typical_range(self) -> tuple[float, float]:
        return self.lo, self.hi

    @property
    def traversal_range(self) -> tuple[float, float]:
        # Unif(-1, 1) -> -2..2: half the width past each end, as the paper's Fig. 2 does.
        half = (self.hi - self.lo) / 2
        return self.lo - half, self.hi + half

    def keep_apart(self, a: torch.Tensor, b: torch.Tensor, gap: float) -> torch.Tensor:
        if gap <= 0:
            return b
        # reflect b away from a until |a - b| >= gap·(hi - lo)/2, staying inside [lo, hi]
        step = gap * (self.hi - self.lo) / 2
        d = b - a
        moved = a + torch.where(d >= 0, 1.0, -1.0) * step
        moved = torch.where(moved > self.hi, a - step, moved)
        moved = torch.where(moved < self.lo, a + step, moved)
        return torch.where(d.abs() < step, moved, b)

    def describe(self) -> str:
        return f"Unif({self.lo:g}, {self.hi:g})" + (", learned std" if self.learned_std else "")


@dataclass(frozen=True)
class Gaussian(_Continuous):
    """N(0, 1) continuous code."""

    kind = "gaussian"

    def __post_init__(self) -> None:
        self._check()

    def entropy(self) -> float:
        return 0.5 * math.log(2 * math.pi * math.e)

    @property
    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    @property
    def centre(self) -> float:
        return 0.0

    @property
    def typical_range(self) -> tuple[float, float]:
        return -1.0, 1.0  # ±1 std

    @property
    def traversal_range(self) -> tuple[float, float]:
        return -2.0, 2.0  # ±2 std

    def sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        return torch.randn(n, generator=generator, device=device)

    def describe(self) -> str:
        return "N(0, 1)" + (", learned std" if self.learned_std else "")


Code = Categorical | Uniform | Gaussian
_KINDS = {"categorical": Categorical, "uniform": Uniform, "gaussian": Gaussian}


@dataclass
class Latents:
    """One batch drawn from a spec: noise (n, noise_dim) and one tensor per code.

    Categorical values are long (n,), continuous values float (n,).
    """

    noise: torch.Tensor
    codes: list[torch.Tensor] = field(default_factory=list)

    def __len__(self) -> int:
        return self.noise.shape[0]

    def head(self, n: int) -> Latents:
        """The first ``n`` rows (a random subset: the rows are drawn independently)."""
        return Latents(self.noise[:n], [v[:n] for v in self.codes])


@dataclass(frozen=True)
class LatentSpec:
    """Noise plus structured codes. Frozen; validated on construction."""

    noise_dim: int
    codes: tuple[Code, ...] = ()
    noise_prior: str = "uniform"  # "uniform" (U(-1,1), the authors' code) or "normal"

    def __post_init__(self) -> None:
        if not isinstance(self.noise_dim, int) or isinstance(self.noise_dim, bool) or self.noise_dim < 0:
            raise SpecError(f"noise dimension must be an integer >= 0, got {self.noise_dim!r}")
        if self.noise_prior not in ("uniform", "normal"):
            raise SpecError(f"noise prior must be 'uniform' or 'normal', got {self.noise_prior!r}")
        if not isinstance(self.codes, tuple):
            object.__setattr__(self, "codes", tuple(self.codes))
        width = self.noise_dim + sum(c.input_width for c in self.codes)
        if width == 0:
            raise SpecError("latent spec is empty: give at least one code or noise dimension")
        if width > MAX_WIDTH:
            raise SpecError(f"latent spec gives G an input of width {width}; at most {MAX_WIDTH} is accepted")
        if len(self.codes) > MAX_CODES:
            raise SpecError(f"latent spec has {len(self.codes)} codes; at most {MAX_CODES} (MAX_CODES) are accepted")
        names = [c.name for c in self.codes]
        if any(not n for n in names):
            # Fill in c1, c2, ... for unnamed codes.
            filled = tuple(
                c if c.name else type(c)(**{**_fields(c), "name": f"c{i + 1}"}) for i, c in enumerate(self.codes)
            )
            object.__setattr__(self, "codes", filled)
            names = [c.name for c in filled]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SpecError(f"code names must be unique, repeated: {', '.join(dup)}")

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        """Width of G's input: noise, then each code (one-hot for categorical)."""
        return self.noise_dim + sum(c.input_width for c in self.codes)

    @property
    def q_dim(self) -> int:
        """Width of Q's head output: k logits per categorical, (mean, log-std) per continuous."""
        return sum(c.q_width for c in self.codes)

    def q_slices(self) -> list[slice]:
        """Where each code's parameters lie in Q's output, in code order."""
        out, start = [], 0
        for c in self.codes:
            out.append(slice(start, start + c.q_width))
            start += c.q_width
        return out

    @property
    def categorical(self) -> list[Categorical]:
        return [c for c in self.codes if not c.continuous]

    @property
    def continuous(self) -> list[Code]:
        return [c for c in self.codes if c.continuous]

    def code(self, name: str) -> Code:
        for c in self.codes:
            if c.name == name:
                return c
        raise SpecError(f"no code named {name!r}; this spec has: {', '.join(c.name for c in self.codes) or 'none'}")

    def index(self, name: str) -> int:
        return self.codes.index(self.code(name))

    def entropies(self) -> dict[str, float]:
        """H(c_i) in nats per code (differential entropy for continuous codes)."""
        return {c.name: c.entropy() for c in self.codes}

    # ---- sampling ----------------------------------------------------------------------------
    def sample_noise(self, n: int, generator: torch.Generator | None = None, device: Any = "cpu") -> torch.Tensor:
        device = torch.device(device)
        if self.noise_prior == "uniform":
            return torch.rand(n, self.noise_dim, generator=generator, device=device) * 2 - 1
        return torch.randn(n, self.noise_dim, generator=generator, device=device)

    def sample(self, n: int, generator: torch.Generator | None = None, device: Any = "cpu") -> Latents:
        """Draw n latents from the prior, all randomness from ``generator``."""
        device = torch.device(device)
        noise = self.sample_noise(n, generator, device)
        return Latents(noise, [c.sample(n, generator, device) for c in self.codes])

    def to_input(self, latents: Latents) -> torch.Tensor:
        """G's input (n, input_dim): [noise, code_1, ..., code_L]."""
        parts = [latents.noise] + [c.to_input(v) for c, v in zip(self.codes, latents.codes)]
        return torch.cat(parts, dim=1)

    def traversal(
        self,
        name: str,
        values: Sequence[float] | None = None,
        n: int = 10,
        generator: torch.Generator | None = None,
        device: Any = "cpu",
    ) -> tuple[Latents, int, int]:
        """Latents for a traversal grid of code ``name`` (the layout of the paper's Fig. 2).

        Categorical code: row r sets the code to category r; each column is one draw of the noise
        and the other codes, shared down the column (``n`` columns).
        Continuous code: columns sweep ``values`` (default: the code's ``traversal_range`` in 10
        steps, -2..2 for Unif(-1, 1), past the training range on purpose, as in Fig. 2); one noise draw is shared by every cell, the other
        continuous codes sit at their prior's centre, and row r sets the first categorical code to
        category r (without a categorical code, each row is its own noise draw, ``n`` rows).

        Returns (latents in row-major order, rows, cols).
        """
        code = self.code(name)
        i = self.codes.index(code)
        if not code.continuous:
            rows, cols = code.k, n
            base = self.sample(cols, generator, device)
            noise = base.noise.repeat(rows, 1)
            codes = [v.repeat(rows) for v in base.codes]
            codes[i] = torch.arange(rows, device=device).repeat_interleave(cols)
            return Latents(noise, codes), rows, cols
        vals = torch.linspace(*code.traversal_range, 10) if values is None else torch.as_tensor(list(values), dtype=torch.float)
        if vals.ndim != 1 or len(vals) == 0 or not torch.isfinite(vals).all():
            raise SpecError(f"traversal values for {name} must be a non-empty list of finite numbers")
        cols = len(vals)
        cats = self.categorical
        rows = cats[0].k if cats else n
        base = self.sample(1 if cats else rows, generator, device)
        noise = base.noise.repeat_interleave(cols, 0) if not cats else base.noise.repeat(rows * cols, 1)
        codes = []
        for j, c in enumerate(self.codes):
            if j == i:
                codes.append(vals.to(device).repeat(rows))
            elif c.continuous:
                codes.append(torch.full((rows * cols,), c.centre, device=device))
            elif cats and c is cats[0]:
                codes.append(torch.arange(rows, device=device).repeat_interleave(cols))
            else:
                v = base.codes[j]
                codes.append(v.repeat(rows * cols) if cats else v.repeat_interleave(cols))
        return Latents(noise, codes), rows, cols

    # ---- text and dict forms -----------------------------------------------------------------
    def to_text(self) -> str:
        """The compact text form; ``LatentSpec.parse(spec.to_text()) == spec`` for auto-named codes."""
        items: list[tuple[str, int]] = []  # (item text without count, count)
        for c in self.codes:
            if isinstance(c, Categorical):
                s = f"cat{c.k}"
            elif isinstance(c, Uniform):
                s = "unif" if (c.lo, c.hi) == (-1.0, 1.0) else f"unif({c.lo:g}:{c.hi:g})"
            else:
                s = "gauss"
            if c.continuous and c.learned_std:
                s += ":learned"
            if c.lam != 1.0:
                s += f"@{c.lam!r}"
            if items and items[-1][0] == s:
                items[-1] = (s, items[-1][1] + 1)
            else:
                items.append((s, 1))
        out = []
        for s, n in items:
            if s.startswith("cat"):
                out.append(f"{n}x{s}" if n > 1 else s)
            else:
                kind, rest = (s[:4], s[4:]) if s.startswith("unif") else (s[:5], s[5:])  # unif(..):learned@λ
                out.append(f"{kind}{n}{rest}")
        noise = f"noise{self.noise_dim}" + (":normal" if self.noise_prior == "normal" else "")
        return ",".join(out + [noise])

    @classmethod
    def parse(cls, text: str) -> LatentSpec:
        """Build a spec from its text form (see module docstring)."""
        if not isinstance(text, str) or not text.strip():
            raise SpecError("latent spec is empty; example: 'cat10,unif2,noise62'")
        codes: list[Code] = []
        noise_dim, prior, seen_noise = 0, "uniform", False
        for raw in text.split(","):
            item = raw.strip().lower()
            if len(item) > 100:  # also keeps int() away from numbers too long to convert
                raise SpecError(f"bad latent spec item {raw.strip()[:24]!r}...: longer than 100 characters")
            m = _NOISE_RE.fullmatch(item)
            if m:
                if seen_noise:
                    raise SpecError(f"latent spec {text!r}: noise given twice ({item!r})")
                seen_noise = True
                noise_dim, prior = int(m.group(1)), m.group(2) or "uniform"
                continue
            m = _CODE_RE.fullmatch(item)
            if not m:
                raise SpecError(
                    f"bad latent spec item {raw.strip()!r} in {text!r}; expected e.g. cat10, 3xcat20, unif2, "
                    "unif1(-2:2), gauss2, unif2@0.1, unif2:learned or noise62[:normal]"
                )
            try:
                codes += _item_codes(item, *m.groups())
            except SpecError as e:  # name the item, not a code that has no name yet
                raise SpecError(f"bad latent spec item {raw.strip()!r}: {str(e).removeprefix('code ?: ')}") from None
        return cls(noise_dim, tuple(codes), prior)

    def to_dict(self) -> dict[str, Any]:
        return {
            "noise": self.noise_dim,
            "noise_prior": self.noise_prior,
            "codes": [{"kind": c.kind, **_fields(c)} for c in self.codes],
        }

    @classmethod
    def from_dict(cls, d: Any) -> LatentSpec:
        """From the TOML/dict form: {noise, noise_prior, codes: [{kind, name, lam|lambda, k|lo,hi}]}."""
        if isinstance(d, str):
            return cls.parse(d)
        if not isinstance(d, dict):
            raise SpecError(f"latent spec must be a table or a string, got {type(d).__name__}")
        unknown = set(d) - {"noise", "noise_prior", "codes"}
        if unknown:
            raise SpecError(f"unknown latent key(s) {sorted(unknown, key=str)}; accepted: noise, noise_prior, codes")
        if not isinstance(d.get("codes", []), list):
            raise SpecError(f"latent codes must be a list of tables, got {d['codes']!r}")
        if len(d.get("codes", [])) > MAX_CODES:
            raise SpecError(f"latent spec has {len(d['codes'])} codes; at most {MAX_CODES} (MAX_CODES) are accepted")
        codes = []
        for i, cd in enumerate(d.get("codes", [])):
            if not isinstance(cd, dict) or "kind" not in cd:
                raise SpecError(f"latent code #{i + 1} must be a table with a 'kind' ({', '.join(_KINDS)})")
            cd = dict(cd)
            kind = cd.pop("kind")
            if not isinstance(kind, str) or kind not in _KINDS:
                raise SpecError(f"latent code #{i + 1}: unknown kind {kind!r}; accepted: {', '.join(_KINDS)}")
            if "lambda" in cd:
                cd["lam"] = cd.pop("lambda")
            typ = _KINDS[kind]
            allowed = set(_fields_of(typ))
            bad = set(cd) - allowed
            if bad:
                raise SpecError(
                    f"latent code #{i + 1} ({kind}): unknown key(s) {sorted(bad, key=str)}; accepted: {sorted(allowed)}"
                )
            try:
                codes.append(typ(**cd))
            except TypeError as e:
                raise SpecError(f"latent code #{i + 1} ({kind}): {e}") from None
        noise = d.get("noise", 0)
        return cls(noise, tuple(codes), d.get("noise_prior", "uniform"))

    def describe(self) -> str:
        parts = [f"{c.name}~{c.describe()} (λ={c.lam:g})" for c in self.codes]
        prior = "U(-1,1)" if self.noise_prior == "uniform" else "N(0,1)"
        return ", ".join(parts + [f"z~{prior}^{self.noise_dim}"]) + f"; G input {self.input_dim}"


_NOISE_RE = re.compile(r"noise(\d+)(?::(uniform|normal))?")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
_CODE_RE = re.compile(
    rf"(?:(\d+)x)?(cat|unif|gauss)(\d+)?(?:\(({_NUM}):({_NUM})\))?(?::(fixed|learned))?(?:@({_NUM}))?"
    r"(?::(fixed|learned))?"
)


def _item_codes(item: str, rep, kind, num, lo, hi, std, lam, std_after) -> list[Code]:
    """The codes of one text item such as ``3xcat20`` or ``unif1(-2:2):learned@0.1`` (groups of _CODE_RE)."""
    lam_v = float(lam) if lam is not None else 1.0
    if std and std_after:
        raise SpecError("give the std mode once (unif2:learned@0.1)")
    std = std or std_after
    if kind == "cat" and std:
        raise SpecError("categorical codes take no std mode")
    if kind == "cat":
        if num is None:
            raise SpecError("categorical needs a count, e.g. cat10")
        if lo is not None:
            raise SpecError("categorical codes take no range")
        count = int(rep) if rep else 1
    else:
        if rep and num:
            raise SpecError("give the count once (unif2, not 2xunif2)")
        count = int(rep or num or 1)
        if kind == "gauss" and lo is not None:
            raise SpecError("gaussian codes take no range")
    if not 1 <= count <= MAX_CODES:
        raise SpecError(f"count must be in 1..{MAX_CODES} (MAX_CODES), got {count}")
    if kind == "cat":
        return [Categorical(int(num), lam_v) for _ in range(count)]
    if kind == "unif":
        lo_v, hi_v = (float(lo), float(hi)) if lo is not None else (-1.0, 1.0)
        return [Uniform(lam=lam_v, std=std or "fixed", lo=lo_v, hi=hi_v) for _ in range(count)]
    return [Gaussian(lam=lam_v, std=std or "fixed") for _ in range(count)]


def _fields_of(typ: type) -> list[str]:
    return [f for f in typ.__dataclass_fields__]


def _fields(c: Code) -> dict[str, Any]:
    return {f: getattr(c, f) for f in _fields_of(type(c))}
