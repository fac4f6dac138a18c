"""The log-density of the prior q_T and of Gaussian scale mixtures (runtime code: torch and math only).

The prior at t is the kernel around 0: x = sqrt(S_t) xi, xi ~ N(0, I_N) (laws.py), so

    q_t(x) = E[N_N(x; 0, S_t I)] = int f_t(S) (2 pi S)^(-N/2) exp(-|x|^2 / (2 S)) dS,

a function of r^2 = |x|^2 only. Closed forms (r2 = |x|^2):

- Deterministic (S = 2 a t): the Gaussian N(0, S I).
- InverseGamma(D, c) (PFGM++): S ~ InvGamma(k = D/2, beta = (c t)^2 / 2) gives the multivariate Student-t
  log q = -N/2 log(2 pi) + k log beta - lgamma(k) + lgamma(k + N/2) - (k + N/2) log(beta + r2/2).
- GIG(D, m, c) and InverseGaussian(c, m) (= GIG with p = -1/2): S ~ GIG(p, a, b) gives the generalised
  hyperbolic (normal-inverse-Gaussian for p = -1/2) density, with p' = p - N/2, b' = b + r2,
  log q = -N/2 log(2 pi) + p/2 log(a/b) - log K_p(sqrt(a b)) + p'/2 log(b'/a) + log K_p'(sqrt(a b')).
  InverseGaussian: a = m^2, b = (c t)^2; GIG: a = m^2, b = (c t)^2, p = -D/2.

Every other law (Stable, Sum, or any law with a quantile function) is integrated over its quantile,
S = F_t^{-1}(Phi(z)), z uniform on [-Z_MAX, Z_MAX] with the trapezoid weights of the standard normal
density (normalised to 1), in log-sum-exp form: log q = logsumexp_j(log w_j + log N_N(x; 0, S_j I)).
The trapezoid rule is spectrally accurate for this smooth, rapidly decaying integrand; the truncation
drops the mass beyond |z| = Z_MAX (~1e-15). A deterministic part of a Sum (S = 2 a t + S') is a variance
offset of the Gaussian, not a node.

A tabulated radial law (radial.py, x = rho xi / |xi|) has the exact density of its interpolant,
q_t(x) = f_rho(|x|) / (|S^{N-1}| |x|^{N-1}), |S^{N-1}| = 2 pi^(N/2) / Gamma(N/2), with f_rho piecewise
constant (rho is linear in the level u between table levels), times 1 - (atom mass); the atom (a point
mass in the radius) has no density and is left out.

Everything is float64; results are [B] tensors on x's device.
"""

from __future__ import annotations

import math

import torch

from .laws import GIG, Deterministic, InverseGamma, InverseGaussian, Sum, log_bessel_k

__all__ = ["log_prior", "log_mixture", "mixture_nodes", "log_normal", "Z_MAX", "N_NODES"]

_F64 = torch.float64
_LOG_2PI = math.log(2.0 * math.pi)
#: the quantile quadrature covers z in [-Z_MAX, Z_MAX] (u = Phi(z) from 6e-16 to 1 - 6e-16)
Z_MAX = 8.0
#: its number of nodes (spacing 0.02 in z)
N_NODES = 801


def log_normal(r2, dim: int, var):
    """log N_dim(x; 0, var I) at |x|^2 = r2 (broadcasting)."""
    return -0.5 * dim * (_LOG_2PI + torch.log(var)) - 0.5 * r2 / var


def _t64(t, device):
    t = torch.as_tensor(t, dtype=_F64, device=device).reshape(-1)
    if t.numel() != 1:
        raise ValueError("the prior's time t must be one number")
    return t


def _split(law, t):
    """(random part or None, deterministic variance 2 a t): S_t = 2 a t + S'_t."""
    if isinstance(law, Deterministic):
        return None, 2.0 * law.a * t
    if isinstance(law, Sum):
        a = sum(part.a for part in law.laws if isinstance(part, Deterministic))
        rnd = [part for part in law.laws if not isinstance(part, Deterministic)]
        rest = None if not rnd else (rnd[0] if len(rnd) == 1 else Sum(*rnd))
        return rest, 2.0 * a * t
    return law, torch.zeros_like(t)


def _quantile_nodes(law, t, n: int = N_NODES):
    """(S_j [n], log w_j [n]): S_j = F_t^{-1}(Phi(z_j)), trapezoid weights of N(0, 1) on [-Z_MAX, Z_MAX]."""
    z = torch.linspace(-Z_MAX, Z_MAX, n, dtype=_F64, device=t.device)
    # u = Phi(z) for z <= 0 and 1 - Phi(-z) for z > 0 (ndtr is accurate in the lower tail)
    u = torch.where(z <= 0, torch.special.ndtr(z), 1.0 - torch.special.ndtr(-z))
    logw = -0.5 * z * z
    logw = logw - torch.logsumexp(logw, 0)
    S = law.icdf(u, t.expand_as(u))
    return S, logw


