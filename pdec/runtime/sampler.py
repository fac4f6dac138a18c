"""The sampler: EDM's sigma grid, the prior x_T = mean + sqrt(S_T) xi, Euler and Heun in sigma.

Imports only torch and math: this file is copied verbatim into every emitted package.

With the generalised denoiser D(x, sigma) ~ E[y_eff | x] (DESIGN.md 6) the probability-flow ODE of
every kernel is, in sigma = sigma(t),

    dx/dsigma = (x - D(x, sigma)) / sigma,

so one sampler serves every PDE. Grid: sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) -
smax^(1/rho)))^rho for i < n, then sigma_n = 0; Heun's method costs NFE = 2n - 1 (the last step,
to sigma = 0, is Euler). The grid is float64; the network runs in its own dtype.

sigma_max rule (:func:`choose_sigma_max`): at t_max the marginal q_T * p_data differs from the prior
q_T (data mean aside). Along the data's widest direction (covariance eigenvalue lambda_max), a
Gaussian of scale S has marginal variance S + lambda_max against the prior's S: the prior's scale
is short by a relative lambda_max / (2 S), which the ODE carries to the samples' scale. Averaged over
the kernel's S_T this error is lambda_max E[1/S_T] / 2; sigma_max is the smallest sigma(t) that brings
it below ``tol`` (default 1 %, the resolution of a scale estimated from about 5000 samples).
For diffusion this is sigma_max = sqrt(lambda_max / (2 tol)) (CIFAR-10's lambda_max ~ 200 gives
~100, EDM's 80; 2-D toys give ~5).
"""

from __future__ import annotations

import math

import torch

SIGMA_MIN = 0.002
RHO = 7.0
PRIOR_TOL = 0.01


