"""The mixing laws of S_t and the perturbation kernel (pdec/runtime/laws.py, kernel.py).

Every reference here is computed independently of the code under test: Fourier kernels written
with scipy.special.kv, radial laws from scipy.stats (chi, betaprime, invgauss, geninvgauss mixtures),
continuity residuals by finite differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
import torch

from pdec.runtime.kernel import Kernel
from pdec.runtime.laws import GIG, Deterministic, InverseGamma, InverseGaussian, Law, Stable, Sum

F64 = torch.float64




def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tt(x, dtype=F64):
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=dtype)


# ----------------------------------------------------------------------------------------------
# independent Fourier kernels q(k, t)
# ----------------------------------------------------------------------------------------------

def log_kv(nu: float, z: np.ndarray) -> np.ndarray:
    """log K_nu(z): scipy's kve where it is finite, else Debye's uniform expansion (orders > 500)."""
    z = np.asarray(z, dtype=float)
    with np.errstate(over="ignore", divide="ignore"):
        direct = np.log(sp.kve(nu, z)) - z
    if np.all(np.isfinite(direct)):
        return direct
    assert nu > 500
    x = z / nu
    sq = np.sqrt(1.0 + x * x)
    eta = sq + np.log(x / (1.0 + sq))
    p = 1.0 / sq
    u1 = (3 * p - 5 * p ** 3) / 24
    u2 = (81 * p ** 2 - 462 * p ** 4 + 385 * p ** 6) / 1152
    u3 = (30375 * p ** 3 - 369603 * p ** 5 + 765765 * p ** 7 - 425425 * p ** 9) / 414720
    series = 1 - u1 / nu + u2 / nu ** 2 - u3 / nu ** 3
    return 0.5 * np.log(np.pi / (2 * nu)) - nu * eta - 0.25 * np.log1p(x * x) + np.log(series)


def fourier_kernel(law: Law, k: np.ndarray, t: float) -> np.ndarray:
    """q(k, t) from the PDE side (DESIGN.md section 5 table), not through Law.laplace."""
    if isinstance(law, Deterministic):
        return np.exp(-law.a * t * k ** 2)
    if isinstance(law, Stable):
        return np.exp(-law.c * t * k ** law.alpha)
    if isinstance(law, InverseGaussian):
        return np.exp(-law.c * t * (np.sqrt(k ** 2 + law.m ** 2) - law.m))
    if isinstance(law, InverseGamma):
        nu = law.D / 2
        z = law.c * k * t
        return np.exp((1 - nu) * np.log(2) - sp.gammaln(nu) + nu * np.log(z) + log_kv(nu, z))
    if isinstance(law, GIG):
        nu = law.D / 2
        m = law.m
        z = law.c * t * np.sqrt(k ** 2 + m ** 2)
        return np.exp(nu / 2 * np.log1p(k ** 2 / m ** 2) + log_kv(nu, z) - log_kv(nu, law.c * t * m))
    if isinstance(law, Sum):
        out = np.ones_like(k)
        for part in law.laws:
            out = out * fourier_kernel(part, k, t)
        return out
    raise TypeError(law)


LAPLACE_CASES = [
    (Deterministic(0.7), 0.3),
    (Stable(0.5, 1.0), 0.8),
    (Stable(1.0, 1.5), 0.4),
    (Stable(1.5, 1.0), 2.0),
    (InverseGaussian(1.0, 1.0), 0.05),
    (InverseGaussian(1.0, 1.0), 3.0),
    (InverseGaussian(2.0, 0.5), 1.0),
    (InverseGamma(1, 1.0), 0.7),
    (InverseGamma(2, 1.0), 0.7),
    (InverseGamma(128, 1.0), 5.0),
    (InverseGamma(2048, 1.5), 20.0),
    (InverseGamma(1e6, 1.0), 1000.0),
    (GIG(1, 1.0, 1.0), 0.6),
    (GIG(2, 1.0, 1.0), 1.0),
    (GIG(7, 0.5, 2.0), 0.3),
    (GIG(128, 1.0, 1.0), 5.0),
    (GIG(1e6, 1e-3, 1.0), 1000.0),
    (Sum(Deterministic(0.5), Stable(1.0)), 1.0),
    (Sum(InverseGaussian(1.0, 1.0), InverseGamma(4)), 0.7),
]


@pytest.mark.parametrize("law,t", LAPLACE_CASES, ids=lambda x: repr(x) if isinstance(x, Law) else str(x))
def test_laplace_monte_carlo(law, t):
    """E exp(-lam S_t) by Monte Carlo == closed form == the Fourier kernel at k = sqrt(2 lam)."""
    n = 20000
    S = law.sample(torch.full((n,), t, dtype=F64), gen(11)).numpy()
    med = float(law.median(tt([t])))
    lam = np.array([0.2, 1.0, 4.0]) / med
    closed = law.laplace(tt(lam), tt(t)).numpy()
    fourier = fourier_kernel(law, np.sqrt(2 * lam), t)
    np.testing.assert_allclose(closed, fourier, rtol=1e-9, atol=1e-300)
    e = np.exp(-lam[:, None] * S[None, :])
    mc = e.mean(1)
    se = e.std(1) / math.sqrt(n) + 1e-15
    assert np.all(np.abs(mc - fourier) < 4 * se), (mc, fourier, se)
    assert np.all((fourier > 1e-3) & (fourier < 1 - 1e-3))  # the test has power


# ----------------------------------------------------------------------------------------------
# radial law of |x - y| against the real-space Green function (KS)
# ----------------------------------------------------------------------------------------------

def _mixture_cdf(r: np.ndarray, N: int, s_nodes: np.ndarray) -> np.ndarray:
    """P(|x - y| <= r) = E_S[chi2_N(r^2 / S)] with S at equally likely quantile nodes."""
    out = np.zeros_like(r)
    for chunk in np.array_split(s_nodes, max(1, len(s_nodes) // 100)):
        out += st.chi2.cdf(r[:, None] ** 2 / chunk[None, :], N).sum(1)
    return out / len(s_nodes)


def _quantile_nodes_from_pdf(logpdf, lo: float, hi: float, M: int = 400) -> np.ndarray:
    """Equally likely quantile nodes of a law on (lo, hi) from its density (cumulative trapezoid in log s)."""
    ls = np.linspace(np.log(lo), np.log(hi), 20001)
    dens = np.exp(logpdf(np.exp(ls)) + ls)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(ls))])
    assert abs(cum[-1] - 1) < 1e-6, cum[-1]
    u = (np.arange(M) + 0.5) / M
    return np.exp(np.interp(u, cum / cum[-1], ls))


def radial_reference(name: str, N: int, t: float, par: dict):
    """CDF of R = |x - y| for the named Green function (scipy only)."""
    if name == "diffusion":
        return st.chi(N, scale=math.sqrt(2 * par["a"] * t)).cdf
    if name == "pfgmpp":  # R^2 / (c t)^2 ~ BetaPrime(N/2, D/2)
        bp = st.betaprime(N / 2, par["D"] / 2)
        return lambda r: bp.cdf((r / (par["c"] * t)) ** 2)
    if name == "yukawa":  # S ~ IG(c t / m, (c t)^2): scipy invgauss(mu, scale) = IG(mu * scale, scale)
        nu = par["c"] * t
        ig = st.invgauss(mu=1.0 / (par["m"] * nu), scale=nu ** 2)
        nodes = ig.ppf((np.arange(1000) + 0.5) / 1000)
        return lambda r: _mixture_cdf(r, N, nodes)
    if name == "yukawa_D":  # S = (c t / m) X, X ~ geninvgauss(-D/2, w), w = m c t
        w = par["m"] * par["c"] * t
        scale = par["c"] * t / par["m"]
        gig = st.geninvgauss(-par["D"] / 2, w, scale=scale)
        med = float(par["median"])
        nodes = _quantile_nodes_from_pdf(gig.logpdf, med * 1e-4, med * 1e4)
        return lambda r: _mixture_cdf(r, N, nodes)
    raise KeyError(name)


RADIAL_CASES = [
    ("diffusion", Deterministic(0.5), {"a": 0.5}, 0.8),
    ("pfgmpp", Stable(1.0, 1.0), {"D": 1, "c": 1.0}, 0.6),  # Poisson (PFGM), D = 1
    ("pfgmpp", InverseGamma(1, 1.0), {"D": 1, "c": 1.0}, 0.6),
    ("pfgmpp", InverseGamma(2, 1.0), {"D": 2, "c": 1.0}, 1.3),
    ("pfgmpp", InverseGamma(128, 1.0), {"D": 128, "c": 1.0}, 4.0),
    ("pfgmpp", InverseGamma(2048, 2.0), {"D": 2048, "c": 2.0}, 9.0),
    ("yukawa", InverseGaussian(1.0, 1.0), {"c": 1.0, "m": 1.0}, 1.5),
    ("yukawa_D", GIG(3, 1.0, 1.0), {"D": 3, "m": 1.0, "c": 1.0}, 1.2),
    ("yukawa_D", GIG(16, 0.5, 1.0), {"D": 16, "m": 0.5, "c": 1.0}, 6.0),
]


def _radii(law: Law, N: int, t: float, n: int, seed: int) -> np.ndarray:
    kern = Kernel(law)
    if N == 2:
        y = torch.randn(n, N, generator=gen(seed + 1), dtype=F64) * 3.0
    else:
        y = torch.zeros(n, N, dtype=torch.float32)
    x, u = kern.perturb(y, torch.full((n,), t, dtype=F64), gen(seed))
    assert x.dtype == y.dtype and u.shape == y.shape
    return (x.double() - y.double()).norm(dim=1).numpy()


@pytest.mark.parametrize("N", [2, 3072])
@pytest.mark.parametrize("name,law,par,t", RADIAL_CASES, ids=lambda x: repr(x) if isinstance(x, Law) else None)
def test_radial_law_ks(name, law, par, t, N):
    """|x - y| from Kernel.perturb follows the real-space Green function's radial law."""
    n = 3000 if N == 2 else 1500
    r = _radii(law, N, t, n, seed=5)
    if name == "yukawa_D":
        par = dict(par, median=float(law.median(tt([t]))))
    res = st.kstest(r, radial_reference(name, N, t, par))
    assert res.pvalue > 1e-3, res


