"""The sampler: EDM's sigma grid, the prior x_T = mean + sqrt(S_T) xi, and the ODE solvers (``SOLVERS``).

Imports only torch and math: this file is copied verbatim into every emitted package.

With the generalised denoiser D(x, sigma) ~ E[y_eff | x] (DESIGN.md 6) the probability-flow ODE of
every kernel is, in sigma = sigma(t),

    dx/dsigma = (x - D(x, sigma)) / sigma,

so one sampler serves every PDE. Grid: sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) -
smax^(1/rho)))^rho for i < n, then sigma_n = 0; Heun's method costs NFE = 2n - 1 (the last step,
to sigma = 0, is Euler). The grid is float64; the network runs in its own dtype.

Solvers (``SOLVERS``: name -> SolverSpec(fn, nfe rule, order, doc); ``solve`` and ``nfe`` dispatch
through it), all on dx/d ln sigma = x - D, one signature fn(denoiser, x, sigmas, cond=None):
euler (= DPM-Solver++(1)), heun (EDM's Algorithm 1), dpmpp_2m and dpmpp_3m (DPM-Solver++ multistep in
data prediction, lambda = -ln sigma; 2M is diffusers' EDMDPMSolverMultistepScheduler, 3M uses the
exact phi_3 where diffusers halves it), ipndm (variable-step Adams-Bashforth in sigma, order 4).
Multistep solvers cost one evaluation per step. :func:`choose_grid` picks rho of EDM's grid family
(rho = inf: log-linear) for a denoiser, solver and step count from a pilot batch.

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
    """EDM's grid: ``steps`` decreasing sigmas from sigma_max to sigma_min, then 0 (float64, steps + 1).

    rho = inf is the limit, the log-linear grid ln sigma_i = ln smax + i/(n-1) (ln smin - ln smax).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0.0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    if not rho > 0:
        raise ValueError(f"need rho > 0, got {rho}")
    i = torch.arange(steps, dtype=torch.float64, device=device)
    frac = i / max(steps - 1, 1)
    if math.isinf(rho):
        hi, lo = math.log(sigma_max), math.log(sigma_min)
        s = torch.exp(hi + frac * (lo - hi))
    else:
        hi, lo = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
        s = (hi + frac * (lo - hi)) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64, device=device)])


def time_grid(kernel, sigmas: torch.Tensor) -> torch.Tensor:
    """The times t_i = sigma^{-1}(sigma_i) of a sigma grid (t = 0 where sigma = 0), float64."""
    pos = sigmas > 0
    t = torch.zeros_like(sigmas)
    t[pos] = torch.as_tensor(kernel.sigma_inv(sigmas[pos]), dtype=torch.float64, device=sigmas.device)
    return t


# ------------------------------------------------------------------------------------------ solvers
#
# Every solver integrates dx/d ln sigma = x - D(x, sigma) along a float64 grid ``sigmas`` (decreasing;
# the last entry is 0 for a full solve, or a sigma_min > 0 to stop there) and has the one signature
# fn(denoiser, x, sigmas, cond=None) -> x. Coefficients are float64 Python numbers computed from the
# grid (one host read of it per solve); the tensors stay in x's dtype and device.


def _denoise(denoiser, x: torch.Tensor, sigma: torch.Tensor, cond=None) -> torch.Tensor:
    """D(x, sigma) at one grid sigma (0-dim float64): sigma as a [B] tensor in x's dtype; cond only if given."""
    s = sigma.to(x.dtype).expand(x.shape[0])
    return denoiser(x, s) if cond is None else denoiser(x, s, cond=cond)


def euler_step(denoiser, x: torch.Tensor, s_cur: torch.Tensor, s_next: torch.Tensor, cond=None) -> torch.Tensor:
    """One Euler step of dx/dsigma = (x - D)/sigma from s_cur to s_next (0-dim float64 tensors).

    In lambda = -ln sigma this is also DPM-Solver++(1) (DDIM): x' = D + (s_next/s_cur)(x - D).
    """
    D = _denoise(denoiser, x, s_cur, cond)
    ratio = (s_next / s_cur).to(x.dtype)  # x + (s_next - s_cur)(x - D)/s_cur, in float64 ratio
    return D + ratio * (x - D)


def heun_step(denoiser, x: torch.Tensor, s_cur: torch.Tensor, s_next: torch.Tensor, cond=None) -> torch.Tensor:
    """One Heun step (s_next > 0): Euler predictor, trapezoidal corrector."""
    h = (s_next - s_cur).to(x.dtype)
    d = (x - _denoise(denoiser, x, s_cur, cond)) / s_cur.to(x.dtype)
    x_pred = x + h * d
    d_pred = (x_pred - _denoise(denoiser, x_pred, s_next, cond)) / s_next.to(x.dtype)
    return x + h * 0.5 * (d + d_pred)