def edm_sigmas(steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = 80.0, rho: float = RHO,
               device=None) -> torch.Tensor:
    """EDM's grid: ``steps`` decreasing sigmas from sigma_max to sigma_min, then 0 (float64, steps + 1)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0.0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    i = torch.arange(steps, dtype=torch.float64, device=device)
    frac = i / max(steps - 1, 1)
    hi, lo = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    s = (hi + frac * (lo - hi)) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64, device=device)])


def time_grid(kernel, sigmas: torch.Tensor) -> torch.Tensor:
    """The times t_i = sigma^{-1}(sigma_i) of a sigma grid (t = 0 where sigma = 0), float64."""
    pos = sigmas > 0
    t = torch.zeros_like(sigmas)
    t[pos] = torch.as_tensor(kernel.sigma_inv(sigmas[pos]), dtype=torch.float64, device=sigmas.device)
    return t


def nfe(steps: int, solver: str) -> int:
    """Network evaluations of a solve: Heun 2 steps - 1, Euler steps."""
    return 2 * steps - 1 if solver == "heun" else steps


def euler_step(denoiser, x: torch.Tensor, s_cur: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
    """One Euler step of dx/dsigma = (x - D)/sigma from s_cur to s_next (0-dim float64 tensors)."""
    D = denoiser(x, s_cur.to(x.dtype).expand(x.shape[0]))
    ratio = (s_next / s_cur).to(x.dtype)  # x + (s_next - s_cur)(x - D)/s_cur, in float64 ratio
    return D + ratio * (x - D)


def heun_step(denoiser, x: torch.Tensor, s_cur: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
    """One Heun step (s_next > 0): Euler predictor, trapezoidal corrector."""
    h = (s_next - s_cur).to(x.dtype)
    d = (x - denoiser(x, s_cur.to(x.dtype).expand(x.shape[0]))) / s_cur.to(x.dtype)
    x_pred = x + h * d
    d_pred = (x_pred - denoiser(x_pred, s_next.to(x.dtype).expand(x.shape[0]))) / s_next.to(x.dtype)
    return x + h * 0.5 * (d + d_pred)


def solve(denoiser, x: torch.Tensor, sigmas: torch.Tensor, solver: str = "heun") -> torch.Tensor:
    """Integrate dx/dsigma = (x - D)/sigma along ``sigmas`` (ending in 0) from x at sigmas[0]."""
    if solver not in ("heun", "euler"):
        raise ValueError(f"solver must be 'heun' or 'euler', got {solver!r}")
    n = sigmas.shape[0] - 1
    for i in range(n):
        s_cur, s_next = sigmas[i], sigmas[i + 1]
        if solver == "heun" and i < n - 1:  # depends on the step index only, never on the data
            x = heun_step(denoiser, x, s_cur, s_next)
        else:
            x = euler_step(denoiser, x, s_cur, s_next)
    return x


def prior(kernel, n: int, shape, t_max: float, generator: torch.Generator | None = None,
          device=None, dtype=torch.float32) -> torch.Tensor:
    """n draws of the kernel at t_max around 0 (normalised data: mean 0): sqrt(S_T) xi, xi ~ N(0, I), for a
    scale mixture, rho_T xi/|xi| for a radial law (the kernel's own perturb does both)."""
    t = torch.full((n,), float(t_max), dtype=torch.float64, device=device)
    x, _ = kernel.perturb(torch.zeros((n, *shape), dtype=dtype, device=device), t, generator=generator)
    return x


def top_eigenvalue(x: torch.Tensor, iters: int = 100) -> float:
    """The largest eigenvalue of the covariance of the rows of x (flattened), float64.

    Exact (eigvalsh) up to 4096 coordinates; power iteration with a fixed start beyond.
    """
    z = x.reshape(x.shape[0], -1).to(torch.float64)
    z = z - z.mean(0)
    n, dim = z.shape
    if dim <= 4096:
        return float(torch.linalg.eigvalsh(z.T @ z / n)[-1])
    v = torch.ones(dim, dtype=torch.float64, device=z.device) / math.sqrt(dim)
    lam = 0.0
    for _ in range(iters):
        w = z.T @ (z @ v) / n
        lam = float(w.norm())
        v = w / lam
    return lam


def _prior_error(kernel, lam_max: float, t: float, n_mc: int, seed: int) -> float:
    """lambda_max E[1/S_t] / 2 by Monte Carlo (seeded)."""
    g = torch.Generator().manual_seed(seed)
    tt = torch.full((n_mc,), float(t), dtype=torch.float64)
    S = torch.as_tensor(kernel.sample_scale(tt, generator=g), dtype=torch.float64)
    return kernel.prior_scale_error(lam_max, S)  # the kernel's kind: per coordinate, scale mixture or radial


def choose_sigma_max(kernel, lam_max: float, tol: float = PRIOR_TOL, sigma_cap: float | None = None,
                     n_mc: int = 10000, seed: int = 0) -> tuple[float, str]:
    """(sigma_max, why): the smallest sigma(t) whose prior scale error lambda_max E[1/S_t] / 2 is <= tol.

    ``lam_max`` is the largest eigenvalue of the normalised data's covariance. The error decreases
    in t; it is bracketed by doubling sigma from sqrt(lambda_max / (2 tol)) and bisected in ln sigma
    (30 steps). ``sigma_cap`` (a kernel valid only for t < t_bound) bounds the answer; the reason
    then states the error reached.
    """
    if not (lam_max > 0 and tol > 0):
        raise ValueError(f"need lambda_max > 0 and tol > 0, got {lam_max}, {tol}")

    def err(sig: float) -> float:
        t = float(kernel.sigma_inv(torch.tensor(sig, dtype=torch.float64)))
        return _prior_error(kernel, lam_max, t, n_mc, seed)

    lo = hi = math.sqrt(lam_max / (2.0 * tol))
    if sigma_cap is not None:
        lo = hi = min(hi, sigma_cap)
    capped = False
    while err(hi) > tol:
        if sigma_cap is not None and hi >= sigma_cap:
            capped = True
            break
        lo, hi = hi, hi * 2.0
        if sigma_cap is not None:
            hi = min(hi, sigma_cap)
        if hi > 1e8:
            raise ValueError("no sigma_max below 1e8 meets the prior tolerance")
    if not capped:
        while err(lo) <= tol and lo > 1e-6:
            lo = lo / 2.0
        for _ in range(30):
            mid = math.sqrt(lo * hi)
            if err(mid) <= tol:
                hi = mid
            else:
                lo = mid
    sigma_max = hi
    e = err(sigma_max)
    t_max = float(kernel.sigma_inv(torch.tensor(sigma_max, dtype=torch.float64)))
    why = (f"sigma_max = {sigma_max:.4g} (t_max = {t_max:.4g}), {sigma_max / math.sqrt(lam_max):.3g} times the "
           f"widest scale of the data sqrt(lambda_max) = {math.sqrt(lam_max):.4g} (normalised units): the prior scale "
           f"error lambda_max E[1/S_T]/2 = {e:.3g}")
    if capped:
        why += f"; capped by the kernel's validity (sigma <= {sigma_cap:.4g}), above the tolerance {tol:g}"
    else:
        why += f" <= tolerance {tol:g}"
    return sigma_max, why
