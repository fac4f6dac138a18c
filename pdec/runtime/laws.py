"""Mixing laws of the kernel scale S_t (runtime code: imports only torch and math).

The normalised kernel q(k, t) of a generative PDE is a Gaussian scale mixture,

    x = y + sqrt(S_t) xi,   xi ~ N(0, I_N),   E[exp(-lam S_t)] = q(sqrt(2 lam), t),

so a kernel is sampled with one Gaussian draw of size N plus one positive scalar S_t per sample.
A :class:`Law` knows the law of S_t: it samples it, gives its rate dS_t/dt along the quantile
coupling S_t = F_t^{-1}(U) (U uniform, fixed per path), its Laplace transform, CDF, density,
quantiles, median and the alignment sigma(t) = sqrt(median S_t) used to reuse EDM's schedule.

Laws (q is the Fourier kernel):

- ``Deterministic(a)``: q = exp(-a t k^2), S_t = 2 a t (diffusion).
- ``Stable(alpha, c)``: q = exp(-c t k^alpha), S_t = 2 (c t)^(2/alpha) S_1 with
  E exp(-lam S_1) = exp(-lam^(alpha/2)) (Poisson for alpha = 1, fractional diffusion).
- ``InverseGaussian(c, m)``: q = exp(-c t (sqrt(k^2 + m^2) - m)), S_t ~ IG(mean c t / m, shape (c t)^2)
  (screened Poisson / Yukawa).
- ``InverseGamma(D, c)``: q = 2^(1-D/2)/Gamma(D/2) (c k t)^(D/2) K_{D/2}(c k t),
  S_t ~ InvGamma(D/2, scale (c t)^2 / 2) (Poisson with D augmented dimensions: PFGM++).
- ``GIG(D, m, c)``: q = (1 + k^2/m^2)^(D/4) K_{D/2}(c t sqrt(k^2 + m^2)) / K_{D/2}(c t m),
  S_t ~ GIG(p = -D/2, a = m^2, b = (c t)^2) (Yukawa with D augmented dimensions).
- ``Sum(*laws)``: S_t = sum of independent S_t^(i) (product of the kernels).

This file is copied verbatim into every emitted package and is the one implementation of each
law. Every computation is float64 internally and device-agnostic (tensors stay on t's device);
results come back in the floating dtype of the inputs. Every random draw takes ``generator``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "Law", "Deterministic", "Stable", "InverseGaussian", "InverseGamma", "GIG", "Sum",
    "log_bessel_k", "gamma_median",
]

_F64 = torch.float64
#: quadratures drop the part of a log-density that lies more than _TAIL below its maximum
_TAIL = 60.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_U_MIN = 2.0 ** -54
_U_MAX = 1.0 - 2.0 ** -53


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def _device_of(*xs):
    for x in xs:
        if isinstance(x, torch.Tensor):
            return x.device
    return torch.device("cpu")


def _dtype_of(*xs):
    """The promoted floating dtype of the tensor arguments (default dtype if none is floating)."""
    dt = None
    for x in xs:
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            dt = x.dtype if dt is None else torch.promote_types(dt, x.dtype)
    return torch.get_default_dtype() if dt is None else dt


def _f64(x, device=None):
    if isinstance(x, torch.Tensor):
        return x.to(device=x.device if device is None else device, dtype=_F64)
    return torch.as_tensor(x, dtype=_F64, device=device)



def _pointwise(fn64, a, t):
    """fn64(a, t) in float64 on the inputs' device, returned in their promoted dtype."""
    dev = _device_of(t, a)
    return fn64(_f64(a, dev), _f64(t, dev)).to(_dtype_of(a, t))


def _take_accepted(out, pending, acc, cand):
    """One rejection round over rows of proposals: each row's first accepted candidate goes to its slot
    of ``out`` (the rows still ``pending``; every row in the first round, when ``pending`` is None).
    Returns (out, the indices still pending)."""
    got = acc.any(dim=1)
    val = cand.gather(1, acc.to(torch.uint8).argmax(dim=1, keepdim=True)).squeeze(1)
    if pending is None:
        return val, torch.nonzero(~got).squeeze(1)
    out[pending[got]] = val[got]
    return out, pending[~got]

def _uniform(shape, generator, device):
    """U(0, 1) in float64, never exactly 0 or 1."""
    u = torch.rand(shape, generator=generator, dtype=_F64, device=device)
    return u.clamp_(_U_MIN, _U_MAX)


def _normal(shape, generator, device):
    return torch.randn(shape, generator=generator, dtype=_F64, device=device)


_GL_CACHE: dict = {}


def _gauss_legendre(n: int, device):
    """Gauss-Legendre nodes and weights on [-1, 1] (Golub-Welsch, float64), cached per device."""
    key = (n, str(device))
    if key not in _GL_CACHE:
        k = torch.arange(1, n, dtype=_F64)
        off = k / torch.sqrt(4.0 * k * k - 1.0)
        jacobi = torch.diag(off, 1) + torch.diag(off, -1)
        x, vec = torch.linalg.eigh(jacobi)
        w = 2.0 * vec[0] ** 2
        _GL_CACHE[key] = (x.to(device), w.to(device))
    return _GL_CACHE[key]


def _panel(a, b, n: int):
    """Nodes [..., n] and weights [..., n] of an n-point Gauss-Legendre rule on [a, b] (tensors [...])."""
    x, w = _gauss_legendre(n, a.device)
    half = 0.5 * (b - a)
    mid = 0.5 * (b + a)
    return mid.unsqueeze(-1) + half.unsqueeze(-1) * x, half.unsqueeze(-1) * w


def _root(fn, x0, lo, hi, iters: int = 200, tol: float = 1e-14):
    """Root of an increasing g, fn(x) -> (g, dg/dx), bracketed by g(lo) <= 0 <= g(hi).

    Newton's method safeguarded by the bracket (a bisection step whenever Newton leaves it);
    vectorised over the elements, float64.
    """
    x = torch.minimum(torch.maximum(x0, lo), hi)
    for _ in range(iters):
        g, dg = fn(x)
        lo = torch.where(g <= 0, x, lo)
        hi = torch.where(g >= 0, x, hi)
        xn = x - g / dg
        ok = (xn >= lo) & (xn <= hi)
        xn = torch.where(ok, xn, 0.5 * (lo + hi))
        xn = torch.where(g == 0, x, xn)
        step = (xn - x).abs()
        x = xn
        if bool(((step <= tol * (1.0 + x.abs())) | (hi - lo <= tol * (1.0 + x.abs()))).all()):
            break
    return x


