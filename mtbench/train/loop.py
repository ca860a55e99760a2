"""The training loop: D step(s), G step, EMA, with timings, checkpoints and samples.

Written so torch.distributed wrapping is small: all state lives on the Trainer, and only
``rank == 0`` writes files or shows progress.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import torch
from torch import Tensor
from tqdm import tqdm

from mtbench.api import Side
from mtbench.compose import Parts
from mtbench.latent import GenInput, generator_input
from mtbench.spec import Resolved
from mtbench.train.ema import EMA
from mtbench.train.health import FiniteGuard, module_state, optimizer_state
from mtbench.train.state import restore_rng, rng_state
from mtbench.train.timing import PhaseTimer, no_timer

AMP_DTYPE = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Trainer:
    """Owns the models, optimizers and RNG of one run, and advances them one step at a time."""

    def __init__(self, r: Resolved, parts: Parts, device: torch.device, rank: int = 0) -> None:
        self.r, self.p, self.device, self.rank = r, parts, device, rank
        t = r.spec.train
        self.G, self.D = parts.generator, parts.discriminator
        head_g = [q for h in self.D.heads.values() for q in h.g_parameters()]
        g_ids = {id(q) for q in head_g}
        self.g_params = [*self.G.parameters(), *head_g, *parts.g_weighting.parameters()]
        d_own = [q for q in self.D.parameters() if id(q) not in g_ids]
        self.d_params = [*d_own, *parts.d_weighting.parameters()]
        self.d_shared = list(self.D.trunk.parameters())
        self.g_shared = self.G.shared_parameters()
        self.opt_g = torch.optim.Adam(self.g_params, lr=t.g.lr, betas=t.g.betas)
        self.opt_d = torch.optim.Adam(self.d_params, lr=t.d.lr, betas=t.d.betas)
        self.ema = EMA(self.G, t.ema_decay) if t.ema_decay > 0 else None
        self.gen = torch.Generator(device).manual_seed(r.spec.seed)
        fp16 = t.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=fp16)
        self.autocast = (
            torch.autocast(device.type, dtype=AMP_DTYPE[t.precision])
            if t.precision in AMP_DTYPE
            else contextlib.nullcontext()
        )
        self.step = 0
        self.session_start = time.perf_counter()
        self.wall_before = 0.0  # seconds spent in earlier sessions of this run (resume)
        self.timer = PhaseTimer(device)
        self.stop_requested = False
        self.guard = FiniteGuard()
        self._param_names = self._name_params()

    # ------------------------------------------------------------------ one iteration

    def train_step(self, timed: bool) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """D step(s) then G step then EMA; returns the last D terms and the G terms."""
        tm = self.timer if timed else no_timer
        for _ in range(self.r.spec.train.d_steps):
            d_terms, real = self._d_step(tm, timed)
        g_terms = self._g_step(tm, real, timed)
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
        n = self.r.spec.train.batch_size
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
        self.guard.watch(terms, self.step, "D", now=timed)
        with tm("d_bwd"):
            self.opt_d.zero_grad(set_to_none=True)
            self.p.d_weighting.backward(terms, self.d_params, self.d_shared, self.scaler_d.scale)
            self.p.d_weighting.advance()
        with tm("d_opt"):
            self._optimizer_step(self.opt_d, self.scaler_d, self.d_params)
        real.features = None
        real.images["image"] = batch.images["image"]  # un-augmented; the G step augments anew
        return terms, real

    def _g_step(self, tm, real: Side, timed: bool) -> dict[str, Tensor]:
        n = self.r.spec.train.batch_size
        with tm("g_fwd"), self.autocast:
            out, x = self._fake(n)
            if self.D.g_needs_real:
                with torch.no_grad():
                    real_img = self.p.regularizers.augment(real.images["image"], self.gen)
                    real.features = self.D.trunk(real_img)
            fake_img = self.p.regularizers.augment(out["image"], self.gen)
            ff = self.D.fake_features(fake_img)
            fake = self._fake_side({**out, "image": fake_img}, x, ff)
            terms = self.D.g_terms(fake, real)
        self.guard.watch(terms, self.step, "G", now=timed)
        with tm("g_bwd"):
            self.opt_g.zero_grad(set_to_none=True)
            self.p.g_weighting.backward(terms, self.g_params, self.g_shared, self.scaler_g.scale)
            self.p.g_weighting.advance()
        with tm("g_opt"):
            self._optimizer_step(self.opt_g, self.scaler_g, self.g_params)
        return terms

    def _optimizer_step(self, opt, scaler, params) -> None:
        clip = self.r.spec.train.grad_clip
        if clip is not None:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, clip)
        scaler.step(opt)
        scaler.update()

    # ------------------------------------------------------------------ state

    def _name_params(self) -> dict[int, str]:
        named = [("G", self.G), ("D", self.D)]
        named += [("d_weighting", self.p.d_weighting), ("g_weighting", self.p.g_weighting)]
        return {id(q): f"{pre}.{n}" for pre, m in named for n, q in m.named_parameters()}

    def named_state(self):
        """(name, tensor) of every parameter, buffer and optimizer state of both players."""
        yield from module_state("G", self.G)
        yield from module_state("D", self.D)
        if self.ema is not None:
            yield from module_state("EMA", self.ema.model)
        yield from module_state("d_weighting", self.p.d_weighting)
        yield from module_state("g_weighting", self.p.g_weighting)
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
        return {
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
        self.guard.clean_step = self.step  # checked before it was saved
        self.wall_before = float(s.get("wall_s", 0.0))

    def sampler(self) -> torch.nn.Module:
        """The generator used for samples and evaluation: the EMA copy when there is one."""
        return self.G if self.ema is None else self.ema.model

    # ------------------------------------------------------------------ the loop

    def fit(self, hooks: RunHooks) -> str:
        """Train to ``train.steps``; returns "done" or "interrupted"; raises NonFiniteLoss."""
        spec = self.r.spec
        total, every = spec.train.steps, spec.log.every
        bar = tqdm(
            total=total,
            initial=self.step,
            disable=self.rank != 0 or not spec.log.progress,
            dynamic_ncols=True,
            desc=spec.name,
        )
        t_start = time.perf_counter()
        try:
            with _stop_on_signals(self), bar:
                while self.step < total and not self.stop_requested:
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
        """One steps-table row: timings, per-term losses and weights, images per second."""
        times = self.timer.read()
        row = {"step": self.step, **times}
        n_img = self.r.spec.train.batch_size * self.r.spec.train.d_steps
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
