"""The Trainer: the InfoGAN game of eq. 6, periodic evaluation, checkpoints and exact resume.

One training step (``Trainer.step``), reading top to bottom:
  1. sample codes c ~ P(c) and noise z, and a real batch from the in-memory uint8 store
  2. one G forward; one D trunk forward per batch half (real, fake) giving D logits and Q params
  3. losses: L_D = BCE(real→1, fake→0) + Σ λ_i·(−E log Q(c_i|x));  L_G = BCE(fake→1) + same MI term
  4. gradients from that one forward: D/Q params from L_D; G params from L_G (G's gradient is
     taken through the same D forward, so D/Q and G update simultaneously, as the authors' graph does)
  5. Adam steps

All randomness comes from one ``torch.Generator`` (data indices and latents), saved in every
checkpoint with the weights, the optimizer moments and the step, so a resumed run on CPU equals an
uninterrupted one bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from . import dist
from .augment import random_affine
from .config import Config, ConfigError, validate_data
from .data.store import ImageStore, to_float
from .evaluate import ARRAY_METRICS, bn_state, calibrate_bn, evaluate, real_batches
from .latent import Latents, Uniform
from .losses import d_loss, g_loss, mi_loss, paired_mi, real_balance, real_mi
from .nets import build_classifier, build_for
from .run import truncate_metrics


def resolve_device(name: str) -> torch.device:
    if not (name in ("auto", "cpu") or name.startswith("cuda")):
        raise ConfigError(f"device {name!r} is not accepted; use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but CUDA is not available here; use train.device=cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None


def _adam(params, lr: float, cfg: Config, device: torch.device) -> torch.optim.Adam:
    betas = (cfg.optim.beta1, cfg.optim.beta2)
    # The fused kernel does the whole update in one pass over memory (CPU and CUDA).
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


class Trainer:
    """Owns G, D/Q, the optimizers, the RNG and the run directory."""

    def __init__(
        self,
        cfg: Config,
        run_dir: str | os.PathLike,
        train_data: ImageStore,
        test_data: ImageStore | None = None,
        log: Callable[[str], None] = print,
        progress: bool = True,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.log = log
        self.progress = progress
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = dist.setup(resolve_device(t.device))
        self.world, self.rank = dist.world_size(), dist.rank()
        if t.batch_size % self.world:
            raise ConfigError(f"train.batch_size={t.batch_size} (the global batch) must be divisible by the "
                              f"{self.world} processes")
        self.local_batch = t.batch_size // self.world
        validate_data(cfg, len(train_data))
        self.data = train_data.to(self.device)
        self.test = test_data
        self.spec = cfg.latent
        torch.manual_seed(t.seed)  # weight init
        try:
            self.G, self.D = build_for(cfg.model, self.spec, train_data.image_shape)
        except ValueError as e:  # the architecture cannot take these images
            raise ConfigError(f"model.arch={cfg.model.arch!r} with {train_data.name or 'the data'}: {e}") from None
        self.G.to(self.device)
        self.D.to(self.device)
        self.output = self.G.output
        self.opt_d = _adam(self.D.parameters(), cfg.optim.lr_d, cfg, self.device)
        self.opt_g = _adam(self.G.parameters(), cfg.optim.lr_g, cfg, self.device)
        # Per-rank streams of data indices and latents; rank 0's is the single-process one.
        self.gen = torch.Generator().manual_seed(t.seed + 1_000_003 * self.rank)
        self.step_count = 0
        self.recoveries = 0
        self.d_params = list(self.D.parameters())
        self.g_params = list(self.G.parameters())
        # InfoGAN-CR: a separate classifier H sees a pair of images whose codes agree in one
        # coordinate and predicts which; G and H both minimise its cross-entropy.
        self.H = self.opt_h = None
        if t.cr_weight > 0:
            c, h, w = train_data.image_shape
            self.H = build_classifier(cfg.model.arch, (2 * c, h, w), len(self.spec.codes), cfg.model.q_hidden)
            self.H.to(self.device)
            self.opt_h = _adam(self.H.parameters(), cfg.optim.lr_d, cfg, self.device)
            self.h_params = list(self.H.parameters())
        # bf16 autocast for the forward passes (the loss maths stay float32, see losses.py). On CPUs
        # without native bf16 it is slower, so "auto" enables it on CUDA only.
        amp = t.amp if t.amp != "auto" else ("bf16" if self.device.type == "cuda" else "off")
        self.amp = amp == "bf16"
        # Under torchrun: DistributedDataParallel averages gradients over ranks (global batch).
        self.G_run, self.D_run, self.H_run = self.G, self.D, self.H
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_run, self.D_run = DDP(self.G, device_ids=ids), DDP(self.D, device_ids=ids)
            if self.H is not None:
                self.H_run = DDP(self.H, device_ids=ids)
        if t.compile:
            self.G_run, self.D_run = torch.compile(self.G_run), torch.compile(self.D_run)
            if self.H is not None:
                self.H_run = torch.compile(self.H_run)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    # ---- state --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "step": self.step_count,
            "image_shape": list(self.data.image_shape),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.gen.get_state(),
            **({"rng_ranks": dist.gather_tensors(self.gen.get_state().to(self.device)), "world_size": self.world}
               if self.world > 1 else {}),
            "recoveries": self.recoveries,
            **({"H": self.H.state_dict(), "opt_h": self.opt_h.state_dict()} if self.H is not None else {}),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.H is not None:
            self.H.load_state_dict(state["H"])
            self.opt_h.load_state_dict(state["opt_h"])
        ranks = state.get("rng_ranks")
        if self.world == 1:
            self.gen.set_state(state["rng"])
        elif ranks is not None and len(ranks) == self.world:
            self.gen.set_state(ranks[self.rank].cpu())
        else:  # another process count: fresh per-rank streams, not a bit-exact continuation
            self.gen.manual_seed(self.cfg.train.seed + 1_000_003 * self.rank + int(state["step"]))
        self.step_count = int(state["step"])
        self.recoveries = int(state.get("recoveries", 0))
        self._apply_lr_scale()

    def _apply_lr_scale(self) -> None:
        """Learning rates after ``recoveries`` divergence restores (see ``recover``)."""
        scale = self.cfg.train.recovery_lr_factor ** self.recoveries
        pairs = [(self.opt_d, self.cfg.optim.lr_d), (self.opt_g, self.cfg.optim.lr_g)]
        if self.opt_h is not None:
            pairs.append((self.opt_h, self.cfg.optim.lr_d))
        for opt, lr in pairs:
            for group in opt.param_groups:
                group["lr"] = lr * scale

    # ---- one step -----------------------------------------------------------------------------
    def sample_latents(self, n: int) -> Latents:
        lat = self.spec.sample(n, self.gen)
        if self.device.type != "cpu":
            lat = Latents(lat.noise.to(self.device, non_blocking=True), [v.to(self.device, non_blocking=True) for v in lat.codes])
        return lat

    def step(self) -> dict[str, torch.Tensor]:
        t = self.cfg.train
        B = self.local_batch
        # 1. sample codes and a real batch
        lat = self.sample_latents(B)
        idx = torch.randint(len(self.data), (B,), generator=self.gen).to(self.device)
        real = to_float(self.data.images[idx], self.output)  # (B, C, H, W)
        # 2. one G forward, one D/Q forward per batch half
        with self.autocast():
            fake = self.G_run(self.spec.to_input(lat))  # (B, C, H, W)
            if t.joint_bn:  # real and fake halves in one forward: shared batch-norm statistics
                d_both, q_both = self.D_run(torch.cat([real, fake]), detach_q=not t.mi_to_trunk)
                (d_real, d_fake), (q_real, q) = d_both.split(B), q_both.split(B)
            else:
                d_real, q_real = self.D_run(real)
                d_fake, q = self.D_run(fake, detach_q=not t.mi_to_trunk)  # (B,), (B, q_dim)
        # 3. losses (eq. 6): the MI term enters both players' losses
        mi, parts = mi_loss(self.spec, q, lat, t.fixed_std)
        loss_d = d_loss(d_real, d_fake) + mi
        if t.real_mi_weight > 0:  # beyond the paper: Q's information about real images (label-free)
            rmi, rparts = real_mi(self.spec, q_real)
            loss_d = loss_d - t.real_mi_weight * rmi
            parts = {**parts, **{f"real/{k}": v for k, v in rparts.items()}}
        if t.real_balance_weight > 0:  # beyond the paper: Q's real-image category marginal = P(c)
            rbal, bparts = real_balance(self.spec, q_real)
            loss_d = loss_d + t.real_balance_weight * rbal
            parts = {**parts, **{f"balance/{k}": v for k, v in bparts.items()}}
        if t.cat_invariance > 0 and self.spec.categorical:  # beyond the paper: categories survive small warps
            warped = random_affine(fake, self.gen, t.aug_rotate, t.aug_scale, t.aug_shift)
            with self.autocast():
                _, q_warp = self.D_run(warped, detach_q=not t.mi_to_trunk)
            inv, iparts = mi_loss(self.spec, q_warp, lat, t.fixed_std, categorical_only=True)
            mi = mi + t.cat_invariance * inv
            loss_d = loss_d + t.cat_invariance * inv
            parts = {**parts, **{f"warped/{k}": v for k, v in iparts.items()}}
        if t.real_consistency > 0 and self.spec.categorical:  # beyond the paper: IIC on real images
            warped_real = random_affine(real, self.gen, t.aug_rotate, t.aug_scale, t.aug_shift)
            with self.autocast():
                _, q_real_warp = self.D_run(warped_real)
            cons, cparts = paired_mi(self.spec, q_real, q_real_warp)
            loss_d = loss_d - t.real_consistency * cons
            parts = {**parts, **{f"consistency/{k}": v for k, v in cparts.items()}}
        loss_g = g_loss(d_fake) + (0.0 if t.baseline else self.mi_factor() * mi)
        # 4. gradients from the one forward: G's through the image, D/Q's from L_D
        grad_fake = torch.autograd.grad(loss_g, fake, retain_graph=True)[0]
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        loss_d.backward(inputs=self.d_params)
        fake.backward(grad_fake, inputs=self.g_params)
        out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
        if self.H is not None:  # 4b. InfoGAN-CR: its gradient adds to G's, and trains H
            loss_cr, acc_cr = self.cr_loss(B)
            self.opt_h.zero_grad(set_to_none=True)
            (t.cr_weight * loss_cr).backward(inputs=self.g_params + self.h_params)
            self.opt_h.step()
            out.update({"cr/loss": loss_cr.detach(), "cr/accuracy": acc_cr})
        # 5. updates
        self.opt_d.step()
        self.opt_g.step()
        self.step_count += 1
        out.update({(k if "/" in k else f"mi/{k}"): v for k, v in parts.items()})
        return out

    def mi_factor(self) -> float:
        """Weight of the MI term in G's loss at this step: 1, or with ``train.mi_warmup`` = N, 0 for the
        first N/2 steps and then a linear ramp to 1 at step N (Q and D always get the full term)."""
        n = self.cfg.train.mi_warmup
        return 1.0 if n <= 0 else min(1.0, max(0.0, 2.0 * self.step_count / n - 1.0))

    def cr_pairs(self, n: int) -> tuple[Latents, Latents, torch.Tensor]:
        """Two latent batches whose codes agree in one coordinate ``shared`` (n,) per pair; noise
        and the other codes are drawn independently (non-shared continuous codes at least
        ``train.cr_gap`` apart, in half-ranges, the progressive variant of InfoGAN-CR)."""
        a, b = self.sample_latents(n), self.sample_latents(n)
        shared = torch.randint(len(self.spec.codes), (n,), generator=self.gen).to(self.device)
        gap = self.cfg.train.cr_gap
        for j, code in enumerate(self.spec.codes):
            vb = b.codes[j]
            if gap > 0 and isinstance(code, Uniform):
                # reflect b's value away from a's until |a - b| >= gap·(hi - lo)/2
                half = (code.hi - code.lo) / 2
                d = vb - a.codes[j]
                too_close = d.abs() < gap * half
                push = torch.where(d >= 0, 1.0, -1.0) * gap * half
                moved = a.codes[j] + push
                moved = torch.where(moved > code.hi, a.codes[j] - gap * half, moved)
                moved = torch.where(moved < code.lo, a.codes[j] + gap * half, moved)
                vb = torch.where(too_close, moved, vb)
            b.codes[j] = torch.where(shared == j, a.codes[j], vb)
        return a, b, shared

    def cr_loss(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b, shared = self.cr_pairs(n)
        with self.autocast():
            pair = torch.cat([self.G_run(self.spec.to_input(a)), self.G_run(self.spec.to_input(b))], 1)  # (n, 2C, H, W)
            _, logits = self.H_run(pair)  # (n, L): which code the pair shares
        logits = logits.float()
        loss = torch.nn.functional.cross_entropy(logits, shared)
        return loss, (logits.argmax(1) == shared).float().mean().detach()

    # ---- the loop -----------------------------------------------------------------------------
    def fit(self, total_steps: int | None = None) -> dict:
        """Train until ``total_steps`` (default: config) with logging, evaluation and checkpoints.

        Under torchrun every rank trains; only rank 0 writes files and evaluates.
        """
        t = self.cfg.train
        total = t.steps if total_steps is None else total_steps
        main = self.rank == 0
        tb = None
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.atomic_write(self.run_dir / "config.toml", self.cfg.to_toml().encode())  # a kill never cuts it
            tb = _tensorboard(self.run_dir / "tb", self.log)
        self._tb = tb
        last_eval: dict = {}

        # Ctrl-C / SIGTERM set a flag; the loop stops between steps (on every rank at the same
        # step), so the final checkpoint never holds a half-applied update.
        stop = {"signal": None}

        def on_signal(signum, frame):
            if stop["signal"] is not None:  # a second Ctrl-C: leave now
                raise KeyboardInterrupt
            stop["signal"] = signum

        handlers = {}
        if _main_thread():
            handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        if not ckpt.has_complete(self.run_dir / "checkpoints"):
            self.save()  # step-0 checkpoint: something to go back to if training diverges early
        bar = _progress(total, self.step_count, self.progress and main)
        acc: dict[str, torch.Tensor] = {}
        n_acc, t_last, s_last = 0, time.perf_counter(), self.step_count
        self._mf = open(self.run_dir / "metrics.jsonl", "a") if main else None
        interrupted = False
        try:
            while self.step_count < total:
                if dist.any_flag(stop["signal"] is not None, self.device):
                    interrupted = True
                    break
                parts = self.step()
                for k, v in parts.items():
                    acc[k] = acc.get(k, 0.0) + v
                n_acc += 1
                s = self.step_count
                bar.update(1)
                if s % t.log_every == 0 or s == total:
                    now = time.perf_counter()
                    # one host sync per log line; averaged over ranks
                    row = dist.mean_scalars({k: float(v) / n_acc for k, v in acc.items()}, self.device)
                    acc, n_acc = {}, 0
                    if not (all(math.isfinite(v) for v in row.values()) and self.weights_finite()):
                        self.recover(s, row)
                        bar.n = self.step_count
                        t_last, s_last = time.perf_counter(), self.step_count
                        continue
                    row["it_s"] = (s - s_last) / max(now - t_last, 1e-9)
                    t_last, s_last = now, s
                    self._write({"step": s, **row})
                    bar.set_postfix_str(_postfix(row), refresh=False)
                if (t.eval_every and s % t.eval_every == 0) or s == total:
                    if main:
                        last_eval = self.evaluate_now()
                        self._write({"step": s, "eval": last_eval})
                        self.figures()
                if s % t.ckpt_every == 0 or s == total:
                    self.save()
            if interrupted:
                self.log(f"\ninterrupted at step {self.step_count}: writing a checkpoint")
                self.save()
        finally:
            bar.close()
            if tb is not None:
                tb.close()
            if self._mf is not None:
                self._mf.close()
            for sig, h in handlers.items():
                signal.signal(sig, h)
        if main:
            from .report import write_report  # the report reads the run directory

            write_report(self.run_dir)
        if interrupted:
            raise KeyboardInterrupt
        return last_eval

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in (*self.g_params, *self.d_params))

    def recover(self, step: int, row: dict) -> None:
        """Divergence policy: restore the newest good checkpoint and scale both learning rates by
        ``train.recovery_lr_factor`` (cumulatively), at most ``train.max_recoveries`` times; then stop."""
        t = self.cfg.train
        if self.recoveries >= t.max_recoveries:
            raise DivergenceError(
                f"training diverged at step {step} (non-finite loss or weights) after {self.recoveries} "
                f"restores with learning rates scaled by {t.recovery_lr_factor}; lower optim.lr_d/optim.lr_g "
                f"or raise train.max_recoveries. Last good checkpoint is in {self.run_dir / 'checkpoints'}"
            )
        dist.barrier()
        path, state = ckpt.load_latest(self.run_dir / "checkpoints", warn=self.log)
        recoveries = self.recoveries + 1
        self.load_state(state)
        self.recoveries = recoveries
        self._apply_lr_scale()
        # Later steps must not reuse the exact randomness that led to the divergence.
        self.gen.manual_seed(t.seed + 1_000_003 * (recoveries + 7 * self.rank) + self.step_count)
        if self._mf is None:
            return
        # Lines logged after the restored step describe a trajectory that no longer exists.
        self._mf.close()
        truncate_metrics(self.run_dir, self.step_count)
        self._mf = open(self.run_dir / "metrics.jsonl", "a")
        event = {"step": self.step_count, "event": "diverged", "diverged_at": step, "recoveries": recoveries,
                 "lr_scale": t.recovery_lr_factor ** recoveries,
                 "losses": {k: (v if math.isfinite(v) else None) for k, v in row.items()}}
        self._mf.write(json.dumps(event) + "\n")
        self._mf.flush()
        self.log(f"\nwarning: non-finite loss or weights at step {step}; restored {path.name}, learning rates x"
                 f"{event['lr_scale']:g} (restore {recoveries} of at most {t.max_recoveries})")

    def _write(self, row: dict) -> None:
        if self._mf is None:
            return
        tb = self._tb
        self._mf.write(json.dumps(row) + "\n")
        self._mf.flush()
        flat = {}
        for k, v in row.items():
            if k == "step":
                continue
            if isinstance(v, dict):
                for kk, vv in v.items():
                    if isinstance(vv, dict):
                        flat.update({f"{k}/{kk}/{n}": x for n, x in vv.items() if x is not None})
                    elif vv is not None:
                        flat[f"{k}/{kk}"] = vv
            elif v is not None:
                flat[k] = v
        if tb is not None:
            for tag, value in flat.items():
                tb.add_scalar(tag, value, row["step"])
            tb.flush()  # on disk with each log line, as metrics.jsonl

    def evaluate_now(self) -> dict:
        t = self.cfg.train
        # During training only the cheap array metrics; `infogan eval` computes them all.
        return evaluate(self.G, self.D, self.spec, self.output, self.test, t.eval_samples, t.fixed_std,
                        t.disent_samples, ARRAY_METRICS, real=self.data)

    def save(self) -> Path | None:
        """Checkpoint (rank 0 writes; every rank contributes its RNG state and waits for the file)."""
        state = self.state()
        path = None
        if self.rank == 0:
            # D's BN statistics recomputed on real training batches, for inference on real images
            # (encode, cluster, explore, eval); the training state above keeps D's own buffers.
            state["D_bn_real"] = bn_state(calibrate_bn(self.D, real_batches(self.data, self.output, self.device)))
            path = ckpt.save(self.run_dir / "checkpoints", self.step_count, state, self.cfg.train.keep_ckpts)
        dist.barrier()
        return path

    def figures(self) -> None:
        from .figures import write_figures

        write_figures(self.G, self.spec, self.run_dir, self.step_count, self.cfg.train.seed)


class DivergenceError(RuntimeError):
    """Training kept diverging after the allowed restores."""


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _postfix(row: dict) -> str:
    mi = " ".join(f"{k[3:]}={v:.2f}" for k, v in row.items() if k.startswith("mi/"))
    return f"D={row['loss_d']:.2f} G={row['loss_g']:.2f} L_I[{mi}]"


def _progress(total: int, start: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="it", dynamic_ncols=True, file=sys.stderr, disable=not enabled)


def _tensorboard(logdir: Path, log: Callable[[str], Any]):
    """A TensorBoard SummaryWriter on ``logdir``; None, with a warning, where tensorboard is not installed
    (metrics.jsonl holds the same scalars)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        log(f"warning: no TensorBoard event files ({e}); pip install tensorboard")
        return None
    return SummaryWriter(logdir)