def _bracket(fn, lo, hi, max_iter: int = 24):
    """Widen [lo, hi] until g(lo) <= 0 <= g(hi) for an increasing g (steps 1, 2, 4, .. 64)."""
    for i in range(max_iter):
        bad = ~(fn(lo)[0] <= 0)
        if not bool(bad.any()):
            break
        lo = torch.where(bad, lo - 2.0 ** min(i, 6), lo)
    for i in range(max_iter):
        bad = ~(fn(hi)[0] >= 0)
        if not bool(bad.any()):
            break
        hi = torch.where(bad, hi + 2.0 ** min(i, 6), hi)
    return lo, hi


def _quantile(cdf_pdf, u, x0):
    """s with F(s) = u, cdf_pdf(s) -> (F(s), f(s)); Newton in x = log s started at x0.

    Below the median the equation is log F = log u (the left tails exp(-c/s) are far from linear
    in F), above it F = u.
    """
    low = u < 0.5
    log_u = torch.log(u)

    def fn(x):
        F, f = cdf_pdf(torch.exp(x))
        fs = f * torch.exp(x)
        g = torch.where(low, torch.log(F) - log_u, F - u)
        dg = torch.where(low, fs / F, fs)
        return g, dg

    lo, hi = _bracket(fn, x0 - 1.0, x0 + 1.0)
    return torch.exp(_root(fn, x0, lo, hi))


def _log_standard_gamma(k: float, n: int, generator, device, oversample: int = 4):
    """log G for n draws G ~ Gamma(k, 1), float64.

    Marsaglia & Tsang (2000): d = k - 1/3, G = d (1 + x / sqrt(9 d))^3 with x ~ N(0, 1), accepted
    when log U < x^2/2 + d - d v + d log v (acceptance >= 0.95 for k >= 1); k < 1 via
    G(k) = G(k + 1) U^(1/k). Vectorised: ``oversample`` proposals per draw and rounds for the rest.
    Works in logs, so no overflow or underflow for any k > 0.
    """
    boost = k < 1.0
    kk = k + 1.0 if boost else k
    d = kk - 1.0 / 3.0
    cst = 1.0 / math.sqrt(9.0 * d)
    out = None
    pending = None  # first round: every draw
    while True:
        m = n if pending is None else pending.numel()
        x = _normal((m, oversample), generator, device)
        u = _uniform((m, oversample), generator, device)
        cx = x * cst
        ok = cx > -1.0
        logv = torch.where(ok, cx, torch.zeros_like(cx)).log1p_().mul_(3.0)  # cx <= -1 is rejected (ok)
        # d - d v + d log v = -d (expm1(log v) - log v), accurate for large d
        acc = ok & (u.log_() < 0.5 * x * x - d * (torch.expm1(logv) - logv))
        out, pending = _take_accepted(out, pending, acc, logv)
        if pending.numel() == 0:
            break
    out = out + math.log(d)
    if boost:
        out = out + torch.log(_uniform((n,), generator, device)) / k
    return out


def gamma_median(k: float) -> float:
    """Median of Gamma(k, 1) (Newton on the regularised incomplete gamma, float64)."""
    kt = torch.tensor([float(k)], dtype=_F64)
    lgk = math.lgamma(k)

    def fn(x):
        g = torch.exp(x)
        val = torch.special.gammainc(kt, g) - 0.5
        dval = torch.exp(k * x - g - lgk)  # g * pdf(g)
        return val, dval

    guess = max(k - 1.0 / 3.0 + 8.0 / (405.0 * k), 1e-300) if k >= 1.0 else 0.5 ** (1.0 / k) * math.exp(
        (math.lgamma(k + 1.0)) / k)
    x0 = torch.tensor([math.log(guess)], dtype=_F64)
    lo, hi = _bracket(fn, x0 - 0.5, x0 + 0.5)
    return float(torch.exp(_root(fn, x0, lo, hi))[0])


# ----------------------------------------------------------------------------------------------
# the log-GIG density: quadratures and sampling shared by log_bessel_k and GIG
# ----------------------------------------------------------------------------------------------
#
# With p = -q <= 0 and w > 0, eta has density exp(p eta - w cosh eta) / (2 K_q(w)) (log of a
# GIG(p, w, w) variable; K_q(w) = 1/2 int exp(p u - w cosh u) du). It is log-concave with mode
# eta* = asinh(p / w); with v = eta - eta*, Z = sqrt(w^2 + q^2):
#     h(v) = log density(eta* + v) - log density(eta*) = -Z (cosh v - 1) + q (sinh v - v),
#     W(v) = w cosh(eta* + v) = (Z - q) cosh v + q exp(-v).
# v < 0 is the fast side (h <= -Z v^2 / 2); v > 0 the slow side (algebraic tail of the GIG).


