"""Encoding and exact log-likelihood through the probability-flow ODE (runtime code: torch and math only).

In tau = ln sigma the probability-flow ODE of every kernel is (sampler.py, DESIGN.md 6)

    dx/dtau = f(x, sigma) = x - D(x, sigma),   D the (generalised) denoiser,

and it carries the marginal p_sigma of the model: along a solution, for dx/dtau = f,
d log p(x(tau), tau) / dtau = -div_x f (continuity equation). Run forward from x(ln sigma_min) = x0 to
tau_T = ln sigma_max (:func:`encode`) and integrate the divergence with it (the augmented system):

    log p_{sigma_min}(x0) = log q_T(x_T) + int_{ln sigma_min}^{ln sigma_max} div_x f dtau,
    div_x f = N - div_x D   (N coordinates per row),

with q_T the prior at t_max = sigma^{-1}(sigma_max) (prior.py). The divergence is exact (autograd: one
backward pass per coordinate) up to ``exact_dim`` coordinates, and Hutchinson's estimator beyond:
div D ~ (1/K) sum_k eps_k^T (dD/dx) eps_k with K Rademacher probes eps_k, drawn once per call and held
fixed along the path (then the error of the integral is eps^T M eps - tr M, M = int dD/dx dtau: zero
mean, variance 2 sum_{i != j} M_ij^2 / K for symmetric M).

The solver is a fixed-step explicit Runge-Kutta method in ln sigma on a uniform grid
(``euler``, ``heun``, ``rk4``: 1, 2, 4 denoiser evaluations per step). All in normalised units: with
data normalised as (x - mean) / scale, the data's log-density is log p - dim log(scale)
(:func:`nll_nats_per_dim`, :func:`bits_per_dim`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

from .prior import log_prior, mixture_nodes

__all__ = ["TABLEAUS", "EXACT_DIM", "LogLikelihood", "encode", "log_likelihood", "divergence",
           "log_sigma_grid", "likelihood_nfe", "nll_nats_per_dim", "bits_per_dim", "gaussian_denoiser"]

_F64 = torch.float64
#: exact divergence up to this many coordinates per row, Hutchinson beyond
EXACT_DIM = 128

#: explicit Runge-Kutta tableaux (A below the diagonal, b): one denoiser evaluation per stage
TABLEAUS = {
    "euler": ((), (1.0,)),
    "heun": (((1.0,),), (0.5, 0.5)),
    "rk4": (((0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), (1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0)),
}


@dataclass(frozen=True)
class LogLikelihood:
    """log p_{sigma_min}(x0) per row (nats, normalised units) = log_prior + div_integral."""

    log_lik: torch.Tensor  # [B] float64
    log_prior: torch.Tensor  # [B] float64, log q_T(x_T)
    div_integral: torch.Tensor  # [B] float64, int div f d ln sigma
    x_T: torch.Tensor  # [B, ...], the encoding
    nfe: int  # denoiser evaluations (each with its divergence)
    solver: str
    steps: int
    divergence: str  # "exact" or "hutchinson"
    n_probes: int  # Hutchinson probes (0 when exact)
    sigma_min: float
    sigma_max: float


def likelihood_nfe(steps: int, solver: str) -> int:
    """Denoiser evaluations of a forward solve: stages x steps."""
    return len(_tableau(solver)[1]) * steps


def _tableau(solver: str):
    if solver not in TABLEAUS:
        raise ValueError(f"solver must be one of {', '.join(TABLEAUS)}, got {solver!r}")
    return TABLEAUS[solver]


def log_sigma_grid(sigma_min: float, sigma_max: float, steps: int, device=None) -> torch.Tensor:
    """steps + 1 sigmas from sigma_min to sigma_max, uniform in ln sigma (float64, increasing)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0.0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    return torch.exp(torch.linspace(math.log(sigma_min), math.log(sigma_max), steps + 1, dtype=_F64, device=device))


def _call(denoiser, x, tau: float, cond):
    sigma = torch.full((x.shape[0],), math.exp(tau), dtype=x.dtype, device=x.device)
    return denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond=cond)


