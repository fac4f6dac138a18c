"""Tabulated radial laws (pdec/tabulate.py, pdec/runtime/radial.py) and the Kernel's radial branch.

References are independent of the code under test: the telegraph kernel's CDF integrates
pdec.green's closed form (sympy, not tabulate's scaled-Bessel version) by Simpson's rule, the N = 2
dissipative-wave source is pdec.green.radial_inverse_fourier, the heat kernel's radius is
scipy.stats.chi, the Helmholtz source green_helmholtz. Continuity residuals use finite differences.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats as st
import torch
from scipy.integrate import cumulative_simpson

from pdec import green
from pdec import tabulate as tb
from pdec.runtime.kernel import Kernel
from pdec.runtime.radial import Tabulated, chi2_median

F64 = torch.float64
EPS = 4.0
A_HEAT = 0.7
N_SAMPLES = 20000




def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def roundtrip(d: dict) -> Tabulated:
    """The law as an emitted package loads it: through JSON."""
    return Tabulated.from_dict(json.loads(json.dumps(d)))


@pytest.fixture(scope="module")
def telegraph():
    d = tb.dissipative_wave_table(EPS, 1, np.geomspace(0.02, 5.0, 40))
    return d, roundtrip(d)


@pytest.fixture(scope="module")
def wave2():
    d = tb.dissipative_wave_table(EPS, 2, np.geomspace(1.5, 6.0, 16))
    return d, roundtrip(d)


@pytest.fixture(scope="module")
def heat():
    d = tb.radial_table(lambda k, t: np.exp(-A_HEAT * t * k**2), 3, np.geomspace(0.01, 10.0, 24))
    return d, roundtrip(d)


def radii(law, N, t, n=N_SAMPLES, seed=0):
    """|x - y| and (x, y, u) from Kernel(law).perturb at time t."""
    y = torch.randn(n, N, generator=gen(seed + 1000), dtype=F64)
    x, u = Kernel(law).perturb(y, torch.full((n,), float(t), dtype=F64), generator=gen(seed))
    return (x - y).norm(dim=1).numpy(), x, y, u


_AC = None


def telegraph_cdf(r, t):
    """P(|x - y| <= r, continuous part) of the telegraph kernel from green's sympy closed form; and its total."""
    global _AC
    if _AC is None:
        _AC = green.to_numpy(green.green_dissipative_wave(EPS, 1).ac, green.r, green.t)
    grid = np.linspace(0.0, t, 20001)
    grid[-1] = t * (1 - 1e-13)  # the closed form is 0/0 exactly at the front
    F = cumulative_simpson(2.0 * _AC(grid, t), x=grid, initial=0.0)
    return np.interp(r, grid, F), float(F[-1])


def telegraph_checks(law, t, seed):
    """(KS p-value of the continuous part, z-score of the atom count) against the exact telegraph law."""
    s, *_ = radii(law, 1, t, seed=seed)
    w = math.exp(-EPS * t)
    at_front = s >= t * (1 - 1e-9)
    k = int(at_front.sum())
    z = (k - N_SAMPLES * w) / math.sqrt(N_SAMPLES * w * (1 - w))
    _, total = telegraph_cdf(np.array([t]), t)
    p = st.kstest(s[~at_front], lambda v: telegraph_cdf(v, t)[0] / total).pvalue
    return p, z


# ----------------------------------------------------------------------------------------------
# (a) sampled radii against the kernel
# ----------------------------------------------------------------------------------------------

def test_telegraph_closed_form_mass():
    """green's closed form carries 1 - exp(-eps t) and tabulate's scaled-Bessel form equals it."""
    p = tb.telegraph_density(EPS)
    for t in (0.05, 0.7, 3.0):
        _, total = telegraph_cdf(np.array([t]), t)
        assert abs(total + math.exp(-EPS * t) - 1) < 1e-9
        r = np.linspace(0, t * (1 - 1e-9), 101)
        assert np.allclose(p(r, t), _AC(r, t), rtol=1e-10, atol=0)


@pytest.mark.parametrize("t", [0.13, 0.5, 1.1])
def test_telegraph_samples_match_exact_law(telegraph, t):
    _, law = telegraph
    p, z = telegraph_checks(law, t, seed=int(100 * t))
    assert p > 1e-3, p
    assert abs(z) < 4, z