class _LogGIG:
    """Quadratures of exp(h(v)) for per-element (q, w); tensors broadcast to a common shape."""

    N_NODES = 48

    def __init__(self, q, w):
        self.q = q if isinstance(q, torch.Tensor) else torch.full_like(w, q)
        self.Z = torch.hypot(w, self.q)
        self.Zmq = w * w / (self.Z + self.q)  # Z - q without cancellation
        self.v_lo = -self._cut(fast=True)
        self.v_hi = self._cut(fast=False)
        self._logA = None
        self._kappa = None

    def hW(self, v, Zmq=None, q=None, with_W: bool = True):
        """h(v) and W(v); Zmq and q broadcast against v (default: this object's, one more dim than v's).

        h = -(Z - q)(cosh v - 1) - q (exp(-v) - 1 + v) (two terms <= 0, no cancellation),
        W = (Z - q) cosh v + q exp(-v), from expm1(v) and exp(-v/2) only.
        """
        if Zmq is None:
            Zmq, q = self.Zmq.unsqueeze(-1), self.q.unsqueeze(-1)
        # in-place arithmetic: fresh [B, 3, n] buffers cost more than the arithmetic on a CPU
        E = torch.expm1(v)
        emh = torch.mul(v, -0.5).exp_()
        em = emh * emh
        h = emh.mul_(E).square_().mul_(-0.5 * Zmq)  # -(Z - q)(cosh v - 1) = -(Z - q) (2 sinh(v/2))^2 / 2
        h.sub_(torch.mul(E, em).neg_().add_(v).mul_(q))  # - q (v - E exp(-v))
        if not with_W:
            return h, None
        return h, E.add_(1.0).add_(em).mul_(0.5 * Zmq).add_(em.mul_(q))

    def h(self, v):
        """h at v shaped like Z."""
        return self.hW(v, self.Zmq, self.q, with_W=False)[0]

    def _cut(self, fast: bool, newton: int = 1):
        """|v| beyond which h < -_TAIL on one side: an upper bound refined by Newton from the right."""
        Z, q, Zmq, L = self.Z, self.q, self.Zmq, _TAIL
        inf = torch.full_like(Z, math.inf)
        if fast:  # f(a) = Z (cosh a - 1) + q (sinh a - a) - L, a = -v > 0
            a = torch.minimum(torch.sqrt(2.0 * L / Z), torch.acosh(1.0 + L / Z))
            a = torch.minimum(a, (6.0 * L / q) ** (1.0 / 3.0))
        else:  # f(v) = (Z - q)(cosh v - 1) + q (v - 1 + exp(-v)) - L
            c1 = torch.where(Z >= 3.0 * L, torch.sqrt(3.0 * L / Z), inf)
            c2 = torch.where(q > 0, 1.0 + L / q, inf)
            c3 = torch.minimum(torch.acosh(1.0 + L / Zmq), torch.sqrt(2.0 * L / Zmq))
            a = torch.minimum(torch.minimum(c1, c2), c3)
        for _ in range(newton):
            sh, s2 = torch.sinh(a), 2.0 * torch.sinh(0.5 * a) ** 2
            if fast:
                f = Z * s2 + q * (sh - a) - L
                df = Z * sh + q * s2
            else:
                em1 = torch.expm1(-a)
                f = Zmq * s2 + q * (a + em1) - L
                df = Zmq * sh - q * em1
            step = f / df
            a = torch.where((step > 0) & torch.isfinite(step), a - step, a)
        return a

    def _tail_ends(self, v):
        """The tail panel at v: [v_lo, v] for v <= 0, [v, v_hi] for v > 0; beyond a cut, 40 / |h'(v)| long
        (h is concave, so the tail integrand is below exp(h'(v) (x - v)))."""
        lower = v <= 0
        dh = (self.Zmq * torch.sinh(v) - self.q * torch.expm1(-v)).abs()  # |h'(v)|
        lo = torch.where(v < self.v_lo, v - 40.0 / dh, self.v_lo)
        hi = torch.where(v > self.v_hi, v + 40.0 / dh, self.v_hi)
        return torch.where(lower, lo, v), torch.where(lower, v, hi)

    def _nodes(self, v):
        """Gauss-Legendre nodes [.., 3, n] and weights: fast panel, slow panel, tail panel at v."""
        zero = torch.zeros_like(self.Z)
        ta, tb = self._tail_ends(v)
        a = torch.stack([self.v_lo, zero, ta], -1)
        b = torch.stack([zero, self.v_hi, tb], -1)
        return _panel(a, b, self.N_NODES)

    def totals(self):
        """log A = log int exp(h), kappa = int W exp(h) / int exp(h) = E[w cosh eta]."""
        if self._logA is None:
            x, wts = self._nodes(torch.zeros_like(self.Z))
            x, wts = x[..., :2, :], wts[..., :2, :]
            h, W = self.hW(x, self.Zmq[..., None, None], self.q[..., None, None])
            e = h.exp_().mul_(wts)
            A = e.sum((-1, -2))
            self._logA = torch.log(A)
            self._kappa = (e * W).sum((-1, -2)) / A
        return self._logA, self._kappa

    def tail(self, v, with_rate: bool = True):
        """Tail integrals at v (relative to exp(h(v))): lower tail for v <= 0, upper for v > 0.

        Returns (h(v), log_tail, M): the tail holds exp(h(v) + log_tail) / A of the mass, and
        M = w d(eta)/dw along the quantile coupling (eta = eta*(w) + v at fixed U). With with_rate the
        totals are computed in the same pass.
        """
        lower = v <= 0
        hv = self.h(v)
        if not with_rate:
            x, wts = _panel(*self._tail_ends(v), self.N_NODES)
            h, _ = self.hW(x, with_W=False)
            return hv, torch.log(h.sub_(hv.unsqueeze(-1)).exp_().mul_(wts).sum(-1)), None
        x, wts = self._nodes(v)
        h, W = self.hW(x, self.Zmq[..., None, None], self.q[..., None, None])
        # the tail panel relative to exp(h(v)) (h decreases away from the mode: <= 1), the totals
        # relative to exp(max(h(v), -_TAIL)) (<= exp(_TAIL): no overflow even far beyond the cuts)
        ref = hv.clamp_min(-_TAIL)
        e = h.sub_(torch.stack([ref, ref, hv], -1).unsqueeze(-1)).exp_().mul_(wts)
        if self._logA is None:
            tot = e[..., :2, :]
            A = tot.sum((-1, -2))
            self._logA = torch.log(A) + ref
            self._kappa = (tot * W[..., :2, :]).sum((-1, -2)) / A
        T = e[..., 2, :].sum(-1)
        TW = (e[..., 2, :] * W[..., 2, :]).sum(-1)
        kappa = self._kappa
        M = torch.where(lower, TW - kappa * T, kappa * T - TW)
        return hv, torch.log(T), M

    def rou_sample(self, generator, oversample: int = 12):
        """Exact draws of v ~ exp(h(v)) on [v_lo, v_hi] by ratio-of-uniforms with mode shift.

        (u, z) uniform on [0, 1] x [z_minus, z_plus] with z_plus >= sup_{v>0} v exp(h(v)/2) and
        z_minus <= inf_{v<0} v exp(h(v)/2); v = z / u is accepted when 2 log u <= h(v). The bounds
        come from a geometric grid and the monotonicity of h on each side (rigorous upper bounds).
        The truncation at |h| = _TAIL drops a mass below exp(-_TAIL).
        """
        device = self.Z.device
        r = torch.logspace(-4.0, 0.0, 40, dtype=_F64, device=device)
        edges = torch.stack([self.v_lo, self.v_hi], -1)
        grid = edges.unsqueeze(-1) * r  # [n, 2, G]
        hg, _ = self.hW(grid, self.Zmq[:, None, None], self.q[:, None, None], with_W=False)
        cand = (grid[..., 1:] * torch.exp(0.5 * hg[..., :-1])).abs().amax(-1)
        bound = torch.maximum(cand, grid[..., 0].abs())
        z_minus, z_plus = -bound[:, 0], bound[:, 1]
        n = self.Z.shape[0]
        out = torch.empty(n, dtype=_F64, device=device)
        pending = None  # first round: every element
        while True:
            def sel(x, idx=pending):
                return x if idx is None else x[idx]

            m = n if pending is None else pending.numel()
            u = _uniform((m, oversample), generator, device)
            z = _uniform((m, oversample), generator, device)
            zm, zp = sel(z_minus).unsqueeze(-1), sel(z_plus).unsqueeze(-1)
            v = (zm + (zp - zm) * z) / u
            lo, hi = sel(self.v_lo).unsqueeze(-1), sel(self.v_hi).unsqueeze(-1)
            inside = (v >= lo) & (v <= hi)
            vc = torch.minimum(torch.maximum(v, lo), hi)
            hv, _ = self.hW(vc, sel(self.Zmq).unsqueeze(-1), sel(self.q).unsqueeze(-1), with_W=False)
            acc = inside & (2.0 * torch.log(u) <= hv)
            out, pending = _take_accepted(out, pending, acc, vc)
            if pending.numel() == 0:
                return out


