"""Sampling: the prior at sigma_max, EDM's rho = 7 grid in sigma, a solver, and a package's sample.py.

Imports only torch, numpy (and its siblings; matplotlib only inside :func:`plot`, if installed): this
file is copied verbatim into every emitted package, and the benchmarks sample through :class:`Sampler`.

The probability-flow ODE of every kernel is dx/dsigma = (x - D(x, sigma)) / sigma in sigma = sigma(t)
(sampler.py). Samples come out in normalised units; :func:`main` maps them back with the checkpoint's
mean and scale.

A conditional package (its checkpoint holds ``classes`` = K) samples class k with ``--label k``, guided
with ``--guidance w`` (guidance.py: D_null + w (D_k - D_null), one batched call of 2B rows per
evaluation), and unconditionally (the null label) without --label.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from . import sampler as _sampler
from .guidance import Guided, check_weight

#: prior draws and their seed for grid = auto (choose_grid)
GRID_PILOT = 256
GRID_PILOT_SEED = 1234


@dataclass(frozen=True)
class Sampler:
    """The sampler of one kernel and data shape: sigma grid, prior, solve, and the sigma_max rule."""

    kernel: object  # the runtime Kernel
    shape: tuple
    sigma_max: float
    sigma_min: float = _sampler.SIGMA_MIN
    rho: float = _sampler.RHO
    steps: int = 18
    solver: str = "heun"
    grid: str = "edm"  # or "auto": sampler.choose_grid on a pilot batch with the network
    prior_tol: float = _sampler.PRIOR_TOL
    sigma_cap: float | None = None

    def time_grid(self, steps=None, sigma_max=None, device=None):
        """(sigmas, ts): EDM's rho grid in sigma (steps values, then 0) and t_i = sigma^-1(sigma_i), float64."""
        sigmas = _sampler.edm_sigmas(self.steps if steps is None else steps, self.sigma_min,
                                     self.sigma_max if sigma_max is None else sigma_max, self.rho, device=device)
        return sigmas, _sampler.time_grid(self.kernel, sigmas)

    def prior(self, n, generator=None, sigma_max=None, device=None):
        """n draws of sqrt(S_T) xi at t_max = sigma^-1(sigma_max) (normalised data: the mean is 0)."""
        s = self.sigma_max if sigma_max is None else sigma_max
        t_max = float(self.kernel.sigma_inv(torch.tensor(s, dtype=torch.float64)))
        return _sampler.prior(self.kernel, n, self.shape, t_max, generator=generator, device=device)

    def sigmas_for(self, net, steps=None, solver=None, sigma_max=None, grid=None, cond=None, device=None):
        """(sigmas, why): the sampling grid. ``grid`` edm: EDM's rho grid; auto: choose_grid's member of the rho
        family on GRID_PILOT prior draws (a fixed seed, so the choice is deterministic) with this network."""
        steps = self.steps if steps is None else steps
        solver = self.solver if solver is None else solver
        grid = self.grid if grid is None else grid
        if grid == "edm":
            sigmas, _ = self.time_grid(steps, sigma_max, device=device)
            return sigmas, f"grid: EDM's rho = {self.rho:g}"
        if grid != "auto":
            raise ValueError(f"grid must be 'edm' or 'auto', got {grid!r}")
        s_max = self.sigma_max if sigma_max is None else sigma_max
        g = torch.Generator(device=device).manual_seed(GRID_PILOT_SEED)
        pilot = self.prior(GRID_PILOT, generator=g, sigma_max=s_max, device=device)
        if cond is not None:  # the pilot batch carries the condition of the first row
            cond = torch.as_tensor(cond, device=device).reshape(-1)[:1].to(torch.long).expand(GRID_PILOT)
        return _sampler.choose_grid(net, self.kernel, pilot, steps, solver, self.sigma_min, s_max, cond=cond)

    @torch.no_grad()
    def sample(self, net, n, steps=None, solver=None, generator=None, sigma_max=None, cond=None, sigmas=None):
        """n samples (normalised units) from the denoiser net(x, sigma[, cond=cond]), on net's device.

        ``sigmas``: a grid from :meth:`sigmas_for` (default: that of ``self.grid``)."""
        device = next(net.parameters()).device
        solver = self.solver if solver is None else solver
        if cond is not None:
            cond = torch.as_tensor(cond, device=device).reshape(-1).to(torch.long).expand(n)
        if sigmas is None:
            sigmas, _ = self.sigmas_for(net, steps, solver, sigma_max, cond=cond, device=device)
        x = self.prior(n, generator=generator, sigma_max=sigma_max, device=device)
        return _sampler.solve(net, x, sigmas, solver, cond=cond)

    def choose_sigma_max(self, x, tol=None):
        """(sigma_max, why) for normalised data x by the data-and-kernel rule (sampler.py)."""
        lam_max = _sampler.top_eigenvalue(x)
        return _sampler.choose_sigma_max(self.kernel, lam_max, self.prior_tol if tol is None else tol,
                                         sigma_cap=self.sigma_cap)