def test_telegraph_negative_control():
    """A table of the wrong kernel (eps = 3) fails the same KS test."""
    wrong = tb.dissipative_wave_table(3.0, 1, np.geomspace(0.2, 2.0, 12), check="none")
    p, z = telegraph_checks(Tabulated.from_dict(wrong), 0.5, seed=7)
    assert p < 1e-3 and abs(z) > 4, (p, z)


def test_telegraph_table_is_exact_positive_law(telegraph):
    d, _ = telegraph
    assert max(d["neg_mass"]) == 0.0 and max(abs(x) for x in d["tail_mass"]) < 1e-7
    assert np.allclose(d["atom_mass"], np.exp(-EPS * np.exp(d["log_t"])), rtol=1e-9)
    assert max(d["tab_error"]) < 3e-3  # leave-one-out (a 2 dlog t cell): ~4x the midpoint error
    assert d["usable"] == pytest.approx([0.02, 5.0])


def test_refined_grid_meets_its_target():
    """refine halves the cells whose leave-one-out error says the midpoint error exceeds the target."""
    d = tb.dissipative_wave_table(EPS, 1, np.geomspace(0.01, 10.0, 24), refine=2e-4)
    assert d["meta"]["n_t"] > 24 and max(d["tab_error"]) <= 8e-4
    t = np.exp(d["log_t"])
    src_fn = tb._Source(1, None, tb.telegraph_density(EPS), lambda s: (math.exp(-EPS * s), s),
                        lambda s: min(s, math.sqrt(s / EPS)), lambda s: s, None, 0.0, (), 3000, 20001)
    levels = np.asarray(d["u"])
    mids = [math.sqrt(a * b) for a, b in zip(t[:-1], t[1:])][::3]
    errs = [tb._ks(d, levels, src, tb._clip(src, levels)) for src in map(src_fn, mids)]
    assert max(errs) <= 3e-4, max(errs)


def test_wave_n2_matches_source_after_t_min(wave2):
    d, law = wave2
    t_min = math.log(1000) / EPS
    assert d["usable"] is not None and d["usable"][0] <= t_min
    t = 2.2
    delta = 0.03 * min(t, math.sqrt(t / EPS))
    r = np.linspace(0, t + 8 * delta, 3001)
    p = green.radial_inverse_fourier(green.dissipative_wave_fourier(EPS), t, r, 2, mollify=delta, breakpoints=(EPS,))
    f = 2 * math.pi * r * p
    F_raw = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(r))])
    fp = np.maximum(f, 0)
    F = np.concatenate([[0.0], np.cumsum(0.5 * (fp[1:] + fp[:-1]) * np.diff(r))])
    F /= F[-1]
    i = int(np.searchsorted(np.exp(d["log_t"]), t))
    clipped = max(d["neg_mass"][i - 1:i + 1]) + max(abs(x) for x in d["tail_mass"][i - 1:i + 1])
    assert clipped <= 1e-3
    assert np.max(np.abs(F - F_raw)) <= 2 * clipped + 1e-6  # the source itself is within the clipped mass
    s, x, y, _ = radii(law, 2, t, seed=3)
    assert st.kstest(s, lambda v: np.interp(v, r, F)).pvalue > 1e-3
    angle = torch.atan2((x - y)[:, 1], (x - y)[:, 0]).numpy()
    assert st.kstest(angle, st.uniform(loc=-math.pi, scale=2 * math.pi).cdf).pvalue > 1e-3
    # negative control: the same radii against the kernel at 0.8 t
    t2 = 0.8 * t
    p2 = green.radial_inverse_fourier(green.dissipative_wave_fourier(EPS), t2, r, 2, mollify=delta, breakpoints=(EPS,))
    f2 = np.maximum(2 * math.pi * r * p2, 0)
    F2 = np.concatenate([[0.0], np.cumsum(0.5 * (f2[1:] + f2[:-1]) * np.diff(r))])
    assert st.kstest(s, lambda v: np.interp(v, r, F2 / F2[-1])).pvalue < 1e-3


# ----------------------------------------------------------------------------------------------
# (b) the velocity carries the tabulated law
# ----------------------------------------------------------------------------------------------

class _BrokenRate(Tabulated):
    def __init__(self, law, factor):
        self.__dict__.update(law.__dict__)
        self.factor = factor

    def _radius64(self, U, t):
        rho, drho = super()._radius64(U, t)
        return rho, self.factor * drho