NEGATIVE_CASES = [
    # (sampled law, t, reference name, wrong parameters)
    (InverseGamma(128, 1.0), 4.0, "pfgmpp", {"D": 100, "c": 1.0}),
    (InverseGamma(1, 1.0), 0.6, "pfgmpp", {"D": 2, "c": 1.0}),
    (Deterministic(0.5), 0.8, "diffusion", {"a": 0.5 * 1.2}),
    (InverseGaussian(1.0, 1.0), 1.5, "yukawa", {"c": 1.0, "m": 1.3}),
    (GIG(3, 1.0, 1.0), 1.2, "yukawa_D", {"D": 4, "m": 1.0, "c": 1.0}),
]


@pytest.mark.parametrize("N", [2, 3072])
@pytest.mark.parametrize("law,t,name,wrong", NEGATIVE_CASES, ids=lambda x: repr(x) if isinstance(x, Law) else None)
def test_radial_law_ks_negative_control(law, t, name, wrong, N):
    """The same KS test rejects a wrong Green function (so the positive tests have power)."""
    n = 3000 if N == 2 else 1500
    r = _radii(law, N, t, n, seed=5)
    if name == "yukawa_D":
        wrong = dict(wrong, median=float(law.median(tt([t]))))
    assert st.kstest(r, radial_reference(name, N, t, wrong)).pvalue < 1e-3


