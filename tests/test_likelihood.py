"""The prior's log-density (runtime/prior.py) and the exact likelihood (runtime/likelihood.py).

Prior: closed forms against the quantile quadrature and against Monte Carlo (with its standard
error), normalisation in N = 1 and 2, histograms of the kernel's own samples. Likelihood: Gaussian data
y ~ N(0, s^2 I) (or N(0, Sigma)) with the exact denoiser, where log p_{sigma_min} is known.
"""

from __future__ import annotations

import math

import pytest
import torch

from pdec.runtime import laws as L
from pdec.runtime import likelihood as LK
from pdec.runtime import prior as P
from pdec.runtime.kernel import Kernel
from pdec.runtime.radial import Tabulated

F64 = torch.float64

CLOSED = [L.InverseGamma(1.0), L.InverseGamma(5.0, 1.3), L.InverseGaussian(1.0, 1.0), L.InverseGaussian(0.7, 2.0),
          L.GIG(4.0, 0.7, 1.0), L.GIG(1.0, 1.5, 0.8)]
ALL = [L.Deterministic(0.5)] + CLOSED + [L.Stable(0.8), L.Sum(L.Deterministic(0.5), L.InverseGaussian(1.0, 1.0))]


def _points(dim, n=6, scale=1.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, dim, generator=g, dtype=F64)