def log_bessel_k(nu, z):
    """log K_nu(z) (modified Bessel function of the second kind), float64, nu real, z > 0.

    K_nu(z) = 1/2 int exp(-|nu| u - z cosh u) du, evaluated around its maximum u* = -asinh(|nu|/z)
    with Gauss-Legendre panels (see _LogGIG); accurate to ~1e-13 relative for any nu and
    1e-200 < z, including orders in the millions.
    """
    dtype = _dtype_of(nu, z)
    device = _device_of(z, nu)
    z = _f64(z, device)
    q = _f64(nu, device).abs()
    z, q = torch.broadcast_tensors(z, q)
    lg = _LogGIG(q, z)
    logA, _ = lg.totals()
    g_star = q * (torch.log(q + lg.Z) - torch.log(z)) - lg.Z
    return (g_star + logA - math.log(2.0)).to(dtype)


# ----------------------------------------------------------------------------------------------
# the base class
# ----------------------------------------------------------------------------------------------

class Law:
    """The law of the kernel scale S_t > 0 (see the module docstring).

    Public API (t, s, u, lam, sigma: tensors or numbers; broadcasting; dtype of the inputs):
    ``sample(t, generator)``, ``sample_with_rate(t, generator) -> (S, dS/dt)``, ``rate(s, t)``,
    ``laplace(lam, t)``, ``cdf(s, t)``, ``log_pdf(s, t)``, ``icdf(u, t)``, ``median(t)``,
    ``sigma(t)``, ``sigma_inv(sigma)``, ``dlog_sigma_dt(t)``, ``self_similar``.
    """

    #: the kind of kernel this law drives (kernel.py: KINDS): x = y + sqrt(S_t) xi, xi ~ N(0, I)
    kernel_kind: str = "scale_mixture"
    #: S_t = t**exponent * S_1 when self_similar
    self_similar: bool = False
    exponent: float | None = None
    _median1: float | None = None

    # ---- float64 implementation hooks -------------------------------------------------------
    def _sample64(self, t, generator):
        raise NotImplementedError

    def _sample_with_rate64(self, t, generator):
        S = self._sample64(t, generator)
        return S, self._rate64(S, t)

    def _rate64(self, s, t):
        if self.self_similar:
            return self.exponent * s / t
        raise NotImplementedError(f"{type(self).__name__} has no rate(s, t)")

    def _laplace64(self, lam, t):
        raise NotImplementedError

    def _cdf64(self, s, t):
        raise NotImplementedError(f"{type(self).__name__} has no CDF")

    def _log_pdf64(self, s, t):
        raise NotImplementedError(f"{type(self).__name__} has no density")

    def _cdf_pdf_rate64(self, s, t):
        return self._cdf64(s, t), torch.exp(self._log_pdf64(s, t)), self._rate64(s, t)

    def _scale64(self, t):
        """A typical size of S_t (starting point of root finding)."""
        return self._median64(t)

    def _icdf64(self, u, t):
        u, t = torch.broadcast_tensors(u, t)
        return _quantile(lambda s: (self._cdf64(s, t), torch.exp(self._log_pdf64(s, t))), u,
                         torch.log(self._scale64(t)))

    def _median64(self, t):
        if self.self_similar and self._median1 is not None:
            return self._median1 * t ** self.exponent
        return self._icdf64(torch.full_like(t, 0.5), t)

    def _dlog_sigma_dt64(self, t):
        if self.self_similar:
            return 0.5 * self.exponent / t
        med = self._median64(t)
        return 0.5 * self._rate64(med, t) / med

    def _t_bounds(self, s):
        """(t_lo, t_guess) for sigma_inv: median(t_lo) <= s."""
        raise NotImplementedError

    def _sigma_inv64(self, sig):
        if self.self_similar:
            return (sig * sig / self._median1) ** (1.0 / self.exponent)
        # solve F_t(s) = 1/2 for t (F_t(s) decreases in t), Newton in log t:
        # d F_t(s) / d log t = -t f_t(s) rate(s, t)
        s = sig * sig
        t_lo, t0 = self._t_bounds(s)

        def fn(x):
            t = torch.exp(x)
            F, f, r = self._cdf_pdf_rate64(s, t)
            return 0.5 - F, t * f * r

        lo = torch.log(t_lo)
        x0 = torch.log(t0)
        lo, hi = _bracket(fn, lo, torch.maximum(x0, lo) + 0.5)
        return torch.exp(_root(fn, x0, lo, hi))

    # ---- public API ---------------------------------------------------------------------------
    def sample(self, t, generator=None):
        """S_t, one draw per element of t (t > 0, shape [B])."""
        t64 = _f64(t)
        return self._sample64(t64, generator).to(_dtype_of(t))

    def sample_with_rate(self, t, generator=None):
        """(S_t, dS_t/dt) with dS_t/dt along the quantile coupling S_t = F_t^{-1}(U)."""
        t64 = _f64(t)
        S, dS = self._sample_with_rate64(t64, generator)
        dt = _dtype_of(t)
        return S.to(dt), dS.to(dt)

    def rate(self, s, t):
        """dS_t/dt at S_t = s along the quantile coupling: -(dF_t/dt)(s) / f_t(s)."""
        return _pointwise(self._rate64, s, t)

    def laplace(self, lam, t):
        """E[exp(-lam S_t)] = q(sqrt(2 lam), t), closed form."""
        return _pointwise(self._laplace64, lam, t)

    def cdf(self, s, t):
        """P(S_t <= s)."""
        return _pointwise(self._cdf64, s, t)

    def log_pdf(self, s, t):
        """log of the density of S_t at s."""
        return _pointwise(self._log_pdf64, s, t)

    def icdf(self, u, t):
        """The quantile F_t^{-1}(u), 0 < u < 1."""
        return _pointwise(self._icdf64, u, t)

    def median(self, t):
        """median(S_t)."""
        return self._median64(_f64(t)).to(_dtype_of(t))

    def sigma(self, t):
        """sigma(t) = sqrt(median(S_t)), the per-coordinate scale of the kernel."""
        return torch.sqrt(self._median64(_f64(t))).to(_dtype_of(t))

    def sigma_inv(self, sigma):
        """The t with sigma(t) = sigma (sigma is increasing in t)."""
        return self._sigma_inv64(_f64(sigma)).to(_dtype_of(sigma))

    def dlog_sigma_dt(self, t):
        """a(t) = d ln sigma(t) / dt = rate(median, t) / (2 median)."""
        return self._dlog_sigma_dt64(_f64(t)).to(_dtype_of(t))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._params().items())})"

    def _params(self):
        return {}


