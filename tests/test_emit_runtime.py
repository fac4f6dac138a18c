"""The runtime pieces of the emitted package: EDM grid, ODE solvers, sigma_max rule, preconditioning, data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pdec.runtime import data as rdata
from pdec.runtime import precond as rp
from pdec.runtime import sampler as rs
from pdec.runtime.kernel import Kernel
from pdec.runtime.laws import Deterministic, InverseGamma, InverseGaussian


def test_edm_grid():
    s = rs.edm_sigmas(18, 0.002, 80.0, 7.0)
    assert s.dtype == torch.float64 and s.shape == (19,)
    assert float(s[0]) == pytest.approx(80.0, rel=1e-14) and float(s[17]) == pytest.approx(0.002, rel=1e-14)
    assert float(s[-1]) == 0.0 and bool((s[1:] < s[:-1]).all())
    i = 5  # EDM eq. 5
    expect = (80.0 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    assert float(s[i]) == pytest.approx(expect, rel=1e-13)
    assert rs.nfe(18, "heun") == 35 and rs.nfe(18, "euler") == 18
    with pytest.raises(ValueError):
        rs.edm_sigmas(0)


def test_time_grid_inverts_sigma():
    k = Kernel(InverseGaussian(c=1.0, m=1.0))
    s = rs.edm_sigmas(6, 0.002, 5.0)
    t = rs.time_grid(k, s)
    assert float(t[-1]) == 0.0
    assert torch.allclose(torch.as_tensor(k.sigma(t[:-1]), dtype=torch.float64), s[:-1], rtol=1e-9)


def _gaussian_denoiser(s_data):
    def D(x, sigma):
        return (s_data**2 / (s_data**2 + sigma.to(x.dtype) ** 2)).view(-1, *([1] * (x.dim() - 1))) * x
    return D


@pytest.mark.parametrize("solver, order", [("heun", 2), ("euler", 1)])
def test_solvers_converge_at_their_order(solver, order):
    """Data N(0, s^2 I), Gaussian kernel: D = s^2 / (s^2 + sigma^2) x is the exact denoiser and the exact
    flow maps sqrt(sigma_max^2 + s^2) to s. Halving the step divides the error by 2^order."""
    s_data, smax = 0.5, 40.0
    x = torch.tensor([[math.sqrt(smax**2 + s_data**2)]], dtype=torch.float64)
    errs = [float(rs.solve(_gaussian_denoiser(s_data), x, rs.edm_sigmas(n, 0.002, smax), solver)) / s_data - 1
            for n in (25, 50, 100)]
    for a, b in zip(errs, errs[1:], strict=False):
        assert 2**order * 0.9 < a / b < 2**order * 1.15, errs


def test_batched_sampling_from_the_prior_gives_the_data_scale():
    s_data = 0.5
    k = Kernel(Deterministic(a=1.0))
    sigma_max = 5.0
    t_max = float(k.sigma_inv(torch.tensor(sigma_max, dtype=torch.float64)))
    g = torch.Generator().manual_seed(0)
    x = rs.prior(k, 20000, (2,), t_max, generator=g) * math.sqrt(sigma_max**2 + s_data**2) / sigma_max
    assert float(x.std()) == pytest.approx(math.sqrt(sigma_max**2 + s_data**2), rel=0.01)
    out = rs.solve(_gaussian_denoiser(s_data), x, rs.edm_sigmas(50, 0.002, sigma_max), "heun")
    assert out.dtype == torch.float32 and float(out.std()) == pytest.approx(s_data, rel=0.01)


def test_solver_steps_compile_without_graph_breaks():
    torch._dynamo.reset()
    net = torch.nn.Linear(2, 2)

    def D(x, sigma):
        return net(x) * sigma[:, None]

    x = torch.randn(8, 2)
    s0, s1 = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    for step in (rs.heun_step, rs.euler_step):
        f = torch.compile(lambda x, a, b, step=step: step(D, x, a, b), fullgraph=True, backend="eager")
        assert torch.allclose(f(x, s0, s1), step(D, x, s0, s1))
    pre = rp.Precond(torch.nn.Identity(), n_dim=2)

    class Back(torch.nn.Module):
        def forward(self, x, c):
            return x * c[:, None]

    pre = rp.Precond(Back(), n_dim=2)
    f = torch.compile(pre, fullgraph=True, backend="eager")
    sig = torch.full((8,), 0.3)
    assert torch.allclose(f(x * 100, sig), pre(x * 100, sig))


def test_prior_is_the_kernel_at_t_max():
    """Prior radii in N = 2 under PFGM (D = 1): R^2 / t^2 ~ BetaPrime(N/2, D/2) (PFGM++'s law), KS test."""
    k = Kernel(InverseGamma(D=1.0, c=1.0))
    x = rs.prior(k, 4000, (2,), 3.0, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    r2 = (x**2).sum(1).numpy() / 9.0
    assert stats.kstest(r2, stats.betaprime(1.0, 0.5).cdf).pvalue > 1e-3


def test_sigma_max_rule():
    lam = 0.4
    det = Kernel(Deterministic(a=1.0))
    s, why = rs.choose_sigma_max(det, lam, 0.01)
    assert s == pytest.approx(math.sqrt(lam / 0.02), rel=1e-6) and "<= tolerance 0.01" in why
    s2, _ = rs.choose_sigma_max(det, lam, 0.0025)
    assert s2 == pytest.approx(2 * s, rel=1e-6)  # error ~ 1/sigma^2
    # a heavy-tailed law: the achieved error lambda E[1/S_T]/2 is the tolerance (checked by fresh Monte Carlo)
    pfgm = Kernel(InverseGamma(D=1.0, c=1.0))
    sp, _ = rs.choose_sigma_max(pfgm, lam, 0.01)
    t = pfgm.sigma_inv(torch.tensor(sp, dtype=torch.float64))
    S = pfgm.sample_scale(torch.full((100000,), float(t), dtype=torch.float64), torch.Generator().manual_seed(9))
    assert 0.5 * lam * float((1 / S).mean()) == pytest.approx(0.01, rel=0.03)
    capped, why = rs.choose_sigma_max(det, lam, 0.01, sigma_cap=1.0)
    assert capped == 1.0 and "capped" in why


def test_top_eigenvalue():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 3, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)
    assert rs.top_eigenvalue(x) == pytest.approx(9.0, rel=0.05)


def test_precond_is_edm_except_on_outliers():
    torch.manual_seed(0)
    back = torch.nn.Sequential(torch.nn.Linear(2, 2))

    class B(torch.nn.Module):
        def forward(self, x, c):
            return back(x) + c[:, None]

    aware, plain = rp.Precond(B(), 2), rp.Precond(B(), 2, outlier_aware=False)
    sigma = torch.tensor([0.1, 1.0, 10.0])
    x = torch.tensor([[0.1, 0.2], [1.0, -0.5], [5.0, 3.0]])
    assert torch.equal(aware(x, sigma), plain(x, sigma))
    sd2 = 0.25
    c_skip, c_out, c_in, w = plain.coefficients(x, sigma)
    s2 = sigma**2
    assert torch.allclose(c_skip, sd2 / (s2 + sd2)) and torch.allclose(c_in, 1 / torch.sqrt(s2 + sd2))
    assert torch.allclose(c_out, sigma * 0.5 / torch.sqrt(s2 + sd2)) and torch.allclose(w, (s2 + sd2) / (s2 * sd2))
    far = torch.tensor([[300.0, 0.0]])
    one = torch.tensor([0.1])
    assert not torch.equal(aware(far, one), plain(far, one))
    ca = aware.coefficients(far, one)
    assert float(ca[2] * far.norm()) == pytest.approx(math.sqrt(2 * aware.q), rel=1e-5)  # |c_in x|^2 / N = q


@pytest.mark.parametrize("n_dim", [2, 64])
def test_outlier_threshold_hits_one_in_a_thousand_gaussian_points(n_dim):
    """For x = y + sigma xi with y ~ N(0, sd^2 I), rho ~ chi^2_N / N: P(rho > q_N) ~ 1e-3."""
    q = rp.chi2_quantile_per_dim(n_dim)
    assert stats.chi2(n_dim).sf(q * n_dim) == pytest.approx(1e-3, rel=0.15)


def test_outlier_threshold_never_inflates_a_training_row_at_small_sigma():
    """Data whose own rows exceed q_N (a heavy-tailed set in 64-D): with the threshold fitted to the data,
    no training row is inflated at sigma_min, q travels in the state_dict, and a far outlier still is."""
    torch.manual_seed(0)
    y = torch.distributions.StudentT(3.0).sample((1400, 64))
    y = y * (0.5 / y.square().mean().sqrt())  # per-coordinate RMS sd = 0.5, as normalisation gives
    plain_q = rp.chi2_quantile_per_dim(64)
    assert float(rp.rho_data(y, 0.5)) > plain_q  # the case that broke: rows past q_N
    net = rp.Precond(torch.nn.Identity(), 64, data=y)
    assert float(net.q) == pytest.approx(rp.DATA_MARGIN * rp.rho_data(y, 0.5), rel=1e-6)
    sigma = torch.full((len(y),), 0.002)
    plain = sigma**2 + 0.25
    x = y + 0.002 * torch.randn(y.shape)
    assert torch.equal(net.scale2(x, sigma), plain)
    assert bool((rp.Precond(torch.nn.Identity(), 64).scale2(x, sigma) > plain).any())  # q_N alone inflates some
    other = rp.Precond(torch.nn.Identity(), 64)
    other.load_state_dict(net.state_dict())
    assert float(other.q) == float(net.q)
    far = y[:1] * 0 + 40.0
    assert float(net.scale2(far, sigma[:1])) > 10 * float(plain[0])


class _Echo(torch.nn.Module):
    """F(x, c_noise) = x."""

    def forward(self, x, c):
        return x


def test_nearest_d2_matches_brute_force_in_blocks(monkeypatch):
    g = torch.Generator().manual_seed(1)
    a, x = torch.randn(300, 5, generator=g), torch.randn(70, 5, generator=g)
    exact = torch.cdist(x.double(), a.double()).square().amin(1)
    monkeypatch.setattr(rp, "ANCHOR_BLOCK", 300 * 8)  # 8 rows of x per block: 9 blocks
    assert torch.allclose(rp.nearest_d2(x, a).double(), exact, rtol=1e-4, atol=1e-6)


def _circle(n, g):
    """n rows on a circle of radius 0.7 (a one-dimensional manifold in the plane, as the toy sets are)."""
    th = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    return 0.7 * torch.stack([th.cos(), th.sin()], 1)


def test_anchored_scale_is_edm_near_the_rows_and_grows_with_the_distance():
    """s^2 = max(sigma^2, (d^2 - delta^2) / (N q_N)): delta^2 is 1.25 times the 0.999 quantile of a row's squared
    distance to its nearest other row, so x = y + sigma xi and held-out rows are (nearly) never inflated, a point
    at d >> delta gets exactly (d^2 - delta^2) / (N q_N), and as sigma grows the rule switches off."""
    g = torch.Generator().manual_seed(0)
    y = _circle(4000, g).float()
    net, plain = rp.Precond(_Echo(), 2, data=y), rp.Precond(_Echo(), 2, anchored=False, data=y)
    assert net.anchors.shape == (4000, 2) and plain.anchors.shape == (0, 2)
    loo = torch.cdist(y.double(), y.double()).fill_diagonal_(float("inf")).amin(1).square()
    assert float(net.delta2) == pytest.approx(rp.DATA_MARGIN * float(torch.quantile(loo, 0.999)), rel=1e-3)
    sigma = torch.full((20000,), 0.001)
    x = y[torch.randint(4000, (20000,), generator=g)] + 0.001 * torch.randn(20000, 2, generator=g)
    assert torch.equal(net.anchored_sigma2(x, sigma), sigma**2)
    held_out = _circle(20000, g).float()
    assert float((net.anchored_sigma2(held_out, sigma) > sigma**2).float().mean()) < 2e-3
    far = torch.tensor([[0.55, 0.1]])  # inside the circle: d ~ 0.14 >> delta, |x| no outlier
    assert float(net.scale2(far, sigma[:1])) == pytest.approx(1e-6 + 0.25)
    d2 = float(torch.cdist(far, y).square().min())
    assert d2 > 100 * float(net.delta2)
    s2 = (d2 - float(net.delta2)) / (2 * rp.chi2_quantile_per_dim(2))
    assert float(net.anchored_sigma2(far, sigma[:1])) == pytest.approx(s2, rel=1e-4)
    c_skip, c_out, _, w = net.coefficients(far, sigma[:1])
    assert float(c_out) == pytest.approx(math.sqrt(s2 * 0.25 / (s2 + 0.25)), rel=1e-4)
    assert float(w) == pytest.approx(1 / float(c_out) ** 2, rel=1e-5)
    big = torch.ones(1)
    assert torch.equal(net.coefficients(far, big)[1], plain.coefficients(far, big)[1])


@pytest.mark.parametrize("sigma", [0.001, 0.01, 0.1, 1.0])
def test_anchored_scale_coarse_search_is_exact(sigma, monkeypatch):
    """The coarse search (the first ANCHOR_COARSE anchors, then all of them for the rows it cannot clear) gives
    exactly the full search's s^2."""
    g = torch.Generator().manual_seed(3)
    y = _circle(3000, g).float()
    net = rp.Precond(_Echo(), 2, data=y)
    monkeypatch.setattr(rp, "ANCHOR_COARSE", 64)
    x = torch.cat([y[:2000] + sigma * torch.randn(2000, 2, generator=g), torch.rand(1000, 2, generator=g) - 0.5])
    s = torch.full((3000,), sigma)
    full = torch.maximum(s**2, (rp.nearest_d2(x, net.anchors) - net.delta2) / (2 * rp.chi2_quantile_per_dim(2)))
    assert torch.equal(net.anchored_sigma2(x, s), full)


def test_anchored_scale_is_idle_where_rows_are_far_apart():
    """64-D Gaussian rows: every new point is as far from the rows as the rows are from each other, so delta is of
    the data's size and no held-out point is inflated at small sigma (a generalising sample never is)."""
    g = torch.Generator().manual_seed(0)
    y = 0.5 * torch.randn(2000, 64, generator=g)
    net = rp.Precond(_Echo(), 64, data=y)
    held_out, sigma = 0.5 * torch.randn(500, 64, generator=g), torch.full((500,), 0.002)
    assert float(net.delta2) > 64 * 0.25
    assert torch.equal(net.anchored_sigma2(held_out, sigma), sigma**2)


def test_anchors_travel_in_the_state_dict_and_are_capped():
    y = torch.randn(50, 3)
    net = rp.Precond(_Echo(), 3, data=y)
    other = rp.Precond(_Echo(), 3)  # built without data, as a package's sample.py does
    other.load_state_dict(net.state_dict())
    assert torch.equal(other.anchors, net.anchors) and float(other.delta2) == float(net.delta2) > 0
    x, s = torch.randn(4, 3) * 3, torch.full((4,), 0.01)
    assert torch.equal(other(x, s), net(x, s))
    many = torch.randn(100, 3)
    a, b = rp.Precond(_Echo(), 3), rp.Precond(_Echo(), 3)
    assert a.fit_anchors(many, max_rows=40) == 40 and b.fit_anchors(many, max_rows=40) == 40
    assert torch.equal(a.anchors, b.anchors) and float(a.delta2) == float(b.delta2) > 0  # a seeded subset
    assert torch.unique(a.anchors, dim=0).shape[0] == 40


@pytest.mark.parametrize("law", ["yukawa", "pfgm", "diffusion"])
def test_anchored_scale_shrinks_the_heavy_tails_regression_target(law):
    """The backbone's regression target F* = (y_eff - c_skip x) / c_out at small sigma, in the loss's units
    lambda |y_eff - c_skip x|^2 / N, for rows on a circle: the heavy tails' draws at d >> sigma off the curve make
    it O(d^2 / sigma^2) under EDM's scale (60 for Yukawa's InverseGaussian law, 156 for PFGM's InverseGamma at
    sigma = 0.003); the anchored scale brings it to O(q_N) (about 7 and 6) and leaves diffusion's Gaussian
    kernel as it was (within 1 %)."""
    g = torch.Generator().manual_seed(0)
    rows = _circle(4000, g)
    kernel = {"yukawa": Kernel(InverseGaussian(c=1.0, m=1.0)), "pfgm": Kernel(InverseGamma(D=1.0, c=1.0)),
              "diffusion": Kernel(Deterministic(a=1.0))}[law]
    sigma = torch.full((4000,), 0.003, dtype=torch.float64)
    t = kernel.sigma_inv(sigma)
    x, u = kernel.perturb(rows[torch.randint(4000, (4000,), generator=g)], t, generator=g)
    y_eff = kernel.denoiser_target(x, u, t).float()
    x = x.float()

    def size(anchored):
        c_skip, _, _, w = rp.Precond(_Echo(), 2, data=rows, anchored=anchored).coefficients(x, sigma.float())
        return float((w * (y_eff - c_skip[:, None] * x).square().mean(1)).mean())

    if law == "diffusion":
        assert size(True) == pytest.approx(size(False), rel=0.01)
    else:
        assert size(True) < size(False) / 4


def test_train_sigma_distribution():
    g = torch.Generator().manual_seed(0)
    s = rp.sample_train_sigma(20000, g)
    assert s.dtype == torch.float64
    assert stats.kstest(torch.log(s).numpy(), stats.norm(-1.2, 1.2).cdf).pvalue > 1e-3
    s = rp.sample_train_sigma(20000, g, sigma_hi=0.5)
    assert float(s.max()) < 0.5
    cut = stats.truncnorm(-np.inf, (math.log(0.5) + 1.2) / 1.2, loc=-1.2, scale=1.2)
    assert stats.kstest(torch.log(s).numpy(), cut.cdf).pvalue > 1e-3


def test_edm_loss_is_zero_for_the_target_and_weighted():
    class Zero(torch.nn.Module):
        def forward(self, x, c):
            return torch.zeros_like(x)

    net = rp.Precond(Zero(), 2, outlier_aware=False)
    x = torch.randn(16, 2)
    sigma = torch.full((16,), 2.0, dtype=torch.float64)
    D = net(x, sigma.float())
    assert float(rp.edm_loss(net, x, sigma, D)) == pytest.approx(0.0, abs=1e-12)
    # target off by 1 in every coordinate: loss = lambda(sigma) = (4 + 0.25) / (4 * 0.25)
    assert float(rp.edm_loss(net, x, sigma, D + 1)) == pytest.approx(4.25, rel=1e-5)


@pytest.mark.parametrize("name", rdata.TOY_SETS)
def test_toy_sets(name):
    a = rdata.make_toy(name, 3000, 0)
    assert a.shape == (3000, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, rdata.make_toy(name, 3000, 0)) and not np.array_equal(a, rdata.make_toy(name, 3000, 1))
    mean, scale = rdata.normalisation(a)
    z = rdata.normalise(a, mean, scale)
    assert np.abs(z.mean(0)).max() < 1e-5 and math.sqrt(float((z.astype(np.float64) ** 2).mean())) == pytest.approx(0.5)
    assert np.allclose(rdata.denormalise(z, mean, scale), a, atol=1e-5)


def test_checkerboard_and_moons_shapes():
    c = rdata.make_toy("checkerboard", 20000, 0).astype(np.float64)
    cell = (np.floor(c[:, 0]) + np.floor(c[:, 1])) % 2
    assert (cell == 0).all()  # only the even squares
    m = rdata.make_toy("moons", 20000, 0)
    outer = (np.abs(np.hypot(m[:, 0], m[:, 1]) - 1) < 0.25) & (m[:, 1] > -0.25)
    inner = (np.abs(np.hypot(m[:, 0] - 1, m[:, 1] - 0.5) - 1) < 0.25) & (m[:, 1] < 0.75)
    assert (outer | inner).mean() > 0.99 and np.allclose(m.mean(0), [0.5, 0.25], atol=0.03)


def test_sliced_w2():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 4))
    assert rdata.sliced_w2(a, a) == 0.0
    v = np.array([1.0, 2.0, 0.0, -2.0])
    # a shift v: SW2^2 = E[(theta . v)^2] = |v|^2 / d
    assert rdata.sliced_w2(a, a + v, n_proj=1000) == pytest.approx(np.linalg.norm(v) / 2, rel=0.05)