def plot(x, path) -> bool:
    """A scatter (vectors: the first two coordinates) or an image grid; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shape = x.shape[1:]
    if len(shape) in (2, 3) and shape[-1] >= 4 and shape[-2] >= 4:
        imgs = x.reshape(x.shape[0], -1, *shape[-2:])[:64]
        k = int(math.ceil(math.sqrt(len(imgs))))
        fig, axes = plt.subplots(k, k, figsize=(k, k))
        for i, ax in enumerate(np.asarray(axes).reshape(-1)):
            ax.axis("off")
            if i < len(imgs):
                img = imgs[i].transpose(1, 2, 0) if imgs.shape[1] == 3 else imgs[i, 0]
                ax.imshow(np.clip(img, -1, 1), cmap=None if imgs.shape[1] == 3 else "gray", vmin=-1, vmax=1)
    else:
        flat = x.reshape(x.shape[0], -1)
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(flat[:, 0], flat[:, 1 if flat.shape[1] > 1 else 0], s=1, alpha=0.5)
        ax.set_aspect("equal")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------------------------
# a package's sample.py


def parse_args(sampler: Sampler, ckpt: str, argv=None):
    p = argparse.ArgumentParser(description="Sample from a trained checkpoint.")
    p.add_argument("--ckpt", default=ckpt, help="checkpoint (default: ckpt.pt in the package's folder)")
    p.add_argument("-n", type=int, default=5000, help="number of samples (default %(default)s)")
    p.add_argument("--out", default="samples.npy", help="output .npy (default %(default)s)")
    p.add_argument("--plot", default=None, help="also write a PNG here (needs matplotlib)")
    p.add_argument("--steps", type=int, default=sampler.steps, help="sigma grid steps (default %(default)s)")
    p.add_argument("--solver", choices=tuple(_sampler.SOLVERS), default=sampler.solver)
    p.add_argument("--grid", choices=("edm", "auto"), default=sampler.grid,
                   help="sigma grid: EDM's rho grid, or auto: chosen on a pilot batch (default %(default)s)")
    p.add_argument("--sigma-max", default=None,
                   help="a number, or 'auto' to rerun the data-and-kernel rule (default: the checkpoint's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=10000, help="samples per solve (memory bound)")
    p.add_argument("--device", default=None, help="default: cuda when available")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    p.add_argument("--label", type=int, default=None,
                   help="conditional packages: draw class K in 0..K-1 (default: unconditional, the null label)")
    p.add_argument("--guidance", type=float, default=1.0,
                   help="classifier-free guidance weight w >= 0 with --label: D_null + w (D_label - D_null) "
                        "(1: plain conditional; default %(default)s)")
    return p.parse_args(argv)


def fail(msg: str):
    """One line on stderr and exit code 2 (bad arguments)."""
    print(f"sample.py: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def condition(args, classes):
    """(cond label or None, guidance weight) of the arguments for a checkpoint of ``classes`` (None: unconditional);
    a bad combination is one line on stderr and exit code 2."""
    try:
        w = check_weight(args.guidance)
    except ValueError as e:
        fail(f"--guidance: {e}")
    if args.label is None:
        if w != 1.0:
            fail("--guidance needs --label (guidance steers towards a class)")
        return None, w
    if classes is None:
        fail(f"--label {args.label}: this package is unconditional (trained without labels)")
    if not 0 <= args.label < classes:
        fail(f"--label {args.label}: expected a class in 0..{classes - 1}")
    return args.label, w


def main(sampler: Sampler, build, load, denormalise, ckpt: str, argv=None):
    """A package's `python sample.py [options]`: writes the samples in the data's units as float32 .npy.

    ``build(shape)`` makes the denoiser, ``load("train")`` gives (x, mean, scale), ``denormalise(x, mean, scale)``.
    """
    args = parse_args(sampler, ckpt, argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ck = torch.load(args.ckpt, map_location=device, weights_only=True)
    classes = ck.get("classes")
    label, w = condition(args, classes)
    net = build(tuple(ck["shape"])).to(device)
    net.load_state_dict(ck["net" if args.no_ema else "ema"])
    net.eval().requires_grad_(False)
    if label is not None and w != 1.0:
        net = Guided(net, w, null=classes)
    if args.sigma_max is None:
        sigma_max = float(ck["sigma_max"])
    elif args.sigma_max == "auto":
        sigma_max, why = sampler.choose_sigma_max(load("train")[0])
        print(why, file=sys.stderr)
    else:
        sigma_max = float(args.sigma_max)
    t0 = time.time()
    sigmas, why = sampler.sigmas_for(net, args.steps, args.solver, sigma_max, args.grid, device=device,
                                     cond=None if label is None else torch.tensor([label], device=device))
    if args.grid == "auto":
        print(why, file=sys.stderr)
    g = torch.Generator(device=device).manual_seed(args.seed)
    parts = []
    for start in range(0, args.n, args.batch):
        b = min(args.batch, args.n - start)
        cond = None if label is None else torch.full((b,), label, dtype=torch.long, device=device)
        parts.append(sampler.sample(net, b, steps=args.steps, solver=args.solver, generator=g,
                                    sigma_max=sigma_max, cond=cond, sigmas=sigmas).cpu())
    x = torch.cat(parts).numpy() if parts else np.zeros((0, *ck["shape"]), dtype=np.float32)
    x = denormalise(x, ck["mean"].cpu().numpy(), ck["scale"]).astype(np.float32)
    bad = int((~np.isfinite(x)).reshape(len(x), -1).any(1).sum())
    np.save(args.out, x)
    what = "" if label is None else f", label {label}" + (f", guidance {w:g} (2B rows per evaluation)" if w != 1.0
                                                           else "")
    print(f"{args.n} samples ({args.solver}, {args.grid} grid, {args.steps} steps, "
          f"NFE {_sampler.nfe(args.steps, args.solver)}, sigma_max {sigma_max:.4g}{what}) "
          f"in {time.time() - t0:.1f} s -> {args.out}", file=sys.stderr)
    if args.plot:
        if plot(x, args.plot):
            print(f"plot -> {args.plot}", file=sys.stderr)
        else:
            print("matplotlib is not installed: no plot written (pip install matplotlib)", file=sys.stderr)
    if bad:
        raise SystemExit(f"{bad} of {args.n} samples are not finite")
    return x