# ----------------------------------------------------------------------------------------------
# the laws
# ----------------------------------------------------------------------------------------------

class Deterministic(Law):
    """Diffusion phi_t = a lap phi: q = exp(-a t k^2), S_t = 2 a t (a point mass), dS/dt = 2 a."""

    self_similar = True
    exponent = 1.0

    def __init__(self, a: float):
        if not a > 0:
            raise ValueError(f"Deterministic needs a > 0, got {a!r}")
        self.a = float(a)
        self._median1 = 2.0 * self.a

    def _params(self):
        return {"a": self.a}

    def _sample64(self, t, generator):
        return 2.0 * self.a * t

    def _sample_with_rate64(self, t, generator):
        return 2.0 * self.a * t, torch.full_like(t, 2.0 * self.a)

    def _laplace64(self, lam, t):
        return torch.exp(-2.0 * self.a * lam * t)

    def _cdf64(self, s, t):
        return (s >= 2.0 * self.a * t).to(_F64)

    def _log_pdf64(self, s, t):
        raise NotImplementedError("Deterministic: S_t = 2 a t is a point mass (no density)")

    def _icdf64(self, u, t):
        u, t = torch.broadcast_tensors(u, t)
        return 2.0 * self.a * t


class Stable(Law):
    """q = exp(-c t k^alpha), 0 < alpha < 2: S_t = 2 (c t)^(2/alpha) S_1, E exp(-lam S_1) = exp(-lam^beta).

    beta = alpha / 2. S_1 is positive stable of index beta, sampled by Kanter's representation
    S_1 = sin(beta U) / sin(U)^(1/beta) * (sin((1 - beta) U) / E)^((1 - beta)/beta), U ~ U(0, pi),
    E ~ Exp(1). Its CDF is Zolotarev's integral F_1(x) = 1/pi int_0^pi exp(-A(u) x^(-gamma)) du with
    gamma = beta / (1 - beta), A(u) = sin(beta u)^gamma sin((1-beta) u) / sin(u)^(1/(1-beta)),
    evaluated with composite Gauss-Legendre (graded panels, 384 nodes; ~1e-12). Self-similar: dS/dt = (2/alpha) S / t.
    alpha = 1 (Poisson): S_t = (c t)^2 / Z^2, Z ~ N(0, 1). Stable(2, c) returns Deterministic(c).
    """

    self_similar = True

    def __new__(cls, alpha: float, c: float = 1.0):
        if alpha == 2.0:  # exp(-c t k^2): the Gaussian limit
            return Deterministic(c)
        return super().__new__(cls)

    def __init__(self, alpha: float, c: float = 1.0):
        if not 0.0 < alpha < 2.0:
            raise ValueError(f"Stable needs 0 < alpha <= 2, got {alpha!r}")
        if not c > 0:
            raise ValueError(f"Stable needs c > 0, got {c!r}")
        self.alpha = float(alpha)
        self.c = float(c)
        self.beta = 0.5 * self.alpha
        self.gamma = self.beta / (1.0 - self.beta)
        self.exponent = 2.0 / self.alpha
        # median of S_1 (t = 1 / c makes the scale factor 2)
        med = self._icdf_unit(torch.tensor([0.5], dtype=_F64))
        self._median_S1 = float(med[0])
        self._median1 = 2.0 * self.c ** self.exponent * self._median_S1

    def _params(self):
        return {"alpha": self.alpha, "c": self.c}

    def _scale_t(self, t):
        """s(t) = 2 (c t)^(2/alpha): S_t = s(t) S_1."""
        return 2.0 * (self.c * t) ** self.exponent

    def _sample64(self, t, generator):
        b = self.beta
        V = _uniform(t.shape, generator, t.device)
        E = -torch.log(_uniform(t.shape, generator, t.device))
        U = math.pi * V
        sin_u = torch.sin(math.pi * torch.minimum(V, 1.0 - V))
        logS1 = (torch.log(torch.sin(b * U)) + (1.0 - b) / b * torch.log(torch.sin((1.0 - b) * U))
                 - torch.log(sin_u) / b - (1.0 - b) / b * torch.log(E))
        return self._scale_t(t) * torch.exp(logS1)

    def _laplace64(self, lam, t):
        return torch.exp(-self.c * t * (2.0 * lam) ** self.beta)

    def _zolotarev(self, x):
        """(log A(u_j) + log weight_j) at the nodes, and gamma * log x, for the integrals over u."""
        u, wu = self._nodes(x.device)
        b = self.beta
        sin_u = torch.sin(torch.minimum(u, math.pi - u))
        logA = (self.gamma * torch.log(torch.sin(b * u)) + torch.log(torch.sin((1.0 - b) * u))
                - torch.log(sin_u) / (1.0 - b))
        return logA, torch.log(wu)

    @staticmethod
    def _nodes(device):
        """Composite Gauss-Legendre on (0, pi): 16 uniform panels, graded geometrically (2^-j) to both ends."""
        key = ("stable", str(device))
        if key not in _GL_CACHE:
            grade = [2.0 ** -j for j in range(5, 21)]
            edges = sorted(set([i / 16.0 for i in range(17)] + grade + [1.0 - g for g in grade]))
            e = torch.tensor(edges, dtype=_F64, device=device) * math.pi
            u, wu = _panel(e[:-1], e[1:], 8)
            _GL_CACHE[key] = (u.reshape(-1), wu.reshape(-1) / math.pi)
        return _GL_CACHE[key]

    def _cdf_unit(self, x):
        logA, logw = self._zolotarev(x)
        y = (logA - self.gamma * torch.log(x).unsqueeze(-1))
        return (torch.exp(logw - torch.exp(y))).sum(-1)

    def _log_pdf_unit(self, x):
        logA, logw = self._zolotarev(x)
        lx = torch.log(x).unsqueeze(-1)
        y = logA - self.gamma * lx
        terms = logw + y - torch.exp(y)
        return math.log(self.gamma) - torch.log(x) + torch.logsumexp(terms, dim=-1)

    def _icdf_unit(self, u):
        return _quantile(lambda s: (self._cdf_unit(s), torch.exp(self._log_pdf_unit(s))), u, torch.zeros_like(u))

    def _cdf64(self, s, t):
        s, t = torch.broadcast_tensors(s, t)
        return self._cdf_unit(s / self._scale_t(t))

    def _log_pdf64(self, s, t):
        s, t = torch.broadcast_tensors(s, t)
        sc = self._scale_t(t)
        return self._log_pdf_unit(s / sc) - torch.log(sc)

    def _icdf64(self, u, t):
        u, t = torch.broadcast_tensors(u, t)
        return self._scale_t(t) * self._icdf_unit(u)