def test_load_npy_refuses_pickles_and_bad_shapes(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, {"b": 2}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        rdata.load_npy(str(tmp_path / "o.npy"))
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(ValueError, match="shape"):
        rdata.load_npy(str(tmp_path / "v.npy"))
    np.save(tmp_path / "n.npy", np.array([[np.nan, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        rdata.load_npy(str(tmp_path / "n.npy"))



# ---------------------------------------------------------------------------------------------- the cond seam


class _Recorder(torch.nn.Module):
    """A backbone that records how it was called and returns c_noise broadcast (a known F)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.calls = []

    def forward(self, x, c, **kw):
        self.calls.append(kw)
        return self.w * c.view(-1, *([1] * (x.dim() - 1))).expand_as(x)


def test_cond_goes_from_the_loss_through_precond_to_the_backbone():
    back = _Recorder()
    net = rp.Precond(back, 2)
    x, sigma = torch.randn(4, 2), torch.full((4,), 0.5)
    labels = torch.tensor([0, 1, 2, 3])
    a = net(x, sigma)
    b = net(x, sigma, cond=labels)
    assert back.calls[0] == {} and back.calls[1]["cond"] is labels  # cond=None: the plain F(x, c_noise)
    assert torch.equal(a, b)
    back.calls.clear()
    target = torch.zeros(4, 2)
    with torch.no_grad():
        assert float(rp.edm_loss(net, x, sigma.double(), target)) == float(rp.edm_loss(net, x, sigma.double(), target,
                                                                                       cond=labels))
    assert back.calls[0] == {} and back.calls[1]["cond"] is labels


def test_runtime_backbones_ignore_cond_none_and_refuse_labels():
    from pdec.runtime import model as rm

    torch.manual_seed(0)
    for net, shape in ((rm.backbone("mlp", (3,), width=8, depth=2), (3,)),
                       (rm.backbone("unet", (1, 4, 4), channels=4), (1, 4, 4))):
        x, c = torch.randn(2, *shape), torch.randn(2)
        assert torch.equal(net(x, c, cond=None), net(x, c)) and net(x, c).shape == x.shape
        with pytest.raises(ValueError, match="unconditional"):
            net(x, c, cond=torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown backbone"):
        rm.backbone("transformer", (3,))


def test_fit_hands_each_batch_its_labels_and_resumes_exactly():
    """fit draws rows and their labels together (cond = labels[idx]); 3 + 4 steps equal 7 in one call."""
    from pdec.runtime import train as rt
    from pdec.runtime.model import MLP

    x = torch.randn(50, 2)
    labels = torch.arange(50)
    seen = []

    def loss_fn(model, y, g, cond):
        seen.append(bool(torch.equal(y, x[cond])))
        return model(y, torch.zeros(y.shape[0])).square().mean()

    one = rt.fit(rt.init(lambda: MLP(2, width=8, depth=2), 1e-2, 0), loss_fn, x, 7, 16, 3, 0.9, labels=labels)
    two = rt.init(lambda: MLP(2, width=8, depth=2), 1e-2, 0)
    rt.fit(two, loss_fn, x, 3, 16, 3, 0.9, labels=labels)
    rt.fit(two, loss_fn, x, 7, 16, 3, 0.9, labels=labels)
    assert all(seen) and len(seen) == 14 and one.step == two.step == 7
    for p, q in zip([*one.net.parameters(), *one.ema.parameters()], [*two.net.parameters(), *two.ema.parameters()]):
        assert torch.equal(p, q)
    assert not torch.equal(next(one.net.parameters()), next(one.ema.parameters()))  # the EMA lags the weights


def test_fit_stops_on_a_non_finite_loss():
    from pdec.runtime import train as rt
    from pdec.runtime.model import MLP

    state = rt.init(lambda: MLP(2, width=4, depth=1), 1e-2, 0)
    with pytest.raises(rt.TrainingDiverged, match="step 25"):
        rt.fit(state, lambda m, y, g, cond: m(y, torch.zeros(len(y))).sum() * float("nan"), torch.randn(8, 2), 100,
               4, 0, 0.9)
    assert isinstance(rt.TrainingDiverged("x"), FloatingPointError)