def sample_euler(denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond=None) -> torch.Tensor:
    """Euler in sigma (= DPM-Solver++(1)): one evaluation per step, order 1."""
    for i in range(sigmas.shape[0] - 1):
        x = euler_step(denoiser, x, sigmas[i], sigmas[i + 1], cond)
    return x


def sample_heun(denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond=None) -> torch.Tensor:
    """EDM's Algorithm 1: Heun in sigma, the last step Euler (NFE 2 steps - 1), order 2."""
    n = sigmas.shape[0] - 1
    for i in range(n):
        s_cur, s_next = sigmas[i], sigmas[i + 1]
        if i < n - 1:  # depends on the step index only, never on the data
            x = heun_step(denoiser, x, s_cur, s_next, cond)
        else:
            x = euler_step(denoiser, x, s_cur, s_next, cond)
    return x


def _combine(ms, ws) -> torch.Tensor:
    """sum_j ws[j] ms[j] (tensors, Python float weights)."""
    out = ms[0] * ws[0]
    for m, w in zip(ms[1:], ws[1:], strict=True):
        out = out.add(m, alpha=w)
    return out


def _dpmpp_weights(sig, i: int, order: int, d2_scale: float = 1.0) -> list[float]:
    """DPM-Solver++ multistep (data prediction, in lambda = -ln sigma) as x' = r x + (1 - r) sum_j w_j D_{i-j}.

    r = sigma_{i+1}/sigma_i = e^{-h}. With D(lambda) expanded at lambda_i, the exact step is
    x' = r x + (1 - r) D + (h - 1 + r) D' + (h^2/2 - h + 1 - r) D''; the multistep forms estimate
    h D' and h^2 D''/2 from the last slopes (r_k = h_{i-k}/h): D1 = (D0 - D1)/r0 (2M, diffusers'
    midpoint form uses the coefficient (1 - r)/2 instead of h - 1 + r), and DPM-Solver++(3M)'s D1, D2.
    ``d2_scale = 0.5`` is diffusers' / k-diffusion's 3M, whose phi_3 = (r - 1 + h)/h^2 - 1/2 is half the
    exact coefficient of D2 (its global order is 2, measured in tests/test_solvers.py); 1 is third order.
    """
    s, s_next = sig[i], sig[i + 1]
    h = math.log(s / s_next)
    if order == 1:
        return [1.0]
    r0 = math.log(sig[i - 1] / s) / h
    if order == 2:
        return [1.0 + 0.5 / r0, -0.5 / r0]
    r1 = math.log(sig[i - 2] / sig[i - 1]) / h
    one_r = -math.expm1(-h)  # 1 - r
    a = (h - one_r) / h / one_r  # (h - 1 + r) / h, per unit (1 - r)
    b = d2_scale * 2.0 * (0.5 * h * h - h + one_r) / (h * h) / one_r  # (h^2/2 - h + 1 - r) 2/h^2, per (1 - r)
    d10 = [1.0 / r0, -1.0 / r0, 0.0]
    d11 = [0.0, 1.0 / r1, -1.0 / r1]
    diff = [p - q for p, q in zip(d10, d11, strict=True)]
    d1 = [p + r0 / (r0 + r1) * q for p, q in zip(d10, diff, strict=True)]
    d2 = [q / (r0 + r1) for q in diff]
    return [float(j == 0) + a * p + b * q for j, (p, q) in enumerate(zip(d1, d2, strict=True))]


def _dpmpp_multistep(denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond, order: int,
                     d2_scale: float = 1.0) -> torch.Tensor:
    """DPM-Solver++(order M), EDM flavour (alpha = 1), stepped as diffusers' EDMDPMSolverMultistepScheduler.

    Step i uses order min(order, i + 1); the step to sigma = 0 is first order (x' = D, h = infinity);
    with fewer than 15 steps ending in 0 the step before it is at most second order (diffusers'
    lower_order_final). One evaluation per step.
    """
    sig = sigmas.tolist()
    n = len(sig) - 1
    to_zero = sig[-1] == 0.0
    hist: list[torch.Tensor] = []
    for i in range(n):
        D = _denoise(denoiser, x, sigmas[i], cond)
        hist = [D] + hist[: order - 1]
        if to_zero and i == n - 1:
            x = D
            continue
        k = min(order, i + 1)
        if to_zero and n < 15 and i == n - 2:
            k = min(k, 2)
        D_eff = _combine(hist[:k], _dpmpp_weights(sig, i, k, d2_scale)) if k > 1 else D
        x = D_eff + (sig[i + 1] / sig[i]) * (x - D_eff)
    return x