# ----------------------------------------------------------------------------------------------
# the velocity carries the kernel: continuity of the law of S_t
# ----------------------------------------------------------------------------------------------

class _Broken(Law):
    """A law whose rate is deliberately wrong (factor), for the negative control."""

    def __init__(self, law: Law, factor: float):
        self.law, self.factor = law, factor

    def _cdf64(self, s, t):
        return self.law._cdf64(s, t)

    def _log_pdf64(self, s, t):
        return self.law._log_pdf64(s, t)

    def _rate64(self, s, t):
        return self.factor * self.law._rate64(s, t)

    def _median64(self, t):
        return self.law._median64(t)

    def _sample_with_rate64(self, t, generator):
        S, r = self.law._sample_with_rate64(t, generator)
        return S, self.factor * r

    def _laplace64(self, lam, t):
        return self.law._laplace64(lam, t)


def continuity_residual(law: Law, t: float) -> float:
    """max |d/dt f_t(s) + d/ds (f_t(s) dS/dt(s))| / max |d/dt f_t(s)| over the bulk of S_t."""
    u = np.linspace(0.03, 0.97, 33)
    s = law.icdf(tt(u), tt(t)).numpy()
    width = min(1.0, float(law.icdf(tt(0.75), tt(t)) / law.icdf(tt(0.25), tt(t))) - 1.0)
    h, d = 1e-3 * width * t, 1e-3 * width  # steps well inside the width of the law

    def f(s_, t_):
        return np.exp(law.log_pdf(tt(s_), tt(t_)).numpy())

    def flux(s_):
        return f(s_, t) * law.rate(tt(s_), tt(t)).numpy()

    dfdt = (f(s, t + h) - f(s, t - h)) / (2 * h)
    dflux = (flux(s * (1 + d)) - flux(s * (1 - d))) / (2 * d * s)
    return float(np.max(np.abs(dfdt + dflux)) / np.max(np.abs(dfdt)))