def divergence(fn, x, probes=None):
    """(fn(x), div_x fn(x) per row [B] float64), fn mapping rows to rows ([B, ...] -> [B, ...]).

    probes None: exact, one backward pass per coordinate; probes [K, B, N]: Hutchinson's
    (1/K) sum_k eps_k^T J eps_k, one backward pass per probe. Rows must not interact in fn.
    """
    B = x.shape[0]
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        y = fn(xg)
        div = torch.zeros(B, dtype=_F64, device=x.device)
        if not y.requires_grad:  # fn does not depend on x
            return y.detach(), div
        yf = y.reshape(B, -1)
        n = yf.shape[1] if probes is None else probes.shape[0]
        for i in range(n):
            out = yf[:, i].sum() if probes is None else (yf * probes[i]).sum()
            (g,) = torch.autograd.grad(out, xg, retain_graph=i < n - 1)
            g = g.reshape(B, -1)
            div += (g[:, i] if probes is None else (g * probes[i]).sum(1)).to(_F64)
    if probes is not None:
        div /= probes.shape[0]
    return y.detach(), div


def _integrate(denoiser, x, taus, solver: str, cond=None, probes=None, with_div: bool = True):
    """Explicit Runge-Kutta on dx/dtau = x - D, d ell/dtau = N - div D along taus (float64, increasing).

    Returns (x at taus[-1], ell = int div f dtau [B] float64, or None without with_div).
    """
    A, b = _tableau(solver)
    dim = x[0].numel()
    ell = torch.zeros(x.shape[0], dtype=_F64, device=x.device) if with_div else None

    def field(xs, tau):
        if not with_div:
            return xs - _call(denoiser, xs, tau, cond), None
        D, div_D = divergence(lambda z: _call(denoiser, z, tau, cond), xs, probes)
        return xs - D, dim - div_D

    taus = [float(v) for v in taus]
    for tau, tau_next in zip(taus[:-1], taus[1:], strict=True):
        h = tau_next - tau
        ks, ds = [], []
        for i in range(len(b)):
            row = A[i - 1] if i else ()
            xs = x
            for a, k in zip(row, ks, strict=True):
                if a:
                    xs = xs + (h * a) * k
            k, d = field(xs, tau + h * sum(row))
            ks.append(k)
            ds.append(d)
        x = x + h * sum(bi * k for bi, k in zip(b, ks, strict=True))
        if with_div:
            ell = ell + h * sum(bi * d for bi, d in zip(b, ds, strict=True))
    return x, ell


@torch.no_grad()
def encode(denoiser, x0, sigmas, solver: str = "rk4", cond=None):
    """x_T: the probability-flow ODE dx/d ln sigma = x - D(x, sigma) run forward along ``sigmas``
    (increasing, > 0; e.g. :func:`log_sigma_grid`) from x0 at sigmas[0] (normalised units)."""
    sig = torch.as_tensor(sigmas, dtype=_F64)
    if sig.dim() != 1 or sig.numel() < 2 or not bool((sig > 0).all()) or not bool((sig[1:] > sig[:-1]).all()):
        raise ValueError("encode needs an increasing grid of at least two sigmas > 0")
    return _integrate(denoiser, x0, torch.log(sig), solver, cond=cond, with_div=False)[0]


def log_likelihood(denoiser, kernel, x0, sigma_min: float, sigma_max: float, steps: int = 32,
                   solver: str = "rk4", exact_dim: int = EXACT_DIM, n_probes: int = 4,
                   generator: torch.Generator | None = None, cond=None) -> LogLikelihood:
    """log p_{sigma_min}(x0) per row of x0 [B, ...] (normalised units), see the module docstring.

    ``kernel`` (runtime/kernel.py) gives the prior at t_max = sigma^{-1}(sigma_max); the grid is uniform in
    ln sigma with ``steps`` steps. Rows with more than ``exact_dim`` coordinates use ``n_probes``
    Rademacher probes drawn from ``generator`` (on x0's device).
    """
    _tableau(solver)
    dim = x0[0].numel()
    probes = None
    if dim > exact_dim:
        if n_probes < 1:
            raise ValueError(f"n_probes must be >= 1, got {n_probes}")
        bits = torch.randint(0, 2, (n_probes, x0.shape[0], dim), generator=generator, device=x0.device)
        probes = bits.to(x0.dtype).mul_(2.0).sub_(1.0)
    taus = torch.log(log_sigma_grid(sigma_min, sigma_max, steps))
    x_T, ell = _integrate(denoiser, x0, taus, solver, cond=cond, probes=probes)
    t_max = kernel.sigma_inv(torch.tensor(float(sigma_max), dtype=_F64))
    lq = log_prior(kernel.law, x_T, t_max)
    return LogLikelihood(
        log_lik=lq + ell, log_prior=lq, div_integral=ell, x_T=x_T, nfe=likelihood_nfe(steps, solver),
        solver=solver, steps=int(steps), divergence="exact" if probes is None else "hutchinson",
        n_probes=0 if probes is None else int(n_probes), sigma_min=float(sigma_min), sigma_max=float(sigma_max))