class InverseGaussian(Law):
    """Yukawa / screened Poisson: q = exp(-c t (sqrt(k^2 + m^2) - m)); S_t ~ IG(c t / m, (c t)^2).

    With nu = c t: F_t(s) = Phi((m s - nu)/sqrt s) + exp(2 m nu) Phi(-(m s + nu)/sqrt s) (the second
    term in logs), f_t(s) = nu / sqrt(2 pi s^3) exp(-(m s - nu)^2 / (2 s)). Sampling by
    Michael-Schucany-Haas. Not self-similar: along the quantile coupling
        dS/dt = -(dF_t/dt)(S) / f_t(S) = (2 S / t) (1 - m sqrt(S) R(b)),  b = (m S + nu)/sqrt(S),
    with R(b) = Phi(-b)/phi(b) the Mills ratio (from erfcx).
    """

    def __init__(self, c: float = 1.0, m: float = 1.0):
        if not (c > 0 and m > 0):
            raise ValueError(f"InverseGaussian needs c > 0 and m > 0, got c={c!r}, m={m!r}")
        self.c = float(c)
        self.m = float(m)
        self._levy = 2.0 * gamma_median(0.5)  # median of Z^2

    def _params(self):
        return {"c": self.c, "m": self.m}

    def _sample64(self, t, generator):
        nu = self.c * t
        mu = nu / self.m
        z = _normal(t.shape, generator, t.device)
        U = _uniform(t.shape, generator, t.device)
        r = z * z / (2.0 * self.m * nu)  # mu y / (2 lambda)
        x1 = mu / (1.0 + r + torch.sqrt(r * (r + 2.0)))
        return torch.where(U * (mu + x1) <= mu, x1, mu * mu / x1)

    def _laplace64(self, lam, t):
        m2 = self.m * self.m
        return torch.exp(-self.c * t * 2.0 * lam / (torch.sqrt(m2 + 2.0 * lam) + self.m))

    def _cdf64(self, s, t):
        nu = self.c * t
        rs = torch.sqrt(s)
        a = (self.m * s - nu) / rs
        b = (self.m * s + nu) / rs
        return torch.special.ndtr(a) + torch.exp(2.0 * self.m * nu + torch.special.log_ndtr(-b))

    def _log_pdf64(self, s, t):
        nu = self.c * t
        return torch.log(nu) - _HALF_LOG_2PI - 1.5 * torch.log(s) - (self.m * s - nu) ** 2 / (2.0 * s)

    def _rate64(self, s, t):
        nu = self.c * t
        rs = torch.sqrt(s)
        b = (self.m * s + nu) / rs
        mills = _SQRT_HALF_PI * torch.special.erfcx(b / math.sqrt(2.0))
        return 2.0 * s / t * (1.0 - self.m * rs * mills)

    def _scale64(self, t):
        nu = self.c * t
        return torch.minimum(nu / self.m, nu * nu / self._levy)

    def _t_bounds(self, s):
        # the drift makes S_t stochastically smaller than the Levy law (c t)^2 / Z^2
        t_lo = torch.sqrt(s * self._levy) / self.c
        return t_lo, torch.maximum(t_lo, self.m * s / self.c)


class InverseGamma(Law):
    """Poisson with D augmented dimensions (PFGM++): S_t ~ InvGamma(D/2, scale (c t)^2 / 2).

    q = 2^(1-D/2)/Gamma(D/2) (c k t)^(D/2) K_{D/2}(c k t) (Student-t characteristic function);
    S_t = (c t)^2 / (2 G), G ~ Gamma(D/2) (sampled in logs by Marsaglia-Tsang; no clipping).
    Self-similar, dS/dt = 2 S / t; sigma(t) = c t / sqrt(2 median(Gamma(D/2))). With c = 1 and t = r:
    |x - y|^2 / r^2 ~ BetaPrime(N/2, D/2) and the velocity is (x - y) / r (PFGM++).
    """

    self_similar = True
    exponent = 2.0

    def __init__(self, D: float, c: float = 1.0):
        if not (D > 0 and c > 0):
            raise ValueError(f"InverseGamma needs D > 0 and c > 0, got D={D!r}, c={c!r}")
        self.D = float(D)
        self.c = float(c)
        self.k = 0.5 * self.D
        self.gamma_median = gamma_median(self.k)
        self._median1 = self.c * self.c / (2.0 * self.gamma_median)

    def _params(self):
        return {"D": self.D, "c": self.c}

    def _sample64(self, t, generator):
        logG = _log_standard_gamma(self.k, t.numel(), generator, t.device).reshape(t.shape)
        return torch.exp(2.0 * torch.log(self.c * t) - math.log(2.0) - logG)

    def _laplace64(self, lam, t):
        lam, t = torch.broadcast_tensors(lam, t)
        z = self.c * t * torch.sqrt(2.0 * lam)
        pos = z > 0
        zs = torch.where(pos, z, torch.ones_like(z))
        logq = (math.log(2.0) + self.k * torch.log(0.5 * zs) + log_bessel_k(torch.full_like(zs, self.k), zs)
                - math.lgamma(self.k))
        return torch.where(pos, torch.exp(logq), torch.ones_like(z))

    def _cdf64(self, s, t):
        s, t = torch.broadcast_tensors(s, t)
        beta = 0.5 * (self.c * t) ** 2
        return torch.special.gammaincc(torch.full_like(s, self.k), beta / s)

    def _log_pdf64(self, s, t):
        beta = 0.5 * (self.c * t) ** 2
        return self.k * torch.log(beta) - math.lgamma(self.k) - (self.k + 1.0) * torch.log(s) - beta / s


