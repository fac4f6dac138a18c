"""The perturbation kernel of a generative PDE (runtime code: imports only torch and math).

x = y + sqrt(S_t) xi with S_t from a mixing law (laws.py) and xi ~ N(0, I). Along the quantile
coupling of S_t the path has the conditional velocity u = (dS_t/dt) / (2 S_t) (x - y), the
flow-matching target whose conditional mean carries the normalised marginal.

Generalised denoiser (DESIGN.md section 6): with a(t) = d ln sigma(t) / dt, sigma(t)^2 = median(S_t),
train D(x, t) on y_eff = x - u / a(t) (= y exactly for self-similar laws, else
y + (1 - c/a)(x - y) with c = dS/dt / (2 S)); then v = a(t) (x - D) is the velocity and in sigma
the ODE is EDM's dx/dsigma = (x - D) / sigma.

Per-sample scalars are computed in float64; [B, ...] tensors stay in y's dtype and device.
The random draws take ``generator`` (same generator state, same output).
"""

from __future__ import annotations

import torch

__all__ = ["Kernel"]

_F64 = torch.float64


def _per_sample(v, like):
    """[B] -> [B, 1, ..., 1] in like's dtype and device."""
    return v.to(device=like.device, dtype=like.dtype).reshape((-1,) + (1,) * (like.dim() - 1))


def _t64(t, like):
    if isinstance(t, torch.Tensor):
        t = t.to(device=like.device, dtype=_F64)
    else:
        t = torch.as_tensor(t, dtype=_F64, device=like.device)
    if t.dim() == 0:
        t = t.expand(like.shape[0])
    return t


class Kernel:
    """Perturbation kernel x = y + sqrt(S_t) xi built from a Law of S_t (laws.py)."""

    def __init__(self, law):
        self.law = law

    def __repr__(self):
        return f"Kernel({self.law!r})"

    @property
    def self_similar(self) -> bool:
        return self.law.self_similar

    def sample_scale(self, t, generator=None):
        """S_t, shape [B], dtype of t."""
        return self.law.sample(t, generator)

    def perturb(self, y, t, generator=None):
        """(x, u): x = y + sqrt(S_t) xi, u = (dS_t/dt) / (2 S_t) (x - y); shaped like y, y's dtype.

        y: [B, ...]; t: [B] (or a number). S_t and its rate are drawn first, then xi.
        """
        t64 = _t64(t, y)
        S, dS = self.law._sample_with_rate64(t64, generator)
        if self.law.self_similar:
            coef = self.law._dlog_sigma_dt64(t64)  # = dS / (2 S) exactly, and = a(t)
        else:
            coef = dS / (2.0 * S)
        scale = torch.sqrt(S)
        xi = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        if getattr(self.law, "radial", False):  # tabulated radial law (radial.py): x = y + rho xi/|xi|, S = rho^2
            norm = torch.linalg.vector_norm(xi.reshape(xi.shape[0], -1), dim=1)
            xi = xi / norm.reshape((-1,) + (1,) * (xi.dim() - 1))
        x = torch.addcmul(y, xi, _per_sample(scale, y))
        u = xi.mul_(_per_sample(coef * scale, y))
        return x, u

    def sigma(self, t):
        """sigma(t) = sqrt(median S_t)."""
        return self.law.sigma(t)

    def sigma_inv(self, sigma):
        """t with sigma(t) = sigma."""
        return self.law.sigma_inv(sigma)

    def a(self, t):
        """a(t) = d ln sigma / dt."""
        return self.law.dlog_sigma_dt(t)

    def denoiser_target(self, x, u, t):
        """y_eff = x - u / a(t): the generalised denoiser's regression target (y for self-similar laws)."""
        a = _per_sample(self.law._dlog_sigma_dt64(_t64(t, x)), x)
        return x - u / a

    def velocity_from_denoiser(self, x, D, t):
        """v = a(t) (x - D(x, t))."""
        a = _per_sample(self.law._dlog_sigma_dt64(_t64(t, x)), x)
        return a * (x - D)