def nll_nats_per_dim(log_lik, dim: int, log_scale: float = 0.0):
    """-log p(x) / dim in the data's units: data normalised as (x - mean) / scale (log_scale = ln scale, one
    scalar scale; for per-coordinate scales, the mean of their logs) have log p_x = log p_n - dim log_scale."""
    return -log_lik / dim + log_scale


def bits_per_dim(log_lik, dim: int, log_scale: float = 0.0):
    """nll_nats_per_dim / ln 2."""
    return nll_nats_per_dim(log_lik, dim, log_scale) / math.log(2.0)


def gaussian_denoiser(kernel, s2: float, n_nodes: int = 201):
    """The exact denoiser E[y_eff | x] of Gaussian data y ~ N(0, s2 I) (normalised units), for checks:
    x (1 - E[rate(S, t) / (2 a(t) (s2 + S)) | x]) (DESIGN.md 6).

    u = (dS/dt)/(2S) (x - y) and E[x - y | x, S] = S/(s2 + S) x; the posterior of S_t given x is
    f_t(S) N(x; 0, (s2 + S) I), integrated over the quantile (prior.mixture_nodes, ``n_nodes`` nodes;
    one node for the Gaussian kernel). The nodes are cached per sigma (the first row's)."""
    law = kernel.law
    cache = {}

    def D(x, sigma):
        key = float(sigma[0])
        if key not in cache:
            t = kernel.sigma_inv(sigma[:1].to(_F64))
            S = mixture_nodes(law, t, torch.zeros(1, dtype=_F64, device=x.device), 1, n=n_nodes)[0]
            cache[key] = (t, S, law.rate(S, t) / (2.0 * law.dlog_sigma_dt(t) * (s2 + S)))
        t, S, h = cache[key]
        x64 = x.to(_F64).reshape(x.shape[0], -1)
        _, logw = mixture_nodes(law, t, (x64 * x64).sum(1), x64.shape[1], var0=s2, n=n_nodes)
        shrink = 1.0 - (torch.softmax(logw, -1) * h).sum(-1)
        return (x64 * shrink[:, None]).reshape(x.shape).to(x.dtype)

    return D


# ----------------------------------------------------------------------------------------------
# a package's likelihood.py


def _fail(msg: str):
    print(f"likelihood.py: {msg}", file=sys.stderr)
    raise SystemExit(2)


