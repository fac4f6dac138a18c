"""The batch-posterior training target (runtime/kernel.py batch_posterior_target, train.kernel_loss)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

from pdec.runtime import precond as rp
from pdec.runtime import train as rt
from pdec.runtime.kernel import Kernel
from pdec.runtime.laws import Deterministic, InverseGamma, InverseGaussian

A, B = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([-1.0, 0.5], dtype=torch.float64)


def _two_points(n):
    """n rows, half at A and half at B (the batch is exactly the two-point data set)."""
    return torch.cat([A.expand(n // 2, 2), B.expand(n - n // 2, 2)]).clone()


def _reference(kernel, x, t, ys):
    """E[y_eff | x] for data uniform on the points ys, by scipy's quad over ln S of the law's own density
    and rate: p(y | x) ~ int p_t(S) N(x - y; 0, S I) dS, E[c/a | x, y] = int (c/a) p_t N dS / int p_t N dS,
    D* = x - sum_y p(y|x) E[c/a|x,y] (x - y)."""
    law, t = kernel.law, float(t)
    tt = torch.tensor([t], dtype=torch.float64)
    a = float(law._dlog_sigma_dt64(tt)[0])
    ln_med = math.log(float(law._median64(tt)[0]))

    def moments(d2):
        def f(lns, power):
            s = torch.tensor([math.exp(lns)], dtype=torch.float64)
            dens = math.exp(float(law._log_pdf64(s, tt)[0]) + lns - 0.5 * d2 / s.item() - math.log(s.item()) + shift)
            return dens * (float(law._rate64(s, tt)[0]) / (2 * s.item()) / a) ** power
        shift = 0.0
        peak = max(ln_med - 20, min(ln_med + 30, math.log(max(d2 / 2, 1e-300))))
        grid = sorted({ln_med - 20, ln_med, peak, ln_med + 30})
        shift = -max(math.log(f(v, 0) + 1e-300) for v in grid)
        m0 = sum(integrate.quad(f, lo, hi, args=(0,), limit=200)[0] for lo, hi in zip(grid, grid[1:]))
        m1 = sum(integrate.quad(f, lo, hi, args=(1,), limit=200)[0] for lo, hi in zip(grid, grid[1:]))
        return m0, m1, shift

    out = []
    for xi in x:
        ms = [moments(float(((xi - y) ** 2).sum())) for y in ys]
        top = max(-m[2] for m in ms)
        w = [m[0] * math.exp(-m[2] - top) for m in ms]
        out.append(xi - sum(wi / sum(w) * (m[1] / m[0]) * (xi - y) for wi, m, y in zip(w, ms, ys)))
    return torch.stack(out)


def test_self_similar_law_on_one_point_gives_the_point():
    """c / a = 1 and one data point: the posterior mean of y is y itself, exactly."""
    k = Kernel(InverseGamma(D=1.0))
    y = torch.tensor([[0.3, -0.2]], dtype=torch.float64).expand(32, 2).clone()
    t = torch.full((32,), 0.7, dtype=torch.float64)
    x, _ = k.perturb(y, t, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(k.batch_posterior_target(x, y, t), y, rtol=0, atol=1e-12)


def _yukawa_batch(sigma, seed, n=64):
    """(kernel, y, t, x, u): Yukawa (m = 1) at sigma on the two-point batch."""
    k = Kernel(InverseGaussian(c=1.0, m=1.0))
    y = _two_points(n)
    t = k.sigma_inv(torch.tensor(sigma, dtype=torch.float64)).expand(n).clone()
    x, u = k.perturb(y, t, generator=torch.Generator().manual_seed(seed))
    return k, y, t, x, u


def _mean_miss(got, ref, x):
    """Mean |got - D*| over the rows, relative to the mean displacement |x - D*|."""
    return float((got - ref).norm(dim=1).mean()) / float((x - ref).norm(dim=1).mean())


@pytest.mark.parametrize("sigma", [0.01, 0.3])
def test_matches_the_exact_posterior_target_on_two_points(sigma):
    k, y, t, x, _ = _yukawa_batch(sigma, 1)
    assert _mean_miss(k.batch_posterior_target(x, y, t), _reference(k, x, t[0], (A, B)), x) < 0.01


def test_conditional_mask_keeps_each_row_to_its_class():
    """Rows allowed only their own point: D* = x - E[c/a | x, y](x - y) with the point fixed."""
    k, y, t, x, _ = _yukawa_batch(0.3, 3)
    label = torch.arange(64) >= 32
    got = k.batch_posterior_target(x, y, t, allowed=label[:, None] == label[None, :])
    ref = torch.cat([_reference(k, x[:32], t[0], (A,)), _reference(k, x[32:], t[0], (B,))])
    assert _mean_miss(got, ref, x) < 0.01


def test_removes_most_of_the_sampled_targets_variance_at_small_sigma():
    """Yukawa at sigma = 0.01: E|y_eff - D*|^2 of the sampled target against that of the batch posterior."""
    k, y, t, x, u = _yukawa_batch(0.01, 5)
    ref = _reference(k, x, t[0], (A, B))
    sampled = ((k.denoiser_target(x, u, t) - ref) ** 2).sum(1).mean()
    batch = ((k.batch_posterior_target(x, y, t) - ref) ** 2).sum(1).mean()
    assert float(batch) < 0.01 * float(sampled)


def test_a_point_mass_law_falls_back_to_its_draws_exactly():
    """Diffusion (S_t a point mass, no density): D* = sum_y N(x - y; 0, S) y / sum_y N(x - y; 0, S)."""
    k = Kernel(Deterministic(1.0))
    y = _two_points(32)
    t = torch.full((32,), 0.2, dtype=torch.float64)
    x, _ = k.perturb(y, t, generator=torch.Generator().manual_seed(7))
    logN = torch.stack([-((x - p) ** 2).sum(1) / (2 * 0.4) for p in (A, B)])
    p = torch.softmax(logN, 0)
    torch.testing.assert_close(k.batch_posterior_target(x, y, t), p[0, :, None] * A + p[1, :, None] * B)


def test_kernel_loss_trains_on_the_chosen_target():
    yukawa, diffusion = Kernel(InverseGaussian(c=1.0, m=1.0)), Kernel(Deterministic(1.0))
    assert rt.check_target(yukawa, "batch_posterior") == "batch_posterior" == rt.check_target(diffusion,
                                                                                             "batch_posterior")
    with pytest.raises(ValueError, match="unknown training target"):
        rt.kernel_loss(yukawa, target="posterior")

    class Identity(torch.nn.Module):  # D(x, sigma) = x, weight 1: the loss is |x - target|^2
        def forward(self, x, sigma, cond=None, with_weight=False):
            return (x, torch.ones(x.shape[0])) if with_weight else x

    y = _two_points(128).float()
    g = torch.Generator().manual_seed(0)
    sigma = rp.sample_train_sigma(128, g, p_mean=rt.sigma_mean(yukawa))
    t = yukawa.sigma_inv(sigma)
    x, u = yukawa.perturb(y, t, generator=g)
    want = {"sample": yukawa.denoiser_target(x, u, t), "batch_posterior": yukawa.batch_posterior_target(x, y, t)}
    for target, y_eff in want.items():
        loss = rt.kernel_loss(yukawa, target=target)(Identity(), y, torch.Generator().manual_seed(0))
        assert float(loss) == pytest.approx(float((x - y_eff).square().mean()), rel=1e-5)
    # a conditional batch: labelled rows explained by their class's rows, null-label rows (2) by every row
    cond = torch.tensor([0, 1, 2] * 42 + [0, 1])
    allowed = (cond[:, None] == cond[None, :]) | (cond == 2)[:, None]
    y_eff = yukawa.batch_posterior_target(x, y, t, allowed=allowed)
    loss_fn = rt.kernel_loss(yukawa, target="batch_posterior", null_label=2)
    loss = loss_fn(Identity(), y, torch.Generator().manual_seed(0), cond=cond)
    assert float(loss) == pytest.approx(float((x - y_eff).square().mean()), rel=1e-5)
    assert not torch.allclose(y_eff, want["batch_posterior"])

    class Radial:
        kind = "radial"

    with pytest.raises(ValueError, match="Gaussian scale mixture"):
        rt.check_target(Radial(), "batch_posterior")


def test_training_sigmas_follow_the_laws_self_similarity():
    """ln sigma ~ N(-1.2, 1.2^2) (EDM) for a self-similar law, N(-2.0, 1.2^2) otherwise, or the given mean."""
    from scipy import stats

    yukawa, diffusion = Kernel(InverseGaussian(c=1.0, m=1.0)), Kernel(Deterministic(1.0))
    assert rt.sigma_mean(diffusion) == rp.P_MEAN and rt.sigma_mean(yukawa) == rp.P_MEAN_NOT_SELF_SIMILAR == -2.0
    assert rt.sigma_mean(yukawa, -0.5) == -0.5

    class Record(torch.nn.Module):
        def forward(self, x, sigma, cond=None, with_weight=False):
            self.sigma = sigma
            return (x, torch.ones(x.shape[0])) if with_weight else x

    y = _two_points(4096).float()
    for kernel, mean in ((diffusion, -1.2), (yukawa, -2.0), (yukawa, -0.5)):
        net = Record()
        rt.kernel_loss(kernel, p_mean=None if mean != -0.5 else mean)(net, y, torch.Generator().manual_seed(0))
        assert stats.kstest(torch.log(net.sigma.double()).numpy(), stats.norm(mean, 1.2).cdf).pvalue > 1e-3
