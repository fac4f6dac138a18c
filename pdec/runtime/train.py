"""Training: the loss of a kernel, the loop (Adam, EMA, seeded batches), and a package's train.py.

Imports only torch (and its siblings): this file is copied verbatim into every emitted package, and
the benchmarks train every model (pdec's and the peers') through :func:`fit`.

Each step of :func:`kernel_loss`: y from the data, ln sigma ~ N(p_mean, 1.2^2) (EDM's p_mean = -1.2 for a
self-similar law, -2.0 otherwise: :func:`sigma_mean`; truncated to the kernel's valid range),
t = sigma^-1(sigma), (x, u) = perturb(y, t), target x - u / a(t) (or its batch-posterior mean), loss
lambda(sigma) |D(x, sigma) - target|^2 (precond.py). Batches and noise come from one generator
reseeded by (seed, rank, step) and drawn in that order (the batch first), so a resumed run repeats
an uninterrupted one, every model of a seed sees the same mini-batches, and DDP's ranks see
different data. The EMA decay is warmed up as min(ema, (1 + step) / (10 + step)).

Class conditioning: the batch's labels come with its rows (labels[idx]); with ``label_dropout`` p each
label is replaced by the null label K with probability p (classifier-free guidance: the same network
learns D(x, sigma | null)), drawn from the same generator right after the batch, so a resumed
conditional run repeats an uninterrupted one as well.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .precond import P_MEAN, P_MEAN_NOT_SELF_SIMILAR, P_STD, Precond, edm_loss, sample_train_sigma


class TrainingDiverged(FloatingPointError):
    """The loss is not finite."""


def step_seed(seed: int, rank: int, step: int) -> int:
    """The seed of one step's generator."""
    return (seed * 1_000_003 + rank * 7_919 + step) % (2**63 - 1)


