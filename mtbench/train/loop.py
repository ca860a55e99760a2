"""The training loop: D step(s), G step, EMA, with timings, checkpoints and samples.

All state lives on the Trainer; under torchrun only rank 0 shows progress (the run's hooks
write files on rank 0 only).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import replace

import torch
from torch import Tensor
from tqdm import tqdm

from mtbench.api import Side
from mtbench.compose import Parts
from mtbench.dist import SINGLE, Dist, rank_seed
from mtbench.errors import UserError
from mtbench.latent import GenInput, generator_input
from mtbench.spec import Resolved, TrainSpec
from mtbench.train.ema import EMA
from mtbench.train.health import FiniteGuard, module_state, optimizer_state
from mtbench.train.state import restore_rng, rng_state
from mtbench.train.timing import PhaseTimer, no_timer

AMP_DTYPE = {"bf16": torch.bfloat16, "fp16": torch.float16}


def per_rank_batch(train: TrainSpec, dist: Dist) -> int:
    """Each rank's share of the global ``train.batch_size``; one line if it does not divide."""
    if train.batch_size % dist.world_size:
        raise UserError(
            f"train.batch_size: {train.batch_size} is the global batch and does not divide "
            f"among {dist.world_size} ranks; use a multiple of {dist.world_size}"
        )
    return train.batch_size // dist.world_size


