"""Numerics of the runtime laws against SciPy: Bessel K, CDFs, densities, quantiles, rates, samplers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
import torch

from pdec.runtime.laws import (
    GIG,
    Deterministic,
    InverseGamma,
    InverseGaussian,
    Stable,
    Sum,
    gamma_median,
    log_bessel_k,
)

F64 = torch.float64




def tt(x, dtype=F64):
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=dtype)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


# ---- Bessel K -------------------------------------------------------------------------------------

def test_log_bessel_k_against_scipy():
    nus = np.array([0.0, 0.5, 1.0, 2.5, 7.0, 10.0, 64.0, 200.0])
    zs = np.array([1e-8, 1e-3, 0.1, 1.0, 10.0, 100.0, 1e4, 1e6])
    nu, z = np.meshgrid(nus, zs)
    with np.errstate(over="ignore", divide="ignore"):
        ref = np.log(sp.kve(nu, z)) - z
    ok = np.isfinite(ref)
    got = log_bessel_k(tt(nu), tt(z)).numpy()
    assert ok.sum() > 55
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-12, atol=1e-12)
    zz = tt(np.geomspace(1e-3, 50, 30))
    np.testing.assert_allclose(log_bessel_k(0.0, zz).numpy(), torch.log(torch.special.modified_bessel_k0(zz)).numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_bessel_k(1.0, zz).numpy(), torch.log(torch.special.modified_bessel_k1(zz)).numpy(),
                               rtol=1e-12, atol=1e-12)


def _debye_log_kv(nu, z):
    x = z / nu
    sq = np.sqrt(1 + x * x)
    eta = sq + np.log(x / (1 + sq))
    p = 1 / sq
    u1 = (3 * p - 5 * p ** 3) / 24
    u2 = (81 * p ** 2 - 462 * p ** 4 + 385 * p ** 6) / 1152
    return 0.5 * np.log(np.pi / (2 * nu)) - nu * eta - 0.25 * np.log1p(x * x) + np.log(1 - u1 / nu + u2 / nu ** 2)


@pytest.mark.parametrize("nu", [5e4, 5e5])
def test_log_bessel_k_huge_orders(nu):
    """Orders up to 5e5 (D = 10^6) against Debye's uniform expansion (error ~ nu^-3)."""
    z = np.array([1e-6, 1.0, 1e3, nu / 3, nu, 10 * nu])
    got = log_bessel_k(tt(np.full_like(z, nu)), tt(z)).numpy()
    ref = _debye_log_kv(nu, z)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-8)
    # the ratio that enters the kernels: K_nu(z2)/K_nu(z1) near z ~ nu
    np.testing.assert_allclose(np.diff(got), np.diff(ref), rtol=1e-10, atol=1e-8)


# ---- single laws against scipy.stats ---------------------------------------------------------------

def test_gamma_median():
    for k in [0.05, 0.5, 1.0, 3.7, 64.0, 1024.0, 5e5]:
        assert gamma_median(k) == pytest.approx(st.gamma(k).median(), rel=1e-9)


@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0, 10.0, 1000.0])
def test_inverse_gaussian_against_scipy(t):
    law = InverseGaussian(1.3, 0.7)
    nu = 1.3 * t
    ref = st.invgauss(mu=1 / (0.7 * nu), scale=nu ** 2)
    u = np.array([1e-6, 0.01, 0.3, 0.5, 0.9, 0.999])
    s = ref.ppf(u)
    tv = tt(np.full_like(u, t))
    assert rel_err(law.cdf(tt(s), tv).numpy(), u) < 1e-9
    assert rel_err(law.log_pdf(tt(s), tv).numpy(), ref.logpdf(s)) < 1e-12
    assert rel_err(law.icdf(tt(u), tv).numpy(), s) < 1e-9
    assert rel_err(law.median(tt([t])).numpy(), [ref.median()]) < 1e-12
    # dS/dt along the quantile coupling = d/dt of scipy's quantile at fixed u
    h = 1e-6 * t

    def q(tq):
        return st.invgauss(mu=1 / (0.7 * 1.3 * tq), scale=(1.3 * tq) ** 2).ppf(u[1:])

    fd = (q(t + h) - q(t - h)) / (2 * h)
    assert rel_err(law.rate(tt(s[1:]), tv[1:]).numpy(), fd) < 1e-6