def ema_decay(step: int, ema: float) -> float:
    """The EMA decay at a step, warmed up as min(ema, (1 + step) / (10 + step))."""
    return min(ema, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema <- decay ema + (1 - decay) net, parameter by parameter."""
    for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
        pe.lerp_(p, 1.0 - decay)


def atomic_save(obj, path) -> None:
    """torch.save to a temporary sibling, then os.replace: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def read_json(path) -> dict:
    """A JSON file as a dict ({} when it is missing or unreadable): the resolved config in checkpoints."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


#: the regression targets of :func:`kernel_loss`: the sampled y_eff = x - u / a(t), or its batch-posterior
#: mean (Kernel.batch_posterior_target, the stable target field)
TARGETS = ("sample", "batch_posterior")


def sigma_mean(kernel, p_mean: float | None = None) -> float:
    """The mean of ln sigma in training: ``p_mean``, or for None EDM's P_MEAN for a self-similar law and
    P_MEAN_NOT_SELF_SIMILAR otherwise."""
    if p_mean is not None:
        return float(p_mean)
    return P_MEAN if kernel.self_similar else P_MEAN_NOT_SELF_SIMILAR


def check_target(kernel, target: str) -> str:
    """``target`` if ``kernel`` can train on it (TARGETS; batch_posterior needs a Gaussian scale mixture)."""
    if target not in TARGETS:
        raise ValueError(f"unknown training target {target!r}; expected one of {', '.join(TARGETS)}")
    if target == "batch_posterior" and getattr(kernel, "kind", "") != "scale_mixture":
        raise ValueError(f"batch_posterior needs a Gaussian scale mixture; this kernel is {kernel.kind}")
    return target


def kernel_loss(kernel, sigma_inv=None, sigma_lo: float | None = None, sigma_hi: float | None = None,
                target: str = "sample", nodes: int = 64, null_label: int | None = None,
                p_mean: float | None = None, p_std: float = P_STD):
    """loss(net, y, g, cond=None): EDM's weighted loss on the kernel's generalised denoiser target.

    ``kernel`` is a runtime Kernel (kernel.py); ``sigma_inv`` replaces kernel.sigma_inv (a table);
    training sigmas, ln sigma ~ N(p_mean, p_std^2) (None: :func:`sigma_mean`), stay in (sigma_lo, sigma_hi),
    where the kernel is a density. ``target`` (TARGETS):
    "sample" regresses on y_eff = x - u / a(t); "batch_posterior" on E[y_eff | x] under the batch's rows
    on ``nodes`` nodes in ln S_t (same mean, far less variance at small sigma for the laws that
    are not self-similar). In a conditional batch the posterior of a labelled row runs over the rows
    of its label, that of a row with ``null_label`` (dropped for guidance) over all rows.
    """
    check_target(kernel, target)
    inv = sigma_inv or kernel.sigma_inv
    p_mean = sigma_mean(kernel, p_mean)

    def loss(net, y, g, cond=None):
        sigma = sample_train_sigma(y.shape[0], g, sigma_lo=sigma_lo, sigma_hi=sigma_hi, p_mean=p_mean, p_std=p_std)
        t = inv(sigma)
        x, u = kernel.perturb(y, t, generator=g)
        if target == "batch_posterior":
            allowed = None
            if cond is not None:
                allowed = cond[:, None] == cond[None, :]
                if null_label is not None:
                    allowed |= (cond == null_label)[:, None]
            y_eff = kernel.batch_posterior_target(x, y, t, nodes=nodes, generator=g, allowed=allowed)
        else:
            y_eff = kernel.denoiser_target(x, u, t)
        return edm_loss(net, x, sigma, y_eff, cond=cond)

    return loss


@dataclass
class State:
    """The trained network, its EMA, the optimiser, the step and the last checked loss."""

    net: nn.Module
    ema: nn.Module
    opt: torch.optim.Optimizer
    step: int = 0
    loss: float = float("nan")

    def load(self, ck: dict) -> None:
        """Resume from a checkpoint dict (net, ema, opt, step)."""
        self.net.load_state_dict(ck["net"])
        self.ema.load_state_dict(ck["ema"])
        self.opt.load_state_dict(ck["opt"])
        self.step = int(ck["step"])


def init(build, lr: float, seed: int, device=None, x_train: torch.Tensor | None = None) -> State:
    """build() under torch.manual_seed(seed) (the same initial weights on every rank and for every model
    of a seed), its EMA copy, and Adam; a Precond's outlier threshold and anchors are fitted to ``x_train``."""
    torch.manual_seed(seed)
    net = build()
    if x_train is not None and isinstance(net, Precond):
        net.fit_data(x_train)
    if device is not None:
        net = net.to(device)
    return State(net=net, ema=copy.deepcopy(net).requires_grad_(False), opt=torch.optim.Adam(net.parameters(), lr=lr))


def drop_labels(cond: torch.Tensor, p: float, null: int, g: torch.Generator) -> torch.Tensor:
    """cond with each label replaced by ``null`` with probability p (one uniform draw per row from g)."""
    if p <= 0.0:
        return cond
    drop = torch.rand(cond.shape[0], generator=g, device=cond.device) < p
    return torch.where(drop, torch.full_like(cond, null), cond)


def fit(state: State, loss_fn, x_train: torch.Tensor, steps: int, batch: int, seed: int, ema: float,
        rank: int = 0, model: nn.Module | None = None, labels: torch.Tensor | None = None,
        check_every: int = 25, on_step=None, label_dropout: float = 0.0, null_label: int | None = None) -> State:
    """Train ``state`` up to ``steps`` total steps: per step, seed the generator, draw the batch (and its
    labels: the condition, None when there are none; each replaced by ``null_label`` with probability
    ``label_dropout``), loss_fn(model, y, g, cond), Adam, EMA.

    ``model`` is what the loss calls (a DistributedDataParallel around state.net; default state.net).
    Every ``check_every`` steps (and at the last) the loss is read back: state.loss, and
    TrainingDiverged when it is not finite. ``on_step(state, checked)`` runs after every step.
    """
    model = state.net if model is None else model
    if labels is not None and label_dropout > 0.0 and null_label is None:
        raise ValueError("label dropout needs the null label")
    g = torch.Generator(device=x_train.device)
    while state.step < steps:
        g.manual_seed(step_seed(seed, rank, state.step))
        idx = torch.randint(x_train.shape[0], (batch,), generator=g, device=x_train.device)
        cond = None if labels is None else drop_labels(labels[idx], label_dropout, null_label, g)
        loss = loss_fn(model, x_train[idx], g, cond)
        state.opt.zero_grad(set_to_none=True)
        loss.backward()
        state.opt.step()
        ema_update(state.ema, state.net, ema_decay(state.step, ema))
        state.step += 1
        checked = state.step % check_every == 0 or state.step == steps
        if checked:
            state.loss = float(loss.detach())
            if state.loss != state.loss or state.loss in (float("inf"), float("-inf")):
                raise TrainingDiverged(f"the loss is {state.loss} at step {state.step}: training diverged "
                                       "(try a smaller learning rate)")
        if on_step is not None:
            on_step(state, checked)
    return state


# ----------------------------------------------------------------------------------------------
# a package's train.py


@dataclass(frozen=True)
class Job:
    """What an emitted package's train.py hands to :func:`main`: its data, network, kernel and defaults."""

    load: object  # () -> (x_train normalised [n, *shape], mean, scale)
    build: object  # () -> the preconditioned denoiser
    kernel: object  # the runtime Kernel
    shape: tuple
    sigma_max: float
    sigma_lo: float | None
    sigma_hi: float | None
    title: str
    out: str
    steps: int
    batch: int
    lr: float
    ema: float
    seed: int
    config: dict = field(default_factory=dict)
    progress: object = None  # tqdm-like: progress(total=, initial=, disable=, desc=, dynamic_ncols=)
    classes: int | None = None  # K of a conditional package (None: unconditional)
    load_labels: object = None  # () -> the training labels, a long tensor [n] in 0..K-1 (conditional packages)
    label_dropout: float = 0.0  # the probability of the null label K in training
    target: str = "sample"  # the regression target (TARGETS)
    p_mean: float | None = None  # the mean of ln sigma in training (None: sigma_mean's rule)


def parse_args(job: Job, argv=None):
    p = argparse.ArgumentParser(description="Train the denoiser (EDM loss, Adam, EMA, checkpoints).")
    p.add_argument("--steps", type=int, default=job.steps, help="total optimiser steps (default %(default)s)")
    p.add_argument("--batch", type=int, default=job.batch,
                   help="global batch, split over the ranks (default %(default)s)")
    p.add_argument("--lr", type=float, default=job.lr, help="Adam's learning rate (default %(default)s)")
    p.add_argument("--ema", type=float, default=job.ema, help="EMA decay (default %(default)s)")
    p.add_argument("--seed", type=int, default=job.seed, help="random seed (default %(default)s)")
    p.add_argument("--out", default=job.out, help="checkpoint path (default: ckpt.pt in the package's folder)")
    p.add_argument("--ckpt-every", type=int, default=0, help="checkpoint period in steps (default: steps / 10)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out if it exists")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--save-all-ranks", action="store_true",
                   help="also save every rank's final weights next to --out (to check that the ranks agree)")
    return p.parse_args(argv)


