"""The perturbation kernel of a generative PDE (runtime code: imports only torch and math).

x = y + sqrt(S_t) xi with S_t from a mixing law (laws.py) and xi ~ N(0, I). Along the quantile
coupling of S_t the path has the conditional velocity u = (dS_t/dt) / (2 S_t) (x - y), the
flow-matching target whose conditional mean carries the normalised marginal.

Generalised denoiser (DESIGN.md section 6): with a(t) = d ln sigma(t) / dt, sigma(t)^2 = median(S_t),
train D(x, t) on y_eff = x - u / a(t) (= y exactly for self-similar laws, else
y + (1 - c/a)(x - y) with c = dS/dt / (2 S)); then v = a(t) (x - D) is the velocity and in sigma
the ODE is EDM's dx/dsigma = (x - D) / sigma.

Kernel kinds: a law names its kind (``law.kernel_kind``) and ``Kernel(law)`` returns an instance of the
kind's class, registered with :func:`kernel_kind`: :class:`ScaleMixtureKernel` (xi ~ N(0, I), the laws
of laws.py) and :class:`RadialKernel` (xi / |xi| uniform on the sphere, S_t = rho_t^2 the squared
radius: the tabulated laws of radial.py). Every kind has the same API; a kind differs in the direction
it draws and in the prior's scale error used to choose sigma_max (sampler.choose_sigma_max).

Per-sample scalars are computed in float64; [B, ...] tensors stay in y's dtype and device.
The random draws take ``generator`` (same generator state, same output).
"""

from __future__ import annotations

import torch

__all__ = ["Kernel", "ScaleMixtureKernel", "RadialKernel", "KINDS", "kernel_kind"]

_F64 = torch.float64

#: kernel kinds by name (law.kernel_kind -> class)
KINDS: dict = {}