CONTINUITY_CASES = [
    (Stable(0.5, 1.0), 0.7),
    (Stable(1.0, 2.0), 0.5),
    (Stable(1.5, 1.0), 1.3),
    (InverseGaussian(1.0, 1.0), 0.05),
    (InverseGaussian(1.0, 1.0), 2.0),
    (InverseGaussian(0.5, 3.0), 40.0),
    (InverseGamma(1, 1.0), 0.8),
    (InverseGamma(8, 1.0), 2.0),
    (InverseGamma(128, 1.0), 5.0),
    (GIG(1, 1.0, 1.0), 0.8),
    (GIG(3, 1.0, 1.0), 0.02),
    (GIG(3, 1.0, 1.0), 2.0),
    (GIG(64, 0.5, 2.0), 10.0),
    (GIG(1e6, 1.0, 1.0), 300.0),
    (Sum(Deterministic(0.3), InverseGaussian(1.0, 1.0)), 1.0),
    (Sum(InverseGaussian(1.0, 2.0), InverseGamma(3)), 0.8),  # rate = E[dS/dt | S = s] by convolution
]


@pytest.mark.parametrize("law,t", CONTINUITY_CASES, ids=lambda x: repr(x) if isinstance(x, Law) else str(x))
def test_continuity_of_the_law_of_S(law, t):
    """d/dt f_t + d/ds (f_t dS/dt) = 0 (finite differences); a wrong rate breaks it."""
    assert continuity_residual(law, t) < 1e-4
    assert continuity_residual(_Broken(law, -1.0), t) > 0.3
    assert continuity_residual(_Broken(law, 0.5), t) > 0.1


@pytest.mark.parametrize("N", [2, 5])
def test_continuity_diffusion_radial(N):
    """Diffusion (S_t = 2 a t is degenerate): the radial law chi_N(scale sqrt(2 a t)) is carried by
    the radial speed |u| = (dS/dt)/(2 S) r = r / (2 t)."""
    law = Deterministic(0.7)
    t = 0.9
    r = np.linspace(0.1, 4.0, 40) * math.sqrt(2 * law.a * t)
    S, dS = law.sample_with_rate(tt([t]))
    c = float(dS / (2 * S))

    def f(r_, t_):
        return st.chi(N, scale=math.sqrt(2 * law.a * t_)).pdf(r_)

    h, d = 1e-5, 1e-5
    dfdt = (f(r, t + h) - f(r, t - h)) / (2 * h)
    dflux = (f(r + d, t) * c * (r + d) - f(r - d, t) * c * (r - d)) / (2 * d)
    res = np.abs(dfdt + dflux).max() / np.abs(dfdt).max()
    assert res < 1e-5
    dflux_bad = (f(r + d, t) * 2 * c * (r + d) - f(r - d, t) * 2 * c * (r - d)) / (2 * d)
    assert np.abs(dfdt + dflux_bad).max() / np.abs(dfdt).max() > 0.3