def setup(device_arg):
    """(rank, world size, device); under torchrun, joins the process group (nccl on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        use_cuda = torch.cuda.is_available() and device_arg != "cpu"
        dist.init_process_group("nccl" if use_cuda else "gloo")
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(device)
        return dist.get_rank(), world, device
    if device_arg is None:
        device_arg = "cuda" if torch.cuda.is_available() else "cpu"
    return 0, 1, torch.device(device_arg)


class _NoBar:
    def __init__(self, **_):
        pass

    def update(self, n=1):
        pass

    def set_postfix(self, **_):
        pass

    def close(self):
        pass


def run(job: Job, args):
    """The training run of a package: returns the final (net, ema, summary dict) on every rank."""
    rank, world, device = setup(args.device)
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} is not divisible by the {world} ranks")
    x_train, mean, scale = job.load()
    x_train = x_train.to(device)
    labels = None if job.classes is None else job.load_labels().to(device)
    state = init(job.build, args.lr, args.seed, device, x_train)
    out = Path(args.out)
    if args.resume and out.exists():
        state.load(torch.load(out, map_location=device, weights_only=True))
        if rank == 0:
            print(f"resumed from {out} at step {state.step}", file=sys.stderr)
    model = state.net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # the buffers (q, the anchors) are fitted alike on every rank and never change: no per-step broadcast
        model = DistributedDataParallel(state.net, device_ids=[device.index] if device.type == "cuda" else None,
                                        broadcast_buffers=False)
    every = args.ckpt_every if args.ckpt_every > 0 else max(1, args.steps // 10)

    def checkpoint():
        return {
            "net": state.net.state_dict(), "ema": state.ema.state_dict(), "opt": state.opt.state_dict(),
            "step": state.step, "mean": torch.as_tensor(mean), "scale": float(scale), "shape": list(job.shape),
            "sigma_max": float(job.sigma_max), "loss": state.loss, "config": job.config,
            **({} if job.classes is None else {"classes": int(job.classes)}),
        }

    if rank == 0 and not args.quiet:
        print(f"{job.title}; {len(x_train)} training points of shape {list(job.shape)}; "
              f"sampler sigma_max {job.sigma_max!r}", file=sys.stderr)
    bar = (job.progress or _NoBar)(total=args.steps, initial=state.step, disable=rank != 0 or args.quiet,
                                   desc="train", dynamic_ncols=True)

    def on_step(st: State, checked: bool):
        if checked:
            bar.set_postfix(loss=f"{st.loss:.4f}")
        bar.update(1)
        if rank == 0 and (st.step % every == 0 or st.step == args.steps):
            atomic_save(checkpoint(), out)

    t0, start = time.time(), state.step
    loss_fn = kernel_loss(job.kernel, sigma_lo=job.sigma_lo, sigma_hi=job.sigma_hi, target=job.target,
                          null_label=job.classes, p_mean=job.p_mean)
    try:
        fit(state, loss_fn, x_train, args.steps, args.batch // world, args.seed, args.ema, rank=rank, model=model,
            on_step=on_step, labels=labels, label_dropout=job.label_dropout, null_label=job.classes)
    except TrainingDiverged as e:
        raise SystemExit(str(e).replace("learning rate", "--lr")) from None
    bar.close()
    if args.save_all_ranks:
        atomic_save({"net": state.net.state_dict(), "ema": state.ema.state_dict()},
                    out.with_name(f"{out.stem}.rank{rank}.pt"))
    summary = {"steps": state.step, "trained": state.step - start, "loss": state.loss, "seconds": time.time() - t0,
               "ranks": world, "device": str(device), "checkpoint": str(out)}
    if rank == 0:
        print(f"trained {summary['trained']} steps in {summary['seconds']:.1f} s on {world} x {device}; "
              f"last loss {state.loss:.4f}; checkpoint {out}", file=sys.stderr)
    return state.net, state.ema, summary


def main(job: Job, argv=None):
    """A package's `python train.py [options]`: parse, run, and leave the process group."""
    args = parse_args(job, argv)
    try:
        return run(job, args)
    finally:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