def mixture_nodes(law, t, r2, dim: int, var0=0.0, n: int = N_NODES):
    """(S [1 or n], log_w [B, n]): a quadrature of int f_t(S) N_dim(x; 0, (var0 + S) I) dS at |x|^2 = r2 [B].

    log_w_j = log(weight_j N_dim(x; 0, (var0 + S_j) I)): logsumexp(log_w, -1) is the log-density, and
    softmax(log_w, -1) the posterior weights of S_t = S_j given x (S_j includes a Sum's deterministic part).
    """
    r2 = torch.as_tensor(r2, dtype=_F64)
    t = _t64(t, r2.device)
    rnd, shift = _split(law, t)
    var0 = torch.as_tensor(var0, dtype=_F64, device=r2.device) + shift
    if rnd is None:
        return shift, log_normal(r2.unsqueeze(-1), dim, var0).expand(-1, 1)
    S, logw = _quantile_nodes(rnd, t, n)
    return S + shift, logw + log_normal(r2.unsqueeze(-1), dim, var0 + S)


def log_mixture(law, t, r2, dim: int, var0=0.0, n: int = N_NODES):
    """log int f_t(S) N_dim(x; 0, (var0 + S) I) dS at |x|^2 = r2 [B], by the quantile quadrature (n nodes)."""
    return torch.logsumexp(mixture_nodes(law, t, r2, dim, var0, n)[1], -1)


def _log_gh(r2, dim: int, p: float, a, b):
    """log of the centred symmetric generalised hyperbolic density: S ~ GIG(p, a, b), x | S ~ N(0, S I)."""
    b2 = b + r2
    p2 = p - 0.5 * dim
    return (-0.5 * dim * _LOG_2PI + 0.5 * p * torch.log(a / b)
            - log_bessel_k(torch.full_like(b, abs(p)), torch.sqrt(a * b))
            + 0.5 * p2 * torch.log(b2 / a) + log_bessel_k(torch.full_like(b2, abs(p2)), torch.sqrt(a * b2)))


def _log_student(r2, dim: int, k: float, beta):
    """S ~ InvGamma(k, beta), x | S ~ N(0, S I): the multivariate Student-t log-density."""
    return (-0.5 * dim * _LOG_2PI + k * torch.log(beta) - math.lgamma(k) + math.lgamma(k + 0.5 * dim)
            - (k + 0.5 * dim) * torch.log(beta + 0.5 * r2))


def _log_radial(law, r, dim: int, t):
    """log q_t(x) of a tabulated radial law at |x| = r [B] (the interpolant's exact density; -inf outside)."""
    tt = t.expand_as(r)
    _, i, a, tc, T = law._cell(tt)
    lR = T["lR"]
    R = torch.exp(lR[i] + a.unsqueeze(-1) * (lR[i + 1] - lR[i]))  # [B, n_u]
    rc = r.unsqueeze(-1)
    j = (torch.searchsorted(R, rc.contiguous(), right=True) - 1).clamp(0, law.n_u - 2)
    R0, R1 = R.gather(1, j).squeeze(1), R.gather(1, j + 1).squeeze(1)
    u = T["u"]
    du = u[j + 1].squeeze(1) - u[j].squeeze(1)
    inside = (r >= R[:, 0]) & (r < R[:, -1]) & (R1 > R0)
    dens = torch.where(inside, du / torch.where(R1 > R0, R1 - R0, torch.ones_like(R1)), torch.zeros_like(r))
    if law.has_atom:
        t0 = T["t"][i]
        w = torch.exp(T["lw"][i] + (tc - t0) * (T["lw"][i + 1] - T["lw"][i]) / (T["t"][i + 1] - t0))
        dens = dens * (1.0 - w)
    log_area = math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)
    return torch.log(dens) - log_area - (dim - 1) * torch.log(r)


def log_prior(law, x, t):
    """log q_t(x) per row of x [B, ...] (normalised units; the prior is centred at 0), float64 [B].

    ``law`` is a law of S_t (laws.py) or a tabulated radial law (radial.py); ``t`` one number (t_max).
    """
    flat = x.reshape(x.shape[0], -1).to(_F64)
    dim = flat.shape[1]
    r2 = (flat * flat).sum(1)
    t = _t64(t, x.device)
    if getattr(law, "radial", False):
        return _log_radial(law, torch.sqrt(r2), dim, t)
    if isinstance(law, InverseGamma):
        return _log_student(r2, dim, law.k, 0.5 * (law.c * t) ** 2)
    if isinstance(law, (InverseGaussian, GIG)):
        p = -0.5 if isinstance(law, InverseGaussian) else -0.5 * law.D
        return _log_gh(r2, dim, p, torch.full_like(t, law.m ** 2), (law.c * t) ** 2)
    return log_mixture(law, t, r2, dim)