def continuity_residual(law, d, t):
    """max |dF_t(r)/dt + f_t(r) v_t(r)| / max |dF_t/dt| over radii halfway between the levels at t.

    F_t is the interpolated law's CDF of |x - y| (law.cdf), v_t(r) = d rho/dt at the level U = F_t(r)
    (law.radius): the radial continuity equation in flux form. Within a level cell F is linear in r, so
    f is exact; dF/dt by central differences inside one t cell.
    """
    Q, w, ra = tb.table_quantiles(d, t)
    mid = 0.5 * (Q[1:] + Q[:-1])
    gap = Q[1:] - Q[:-1]
    keep = (gap > 1e-9 * Q[-1]) & (mid < ra * (1 - 1e-4))  # the front moves: stay off it at t +- h
    r, gap = torch.tensor(mid[keep], dtype=F64), torch.tensor(gap[keep], dtype=F64)
    h = 1e-5 * t
    F = law.cdf(r**2, t)
    dFdt = (law.cdf(r**2, t + h) - law.cdf(r**2, t - h)) / (2 * h)
    dr = 1e-3 * gap
    f = (law.cdf((r + dr) ** 2, t) - law.cdf((r - dr) ** 2, t)) / (2 * dr)
    _, v = law.radius(F, torch.full_like(F, t))
    return float((dFdt + f * v).abs().max() / dFdt.abs().max())


@pytest.mark.parametrize("which", ["telegraph", "wave2", "heat"])
def test_continuity_of_tabulated_law(which, request):
    d, law = request.getfixturevalue(which)
    t_grid = np.exp(d["log_t"])
    for i in (2, len(t_grid) // 2, len(t_grid) - 3):
        t = float(math.sqrt(t_grid[i] * t_grid[i + 1]))
        assert continuity_residual(law, d, t) < 1e-5
        for factor in (-1.0, 2.0, 0.5):
            assert continuity_residual(_BrokenRate(law, factor), d, t) > 0.3


def test_velocity_carries_exact_telegraph_kernel(telegraph):
    """The table's rate against the exact kernel's continuity: first order in the t spacing (~2%)."""
    _, law = telegraph

    def resid(lw, t):
        rq = np.linspace(0.02, 0.95, 40) * t
        h, dr = 1e-4 * t, 1e-5 * t
        F0, _ = telegraph_cdf(rq, t)
        dFdt = (telegraph_cdf(rq, t + h)[0] - telegraph_cdf(rq, t - h)[0]) / (2 * h)
        f = (telegraph_cdf(rq + dr, t)[0] - telegraph_cdf(rq - dr, t)[0]) / (2 * dr)
        _, v = lw.radius(torch.tensor(F0), torch.tensor(t))
        return np.abs(dFdt + f * v.numpy()).max() / np.abs(dFdt).max()

    for t in (0.13, 0.5, 1.1):
        assert resid(law, t) < 0.04
        assert resid(_BrokenRate(law, 1.5), t) > 0.2


def test_kernel_velocity_is_radial_rate(telegraph):
    """u = (d rho/dt / rho)(x - y) and |x - y| = rho (the Kernel normalises xi for radial laws)."""
    _, law = telegraph
    y = torch.randn(64, 1, 3, generator=gen(1), dtype=F64)
    t = torch.linspace(0.05, 4.0, 64, dtype=F64)
    x, u = Kernel(law).perturb(y, t, generator=gen(2))
    S, dS = law.sample_with_rate(t, generator=gen(2))
    rho = (x - y).flatten(1).norm(dim=1)
    assert torch.allclose(rho, S.sqrt(), rtol=1e-12)
    coef = dS / (2 * S)
    assert torch.allclose(u, coef[:, None, None] * (x - y), rtol=1e-10, atol=1e-14)
    x32, u32 = Kernel(law).perturb(y.float(), t.float(), generator=gen(2))
    assert x32.dtype == torch.float32 and bool(torch.isfinite(x32).all() and torch.isfinite(u32).all())


# ----------------------------------------------------------------------------------------------
# (c) sigma, its inverse, and the Gaussian kernel end to end
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["telegraph", "wave2", "heat"])
def test_sigma_inverse(which, request):
    d, law = request.getfixturevalue(which)
    lo, hi = law.t_range
    t = torch.tensor(np.geomspace(lo * 1.01, hi * 0.99, 37), dtype=F64)
    sig = law.sigma(t)
    assert bool((sig[1:] > sig[:-1]).all())
    assert torch.allclose(law.sigma_inv(sig), t, rtol=1e-11, atol=0)
    # clamping: outside t_range everything is the law at the nearest end
    assert float(law.sigma_inv(sig[:1] * 1e-3)) == pytest.approx(lo, rel=1e-12)
    end = law.sigma(torch.tensor([hi], dtype=F64))
    assert float(law.sigma(torch.tensor([hi * 10.0], dtype=F64))) == pytest.approx(float(end), rel=1e-12)
    assert law.sigma(hi).dtype == torch.get_default_dtype()  # numbers in, default dtype out (as laws.py)