def sample_dpmpp_2m(denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond=None) -> torch.Tensor:
    """DPM-Solver++(2M) in data prediction (Lu et al. 2022; k-diffusion's sample_dpmpp_2m): order 2."""
    return _dpmpp_multistep(denoiser, x, sigmas, cond, 2)


def sample_dpmpp_3m(denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond=None) -> torch.Tensor:
    """DPM-Solver++(3M) in data prediction with the exact phi_3 (diffusers' solver_order = 3 halves it): order 3."""
    return _dpmpp_multistep(denoiser, x, sigmas, cond, 3)


_GL3 = ((-math.sqrt(0.6), 5.0 / 9.0), (0.0, 8.0 / 9.0), (math.sqrt(0.6), 5.0 / 9.0))  # Gauss-Legendre, exact to deg 5


def _adams_weights(nodes, a: float, b: float) -> list[float]:
    """int_a^b l_j(s) ds for the Lagrange basis l_j on ``nodes`` (<= 4 of them), by 3-point Gauss-Legendre."""
    half, mid = 0.5 * (b - a), 0.5 * (a + b)
    out = []
    for j, sj in enumerate(nodes):
        acc = 0.0
        for z, w in _GL3:
            s = mid + half * z
            acc += w * math.prod((s - sk) / (sj - sk) for k, sk in enumerate(nodes) if k != j)
        out.append(half * acc)
    return out


IPNDM_ORDER = 4


def sample_ipndm(denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond=None) -> torch.Tensor:
    """iPNDM (Zhang & Chen 2023): Adams-Bashforth in sigma on d = (x - D)/sigma, order up to 4.

    The weights integrate the Lagrange interpolant of the last min(4, i + 1) slopes over the actual
    (variable) step, exactly (zju-pi's ipndm_v); on a uniform grid they are iPNDM's 1; 3/2, -1/2;
    23/12, -16/12, 5/12; 55/24, -59/24, 37/24, -9/24. The step to 0 uses only past slopes (no call at 0).
    """
    sig = sigmas.tolist()
    hist: list[torch.Tensor] = []
    for i in range(len(sig) - 1):
        d = (x - _denoise(denoiser, x, sigmas[i], cond)) / sig[i]
        hist = [d] + hist[: IPNDM_ORDER - 1]
        nodes = [sig[i - j] for j in range(len(hist))]
        x = x + _combine(hist, _adams_weights(nodes, sig[i], sig[i + 1]))
    return x


class SolverSpec:
    """A solver of the registry: its function fn(denoiser, x, sigmas, cond=None), NFE rule, order, doc."""

    __slots__ = ("name", "fn", "nfe", "order", "doc")

    def __init__(self, name: str, fn, nfe, order: int, doc: str):
        for k, v in (("name", name), ("fn", fn), ("nfe", nfe), ("order", order), ("doc", doc)):
            object.__setattr__(self, k, v)

    def __setattr__(self, key, value):
        raise AttributeError(f"SolverSpec is frozen (cannot set {key!r})")

    def __repr__(self):
        return f"SolverSpec({self.name!r}, order {self.order}: {self.doc})"


def _one_per_step(steps: int) -> int:
    return steps


SOLVERS: dict[str, SolverSpec] = {s.name: s for s in (
    SolverSpec("heun", sample_heun, lambda steps: 2 * steps - 1, 2,
               "EDM's Heun in sigma, last step Euler (NFE 2 steps - 1)"),
    SolverSpec("euler", sample_euler, _one_per_step, 1, "Euler in sigma = DPM-Solver++(1)/DDIM (NFE steps)"),
    SolverSpec("dpmpp_2m", sample_dpmpp_2m, _one_per_step, 2,
               "DPM-Solver++(2M), data prediction in lambda = -ln sigma (NFE steps)"),
    SolverSpec("dpmpp_3m", sample_dpmpp_3m, _one_per_step, 3,
               "DPM-Solver++(3M), data prediction in lambda = -ln sigma (NFE steps)"),
    SolverSpec("ipndm", sample_ipndm, _one_per_step, 4,
               "iPNDM: variable-step Adams-Bashforth in sigma, order <= 4 (NFE steps)"),
)}


def solver_spec(solver: str) -> SolverSpec:
    """The registry entry of ``solver``; ValueError naming the known solvers otherwise."""
    try:
        return SOLVERS[solver]
    except (KeyError, TypeError):
        raise ValueError(f"unknown solver {solver!r}; known: {', '.join(SOLVERS)}") from None


def nfe(steps: int, solver: str) -> int:
    """Network evaluations of a solve with ``steps`` grid sigmas (then 0): Heun 2 steps - 1, the others steps."""
    return solver_spec(solver).nfe(steps)