def _gl(n):
    """Composite Gauss-Legendre on (-1, 1): n // 16 equal panels of 16 nodes (nodes, weights)."""
    k = max(n // 16, 1)
    edges = torch.linspace(-1.0, 1.0, k + 1, dtype=F64)
    x, w = L._panel(edges[:-1], edges[1:], 16)
    return x.reshape(-1), w.reshape(-1)


# ---------------------------------------------------------------------------------------------
# prior


@pytest.mark.parametrize("law", CLOSED, ids=repr)
@pytest.mark.parametrize("dim", [1, 3, 16])
def test_closed_forms_match_quadrature(law, dim):
    """At points up to ~3 times the prior's typical radius (the quadrature's range ends at the quantile
    Phi(8) ~ 1 - 6e-16: far beyond it, the light-tailed laws' quadrature falls short)."""
    t = 0.8
    x = _points(dim, scale=1.5 * float(law.median(torch.tensor(t, dtype=F64))) ** 0.5)
    quad = P.log_mixture(law, t, (x * x).sum(1), dim)
    assert torch.allclose(P.log_prior(law, x, t), quad, rtol=0, atol=1e-9)


def test_gig_with_one_dimension_is_inverse_gaussian_and_stable_1_is_student():
    """Two pairs of the same kernel through different code (GIG(1, m, c) = IG(c, m); Stable(1) = InvGamma(1))."""
    x = _points(3)
    assert torch.allclose(P.log_prior(L.GIG(1.0, 1.3, 0.9), x, 0.6), P.log_prior(L.InverseGaussian(0.9, 1.3), x, 0.6),
                          atol=1e-10)
    assert torch.allclose(P.log_prior(L.Stable(1.0, 1.2), x, 0.6), P.log_prior(L.InverseGamma(1.0, 1.2), x, 0.6),
                          atol=1e-7)


@pytest.mark.parametrize("law", ALL, ids=repr)
@pytest.mark.parametrize("dim", [1, 2, 8])
def test_prior_against_monte_carlo(law, dim):
    """q_t(x) = E[N(x; 0, S_t I)] estimated from 200000 draws of S_t, within 5 standard errors."""
    t = 0.7
    x = _points(dim, n=5, scale=1.2, seed=dim)
    r2 = (x * x).sum(1)
    g = torch.Generator().manual_seed(1)
    S = law.sample(torch.full((200000,), t, dtype=F64), generator=g)
    dens = torch.exp(P.log_normal(r2[None], dim, S[:, None]))  # [n_mc, 5]
    mc = dens.mean(0)
    se = dens.std(0) / math.sqrt(S.numel())
    q = torch.exp(P.log_prior(law, x, t))
    assert bool(((mc - q).abs() <= 5.0 * se + 1e-12 * q).all()), ((mc - q) / se, se / q)  # se = 0: S_t is a point
    assert float((se / q).max()) < 0.05  # the check has teeth


def _integral_1d(law, t, n=4000):
    """int q_t(x) dx over R (N = 1) with x = w tan(pi v / 2), v Gauss-Legendre on (-1, 1)."""
    v, wv = _gl(n)
    scale = float(law.median(torch.tensor(t, dtype=F64))) ** 0.5
    x = scale * torch.tan(0.5 * math.pi * v)
    jac = scale * 0.5 * math.pi / torch.cos(0.5 * math.pi * v) ** 2
    return float((torch.exp(P.log_prior(law, x[:, None], t)) * jac * wv).sum())


def _integral_2d(law, t, n=3000, n_phi=8):
    """int q_t(x) dx over R^2 in polar coordinates (r = w tan(pi v / 4) ...), q evaluated at Cartesian points."""
    v, wv = _gl(n)
    v, wv = 0.5 * (v + 1.0), 0.5 * wv  # (0, 1)
    scale = float(law.median(torch.tensor(t, dtype=F64))) ** 0.5
    r = scale * torch.tan(0.5 * math.pi * v)
    jac = scale * 0.5 * math.pi / torch.cos(0.5 * math.pi * v) ** 2
    phi = 2.0 * math.pi * (torch.arange(n_phi, dtype=F64) + 0.3) / n_phi
    x = torch.stack([r[None] * torch.cos(phi)[:, None], r[None] * torch.sin(phi)[:, None]], -1).reshape(-1, 2)
    q = torch.exp(P.log_prior(law, x, t)).reshape(n_phi, -1)
    return float((q * r * jac * wv).sum()) * 2.0 * math.pi / n_phi


@pytest.mark.parametrize("law", [L.Deterministic(0.5), L.InverseGamma(3.0), L.InverseGaussian(1.0, 1.0),
                                 L.GIG(4.0, 0.7, 1.0), L.Stable(1.3)], ids=repr)
def test_prior_integrates_to_one(law):
    assert _integral_1d(law, 0.9) == pytest.approx(1.0, abs=2e-6)
    assert _integral_2d(law, 0.9) == pytest.approx(1.0, abs=2e-6)


def test_prior_matches_histogram_of_the_kernels_samples():
    """P(a < x_1 < b) of the sampler's own prior draws (Kernel.perturb) against int_a^b q (N = 1)."""
    for law in (L.InverseGamma(1.0), L.InverseGaussian(1.0, 1.0), L.Stable(0.8)):
        kern = Kernel(law)
        g = torch.Generator().manual_seed(3)
        x, _ = kern.perturb(torch.zeros(200000, 1, dtype=F64), torch.full((200000,), 0.5, dtype=F64), generator=g)
        edges = [-3.0, -1.0, -0.3, 0.0, 0.2, 0.7, 2.0, 5.0]
        v, wv = _gl(64)
        for a, b in zip(edges[:-1], edges[1:]):
            xs = a + 0.5 * (b - a) * (v + 1.0)
            p = float((torch.exp(P.log_prior(law, xs[:, None], 0.5)) * wv).sum()) * 0.5 * (b - a)
            frac = float(((x[:, 0] > a) & (x[:, 0] < b)).to(F64).mean())
            assert abs(frac - p) < 5.0 * math.sqrt(p * (1.0 - p) / x.shape[0]), (law, a, b, frac, p)


def _gaussian_table(dim, n_u=257, atom=0.0, a=0.5):
    """A tabulated radial law of the heat kernel (S = 2 a t) in dim = 1 or 2 (quantiles in closed form)."""
    log_t = torch.linspace(math.log(0.1), math.log(10.0), 9, dtype=F64)
    u = torch.linspace(0.0, 1.0, n_u, dtype=F64)
    uc = u.clamp(max=1.0 - 1e-7)
    chi2 = -2.0 * torch.log1p(-uc) if dim == 2 else 2.0 * torch.special.erfinv(uc) ** 2  # chi^2 quantiles
    rho = torch.sqrt(2.0 * a * torch.exp(log_t)[:, None] * chi2[None, :])
    mass = torch.full((9,), atom, dtype=F64)
    return Tabulated(dim, log_t, u, rho, atom_mass=mass if atom else None)


@pytest.mark.parametrize("dim", [1, 2])
def test_radial_prior(dim):
    """The tabulated radial law's density: mass 1 - atom in R^dim, the radius histogram of its own samples,
    and (fine table) the Gaussian it tabulates."""
    t = 0.8
    law = _gaussian_table(dim, atom=0.1)
    total = _integral_1d(law, t, n=20000) if dim == 1 else _integral_2d(law, t, n=20000)
    assert total == pytest.approx(0.9, abs=2e-3)
    g = torch.Generator().manual_seed(5)
    x, _ = Kernel(law).perturb(torch.zeros(100000, dim, dtype=F64), torch.full((100000,), t, dtype=F64), generator=g)
    rad = x.norm(dim=1)
    v, wv = _gl(64)
    area = 2.0 * math.pi ** (0.5 * dim) / math.gamma(0.5 * dim)
    for lo, hi in ((0.05, 0.4), (0.4, 0.9), (0.9, 1.6), (1.6, 3.0)):
        r = lo + 0.5 * (hi - lo) * (v + 1.0)
        pts = torch.zeros(r.numel(), dim, dtype=F64)
        pts[:, 0] = r
        p = float((torch.exp(P.log_prior(law, pts, t)) * area * r ** (dim - 1) * wv).sum()) * 0.5 * (hi - lo)
        frac = float(((rad > lo) & (rad < hi)).to(F64).mean())
        assert abs(frac - p) < 5.0 * math.sqrt(p * (1 - p) / rad.numel()), (lo, hi, frac, p)
    fine = _gaussian_table(dim, n_u=4097)
    pts = _points(dim, n=6, scale=0.6)
    gauss = P.log_prior(L.Deterministic(0.5), pts, t)
    assert torch.allclose(P.log_prior(fine, pts, t), gauss, atol=2e-2)


# ---------------------------------------------------------------------------------------------
# likelihood on Gaussian data


@pytest.mark.parametrize("law", [L.Deterministic(0.5), L.InverseGamma(3.0), L.InverseGaussian(1.0, 1.0)], ids=repr)
def test_gaussian_data_exact_likelihood(law):
    """log p_{sigma_min}(x0) of y ~ N(0, s^2 I) convolved with the kernel at t_min, to 1e-3 nats/dim.

    Stated both ways: with the prior q_T (sigma_max = 200 makes q_T and the true marginal at T agree to
    ~1e-5 nats/dim), and with the true marginal at T in its place (the solver's error alone)."""
    s, dim, smin, smax = 0.6, 2, 0.01, 200.0
    kern = Kernel(law)
    x0 = s * torch.randn(24, dim, generator=torch.Generator().manual_seed(0), dtype=F64)
    res = LK.log_likelihood(LK.gaussian_denoiser(kern, s * s), kern, x0, smin, smax, steps=40, solver="rk4")
    t_min = kern.sigma_inv(torch.tensor(smin, dtype=F64))
    t_max = kern.sigma_inv(torch.tensor(smax, dtype=F64))
    exact = P.log_mixture(law, t_min, (x0 * x0).sum(1), dim, var0=s * s)
    assert res.divergence == "exact" and res.nfe == 160 and res.log_lik.shape == (24,)
    assert float((res.log_lik - exact).abs().max()) / dim < 1e-3
    marginal_T = res.div_integral + P.log_mixture(law, t_max, (res.x_T ** 2).sum(1), dim, var0=s * s)
    assert float((marginal_T - exact).abs().max()) / dim < 1e-3
    assert float((marginal_T - res.log_lik).abs().max()) / dim < 1e-4  # the prior's mismatch at sigma_max
    # the same, as mean bits/dim of the data in their own units (x = 3 + 2 x_n)
    bpd = float(LK.bits_per_dim(res.log_lik, dim, math.log(2.0)).mean())
    ref = float((-(exact - dim * math.log(2.0)) / dim / math.log(2.0)).mean())
    assert bpd == pytest.approx(ref, abs=2e-3)


def test_solver_orders_and_encode():
    """Diffusion on Gaussian data: the flow is x_T = x0 sqrt((s^2 + smax^2)/(s^2 + smin^2)); encode is exact
    to the solver's order (rk4: error ratio ~16 per halving, heun ~4, euler ~2)."""
    s2, smin, smax = 0.3, 0.02, 50.0
    kern = Kernel(L.Deterministic(0.5))

    def den(x, sigma):
        return x * (s2 / (s2 + sigma.to(x.dtype) ** 2))[:, None]

    x0 = torch.randn(8, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    flow = x0 * math.sqrt((s2 + smax ** 2) / (s2 + smin ** 2))
    for solver, order in (("euler", 1), ("heun", 2), ("rk4", 4)):
        errs = [float((LK.encode(den, x0, LK.log_sigma_grid(smin, smax, n), solver) - flow).abs().max())
                for n in (32, 64)]
        assert 2 ** order * 0.7 < errs[0] / errs[1] < 2 ** order * 1.4, (solver, errs)
    res = LK.log_likelihood(den, kern, x0, smin, smax, steps=64, solver="rk4")
    assert torch.allclose(res.x_T, LK.encode(den, x0, LK.log_sigma_grid(smin, smax, 64)), atol=0)
    exact = P.log_normal((x0 ** 2).sum(1), 3, torch.tensor(s2 + smin ** 2, dtype=F64))
    # with the true marginal N(0, (s^2 + smax^2) I) at T in place of the prior: the solver's error alone
    marginal_T = res.div_integral + P.log_normal((res.x_T ** 2).sum(1), 3, torch.tensor(s2 + smax ** 2, dtype=F64))
    assert float((marginal_T - exact).abs().max()) < 5e-4
    assert float((res.log_lik - exact).abs().max()) < 3e-3  # + the prior's mismatch ~ s^2/smax^2 |x_T|^2/smax^2


def test_hutchinson_agrees_with_exact_divergence():
    """Correlated Gaussian data N(0, Sigma), diffusion: D = Sigma (Sigma + sigma^2)^-1 x has a non-diagonal
    Jacobian; Hutchinson's error per row is eps^T M eps - tr M (fixed probes, M = int J d ln sigma): zero
    mean and variance 2 sum_{i != j} M_ij^2 / K."""
    dim, smin, smax, steps, K = 4, 0.01, 100.0, 40, 2
    g = torch.Generator().manual_seed(2)
    A = torch.randn(dim, dim, generator=g, dtype=F64)
    Sigma = 0.3 * (A @ A.T / dim + 0.2 * torch.eye(dim, dtype=F64))
    evals, evecs = torch.linalg.eigh(Sigma)
    kern = Kernel(L.Deterministic(0.5))

    def den(x, sigma):
        c = evals / (evals + sigma[0].to(F64) ** 2)
        return x @ (evecs * c) @ evecs.T

    x0 = torch.randn(400, dim, generator=g, dtype=F64) @ torch.linalg.cholesky(Sigma).T
    exact = LK.log_likelihood(den, kern, x0, smin, smax, steps, exact_dim=dim)
    hutch = LK.log_likelihood(den, kern, x0, smin, smax, steps, exact_dim=0, n_probes=K,
                              generator=torch.Generator().manual_seed(9))
    assert exact.divergence == "exact" and hutch.divergence == "hutchinson" and hutch.n_probes == K
    err = hutch.log_lik - exact.log_lik
    taus = torch.linspace(math.log(smin), math.log(smax), 4001, dtype=F64)
    c = evals[None] / (evals[None] + torch.exp(2 * taus)[:, None])
    M = evecs @ torch.diag(torch.trapezoid(c, taus, dim=0)) @ evecs.T
    sd = math.sqrt(2.0 * float((M ** 2).sum() - (torch.diagonal(M) ** 2).sum()) / K)
    assert float(err.std()) == pytest.approx(sd, rel=0.15)
    assert abs(float(err.mean())) < 4.0 * sd / math.sqrt(err.numel())
    logdet = torch.logdet(Sigma + smin ** 2 * torch.eye(dim, dtype=F64))
    ref = -0.5 * (dim * math.log(2 * math.pi) + logdet
                  + (x0 @ torch.linalg.inv(Sigma + smin ** 2 * torch.eye(dim, dtype=F64)) * x0).sum(1))
    assert float((exact.log_lik - ref).abs().max()) / dim < 1e-3


def test_bits_per_dim_jacobian_and_bad_input():
    ll = torch.tensor([-3.0, -5.0], dtype=F64)
    # x = mean + scale x_n: log p_x = log p_n - dim log scale
    assert torch.allclose(LK.nll_nats_per_dim(ll, 2, math.log(4.0)), -ll / 2 + math.log(4.0))
    assert torch.allclose(LK.bits_per_dim(ll, 2, 0.0), -ll / 2 / math.log(2.0))
    den = lambda x, sigma: 0.0 * x  # noqa: E731
    kern = Kernel(L.Deterministic(0.5))
    with pytest.raises(ValueError, match="solver"):
        LK.log_likelihood(den, kern, torch.zeros(2, 2), 0.1, 1.0, 4, solver="dopri")
    with pytest.raises(ValueError, match="sigma_min"):
        LK.log_likelihood(den, kern, torch.zeros(2, 2), 1.0, 0.1, 4)
    with pytest.raises(ValueError, match="increasing"):
        LK.encode(den, torch.zeros(2, 2), torch.tensor([1.0, 0.5]))


def test_condition_is_passed_and_rows_are_independent():
    """cond reaches the denoiser; a row's likelihood does not depend on the other rows of the batch."""
    seen = []

    def den(x, sigma, cond=None):
        seen.append(cond)
        return 0.5 * x + 0.01 * x ** 2

    kern = Kernel(L.InverseGamma(2.0))
    x0 = torch.randn(6, 3, generator=torch.Generator().manual_seed(4), dtype=F64)
    cond = torch.arange(6)
    full = LK.log_likelihood(den, kern, x0, 0.05, 20.0, 8, cond=cond)
    assert all(c is cond for c in seen) and len(seen) == full.nfe
    part = LK.log_likelihood(lambda x, s: den(x, s), kern, x0[:2], 0.05, 20.0, 8)
    assert torch.allclose(full.log_lik[:2], part.log_lik, atol=1e-12)


def test_result_is_read_only():
    kern = Kernel(L.Deterministic(0.5))
    res = LK.log_likelihood(lambda x, s: 0.5 * x, kern, torch.zeros(3, 2, dtype=F64), 0.1, 10.0, 4, solver="euler")
    assert res.nfe == 4 and res.solver == "euler" and "nfe=4" in repr(res)
    with pytest.raises(AttributeError):
        res.nfe = 5