def load_rows(path: str, shape: tuple) -> np.ndarray:
    """The rows of a .npy file as float32 [n, *shape]; bad input ends the script (one line, exit code 2)."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        _fail(f"cannot read {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        _fail(f"{path}: expected a numeric array, got dtype {x.dtype}")
    n = math.prod(shape)
    if x.ndim < 2 or x.shape[0] < 1 or math.prod(x.shape[1:]) != n or (x.ndim > 2 and tuple(x.shape[1:]) != shape):
        _fail(f"{path}: expected an array of shape [n, {', '.join(map(str, shape))}], got {list(x.shape)}")
    x = x.astype(np.float32).reshape(-1, *shape)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(1)
    if bad.any():
        _fail(f"{path}: {int(bad.sum())} rows hold NaN or inf (first: row {int(np.argmax(bad))})")
    return x


def parse_args(ckpt: str, sigma_min: float, argv=None):
    p = argparse.ArgumentParser(description="Exact log-likelihood (bits/dim) of data under a checkpoint.")
    p.add_argument("--ckpt", default=ckpt, help="checkpoint (default: ckpt.pt in the package's folder)")
    p.add_argument("--data", required=True, help="a .npy array [n, *SHAPE] in the data's units")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--steps", type=int, default=32, help="steps uniform in ln sigma (default %(default)s)")
    p.add_argument("--solver", choices=tuple(TABLEAUS), default="rk4")
    p.add_argument("--batch", type=int, default=1000, help="rows per solve (memory bound)")
    p.add_argument("--probes", type=int, default=4, help=f"Hutchinson probes beyond {EXACT_DIM} coordinates")
    p.add_argument("--sigma-min", type=float, default=sigma_min, help="default %(default)s")
    p.add_argument("--sigma-max", type=float, default=None, help="default: the checkpoint's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="default: cuda when available")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    return p.parse_args(argv)


def main(build, kernel, sigma_min: float, ckpt: str, argv=None) -> dict:
    """A package's `python likelihood.py --data FILE.npy [--json]`: bits/dim of the rows in the data's units.

    ``build(shape)`` makes the denoiser; the data are normalised with the checkpoint's mean and scale, the
    Jacobian of x_n = (x - mean) / scale adds ln(scale) nats per coordinate (:func:`nll_nats_per_dim`).
    """
    import time
    from pathlib import Path

    from .data import normalise

    args = parse_args(ckpt, sigma_min, argv)
    if args.steps < 1 or args.batch < 1 or args.probes < 1:
        _fail("--steps, --batch and --probes must be >= 1")
    if not Path(args.ckpt).is_file():
        _fail(f"no checkpoint at {args.ckpt}")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ck = torch.load(args.ckpt, map_location=device, weights_only=True)
    shape = tuple(ck["shape"])
    x = load_rows(args.data, shape)
    net = build(shape).to(device)
    net.load_state_dict(ck["net" if args.no_ema else "ema"])
    net.eval().requires_grad_(False)
    sigma_max = float(ck["sigma_max"]) if args.sigma_max is None else args.sigma_max
    if not 0.0 < args.sigma_min < sigma_max:
        _fail(f"need 0 < sigma_min < sigma_max, got {args.sigma_min}, {sigma_max}")
    mean, scale = ck["mean"].cpu().numpy(), float(ck["scale"])
    xn = torch.from_numpy(np.asarray(normalise(x, mean, scale), dtype=np.float32)).to(device)
    dim = math.prod(shape)
    g = torch.Generator(device=device).manual_seed(args.seed)
    t0 = time.time()
    parts, res = [], None
    for start in range(0, len(xn), args.batch):
        res = log_likelihood(net, kernel, xn[start:start + args.batch], args.sigma_min, sigma_max,
                             args.steps, args.solver, n_probes=args.probes, generator=g)
        parts.append(res.log_lik.cpu())
    seconds = time.time() - t0
    ll = torch.cat(parts)
    ok = torch.isfinite(ll)
    bpd = bits_per_dim(ll[ok], dim, math.log(scale))
    nll = nll_nats_per_dim(ll[ok], dim, math.log(scale))
    out = {
        "bits_per_dim": float(bpd.mean()) if ok.any() else None,
        "bits_per_dim_se": float(bpd.std() / math.sqrt(len(bpd))) if len(bpd) > 1 else None,
        "nll_nats_per_dim": float(nll.mean()) if ok.any() else None,
        "n": len(ll), "n_nonfinite": int((~ok).sum()), "dim": dim, "solver": args.solver, "steps": args.steps,
        "nfe": res.nfe, "divergence": res.divergence, "n_probes": res.n_probes, "sigma_min": args.sigma_min,
        "sigma_max": sigma_max, "seconds": seconds, "device": str(device),
    }
    print(f"{len(ll)} rows: {out['bits_per_dim']} bits/dim ({args.solver}, {args.steps} steps, NFE {res.nfe}, "
          f"{res.divergence} divergence) in {seconds:.1f} s", file=sys.stderr)
    if out["n_nonfinite"]:
        print(f"{out['n_nonfinite']} rows have a non-finite log-likelihood (left out of the mean)", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    return out
