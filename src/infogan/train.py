"""The Trainer: the InfoGAN game of eq. 6, periodic evaluation, checkpoints and exact resume.

The trainer only orchestrates; the objective (``losses.build_objective``) says which views of a
batch its terms need and what each adds to L_D and L_G. One training step (``Trainer.step``) with
``train.update = "alternating"``, as the authors' code (openai/InfoGAN runs the discriminator trainer,
then the generator trainer, each with freshly sampled codes):
  1. sample codes c ~ P(c) and noise z, and a real batch from the in-memory uint8 store
  2. D/Q step: G(z, c) without a graph; the D-side views through D; L_D; backward into D/Q; Adam
  3. G step: fresh (z, c); G forward; the G-side views through the *updated* D; L_G; backward
     into G only; Adam
With ``"simultaneous"`` (the default, chosen by measurement: docs/experiments.md) one G forward and
one set of views serve both losses, and both players step from it (fewer passes, not the authors'
scheme).

All randomness comes from one ``torch.Generator`` (data indices and latents), saved in every
checkpoint with the weights, the optimizer moments and the step, so a resumed run on CPU equals an
uninterrupted one bit for bit.
"""

from __future__ import annotations

import contextlib
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
from .augment import AdaptiveAugment, diff_augment, invariance_for
from .config import Config, ConfigError, validate_data
from .data.store import ImageStore, to_float
from .evaluate import ARRAY_METRICS, bn_state, calibrate_bn, evaluate, real_batches
from .latent import Latents
from .losses import VIEWS, Views, build_objective
from .run import MAX_PARAMS, build_networks, check_state, count_parameters, make_adam, truncate_metrics

REAL_MI_IMAGES = 10_000  # training images that stand in for a missing test split in real_mi