class GIG(Law):
    """Yukawa with D augmented dimensions: S_t ~ GIG(p = -D/2, a = m^2, b = (c t)^2).

    E exp(-lam S) = (a / (a + 2 lam))^(p/2) K_p(sqrt(b (a + 2 lam))) / K_p(sqrt(a b)).
    S_t = (c t / m) X, X ~ GIG(p, w, w), w = m c t (scipy: geninvgauss(p, b=w)). D = 1 is
    InverseGaussian(c, m); m -> 0 is InverseGamma(D, c).

    Everything is exact up to quadrature error (~1e-12): eta = log X has the log-concave density
    exp(p eta - w cosh eta) / (2 K_p(w)); sampling is an exact ratio-of-uniforms rejection sampler
    on eta (truncated where the log-density is 60 below its mode); the CDF, the normaliser and the
    rate use Gauss-Legendre panels around the mode. Along the quantile coupling
        d log S / dt = (1 + w d eta / dw) / t,   d eta / dw = -(d G_w / dw)(eta) / g_w(eta),
    where d G_w / dw (eta) = int_{-inf}^{eta} g_w (E[cosh] - cosh) is a tail integral on the same panels.
    Works for any D >= 1 (tested to 10^6) and any w > 0.
    """

    def __init__(self, D: float, m: float = 1.0, c: float = 1.0):
        if not (D > 0 and m > 0 and c > 0):
            raise ValueError(f"GIG needs D > 0, m > 0, c > 0, got D={D!r}, m={m!r}, c={c!r}")
        self.D = float(D)
        self.m = float(m)
        self.c = float(c)
        self.q = 0.5 * self.D
        self._ig_median = gamma_median(self.q)

    def _params(self):
        return {"D": self.D, "m": self.m, "c": self.c}

    def _setup(self, t):
        ct = self.c * t
        lg = _LogGIG(self.q, self.m * ct)
        offset = 2.0 * torch.log(ct) - torch.log(self.q + lg.Z)  # log S = offset + v
        return lg, offset

    def _sample64(self, t, generator):
        shape = t.shape
        t = t.reshape(-1)
        lg, offset = self._setup(t)
        return torch.exp(offset + lg.rou_sample(generator)).reshape(shape)

    def _sample_with_rate64(self, t, generator):
        shape = t.shape
        t = t.reshape(-1)
        lg, offset = self._setup(t)
        v = lg.rou_sample(generator)
        _, _, M = lg.tail(v)
        S = torch.exp(offset + v)
        return S.reshape(shape), (S * (1.0 + M) / t).reshape(shape)

    def _at(self, s, t):
        s, t = torch.broadcast_tensors(s, t)
        lg, offset = self._setup(t)
        return lg, torch.log(s) - offset, s, t

    def _rate64(self, s, t):
        lg, v, s, t = self._at(s, t)
        _, _, M = lg.tail(v)
        return s * (1.0 + M) / t

    @staticmethod
    def _F(v, hv, logT, logA):
        frac = torch.exp(hv + logT - logA)
        return torch.where(v <= 0, frac, 1.0 - frac)

    def _cdf64(self, s, t):
        lg, v, s, t = self._at(s, t)
        hv, logT, _ = lg.tail(v)
        return self._F(v, hv, logT, lg.totals()[0])

    def _log_pdf64(self, s, t):
        lg, v, s, t = self._at(s, t)
        return lg.h(v) - lg.totals()[0] - torch.log(s)

    def _cdf_pdf_rate64(self, s, t):
        lg, v, s, t = self._at(s, t)
        hv, logT, M = lg.tail(v)
        logA = lg.totals()[0]
        return self._F(v, hv, logT, logA), torch.exp(hv - logA) / s, s * (1.0 + M) / t

    def _icdf64(self, u, t):
        u, t = torch.broadcast_tensors(u, t)
        lg, offset = self._setup(t)
        logA, _ = lg.totals()

        def fn(v):
            hv, logT, _ = lg.tail(v, with_rate=False)
            return self._F(v, hv, logT, logA) - u, torch.exp(hv - logA)

        v = _root(fn, torch.zeros_like(t), lg.v_lo, lg.v_hi)
        return torch.exp(offset + v)

    def _laplace64(self, lam, t):
        lam, t = torch.broadcast_tensors(lam, t)
        ct = self.c * t
        m2 = self.m * self.m
        nu = torch.full_like(t, self.q)
        return torch.exp(0.5 * self.q * torch.log1p(2.0 * lam / m2)
                         + log_bessel_k(nu, ct * torch.sqrt(m2 + 2.0 * lam)) - log_bessel_k(nu, ct * self.m))

    def _scale64(self, t):
        ct = self.c * t
        return torch.minimum(ct / self.m, ct * ct / (2.0 * self._ig_median))

    def _t_bounds(self, s):
        # m > 0 makes S_t stochastically smaller than InverseGamma(D, c)
        t_lo = torch.sqrt(2.0 * self._ig_median * s) / self.c
        return t_lo, torch.maximum(t_lo, self.m * s / self.c)


