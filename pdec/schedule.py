"""Sigma alignment, time grids and the sigma_max rule, for the Python API (DESIGN.md section 6).

One implementation: these are thin wrappers over pdec/runtime/sampler.py and pdec/runtime/precond.py,
the files the emitted package copies verbatim (torch is imported on first use, so ``pdec check``
never loads it).

- :func:`sigma_max_for`: the data-and-kernel rule. The prior sqrt(S_T) xi ignores the data; along the
  data's widest direction (covariance eigenvalue lambda_max, in EDM-normalised units) its scale is
  short by lambda_max E[1/S_T] / 2; sigma_max is the smallest sigma(t) that brings this below ``tol``.
- :func:`time_grid`: EDM's rho = 7 grid sigma_i and the times t_i = sigma^-1(sigma_i).
- :func:`train_sigmas`: EDM's training sigmas, ln sigma ~ N(-1.2, 1.2^2), and their times.
"""

from __future__ import annotations

SIGMA_MIN = 0.002
RHO = 7.0


def _kernel(kernel):
    """A runtime kernel from a pdec.kernel.Kernel (compile result) or a runtime Kernel."""
    return getattr(kernel, "runtime", kernel)


def sigma_max_for(kernel, data, tol: float = 0.01, sigma_cap: float | None = None) -> tuple[float, str]:
    """(sigma_max, why) for raw data [n, ...] (numpy or torch), normalised as the emitted package does."""
    import numpy as np
    import torch

    from .runtime import data as rdata
    from .runtime import sampler as rsampler

    x_raw = np.asarray(data.cpu().numpy() if isinstance(data, torch.Tensor) else data, dtype=np.float32)
    mean, scale = rdata.normalisation(x_raw)
    lam = rsampler.top_eigenvalue(torch.from_numpy(rdata.normalise(x_raw, mean, scale)))
    return rsampler.choose_sigma_max(_kernel(kernel), lam, tol, sigma_cap=sigma_cap)


def time_grid(kernel, steps: int = 18, sigma_max: float = 80.0, sigma_min: float = SIGMA_MIN, rho: float = RHO):
    """(sigmas, ts): ``steps`` sigmas on EDM's grid then 0, and t_i = sigma^-1(sigma_i) (float64 tensors)."""
    from .runtime import sampler as rsampler

    sigmas = rsampler.edm_sigmas(steps, sigma_min, sigma_max, rho)
    return sigmas, rsampler.time_grid(_kernel(kernel), sigmas)


def train_sigmas(kernel, n: int, generator=None, sigma_hi: float | None = None):
    """(sigma, t): n training sigmas (ln sigma ~ N(-1.2, 1.2^2), below sigma_hi if given) and their times."""
    from .runtime import precond as rprecond

    sigma = rprecond.sample_train_sigma(n, generator, sigma_hi=sigma_hi)
    return sigma, _kernel(kernel).sigma_inv(sigma)