def _segments(names: list[str], imgs: dict[str, torch.Tensor], augmented: dict[str, torch.Tensor]) -> list[int]:
    """Row blocks of one source each for D's minibatch-std feature (``model.mbstd``), in the order
    the views ``names`` are concatenated: a view, or for an augmented one its rows D judges and then
    the un-augmented copies that ride along for Q (whose D outputs are dropped)."""
    out: list[int] = []
    for n in names:
        copies = len(augmented[n]) if n in augmented else 0
        out += [len(imgs[n]) - copies, copies] if copies else [len(imgs[n])]
    return out


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
        self.device = dist.setup(dist.resolve_device(t.device))
        self.world, self.rank = dist.world_size(), dist.rank()
        if t.batch_size % self.world:
            raise ConfigError(f"train.batch_size={t.batch_size} (the global batch) must be divisible by the "
                              f"{self.world} processes")
        self.local_batch = t.batch_size // self.world
        validate_data(cfg, len(train_data))
        self.data = train_data.to(self.device)
        self.test = test_data
        if test_data is None:  # no test split (a folder): Q's information about real images is
            # measured on a fixed random sample of the training images, no labels (the stopping rule's score)
            pick = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(0))[:REAL_MI_IMAGES]
            self.real_sample = ImageStore(train_data.images[pick.sort().values], None, name=train_data.name)
        else:
            self.real_sample = None
        self.spec = cfg.latent
        try:
            n_params = count_parameters(cfg, train_data.image_shape)  # on the meta device: allocates nothing
        except ValueError as e:  # the architecture cannot take these images
            raise ConfigError(f"model.arch={cfg.model.arch!r} with {train_data.name or 'the data'}: {e}") from None
        if n_params > MAX_PARAMS:
            raise ConfigError(f"the config builds {n_params:,} weights for images {tuple(train_data.image_shape)}; at "
                              f"most {MAX_PARAMS:,} (MAX_PARAMS) are accepted: lower model.q_hidden or the latent width")
        torch.manual_seed(t.seed)  # weight init
        nets = build_networks(cfg, train_data.image_shape)  # G, D and (InfoGAN-CR) H, in this order
        self.G, self.D = nets["G"], nets["D"]
        self.G.to(self.device)
        self.D.to(self.device)
        if t.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.output = self.G.output
        self.opt_d = make_adam(self.D.parameters(), cfg.optim.lr_d, cfg)
        self.opt_g = make_adam(self.G.parameters(), cfg.optim.lr_g, cfg)
        # Per-rank streams of data indices and latents; rank 0's is the single-process one.
        self.gen = torch.Generator().manual_seed(t.seed + 1_000_003 * self.rank)
        self.step_count = 0
        self.recoveries = 0
        self.d_params = list(self.D.parameters())
        self.g_params = list(self.G.parameters())
        self.h_params: list[torch.nn.Parameter] = []
        self.objective = build_objective(cfg)
        # Differentiable augmentation before D (train.augment; "auto" by the data set's size)
        self.augment = AdaptiveAugment(AdaptiveAugment.resolve(t.augment, len(train_data)), t.augment_p,
                                       t.augment_target, t.augment_kimg, t.augment_ops, self.local_batch)
        self.augment.reduce = lambda v: dist.mean_scalars({"s": v}, self.device)["s"]  # p stays equal on every rank
        # InfoGAN-CR: a separate classifier H sees a pair of images whose codes agree in one
        # coordinate and predicts which; G and H both minimise its cross-entropy.
        self.H, self.opt_h = nets.get("H"), None
        if self.H is not None:
            self.H.to(self.device)
            self.opt_h = make_adam(self.H.parameters(), cfg.optim.lr_d, cfg)
            self.h_params = list(self.H.parameters())
        # bf16 autocast for the forward passes (the loss maths stay float32, see losses.py). "auto"
        # enables it where bf16 products run natively (CUDA; CPUs with AVX-512 BF16 or AMX): there
        # it is faster; elsewhere it would be slower (docs/experiments.md, "Speed").
        amp = t.amp if t.amp != "auto" else ("bf16" if dist.native_bf16(self.device) else "off")
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
            **({"augment": self.augment.state()} if self.augment.mode != "off" else {}),
            **({"H": self.H.state_dict(), "opt_h": self.opt_h.state_dict()} if self.H is not None else {}),
        }

    def load_state(self, state: dict[str, Any], path: str | os.PathLike = "checkpoint") -> None:
        """Continue from a checkpoint's state; every entry is checked first (``run.check_state``),
        so a state that does not fit this trainer's config changes nothing.

        Raises:
            CheckpointError: naming ``path`` and the first entry that does not fit.
        """
        check_state(self.cfg, state, path)
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
        if "augment" in state and self.augment.mode != "off":
            self.augment.load(state["augment"])
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

    def real_batch(self, n: int) -> torch.Tensor:
        idx = torch.randint(len(self.data), (n,), generator=self.gen).to(self.device)
        return to_float(self.data.images[idx], self.output)  # (n, C, H, W)

    def views(self, names: tuple[str, ...], lat: Latents, real: torch.Tensor, fake: torch.Tensor,
              detach_q: bool = False) -> Views:
        """D/Q outputs for the named views (see ``losses.VIEWS``); ``detach_q`` stops Q's gradient at
        the trunk for the views of generated images (``train.mi_to_trunk=false``).

        With ``train.fuse_views`` (the default) every view goes through D in one forward of the
        concatenated batch, each view normalised with its own batch statistics (the same numbers as
        one forward per view: ``nets.blocks.Discriminator``), or real and fake together where
        ``train.joint_bn`` asks for shared statistics."""
        t, B = self.cfg.train, len(lat)
        v = Views(lat)
        imgs: dict[str, torch.Tensor] = {}
        if "real" in names or (t.joint_bn and "fake" in names):  # joint_bn: the fakes' statistics include real
            imgs["real"] = real
        if "fake" in names:
            imgs["fake"] = fake
        # The warps draw from the run's generator (fake first), so a run stays exactly repeatable;
        # they warp the first train.warp_fraction of the batch (its rows are independent draws).
        n_w = B if t.warp_fraction >= 1 else max(2, round(t.warp_fraction * B))
        if "fake_warped" in names:
            imgs["fake_warped"] = invariance_for(t).apply(fake[:n_w], self.gen, self.output)
        if "real_warped" in names:
            imgs["real_warped"] = invariance_for(t).apply(real[:n_w], self.gen, self.output)
        # Differentiable augmentation (train.augment): D judges augmented rows; an un-augmented
        # copy of each augmented row rides along in the same view (same batch-norm group), and Q's
        # outputs for those rows are taken from the copies: Q reads what G made.
        augmented: dict[str, torch.Tensor] = {}
        if self.augment.active:
            for n in ("real", "fake"):
                if n in imgs:
                    x = imgs[n]
                    rows = self.augment.rows(len(x), self.gen).to(x.device)
                    if len(rows):
                        aug = diff_augment(x[rows], self.gen, self.augment.ops, self.output)
                        imgs[n] = torch.cat([x.index_copy(0, rows, aug.to(x.dtype)), x[rows]])
                        augmented[n] = rows
        order = [n for n in VIEWS if n in imgs]
        if t.fuse_views:
            # Real views in one forward, views of generated images in another: L_G's gradient then
            # runs back through the fakes' forward only, never through rows it cannot reach. Under
            # joint_bn real and fake share statistics, so every view goes into one forward.
            if t.joint_bn and "real" in imgs and "fake" in imgs:
                parts = [order]
            else:
                parts = [[n for n in order if n.startswith(side)] for side in ("real", "fake")]
            with self.autocast():
                for part in parts:
                    if not part:
                        continue
                    sizes = [len(imgs[n]) for n in part]
                    groups = list(sizes)
                    if part[:2] == ["real", "fake"]:
                        groups = [sizes[0] + sizes[1], *sizes[2:]]
                    mask: bool | torch.Tensor = detach_q and part[0].startswith("fake")
                    if detach_q and len(parts) == 1:  # Q's gradient stops at the trunk for the fakes only
                        mask = torch.cat([torch.full((len(imgs[n]),), n.startswith("fake"), device=real.device)
                                          for n in part])
                    x = torch.cat([imgs[n] for n in part]) if len(part) > 1 else imgs[part[0]]
                    d, q = self.D_run(x, detach_q=mask, views=groups, segments=_segments(part, imgs, augmented))
                    for n, dn, qn in zip(part, d.split(sizes), q.split(sizes)):
                        v.d[n], v.q[n] = dn, qn
        else:  # one forward per view (real and fake together under joint_bn)
            with self.autocast():
                if t.joint_bn and "real" in imgs and "fake" in imgs:
                    sizes = [len(imgs["real"]), len(imgs["fake"])]
                    d_both, q_both = self.D_run(torch.cat([imgs["real"], imgs["fake"]]), detach_q=detach_q,
                                                views=[sum(sizes)],
                                                segments=_segments(["real", "fake"], imgs, augmented))
                    (v.d["real"], v.d["fake"]), (v.q["real"], v.q["fake"]) = d_both.split(sizes), q_both.split(sizes)
                for n in ("real", "fake", "fake_warped", "real_warped"):
                    if n in imgs and n not in v.d:
                        v.d[n], v.q[n] = self.D_run(imgs[n], detach_q=detach_q and n.startswith("fake"),
                                                    segments=_segments([n], imgs, augmented))
        for n, rows in augmented.items():  # D: the augmented rows; Q: their un-augmented copies
            b = len(v.d[n]) - len(rows)
            v.d[n], v.q[n] = v.d[n][:b], v.q[n][:b].index_copy(0, rows, v.q[n][b:])
        if "pairs" in names:
            v.pairs = self.cr_logits(B)
        return v

    def step(self) -> dict[str, torch.Tensor]:
        """One update of D/Q and G (``train.update``): "alternating" as the authors' code (a D/Q
        step, then a G step with fresh codes against the updated D/Q) or "simultaneous" (both from
        one forward)."""
        if self.cfg.train.update == "simultaneous":
            out = self._step_simultaneous()
        else:
            out = self._step_alternating()
        self.step_count += 1
        return out

    def _step_alternating(self) -> dict[str, torch.Tensor]:
        t, B, obj = self.cfg.train, self.local_batch, self.objective
        # 1. sample codes and a real batch
        lat = self.sample_latents(B)
        real = self.real_batch(B)
        # 2. D/Q step: fakes from G without a graph; L_D from every term's D side
        with torch.no_grad(), self.autocast():
            fake = self.G_run(self.spec.to_input(lat))  # (B, C, H, W)
        v = self.views(obj.d_views, lat, real, fake, detach_q=not t.mi_to_trunk)
        loss_d, logs = obj.d_loss(v)
        self._observe(v, logs)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward(inputs=self.d_params)
        self.opt_d.step()
        # 3. G step: fresh codes, a new G forward, L_G against the updated D/Q (D's weights get no
        # gradient; InfoGAN-CR's H steps with G)
        lat = self.sample_latents(B)
        with self.autocast():
            fake = self.G_run(self.spec.to_input(lat))
        v = self.views(obj.g_views, lat, real, fake)
        loss_g, g_logs = obj.g_loss(v)
        self.opt_g.zero_grad(set_to_none=True)
        if self.opt_h is not None:
            self.opt_h.zero_grad(set_to_none=True)
        loss_g.backward(inputs=self.g_params + self.h_params)
        self.opt_g.step()
        if self.opt_h is not None:
            self.opt_h.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **logs, **g_logs}

    def _step_simultaneous(self) -> dict[str, torch.Tensor]:
        t, B, obj = self.cfg.train, self.local_batch, self.objective
        # 1. sample codes and a real batch
        lat = self.sample_latents(B)
        real = self.real_batch(B)
        # 2. one G forward; the views both sides need, once
        with self.autocast():
            fake = self.G_run(self.spec.to_input(lat))  # (B, C, H, W)
        v = self.views(obj.views, lat, real, fake, detach_q=not t.mi_to_trunk)
        loss_d, logs = obj.d_loss(v)
        loss_g, g_logs = obj.g_loss(v)
        self._observe(v, logs)
        # 3. gradients from that one forward: D/Q's from L_D, G's (and H's) from L_G
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        if self.opt_h is not None:
            self.opt_h.zero_grad(set_to_none=True)
        loss_g.backward(inputs=self.g_params + self.h_params, retain_graph=True)
        loss_d.backward(inputs=self.d_params)
        # 4. updates
        self.opt_d.step()
        self.opt_g.step()
        if self.opt_h is not None:
            self.opt_h.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **logs, **g_logs}

    def _observe(self, v: Views, logs: dict) -> None:
        """Adaptive augmentation: D's verdicts on the (augmented) real images of this step; the
        probability in use is logged (``augment_p``)."""
        if self.augment.mode == "off" or "real" not in v.d:
            return
        logs["augment_p"] = torch.tensor(self.augment.p)
        self.augment.observe(v.d["real"])
        if self.augment.mode == "adaptive":
            logs["augment_rt"] = torch.sign(v.d["real"].detach().float()).mean()

    def cr_pairs(self, n: int) -> tuple[Latents, Latents, torch.Tensor]:
        """Two latent batches whose codes agree in one coordinate ``shared`` (n,) per pair; noise
        and the other codes are drawn independently (non-shared bounded codes at least
        ``train.cr_gap`` apart, in half-ranges, the progressive variant of InfoGAN-CR)."""
        a, b = self.sample_latents(n), self.sample_latents(n)
        shared = torch.randint(len(self.spec.codes), (n,), generator=self.gen).to(self.device)
        gap = self.cfg.train.cr_gap
        for j, code in enumerate(self.spec.codes):
            vb = code.keep_apart(a.codes[j], b.codes[j], gap) if code.continuous else b.codes[j]
            b.codes[j] = torch.where(shared == j, a.codes[j], vb)
        return a, b, shared

    def cr_logits(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """H's logits (n, L) for ``n`` generated pairs, and the index of the code each pair shares."""
        a, b, shared = self.cr_pairs(n)
        with self.autocast():
            pair = torch.cat([self.G_run(self.spec.to_input(a)), self.G_run(self.spec.to_input(b))], 1)  # (n, 2C, H, W)
            _, logits = self.H_run(pair)  # (n, L): which code the pair shares
        return logits, shared

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
            toml, cfg_file = self.cfg.to_toml().encode(), self.run_dir / "config.toml"
            if not (cfg_file.is_file() and cfg_file.read_bytes() == toml):  # a resume with the same config keeps it
                ckpt.atomic_write(cfg_file, toml)  # a kill never cuts it
            tb = _tensorboard(self.run_dir / "tb", self.log)
        self._tb = tb
        last_eval: dict = {}
        # Wall seconds of the run so far (continued across resumes) and of its evaluations.
        wall0 = time.perf_counter() - (_last_wall(self.run_dir / "metrics.jsonl") if main else 0.0)
        stopper = PlateauStop(t.stop_patience, t.stop_delta)

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
        self._mf = open(self.run_dir / "metrics.jsonl", "a") if main else None  # noqa: SIM115 - closed in finally
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
                    row["wall_s"] = now - wall0
                    t_last, s_last = now, s
                    self._write({"step": s, **row})
                    bar.set_postfix_str(_postfix(row), refresh=False)
                stop_now = False
                if (t.eval_every and s % t.eval_every == 0) or s == total:
                    if main:
                        t_eval = time.perf_counter()
                        last_eval = self.evaluate_now()
                        self.figures()
                        done = time.perf_counter()
                        stop_now = stopper.update(last_eval) and s < total
                        self._write({"step": s, "eval": last_eval, "eval_s": done - t_eval, "wall_s": done - wall0,
                                     **({"plateau_score": stopper.best} if stop_now else {})})
                        t_last += done - t_eval  # it_s counts training only
                    stop_now = dist.any_flag(stop_now, self.device)
                if s % t.ckpt_every == 0 or s == total or stop_now:
                    self.save()
                if stop_now:
                    self.log(f"\nstopping at step {s}: the label-free score {stopper.best:.3f} nats gained less than "
                             f"{t.stop_delta} in {t.stop_patience} evaluations (train.stop_patience)")
                    break
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
        self.load_state(state, path)
        self.recoveries = recoveries
        self._apply_lr_scale()
        # Later steps must not reuse the exact randomness that led to the divergence.
        self.gen.manual_seed(t.seed + 1_000_003 * (recoveries + 7 * self.rank) + self.step_count)
        if self._mf is None:
            return
        # Lines logged after the restored step describe a trajectory that no longer exists.
        self._mf.close()
        truncate_metrics(self.run_dir, self.step_count)
        self._mf = open(self.run_dir / "metrics.jsonl", "a")  # noqa: SIM115 - closed by fit
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
        try:
            self._mf.write(json.dumps(row) + "\n")
            self._mf.flush()
        except OSError as e:  # a full disk: name the file; the cut line is dropped on resume
            mf, self._mf = self._mf, None
            with contextlib.suppress(OSError):  # its buffer cannot be written either
                mf.close()
            raise OSError(e.errno, e.strerror, str(self.run_dir / "metrics.jsonl")) from e
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
        # During training only the cheap array metrics, in the training's precision (bf16 where it
        # trains in bf16: half the time; `infogan eval` computes every metric in float32).
        with self.autocast():
            return evaluate(self.G, self.D, self.spec, self.output, self.test if self.test is not None else self.real_sample, t.eval_samples,
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


class PlateauStop:
    """The label-free stopping rule (``train.stop_patience``, ``train.stop_delta``): the score of an
    evaluation is Q's information about real images plus L_I on fresh samples, summed over the
    categorical codes (over every code when there is none), in nats; stop once ``patience``
    evaluations in a row have not raised the best score by more than ``delta``. No labels."""

    def __init__(self, patience: int, delta: float) -> None:
        self.patience, self.delta = patience, delta
        self.best: float | None = None
        self.wait = 0

    @staticmethod
    def score(ev: dict) -> float | None:
        real = ev.get("real_mi") or {}
        names = list(ev.get("mi_gap") or {}) or list(ev.get("mi_lower_bound") or {})
        vals = [(ev.get("mi_lower_bound") or {}).get(n) for n in names] + [real.get(n) for n in names if n in real]
        vals = [v for v in vals if v is not None]
        return sum(vals) if vals else None

    def update(self, ev: dict) -> bool:
        """Take one evaluation's results; True when training should stop."""
        if not self.patience:
            return False
        score = self.score(ev)
        if score is None:
            return False
        if self.best is None or score > self.best + self.delta:
            self.best, self.wait = score if self.best is None else max(score, self.best), 0
            return False
        self.best = max(self.best, score)
        self.wait += 1
        return self.wait >= self.patience


def _last_wall(path: Path) -> float:
    """The last ``wall_s`` logged in a metrics file (0 for a new run): a resumed run's clock goes on."""
    try:
        lines = path.read_bytes().splitlines()[-200:]
    except OSError:
        return 0.0
    for line in reversed(lines):
        try:
            v = json.loads(line).get("wall_s")
        except (ValueError, AttributeError):
            continue
        if isinstance(v, (int, float)) and math.isfinite(v) and v >= 0:
            return float(v)
    return 0.0


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