def kernel_kind(name: str):
    """Class decorator: register a kernel kind under ``name`` (the value of a law's ``kernel_kind``)."""

    def add(cls):
        KINDS[name] = cls
        cls.kind = name
        return cls

    return add


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
    """Perturbation kernel x = y + sqrt(S_t) xi built from a Law of S_t (laws.py, radial.py).

    ``Kernel(law)`` is an instance of the kind the law names (``law.kernel_kind``, default
    "scale_mixture"): the subclasses below differ only in :meth:`direction` and :meth:`prior_scale_error`.
    """

    kind = ""

    def __new__(cls, law):
        if cls is Kernel:
            name = getattr(law, "kernel_kind", "scale_mixture")
            if name not in KINDS:
                raise ValueError(f"unknown kernel kind {name!r} of {law!r} (known: {', '.join(KINDS)})")
            cls = KINDS[name]
        return super().__new__(cls)

    def __init__(self, law):
        self.law = law

    def __repr__(self):
        return f"Kernel({self.law!r})"

    @property
    def self_similar(self) -> bool:
        return self.law.self_similar

    @property
    def median_ratio(self) -> float:
        """median(S_t) / sigma(t)^2 (1 for a scale mixture)."""
        return 1.0

    def direction(self, xi):
        """The direction xi of x - y = sqrt(S_t) xi from a standard normal draw (in place allowed)."""
        raise NotImplementedError

    def prior_scale_error(self, lam_max: float, S) -> float:
        """lambda_max E[1/S_t] / 2 per coordinate, from draws S of S_t: how far the prior's scale is short of
        the data's along its widest direction (sampler.choose_sigma_max)."""
        raise NotImplementedError

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
        xi = self.direction(torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device))
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

    def batch_posterior_target(self, x, y, t, nodes: int = 64, generator=None, allowed=None, chunk: int = 128):
        """E[y_eff | x] under the batch's own data: the stable target field (Xu et al. 2023) for y_eff.

        The posterior over (y_j, S) of a row x_i: y_j the batch's rows and S on ``nodes`` nodes, weights
        w_jk proportional to pi_k times the kernel's likelihood of x_i - y_j given S_k, normalised over (j, k);
        then D*(x_i) = x_i - sum_jk w_jk (c_k / a) (x_i - y_j), c_k = rate(S_k, t) / (2 S_k) (c / a = 1 for
        a self-similar law, where this is the batch posterior mean of y). It has the sampled target's mean
        as the batch grows, without its variance at small sigma (on the laws that are not self-similar
        E[(1 - c/a)^2 S_t] / sigma^2 reaches 20-180 there). Nodes: ln S = ln sigma(t)^2 + u_k, u_k uniform
        on [-8, 18], pi_k = p_t(S_k) S_k (the law's density in ln S), which covers the heavy right tails
        that draws from p_t rarely reach; laws without a density use ``nodes`` draws of S_t, pi_k = 1.
        The likelihood's width in ln S is about sqrt(2 / N): 64 nodes (spacing 0.41) resolve N up to ~10;
        raise ``nodes`` with N. x, y: [B, ...]; t: [B]; ``allowed``: None or a bool [B, B], the rows j that may
        explain row i (a conditional batch: the rows of i's class; each row must allow itself). Float64.
        """
        B = x.shape[0]
        x64 = x.reshape(B, -1).to(_F64)
        y64 = y.reshape(B, -1).to(_F64)
        n = x64.shape[1]
        t64 = _t64(t, x)
        lnS, logpi, rate = self._posterior_nodes(t64, nodes, generator)
        S = torch.exp(lnS)
        ratio = torch.ones_like(S) if rate is None else \
            rate / (2.0 * S) / self.law._dlog_sigma_dt64(t64)[:, None]  # c_k / a, [B, K]
        out = torch.empty_like(x64)
        for i in range(0, B, chunk):  # [chunk, B, K] at a time
            xi = x64[i:i + chunk]
            d2 = torch.cdist(xi, y64).square()
            logw = self._log_likelihood(d2[:, :, None], S[i:i + chunk, None, :], n) + logpi[i:i + chunk, None, :]
            if allowed is not None:
                logw = logw.masked_fill(~allowed[i:i + chunk, :, None], float("-inf"))
            w = torch.softmax(logw.reshape(len(xi), -1), 1).reshape(logw.shape)
            wc = (w * ratio[i:i + chunk, None, :]).sum(2)  # [chunk, B]: sum_k w_jk c_k / a
            out[i:i + chunk] = xi - wc.sum(1, keepdim=True) * xi + wc @ y64
        return out.reshape(x.shape).to(x.dtype)

    def _posterior_nodes(self, t64, nodes: int, generator=None):
        """(ln S_k, log pi_k, dS/dt at S_k), each [B, nodes]: the quadrature of batch_posterior_target
        (the rate None for a self-similar law, whose c / a is 1)."""
        law = self.law
        u = torch.linspace(-8.0, 18.0, nodes, dtype=_F64, device=t64.device)
        lnS = torch.log(law._median64(t64))[:, None] + u[None, :]
        S, tt = torch.exp(lnS), t64[:, None].expand(-1, nodes)
        try:
            logpi = law._log_pdf64(S, tt) + lnS
            rate = None if law.self_similar else law._rate64(S, tt)
        except NotImplementedError:  # no density (a point mass, a sum of >= 3 random laws): draws of S_t
            S, rate = law._sample_with_rate64(t64.repeat_interleave(nodes), generator)
            S, rate = S.reshape(-1, nodes), rate.reshape(-1, nodes)
            return torch.log(S), torch.zeros_like(S), None if law.self_similar else rate
        return lnS, torch.nan_to_num(logpi, nan=float("-inf")), rate

    def _log_likelihood(self, d2, S, n):
        """log p(x - y | S) up to a constant, from d2 = |x - y|^2 (broadcast with S): the kind's law of the
        displacement given the scale."""
        raise NotImplementedError(f"the {self.kind} kernel has no batch-posterior target")

    def velocity_from_denoiser(self, x, D, t):
        """v = a(t) (x - D(x, t))."""
        a = _per_sample(self.law._dlog_sigma_dt64(_t64(t, x)), x)
        return a * (x - D)


@kernel_kind("scale_mixture")
class ScaleMixtureKernel(Kernel):
    """A Gaussian scale mixture: x = y + sqrt(S_t) xi, xi ~ N(0, I) (laws.py)."""

    def direction(self, xi):
        return xi

    def prior_scale_error(self, lam_max: float, S) -> float:
        return 0.5 * lam_max * float((1.0 / S).mean())

    def _log_likelihood(self, d2, S, n):
        return -0.5 * d2 / S - 0.5 * n * torch.log(S)  # log N(x - y; 0, S I) + const


@kernel_kind("radial")
class RadialKernel(Kernel):
    """A radial law (radial.py): x = y + rho_t xi/|xi|, xi/|xi| uniform on the sphere of R^N, S_t = rho_t^2."""

    @property
    def median_ratio(self) -> float:
        return self.law.chi2_median

    def direction(self, xi):
        norm = torch.linalg.vector_norm(xi.reshape(xi.shape[0], -1), dim=1)
        return xi / norm.reshape((-1,) + (1,) * (xi.dim() - 1))

    def prior_scale_error(self, lam_max: float, S) -> float:
        # S = rho^2 is the whole squared radius; the Gaussian with the same E[rho^2] has per-coordinate
        # variance E[rho^2]/N (E[N/rho^2] itself diverges in N = 2 even for a Gaussian kernel)
        return 0.5 * lam_max * self.law.N / float(S.mean())