def solve(denoiser, x: torch.Tensor, sigmas: torch.Tensor, solver: str = "heun", cond=None) -> torch.Tensor:
    """Integrate dx/dsigma = (x - D)/sigma along ``sigmas`` (float64, decreasing, ending in 0) from x at sigmas[0]."""
    return solver_spec(solver).fn(denoiser, x, sigmas, cond)


# ---------------------------------------------------------------------------------------- time grid

#: the grids choose_grid compares: EDM's family sigma_i^(1/rho) linear in i (rho = inf: log-linear)
GRID_RHOS = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 16.0, math.inf)
#: the pilot reference: Heun on EDM's rho = 7 grid with this many steps (NFE 2 n - 1)
GRID_REF_STEPS = 100


def _rms(x: torch.Tensor) -> float:
    return float(x.to(torch.float64).square().mean().sqrt())


def grid_reference(denoiser, x_pilot: torch.Tensor, sigma_min: float = SIGMA_MIN, sigma_max: float = 80.0,
                   cond=None, ref_steps: int = GRID_REF_STEPS) -> torch.Tensor:
    """choose_grid's reference: the pilot batch solved by Heun with ``ref_steps`` steps on EDM's rho = 7 grid."""
    with torch.no_grad():
        sig = edm_sigmas(ref_steps, sigma_min, sigma_max, RHO, device=x_pilot.device)
        return solve(denoiser, x_pilot, sig, "heun", cond)


def choose_grid(denoiser, kernel, x_pilot: torch.Tensor, steps: int, solver: str = "heun",
                sigma_min: float = SIGMA_MIN, sigma_max: float = 80.0, cond=None, rhos=GRID_RHOS,
                ref_steps: int = GRID_REF_STEPS, x_ref: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
    """(sigmas, why): the grid of EDM's rho family (``rhos``) whose solve of the pilot batch is nearest a fine one.

    x_pilot: prior draws at sigma_max (a few hundred suffice). The global error of each candidate is
    e(rho) = RMS |x_rho - x_ref| over the pilot batch (normalised units), x_ref the Heun solve with
    ``ref_steps`` steps on the rho = 7 grid, with the same denoiser (the trained network: the error
    is the solver's on this kernel and these data). The smallest e wins; ties (all grids coincide when
    steps <= 2) go to EDM's rho = 7, then to the earlier rho: the choice is deterministic for a
    deterministic denoiser. Costs (len(rhos) nfe(steps, solver)
    + 2 ref_steps - 1) evaluations on the pilot batch. ``kernel`` (optional) names t_max in the reason.
    ``x_ref``: grid_reference(denoiser, x_pilot, sigma_min, sigma_max, cond, ref_steps) when already computed
    (several solvers or step counts on one pilot batch); the result is the same.
    """
    solver_spec(solver)
    device = x_pilot.device
    if x_ref is None:
        x_ref = grid_reference(denoiser, x_pilot, sigma_min, sigma_max, cond, ref_steps)
    with torch.no_grad():
        errs = []
        for rho in rhos:
            sig = edm_sigmas(steps, sigma_min, sigma_max, rho, device=device)
            x = solve(denoiser, x_pilot, sig, solver, cond)
            errs.append(_rms(x - x_ref) if bool(torch.isfinite(x).all()) else math.inf)
    best = min(range(len(rhos)), key=lambda j: (errs[j], rhos[j] != RHO, j))  # ties (steps <= 2): EDM's rho
    rho = rhos[best]
    sigmas = edm_sigmas(steps, sigma_min, sigma_max, rho, device=device)
    name = "log-linear (rho = inf)" if math.isinf(rho) else f"rho = {rho:g}"
    table = ", ".join(f"{'inf' if math.isinf(r) else f'{r:g}'}: {e:.3g}" for r, e in zip(rhos, errs, strict=True))
    why = (f"grid {name} for {solver} with {steps} steps (NFE {nfe(steps, solver)}): the smallest pilot error "
           f"RMS|x - x_ref| over {x_pilot.shape[0]} prior draws against a {ref_steps}-step Heun solve "
           f"(x_ref RMS {_rms(x_ref):.3g}); by rho {table}")
    if 7.0 in rhos and not math.isinf(errs[best]):
        e7 = errs[rhos.index(7.0)]
        why += f"; {e7 / errs[best]:.3g}x below EDM's rho = 7" if errs[best] > 0 else ""
    if kernel is not None:
        t_max = float(kernel.sigma_inv(torch.tensor(sigma_max, dtype=torch.float64)))
        why += f" (kernel {kernel!r}, t_max = {t_max:.4g})"
    return sigmas, why


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