class Sum(Law):
    """S_t = sum_i S_t^(i), independent (the kernel is the product of the components' kernels).

    Each component is coupled by its own quantile (its own U_i), so dS/dt = sum_i dS_i/dt and the
    conditional velocity is u = (sum_i dS_i/dt) / (2 S) (x - y). This is not the quantile coupling
    of S itself, but any differentiable coupling works: x_t = y + sqrt(S_t) xi has the kernel as
    its law at every t and dx_t/dt = u, so for every test function g,
    d/dt E g(x_t) = E[grad g(x_t) . u] = E[grad g(x_t) . E[u | x_t]]; the regression target's
    conditional mean E[u | x_t = x] therefore solves the continuity equation of the marginal
    (flow matching), which is what the trained field learns. ``rate(s, t)`` is accordingly
    E[dS/dt | S_t = s], which carries the law of S_t.

    Deterministic components shift S by 2 a t. With one random component everything is that
    component's, shifted. With two (A, B), d = s - 2 a t, the region {S_A + S_B <= d} is split at
    d/2 and each half is integrated over the quantile u of the smaller part:
        F = sum_{(A,B)} int_0^{F_B(d/2)} F_A(d - Q_B(u)) du - F_A(d/2) F_B(d/2),
        f = sum_{(A,B)} int_0^{F_B(d/2)} f_A(d - Q_B(u)) du,
        f E[dS/dt | s] = sum_{(A,B)} int_0^{F_B(d/2)} f_A(d - Q_B(u)) (r_A(d - Q_B(u)) + r_B(Q_B(u))) du,
    (plus 2 a for the shift) with u = F_B(d/2) exp(1 - 1/v) and 48 Gauss-Legendre nodes in v in [1/70, 1], which
    absorbs the logarithmic behaviour of Q_B(u) at u -> 0 (relative accuracy ~1e-12). Three or more
    random components: sampling and laplace only.
    """

    def __init__(self, *laws: Law):
        flat = []
        for law in laws:
            flat.extend(law.laws if isinstance(law, Sum) else [law])
        if not flat:
            raise ValueError("Sum needs at least one law")
        self.laws = tuple(flat)
        self._a = sum(law.a for law in flat if isinstance(law, Deterministic))
        self._random = tuple(law for law in flat if not isinstance(law, Deterministic))
        exps = {law.exponent for law in flat}
        self.self_similar = all(law.self_similar for law in flat) and len(exps) == 1
        if self.self_similar:
            self.exponent = exps.pop()
            self._median1 = float(self._median_general(torch.ones(1, dtype=_F64))[0])

    def __repr__(self):
        return f"Sum({', '.join(repr(law) for law in self.laws)})"

    def _sample64(self, t, generator):
        S = torch.zeros_like(t)
        for law in self.laws:
            S = S + law._sample64(t, generator)
        return S

    def _sample_with_rate64(self, t, generator):
        S = torch.zeros_like(t)
        R = torch.zeros_like(t)
        for law in self.laws:
            s, r = law._sample_with_rate64(t, generator)
            S = S + s
            R = R + r
        return S, R

    def _laplace64(self, lam, t):
        out = torch.ones_like(lam * t)
        for law in self.laws:
            out = out * law._laplace64(lam, t)
        return out

    def _check(self):
        if len(self._random) > 2:
            raise NotImplementedError("Sum: CDF, density, rate and median need at most two random components")

    def _cdf_pdf_rate64(self, s, t):
        """(F, f, E[dS/dt | S = s]) at s; f and the rate are only meaningful where f > 0."""
        self._check()
        s, t = torch.broadcast_tensors(s, t)
        d = s - 2.0 * self._a * t
        pos = d > 0
        dd = torch.where(pos, d, torch.ones_like(d))
        zero = torch.zeros_like(d)
        if not self._random:
            return (d >= 0).to(_F64), zero, torch.full_like(d, 2.0 * self._a)
        if len(self._random) == 1:
            F, f, r = self._random[0]._cdf_pdf_rate64(dd, t)
            return torch.where(pos, F, zero), torch.where(pos, f, zero), r + 2.0 * self._a
        R1, R2 = self._random
        x, w = _gauss_legendre(48, s.device)
        v0 = 1.0 / 70.0  # u < 1e-30 F_B(d/2) is dropped
        v = v0 + 0.5 * (1.0 - v0) * (x + 1.0)
        e = torch.exp(1.0 - 1.0 / v)  # u = F_B(d/2) e(v): smooth in v at both ends
        wv = 0.5 * (1.0 - v0) * w * e / (v * v)
        te = t.unsqueeze(-1)
        half = 0.5 * dd
        F1h, F2h = R1._cdf64(half, t), R2._cdf64(half, t)
        F, f, flux = -F1h * F2h, zero, zero
        for A, B, FBh in ((R1, R2, F2h), (R2, R1, F1h)):
            Q = B._icdf64((FBh.unsqueeze(-1) * e).clamp(_U_MIN, _U_MAX), te)
            arg = (dd.unsqueeze(-1) - Q).clamp_min(1e-300)
            FA, fA, rA = A._cdf_pdf_rate64(arg, te)
            rB = B._rate64(Q, te)
            F = F + FBh * (FA * wv).sum(-1)
            f = f + FBh * (fA * wv).sum(-1)
            flux = flux + FBh * torch.where(fA > 0, fA * (rA + rB), torch.zeros_like(fA)).mul_(wv).sum(-1)
        return torch.where(pos, F, zero), torch.where(pos, f, zero), flux / f + 2.0 * self._a

    def _cdf64(self, s, t):
        return self._cdf_pdf_rate64(s, t)[0]

    def _log_pdf64(self, s, t):
        return torch.log(self._cdf_pdf_rate64(s, t)[1])

    def _rate64(self, s, t):
        if self.self_similar:
            return self.exponent * s / t
        return self._cdf_pdf_rate64(s, t)[2]

    def _icdf64(self, u, t):
        self._check()
        u, t = torch.broadcast_tensors(u, t)
        shift = 2.0 * self._a * t
        if not self._random:
            return shift
        if len(self._random) == 1:
            return shift + self._random[0]._icdf64(u, t)
        x0 = torch.log(shift + self._random[0]._median64(t) + self._random[1]._median64(t))
        return _quantile(lambda s: self._cdf_pdf_rate64(s, t)[:2], u, x0)

    def _median_general(self, t):
        return self._icdf64(torch.full_like(t, 0.5), t)

    def _median64(self, t):
        if self.self_similar:
            return self._median1 * t ** self.exponent
        return self._median_general(t)

    def _sigma_inv64(self, sig):
        if self.self_similar:
            return super()._sigma_inv64(sig)
        self._check()
        # solve F_t(sigma^2) = 1/2 in log t; median(S_t) >= each component's median, so the smallest
        # of the components' sigma_inv is an upper end of the bracket
        s = sig * sig

        def fn(x):
            t = torch.exp(x)
            F, f, r = self._cdf_pdf_rate64(s, t)
            return 0.5 - F, t * f * r

        hi = torch.log(torch.stack([law._sigma_inv64(sig) for law in self.laws]).amin(0))
        lo, _ = _bracket(fn, hi - 1.0, hi)
        return torch.exp(_root(fn, hi - 0.5, lo, hi))