RATE_CASES = [
    (Stable(1.0, 1.0), 0.5),
    (InverseGaussian(1.0, 1.0), 1.0),
    (InverseGamma(16, 1.0), 2.0),
    (GIG(5, 1.0, 1.0), 1.5),
    (Sum(Deterministic(0.4), Stable(1.5)), 0.8),
    (Sum(InverseGaussian(1.0, 2.0), GIG(3, 1.0, 1.0)), 1.0),  # two random parts: own-quantile coupling
]


@pytest.mark.parametrize("law,t", RATE_CASES, ids=lambda x: repr(x) if isinstance(x, Law) else str(x))
def test_rate_carries_laplace(law, t):
    """d/dt E exp(-lam S_t) = -lam E[exp(-lam S_t) dS_t/dt] (Monte Carlo) for the sampled coupling."""
    n = 20000
    lam = 1.0 / float(law.median(tt([t])))
    h = 1e-5 * t
    lhs = (fourier_kernel(law, np.array([math.sqrt(2 * lam)]), t + h)
           - fourier_kernel(law, np.array([math.sqrt(2 * lam)]), t - h))[0] / (2 * h)
    for factor, ok in ((1.0, True), (0.7, False)):
        S, dS = _Broken(law, factor).sample_with_rate(torch.full((n,), t, dtype=F64), gen(3))
        v = (-lam * torch.exp(-lam * S) * dS).numpy()
        z = (v.mean() - lhs) / (v.std() / math.sqrt(n))
        assert (abs(z) < 4) == ok, (factor, z)


# ----------------------------------------------------------------------------------------------
# compiled PFGM++ and EDM
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("D", [2, 128, 2048])
def test_pfgmpp_equivalence(D):
    """InverseGamma(D, 1) at t = r: |x-y|^2/r^2 ~ BetaPrime(N/2, D/2), u = (x - y)/r, r = sigma sqrt(D)."""
    law = InverseGamma(D, 1.0)
    kern = Kernel(law)
    N, n = 64, 3000
    r = torch.exp(torch.randn(n, generator=gen(1), dtype=F64))
    y = torch.randn(n, N, generator=gen(2), dtype=F64)
    x, u = kern.perturb(y, r, gen(3))
    R2 = ((x - y) ** 2).sum(1) / r ** 2
    assert st.kstest(R2.numpy(), st.betaprime(N / 2, D / 2).cdf).pvalue > 1e-3
    torch.testing.assert_close(u, (x - y) / r[:, None], rtol=1e-12, atol=1e-12)
    # sigma(t)^2 = median(S_t) = t^2 / (2 median Gamma(D/2)), exactly
    t = torch.tensor([0.01, 1.0, 80.0], dtype=F64)
    exact = t / math.sqrt(2 * st.gamma(D / 2).median())
    torch.testing.assert_close(law.sigma(t), exact, rtol=1e-9, atol=0)
    # median Gamma(k) = k - 1/3 + 8/(405 k) + O(k^-2): sigma = t / sqrt(D - 2/3 + 32/(405 D) + O(D^-2)),
    # so r = sigma sqrt(D) holds up to the factor 1 + 1/(3D) + O(D^-2)
    if D >= 128:
        torch.testing.assert_close(law.sigma(t), t / math.sqrt(D - 2 / 3 + 32 / (405 * D)), rtol=1e-6, atol=0)
        ratio = law.sigma(t) * math.sqrt(D) / t
        torch.testing.assert_close(ratio, torch.full_like(t, 1 + 1 / (3 * D)), rtol=1.0 / D ** 2, atol=0)
    # the velocity is u = a(t) (x - y) with a = 1/t, PFGM++'s dx/dr = (x - E[y|x]) / r
    torch.testing.assert_close(kern.a(t), 1.0 / t, rtol=1e-15, atol=0)
    torch.testing.assert_close(kern.velocity_from_denoiser(x, y, r), (x - y) / r[:, None], rtol=1e-12, atol=1e-12)