@pytest.mark.parametrize("D", [1, 2, 128, 2048, 1e6])
def test_inverse_gamma_against_scipy(D):
    law = InverseGamma(D, 1.7)
    t = np.array([0.01, 0.5, 2.0, 80.0])
    ref = st.invgamma(D / 2, scale=0.5 * (1.7 * t) ** 2)
    assert rel_err(law.median(tt(t)).numpy(), ref.median()) < 1e-9
    for u in (0.01, 0.3, 0.9):
        s = ref.ppf(u)
        assert rel_err(law.cdf(tt(s), tt(t)).numpy(), np.full(4, u)) < 1e-8
        np.testing.assert_allclose(law.log_pdf(tt(s), tt(t)).numpy(), ref.logpdf(s), rtol=1e-12, atol=1e-6)


@pytest.mark.parametrize("D", [1, 2, 7])
@pytest.mark.parametrize("t", [0.01, 0.5, 3.0, 50.0])
def test_gig_against_scipy(D, t):
    """GIG(D, m, c) against scipy.stats.geninvgauss(-D/2, w, scale=c t/m), w = m c t; rate vs FD of ppf."""
    m, c = 0.8, 1.2
    law = GIG(D, m, c)

    def ref_at(tq):
        return st.geninvgauss(-D / 2, m * c * tq, scale=c * tq / m)

    ref = ref_at(t)
    u = np.array([0.001, 0.1, 0.5, 0.9, 0.999])
    s = ref.ppf(u)
    tv = tt(np.full_like(u, t))
    assert rel_err(law.cdf(tt(s), tv).numpy(), u) < 1e-9
    assert rel_err(law.log_pdf(tt(s), tv).numpy(), ref.logpdf(s)) < 1e-9
    assert rel_err(law.icdf(tt(u), tv).numpy(), s) < 1e-9
    h = 1e-5 * t
    fd = (ref_at(t + h).ppf(u) - ref_at(t - h).ppf(u)) / (2 * h)
    assert rel_err(law.rate(tt(s), tv).numpy(), fd) < 1e-6