def test_heat_through_the_table_is_deterministic_law(heat):
    """The Gaussian kernel exp(-a t k^2), tabulated numerically: sigma = sqrt(2 a t), a(t) = 1/(2t), chi radii."""
    d, law = heat
    assert max(d["neg_mass"]) < 1e-12 and max(d["tab_error"]) < 2e-4
    t = torch.tensor(np.geomspace(0.011, 9.7, 41), dtype=F64)
    assert torch.allclose(law.sigma(t), torch.sqrt(2 * A_HEAT * t), rtol=1e-6, atol=0)
    assert torch.allclose(law.dlog_sigma_dt(t), 0.5 / t, rtol=1e-6, atol=0)
    assert torch.allclose(law.median(t), 2 * A_HEAT * t * chi2_median(3), rtol=1e-6, atol=0)
    for tt, seed in ((0.037, 11), (2.3, 12)):
        s, x, y, u = radii(law, 3, tt, seed=seed)
        assert st.kstest(s, st.chi(3, scale=math.sqrt(2 * A_HEAT * tt)).cdf).pvalue > 1e-3
        # exact for self-similar tables up to the source's accuracy (1e-8 in the bulk, 1e-4 at levels < 1e-5)
        assert torch.allclose(u, (x - y) / (2 * tt), rtol=2e-4, atol=0)
    assert chi2_median(3) == pytest.approx(st.chi2(3).median(), rel=1e-13)
    assert chi2_median(1) == pytest.approx(st.chi2(1).median(), rel=1e-13)


def test_runtime_mirrors_numpy_interpolation(heat, telegraph):
    for d, law in (heat, telegraph):
        u = torch.tensor(d["u"], dtype=F64)
        for t in (0.0301, 0.77, 3.3):
            Q, w, ra = tb.table_quantiles(d, t)
            rho, _ = law.radius(u * (1 - w), torch.tensor(t, dtype=F64))
            assert np.allclose(rho.numpy()[:-1], Q[:-1], rtol=1e-12)
    law = heat[1]
    assert Tabulated.from_dict(law.to_dict()).to_dict() == law.to_dict()
    a = law.sample(torch.full((100,), 0.3, dtype=F64), generator=gen(5))
    b = roundtrip(law.to_dict()).sample(torch.full((100,), 0.3, dtype=F64), generator=gen(5))
    assert torch.equal(a, b)


def test_invalid_tables_are_refused(heat):
    d, _ = heat
    bad = json.loads(json.dumps(d))
    bad["rho"][3][10], bad["rho"][3][11] = bad["rho"][3][11], bad["rho"][3][10] * 0.5
    with pytest.raises(ValueError):
        Tabulated.from_dict(bad)
    with pytest.raises(ValueError):
        Tabulated.from_dict({**d, "format": "other"})
    with pytest.raises(ValueError):
        tb.radial_table(lambda k, t: np.exp(-t * k**2), 2, [1.0, 0.5])


# ----------------------------------------------------------------------------------------------
# (d) Helmholtz with small k0
# ----------------------------------------------------------------------------------------------