class Trainer:
    """Owns the models, optimizers and RNG of one run, and advances them one step at a time.

    It is given what a step needs and nothing more: the built ``parts``, the train settings
    (copied once into attributes), the spec seed, the device and the process group. Under
    torchrun each rank draws ``batch_size / world_size`` samples from its own random stream
    (``rank_seed``), and the players' gradients are averaged across ranks after each
    backward (``Dist.mean_grads``; why not DistributedDataParallel: ``mtbench.dist``).
    """

    def __init__(
        self,
        parts: Parts,
        train: TrainSpec,
        seed: int,
        device: torch.device,
        dist: Dist = SINGLE,
    ) -> None:
        self.p, self.device, self.dist, self.seed = parts, device, dist, seed
        self.global_batch, self.batch_size = train.batch_size, per_rank_batch(train, dist)
        self.d_steps, self.grad_clip, self.steps = train.d_steps, train.grad_clip, train.steps
        self.G, self.D = parts.generator, parts.discriminator
        head_g = [q for h in self.D.heads.values() for q in h.g_parameters()]
        g_ids = {id(q) for q in head_g}
        self.g_params = [*self.G.parameters(), *head_g, *parts.g_weighting.parameters()]
        d_own = [q for q in self.D.parameters() if id(q) not in g_ids]
        self.d_params = [*d_own, *parts.d_weighting.parameters()]
        self.d_shared = list(self.D.trunk.parameters())
        self.g_shared = self.G.shared_parameters()
        fused = device.type == "cuda"  # skips a non-finite update on the device (found_inf)
        self.opt_g = torch.optim.Adam(
            self.g_params, lr=train.g.lr, betas=train.g.betas, fused=fused
        )
        self.opt_d = torch.optim.Adam(
            self.d_params, lr=train.d.lr, betas=train.d.betas, fused=fused
        )
        self.ema = EMA(self.G, train.ema_decay) if train.ema_decay > 0 else None
        self.gen = torch.Generator(device).manual_seed(rank_seed(seed, dist.rank))
        fp16 = train.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=fp16)
        self.autocast = (
            torch.autocast(device.type, dtype=AMP_DTYPE[train.precision])
            if train.precision in AMP_DTYPE
            else contextlib.nullcontext()
        )
        self.step = 0
        self.session_start = time.perf_counter()
        self.wall_before = 0.0  # seconds spent in earlier sessions of this run (resume)
        self.timer = PhaseTimer(device)
        self.comm_s = 0.0  # seconds spent averaging gradients since the last logged step
        self.stop_requested = False
        self.guard = FiniteGuard(dist)
        self._param_names = self._name_params()
        self._buffers = [b for m in (self.G, self.D) for b in m.buffers() if b.is_floating_point()]
        dist.broadcast_(t for _, t in self._shared_state())

    @classmethod
    def from_spec(
        cls, r: Resolved, parts: Parts, device: torch.device, dist: Dist = SINGLE
    ) -> Trainer:
        """The trainer of a resolved spec: its train settings and seed."""
        return cls(parts, r.spec.train, r.spec.seed, device, dist)

    # ------------------------------------------------------------------ one iteration

    def train_step(self, timed: bool) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """D step(s) then G step then EMA; returns the last D terms and the G terms."""
        tm = self.timer if timed else no_timer
        for _ in range(self.d_steps):
            d_terms, real = self._d_step(tm, timed)
        g_terms = self._g_step(tm, real, timed)
        self.comm_s += self.dist.broadcast_(self._buffers)  # rank 0's batch-norm statistics
        if self.ema is not None:
            with tm("ema"):
                self.ema.update()
        self.step += 1
        return d_terms, g_terms

    def _fake(self, n: int) -> tuple[dict[str, Tensor], GenInput]:
        p = self.p
        x = generator_input(n, self.G.z_dim, p.codes, p.conditions, p.source, self.gen)
        return self.G(x.z, x.labels), x

    def _fake_side(self, out: dict[str, Tensor], x: GenInput, features: Tensor | None) -> Side:
        targets = self.p.source.targets_of(x.labels) | x.conditions
        return Side(out, x.labels, targets, features, x.codes)

    def _d_step(self, tm, timed: bool) -> tuple[dict[str, Tensor], Side]:
        n = self.batch_size
        with tm("data"):
            batch = self.p.source.sample(n, self.gen)
        regs = self.p.regularizers
        with tm("d_fwd"), self.autocast:
            with torch.no_grad():
                out, x = self._fake(n)
            inputs = regs.d_inputs(batch.images["image"], out["image"], self.gen, self.step)
            real_img, fake_img = inputs.real, inputs.fake
            rf, ff = self.D.features(real_img, fake_img)
            real = Side({**batch.images, "image": real_img}, batch.labels, batch.targets, rf)
            fake = self._fake_side({**out, "image": fake_img}, x, ff)
            terms = self.D.d_terms(real, fake)
            if regs:
                terms.update(regs.d_terms(self.D, real, fake, self.step, inputs))
        bad = self.guard.watch(terms, self.step, "D", now=timed)
        with tm("d_bwd"):
            self.opt_d.zero_grad(set_to_none=True)
            self.p.d_weighting.backward(terms, self.d_params, self.d_shared, self.scaler_d.scale)
            self.p.d_weighting.advance()
            self._average(self.d_params, bad)
        with tm("d_opt"):
            self._optimizer_step(self.opt_d, self.scaler_d, self.d_params, bad)
        # the G step sees the un-augmented reals (it augments anew) in a Side of its own
        return terms, Side(batch.images, batch.labels, batch.targets, None)

    def _g_step(self, tm, real: Side, timed: bool) -> dict[str, Tensor]:
        n = self.batch_size
        with tm("g_fwd"), self.autocast:
            out, x = self._fake(n)
            if self.D.g_needs_real:
                with torch.no_grad():
                    real_img = self.p.regularizers.augment(real.images["image"], self.gen)
                    real = replace(real, features=self.D.trunk(real_img))
            fake_img = self.p.regularizers.augment(out["image"], self.gen)
            ff = self.D.fake_features(fake_img)
            fake = self._fake_side({**out, "image": fake_img}, x, ff)
            terms = self.D.g_terms(fake, real)
        bad = self.guard.watch(terms, self.step, "G", now=timed)
        with tm("g_bwd"):
            self.opt_g.zero_grad(set_to_none=True)
            self.p.g_weighting.backward(terms, self.g_params, self.g_shared, self.scaler_g.scale)
            self.p.g_weighting.advance()
            self._average(self.g_params, bad)
        with tm("g_opt"):
            self._optimizer_step(self.opt_g, self.scaler_g, self.g_params, bad)
        return terms

    def _average(self, params: list[Tensor], bad: Tensor | None) -> None:
        """Gradients averaged across ranks (the identity on one process), with the update's
        non-finite flag in the same buckets: above 0 on every rank when any rank has one."""
        self.comm_s += self.dist.mean_([*(q.grad for q in params), bad])

    def _optimizer_step(self, opt, scaler, params, bad: Tensor | None) -> None:
        """Clip and step, skipped on a non-finite term the way GradScaler skips (``bad``; None
        on logged steps, checked already). The guard reports it at the next logged step."""
        clip = self.grad_clip
        if clip is not None:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, clip)
        if bad is None or scaler.is_enabled():  # fp16: GradScaler skips inf/NaN gradients
            scaler.step(opt)
        elif self.device.type == "cpu":
            if not bool(bad):  # reading a CPU tensor waits for nothing
                opt.step()
        else:  # fused Adam skips on the device when found_inf is set: no host read
            opt.found_inf, opt.grad_scale = (bad > 0).float(), None  # averaged: any rank
            opt.step()
            del opt.found_inf, opt.grad_scale
        scaler.update()

    # ------------------------------------------------------------------ state

    def _name_params(self) -> dict[int, str]:
        named = [("G", self.G), ("D", self.D)]
        named += [("d_weighting", self.p.d_weighting), ("g_weighting", self.p.g_weighting)]
        return {id(q): f"{pre}.{n}" for pre, m in named for n, q in m.named_parameters()}

    def _shared_state(self):
        """(name, tensor) of what every rank holds alike: weights, buffers (SN u/v), EMA."""
        yield from module_state("G", self.G)
        yield from module_state("D", self.D)
        if self.ema is not None:
            yield from module_state("EMA", self.ema.model)
        yield from module_state("d_weighting", self.p.d_weighting)
        yield from module_state("g_weighting", self.p.g_weighting)

    def named_state(self):
        """(name, tensor) of every parameter, buffer and optimizer state of both players."""
        yield from self._shared_state()
        yield from optimizer_state("opt_g", self.opt_g, self._param_names)
        yield from optimizer_state("opt_d", self.opt_d, self._param_names)

    def check_health(self) -> None:
        """Raise NonFiniteLoss if a loss term or any state went non-finite since the last check.

        Reads the device, so it runs on logged steps and before anything is saved only.
        """
        if self.guard.clean_step == self.step and not self.guard.flags:
            return
        self.guard.raise_flagged(self.step)
        self.guard.check_state(self.named_state(), self.step)

    def state_dict(self) -> dict:
        """The whole training state; every rank's step stream (``rng_ranks``), so a resume on
        the same world size continues each rank's draws. A collective: call on every rank."""
        ranks = self.dist.all_objects(self.gen.get_state())
        return {
            "world_size": self.dist.world_size,
            "rng_ranks": ranks,
            "step": self.step,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "ema": None if self.ema is None else self.ema.model.state_dict(),
            "d_weighting": self.p.d_weighting.state_dict(),
            "g_weighting": self.p.g_weighting.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng": rng_state(self.gen),
            "wall_s": self.wall_before + time.perf_counter() - self.session_start,
        }

    def load_state_dict(self, s: dict) -> None:
        self.step = int(s["step"])
        self.G.load_state_dict(s["generator"])
        self.D.load_state_dict(s["discriminator"])
        if self.ema is not None and s["ema"] is not None:
            self.ema.model.load_state_dict(s["ema"])
            self.ema.updates = self.step
        self.p.d_weighting.load_state_dict(s["d_weighting"])
        self.p.g_weighting.load_state_dict(s["g_weighting"])
        self.opt_g.load_state_dict(s["opt_g"])
        self.opt_d.load_state_dict(s["opt_d"])
        self.scaler_g.load_state_dict(s["scaler_g"])
        self.scaler_d.load_state_dict(s["scaler_d"])
        restore_rng(s["rng"], self.gen)
        if len(s.get("rng_ranks", ())) == self.dist.world_size:  # mtbench eval: any size
            self.gen.set_state(s["rng_ranks"][self.dist.rank].cpu())
        self.guard.clean_step = self.step  # checked before it was saved
        self.wall_before = float(s.get("wall_s", 0.0))

    def sampler(self) -> torch.nn.Module:
        """The generator used for samples and evaluation: the EMA copy when there is one."""
        return self.G if self.ema is None else self.ema.model

    # ------------------------------------------------------------------ the loop

    def fit(self, hooks: RunHooks, every: int, progress: bool = False, desc: str = "") -> str:
        """Train to ``steps``, a steps-table row every ``every`` steps; returns "done" or
        "interrupted" (every rank stops after the same step); raises NonFiniteLoss."""
        total = self.steps
        bar = tqdm(
            total=total,
            initial=self.step,
            disable=not self.dist.is_main() or not progress,
            dynamic_ncols=True,
            desc=desc,
        )
        t_start = time.perf_counter()
        self.fit_started_at = time.time()  # wall clock: a benchmark's time to the first step
        try:
            with _stop_on_signals(self), bar:
                while self.step < total and not self.dist.any(self.stop_requested):
                    timed = (self.step + 1) % every == 0 or self.step + 1 == total
                    d_terms, g_terms = self.train_step(timed)
                    bar.update(1)
                    if timed:
                        self.check_health()
                        row = self.log_row(d_terms, g_terms)
                        hooks.on_log(row)
                        bar.set_postfix_str(_short(row))
                    hooks.after_step(self)
        finally:
            self.train_seconds = time.perf_counter() - t_start
        return "done" if self.step >= total else "interrupted"

    def log_row(self, d_terms: dict[str, Tensor], g_terms: dict[str, Tensor]) -> dict:
        """One steps-table row: timings, per-term losses (this rank's) and weights, global
        images per second, and the seconds spent averaging gradients across ranks."""
        times = self.timer.read()
        row = {"step": self.step, **times, "t_comm": self.comm_s}
        self.comm_s = 0.0
        n_img = self.global_batch * self.d_steps
        row["imgs_per_s"] = n_img / times["t_total"] if times["t_total"] > 0 else float("nan")
        for player, terms, w in (
            ("d", d_terms, self.p.d_weighting),
            ("g", g_terms, self.p.g_weighting),
        ):
            values = torch.stack([t.detach().float() for t in terms.values()]).tolist()
            row.update({f"loss/{player}/{k}": v for k, v in zip(terms, values)})
            row.update({f"weight/{player}/{k}": v for k, v in w.current_weights().items()})
            row.update({f"diag/{player}/{k}": v for k, v in w.diagnostics().items()})
        return row


class RunHooks:
    """What the loop calls out to: logging rows and per-step side effects (checkpoints, samples)."""

    def on_log(self, row: dict) -> None: ...

    def after_step(self, trainer: Trainer) -> None: ...


def _short(row: dict) -> str:
    parts = [f"{k.split('/', 1)[1]}={v:.3g}" for k, v in row.items() if k.startswith("loss/")]
    return " ".join(parts[:6]) + f" img/s={row['imgs_per_s']:.0f}"


@contextlib.contextmanager
def _stop_on_signals(trainer: Trainer):
    """Ctrl-C (and SIGTERM) ask the loop to stop after the current step, not mid-update."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask_stop(signum, frame):
        if trainer.stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        trainer.stop_requested = True

    old = {s: signal.signal(s, ask_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