def test_gig_d1_is_inverse_gaussian():
    gig, ig = GIG(1, 0.7, 1.3), InverseGaussian(1.3, 0.7)
    t = tt([1e-3, 0.1, 1.0, 10.0, 300.0])
    np.testing.assert_allclose(gig.median(t).numpy(), ig.median(t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(gig.dlog_sigma_dt(t).numpy(), ig.dlog_sigma_dt(t).numpy(), rtol=1e-10)
    sig = tt([0.002, 0.1, 1.0, 80.0])
    np.testing.assert_allclose(gig.sigma_inv(sig).numpy(), ig.sigma_inv(sig).numpy(), rtol=1e-10)
    tr = t.repeat(20)
    s = ig.sample(tr, gen(0))
    np.testing.assert_allclose(gig.rate(s, tr).numpy(), ig.rate(s, tr).numpy(), rtol=1e-9)
    np.testing.assert_allclose(gig.cdf(s, tr).numpy(), ig.cdf(s, tr).numpy(), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(gig.laplace(0.3, t).numpy(), ig.laplace(0.3, t).numpy(), rtol=1e-10)


@pytest.mark.parametrize("D", [1, 3, 1000])
def test_gig_small_m_is_inverse_gamma(D):
    """m -> 0: the Yukawa kernel with D extra dimensions becomes PFGM++'s."""
    gig, igam = GIG(D, 1e-9, 1.0), InverseGamma(D, 1.0)
    t = tt([0.01, 1.0, 30.0])
    np.testing.assert_allclose(gig.median(t).numpy(), igam.median(t).numpy(), rtol=1e-6)
    s = igam.sample(t.repeat(10), gen(1))
    np.testing.assert_allclose(gig.cdf(s, t.repeat(10)).numpy(), igam.cdf(s, t.repeat(10)).numpy(), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(gig.rate(s, t.repeat(10)).numpy(), igam.rate(s, t.repeat(10)).numpy(), rtol=1e-5)


def test_stable_alpha1_closed_forms():
    """alpha = 1: S_1 = 1/(2 Z^2), P(S_1 <= x) = erfc(1/(2 sqrt x)), median 1/(2 z_{3/4}^2)."""
    law = Stable(1.0, 1.0)
    x = np.geomspace(1e-3, 1e6, 19)
    t = tt(np.full_like(x, 0.5 ** 0.5))  # 2 (c t)^2 = 1, S_t = S_1
    ref = sp.erfc(np.sqrt(1 / (4 * x)))
    np.testing.assert_allclose(law.cdf(tt(x), t).numpy(), ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(law.log_pdf(tt(x), t).numpy(), st.levy(scale=0.5).logpdf(x), rtol=1e-10)
    assert law.median(tt([0.5 ** 0.5])).item() == pytest.approx(1 / (2 * st.norm.ppf(0.75) ** 2), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.5])
def test_stable_against_scipy_levy_stable(alpha):
    """S_1 is scipy's levy_stable(alpha/2, beta=1, scale=cos(pi alpha/4)^(2/alpha)) (Laplace exp(-lam^(alpha/2)))."""
    b = alpha / 2
    law = Stable(alpha, 1.0)
    ref = st.levy_stable(b, 1.0, scale=math.cos(math.pi * b / 2) ** (1 / b))
    t = (0.5) ** (alpha / 2)  # 2 (c t)^(2/alpha) = 1
    x = np.array([0.3, 0.7, 1.0, 2.0, 6.0]) * law.median(tt([t])).item()
    np.testing.assert_allclose(law.cdf(tt(x), tt(t)).numpy(), ref.cdf(x), rtol=1e-8)
    np.testing.assert_allclose(law.median(tt([t])).numpy(), [ref.median()], rtol=1e-7)
    S = law.sample(torch.full((3000,), t, dtype=F64), gen(4)).numpy()
    assert st.kstest(S, ref.cdf).pvalue > 1e-3
    assert st.kstest(S * (1.05 if alpha > 1 else 1.5), ref.cdf).pvalue < 1e-3


# ---- samplers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("D", [1, 3, 40, 2e5])
def test_inverse_gamma_sampler_ks(D):
    law = InverseGamma(D, 1.0)
    S = law.sample(torch.full((4000,), 1.3, dtype=F64), gen(9)).numpy()
    ref = st.invgamma(D / 2, scale=0.5 * 1.3 ** 2)
    assert st.kstest(S, ref.cdf).pvalue > 1e-3
    assert st.kstest(S, st.invgamma(D / 2 * 1.05 + 0.05, scale=0.5 * 1.3 ** 2).cdf).pvalue < 1e-3


@pytest.mark.parametrize("D,m,t", [(1, 1.0, 0.3), (4, 0.5, 2.0), (9, 2.0, 5.0)])
def test_gig_sampler_ks(D, m, t):
    law = GIG(D, m, 1.0)
    S = law.sample(torch.full((2500,), t, dtype=F64), gen(2)).numpy()
    ref = st.geninvgauss(-D / 2, m * t, scale=t / m)
    assert st.kstest(S, ref.cdf).pvalue > 1e-3
    assert st.kstest(S, st.geninvgauss(-D / 2 - 1, m * t, scale=t / m).cdf).pvalue < 1e-3


def test_gig_sampler_extremes():
    """D = 10^6 and tiny w: finite, and the law concentrates where the asymptotics put it."""
    t = torch.tensor([1e-3, 1.0, 1e3, 1e5], dtype=F64).repeat(250)
    for law in (GIG(1e6, 1.0, 1.0), GIG(1e6, 1e-6, 1.0), GIG(1, 1e-8, 1.0), GIG(2, 1e3, 1.0)):
        S, dS = law.sample_with_rate(t, gen(0))
        assert torch.isfinite(S).all() and torch.isfinite(dS).all() and (S > 0).all()
        med = law.median(t[:4]).repeat(250)
        frac = (S <= med).double().reshape(250, 4).mean(0)
        assert torch.all((frac - 0.5).abs() < 0.11), frac


# ---- Sum ----------------------------------------------------------------------------------------------

def test_sum_of_stables_is_stable():
    """exp(-c1 t k) exp(-c2 t k) = exp(-(c1 + c2) t k): medians and CDFs agree (numerical convolution)."""
    s12, s3 = Sum(Stable(1.0, 1.0), Stable(1.0, 2.0)), Stable(1.0, 3.0)
    assert s12.self_similar
    t = tt([0.1, 1.0, 7.0])
    np.testing.assert_allclose(s12.median(t).numpy(), s3.median(t).numpy(), rtol=1e-5)
    s = s3.icdf(tt([0.1, 0.5, 0.9]), t)
    np.testing.assert_allclose(s12.cdf(s, t).numpy(), [0.1, 0.5, 0.9], rtol=1e-5)
    np.testing.assert_allclose(s12.sigma_inv(s3.sigma(t)).numpy(), t.numpy(), rtol=1e-5)


def test_sum_of_inverse_gaussians():
    s12, s3 = Sum(InverseGaussian(1.0, 2.0), InverseGaussian(0.5, 2.0)), InverseGaussian(1.5, 2.0)
    t = tt([0.05, 1.0, 10.0])
    np.testing.assert_allclose(s12.median(t).numpy(), s3.median(t).numpy(), rtol=1e-5)
    np.testing.assert_allclose(s12.laplace(0.7, t).numpy(), s3.laplace(0.7, t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(s12.dlog_sigma_dt(t).numpy(), s3.dlog_sigma_dt(t).numpy(), rtol=1e-4)
    np.testing.assert_allclose(s12.sigma_inv(s3.sigma(t)).numpy(), t.numpy(), rtol=1e-5)


def test_sum_with_deterministic_shift():
    det, X = Deterministic(0.4), InverseGaussian(1.0, 1.0)
    law = Sum(det, X)
    t = tt([0.01, 0.3, 5.0])
    np.testing.assert_allclose(law.median(t).numpy(), (0.8 * t + X.median(t)).numpy(), rtol=1e-14)
    s = 0.8 * t + X.icdf(tt([0.2, 0.5, 0.7]), t)
    np.testing.assert_allclose(law.cdf(s, t).numpy(), [0.2, 0.5, 0.7], rtol=1e-9)
    np.testing.assert_allclose(law.rate(s, t).numpy(), (0.8 + X.rate(s - 0.8 * t, t)).numpy(), rtol=1e-14)
    np.testing.assert_allclose(law.laplace(0.5, t).numpy(), (det.laplace(0.5, t) * X.laplace(0.5, t)).numpy(),
                               rtol=1e-14)
    S, dS = law.sample_with_rate(t.repeat(100), gen(0))
    assert torch.all(S > 0.8 * t.repeat(100))
    assert not law.self_similar and Sum(Deterministic(1.0), Deterministic(2.0)).self_similar


# ---- API details ----------------------------------------------------------------------------------

def test_dtypes_and_scalars():
    law = InverseGaussian(1.0, 1.0)
    t32 = torch.tensor([0.5, 2.0], dtype=torch.float32)
    S, dS = law.sample_with_rate(t32, gen(0))
    assert S.dtype == torch.float32 and dS.dtype == torch.float32
    assert law.sigma(t32).dtype == torch.float32 and law.sigma_inv(law.sigma(t32)).dtype == torch.float32
    assert law.cdf(1.0, 2.0).dtype == torch.get_default_dtype()
    assert law.cdf(torch.tensor(1.0, dtype=F64), 2.0).dtype == F64
    assert InverseGamma(4).laplace(0.0, 1.0).item() == 1.0


def test_deterministic_is_degenerate():
    law = Deterministic(2.0)
    t = tt([0.5])
    assert law.cdf(tt([1.999]), t).item() == 0.0 and law.cdf(tt([2.0]), t).item() == 1.0
    with pytest.raises(NotImplementedError):
        law.log_pdf(tt([2.0]), t)


def test_stable_alpha2_is_deterministic():
    law = Stable(2.0, 0.7)
    assert isinstance(law, Deterministic) and law.a == 0.7


@pytest.mark.parametrize("make", [lambda: Stable(2.5), lambda: Stable(0.0), lambda: InverseGaussian(1.0, 0.0),
                                  lambda: InverseGamma(0), lambda: GIG(3, -1.0), lambda: Deterministic(0.0),
                                  lambda: Sum()])
def test_invalid_parameters(make):
    with pytest.raises(ValueError):
        make()