def test_helmholtz_small_k0():
    k0 = 0.2
    t_grid = np.geomspace(0.02, 7.5, 20)
    d = tb.helmholtz_table(k0, 1, t_grid)
    neg = np.array(d["neg_mass"])
    assert np.all(neg > 0) and np.all(np.diff(neg) > 0)  # the Bessel-Y tail grows with k0 t
    assert neg[0] < 0.02 * neg[-1]
    assert d["usable"] is None or d["usable"][1] < 0.1
    with pytest.raises(ValueError):
        tb.helmholtz_table(k0, 1, [1.0, 0.5 * math.pi / k0])
    # the sampled radii follow the clipped closed form at a small k0 t
    law = roundtrip(d)
    t = 0.1
    dens = green.to_numpy(green.green_helmholtz(k0, 1), green.r, green.t)
    r = np.concatenate([[0.0], np.geomspace(1e-4, t + 4 * 2 * math.pi / k0, 200000)])
    f = np.maximum(2 * dens(r, t), 0)
    F = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(r))])
    s, *_ = radii(law, 1, t, seed=9)
    assert st.kstest(s, lambda v: np.interp(v, r, F / F[-1])).pvalue > 1e-3
    d2 = tb.helmholtz_table(k0, 2, t_grid[:6], check="none")
    assert np.all(np.diff(d2["neg_mass"]) > 0)


# ----------------------------------------------------------------------------------------------
# pieces
# ----------------------------------------------------------------------------------------------

def test_u_levels():
    u = tb.u_levels(129)
    assert len(u) == 129 and u[0] == 0 and u[-1] == 1 and 0.5 in u
    assert np.all(np.diff(u) > 0) and np.allclose(u, 1 - u[::-1], atol=1e-15)


def test_fast_lambda_transform_equals_green():
    q = green.dissipative_wave_fourier(EPS)
    r = np.linspace(0, 2.5, 120)
    for N in (4, 5, 8):
        a = tb._transform(q, 2.0, r, N, 0.03, (EPS,))
        b = green.radial_inverse_fourier(q, 2.0, r, N, mollify=0.03, breakpoints=(EPS,))
        assert np.max(np.abs(a - b)) <= 1e-8 * np.max(np.abs(b))


def test_restrict_to_usable_range():
    d = tb.dissipative_wave_table(EPS, 3, np.geomspace(0.5, 6.0, 12))
    lo, hi = d["usable"]
    assert lo > math.log(1000) / EPS  # in N = 3 the wavefront (e^(-eps t) (1 + eps t + (eps t)^2/2)) lasts longer
    r = tb.restrict(d)
    law = Tabulated.from_dict(json.loads(json.dumps(r)))
    assert law.t_range == pytest.approx((lo, hi), rel=1e-12)
    assert len(r["tab_error"]) == len(r["log_t"]) - 2 and r["usable"] == pytest.approx([lo, hi])
    assert max(r["neg_mass"]) <= 1e-3
    i = d["log_t"].index(r["log_t"][1])
    assert r["tab_error"][0] == d["tab_error"][i - 1] and r["rho"][1] == d["rho"][i]


def test_speed_c_scales_radii():
    t_grid = np.geomspace(0.1, 2.0, 6)
    d1 = tb.dissipative_wave_table(EPS, 1, t_grid, check="none")
    d2 = tb.dissipative_wave_table(EPS, 1, t_grid, c=2.5, check="none")
    assert np.allclose(d2["rho"], 2.5 * np.asarray(d1["rho"]), rtol=1e-9, atol=1e-12)
    assert np.allclose(d2["atom_r"], 2.5 * t_grid, rtol=1e-12)
    assert np.allclose(d2["atom_mass"], d1["atom_mass"], rtol=1e-14, atol=0)  # kept mass summed in another order
    assert tb.dissipative_wave_table(EPS, 1, t_grid, check="none") == d1  # deterministic (the emitter needs it)


def test_usable_t_range():
    d = {"log_t": list(np.log([1.0, 2, 3, 4, 5, 6])), "neg_mass": [0.1, 0, 0, 0.2, 0, 0],
         "tail_mass": [0, 0, 0, 0, 0, -0.01]}
    assert tb.usable_t_range(d, 1e-3) == pytest.approx((2.0, 3.0))
    assert tb.usable_t_range(d, 0.05) == pytest.approx((2.0, 3.0))  # runs (2, 3) and (5, 6) tie: the first
    assert tb.usable_t_range({**d, "neg_mass": [0.1, 0, 0.2, 0, 0, 0]}, 0.05) == pytest.approx((4.0, 6.0))
    with pytest.raises(ValueError):
        tb.usable_t_range({**d, "neg_mass": [1.0] * 6}, 1e-3)