def test_edm_ve_path():
    """Deterministic(a=1): sigma(t) = sqrt(2 t), x = y + sigma xi, and dx/dsigma = (x - D)/sigma."""
    law = Deterministic(1.0)
    kern = Kernel(law)
    t = torch.tensor([1e-6, 0.02, 3.0, 3200.0], dtype=F64)
    torch.testing.assert_close(kern.sigma(t), torch.sqrt(2 * t), rtol=1e-15, atol=0)
    torch.testing.assert_close(kern.sigma_inv(torch.sqrt(2 * t)), t, rtol=1e-14, atol=0)
    y = torch.randn(4, 10, generator=gen(0))
    x, u = kern.perturb(y, t.float(), gen(7))
    xi = torch.randn(4, 10, generator=gen(7))  # Deterministic draws nothing before xi
    sig = torch.sqrt(2 * t).float()[:, None]
    torch.testing.assert_close(x, y + sig * xi, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(u, sig * xi / (2 * t.float()[:, None]), rtol=1e-6, atol=1e-6)
    Dn = torch.randn(4, 10, generator=gen(1))
    dt_dsigma = sig  # t = sigma^2 / 2
    torch.testing.assert_close(kern.velocity_from_denoiser(x, Dn, t.float()) * dt_dsigma, (x - Dn) / sig,
                               rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# numerics: no NaN/inf, sigma_inv, a(t), determinism, denoiser target
# ----------------------------------------------------------------------------------------------

ALL_LAWS = [
    Deterministic(1.0), Stable(0.5), Stable(1.0), Stable(1.5, 2.0), InverseGaussian(1.0, 1.0),
    InverseGaussian(3.0, 0.01), InverseGamma(1), InverseGamma(2), InverseGamma(128), InverseGamma(1e6),
    GIG(1, 1.0, 1.0), GIG(2, 1.0, 1.0), GIG(128, 1.0, 1.0), GIG(1e6, 1.0, 1.0), GIG(1e6, 1e-4, 1.0),
    Sum(Deterministic(0.5), InverseGaussian(1.0, 1.0)), Sum(Deterministic(0.5), Stable(1.0)),
]
SIGMAS = np.geomspace(0.002, 80.0, 9)


@pytest.mark.parametrize("law", ALL_LAWS, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
def test_no_nan_or_inf(law, dtype):
    """N = 3072, sigma from 0.002 to 80 (t = sigma_inv(sigma)), float32 and float64: all finite."""
    sig = torch.as_tensor(np.repeat(SIGMAS, 4), dtype=dtype)
    t = law.sigma_inv(sig)
    assert t.dtype == dtype and torch.isfinite(t).all() and (t > 0).all()
    kern = Kernel(law)
    y = torch.randn(len(t), 3072, generator=gen(0), dtype=dtype)
    x, u = kern.perturb(y, t, gen(1))
    assert x.dtype == dtype and u.dtype == dtype
    for v in (x, u, kern.denoiser_target(x, u, t), kern.sigma(t), kern.a(t)):
        assert torch.isfinite(v).all()
    S, dS = law.sample_with_rate(t.repeat(50), gen(2))
    assert torch.isfinite(S).all() and torch.isfinite(dS).all() and (S > 0).all() and (dS > 0).all()


@pytest.mark.parametrize("law", ALL_LAWS, ids=repr)
def test_sigma_inverse_and_a(law):
    """sigma_inv(sigma(t)) == t; a(t) == d ln sigma / dt by finite differences; sigma increasing."""
    sig = torch.as_tensor(SIGMAS, dtype=F64)
    t = law.sigma_inv(sig)
    torch.testing.assert_close(law.sigma(t), sig, rtol=1e-9, atol=0)
    torch.testing.assert_close(law.sigma_inv(law.sigma(t)), t, rtol=1e-8, atol=0)
    assert (torch.diff(t) > 0).all()
    h = 1e-5
    fd = (torch.log(law.sigma(t * math.exp(h))) - torch.log(law.sigma(t * math.exp(-h)))) / (
        t * (math.exp(h) - math.exp(-h)))
    torch.testing.assert_close(law.dlog_sigma_dt(t), fd, rtol=1e-6, atol=0)
    # the median really is the median
    if not isinstance(law, Deterministic):
        torch.testing.assert_close(law.cdf(law.median(t), t), torch.full_like(t, 0.5), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("law", ALL_LAWS, ids=repr)
def test_generator_determinism(law):
    kern = Kernel(law)
    y = torch.randn(16, 8, generator=gen(0))
    t = law.sigma_inv(torch.linspace(0.1, 5.0, 16))
    x1, u1 = kern.perturb(y, t, gen(42))
    x2, u2 = kern.perturb(y, t, gen(42))
    x3, _ = kern.perturb(y, t, gen(43))
    assert torch.equal(x1, x2) and torch.equal(u1, u2)
    assert not torch.equal(x1, x3)
    assert torch.equal(law.sample(t, gen(5)), law.sample(t, gen(5)))


@pytest.mark.parametrize("law", ALL_LAWS, ids=repr)
def test_denoiser_target(law):
    """y_eff = x - u/a(t): = y for self-similar laws, else y + (1 - c/a)(x - y); v = a (x - y_eff) = u."""
    kern = Kernel(law)
    n = 64
    y = torch.randn(n, 5, generator=gen(0), dtype=F64)
    t = law.sigma_inv(torch.exp(torch.randn(n, generator=gen(1), dtype=F64) * 1.2 - 1.2))
    x, u = kern.perturb(y, t, gen(2))
    y_eff = kern.denoiser_target(x, u, t)
    a = kern.a(t)[:, None]
    if law.self_similar:
        torch.testing.assert_close(y_eff, y, rtol=0, atol=1e-12 * float((x - y).abs().max()))
    else:
        c = (u / (x - y)).mean(1, keepdim=True)  # per-sample coefficient dS/dt / (2 S)
        torch.testing.assert_close(u, c * (x - y), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(y_eff, y + (1 - c / a) * (x - y), rtol=1e-9, atol=1e-9)
        if float((c / a - 1).abs().max()) > 1e-3:  # not (nearly) self-similar at these t
            assert not torch.allclose(y_eff, y)
    torch.testing.assert_close(kern.velocity_from_denoiser(x, y_eff, t), u, rtol=1e-9, atol=1e-9)


def test_self_similarity_flags():
    assert Deterministic(1).self_similar and Stable(1).self_similar and InverseGamma(3).self_similar
    assert not InverseGaussian(1, 1).self_similar and not GIG(3, 1, 1).self_similar
    assert Sum(Stable(1.0), InverseGamma(5)).self_similar  # both S ~ t^2
    assert not Sum(Deterministic(1), Stable(1.0)).self_similar


def test_perturb_image_batch_and_scalar_t():
    """y [B, C, H, W]: per-sample scale and coefficient broadcast over the image; t may be a number."""
    law = InverseGaussian(1.0, 1.0)
    kern = Kernel(law)
    y = torch.randn(6, 3, 8, 8, generator=gen(0))
    x, u = kern.perturb(y, 0.7, gen(1))
    assert x.shape == y.shape and u.shape == y.shape and x.dtype == torch.float32
    g = gen(1)
    S, dS = law.sample_with_rate(torch.full((6,), 0.7, dtype=F64), g)  # perturb draws S first, then xi
    xi = torch.randn(6, 3, 8, 8, generator=g)
    scale = S.sqrt().float()[:, None, None, None]
    torch.testing.assert_close(x, y + scale * xi, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(u, (dS / (2 * S)).float()[:, None, None, None] * scale * xi, rtol=1e-5, atol=1e-6)
