"""The solver registry of pdec/runtime/sampler.py: orders of convergence, exact NFE, cond, diffusers, grids.

Orders are measured on problems with a known solution: Gaussian data N(0, s^2 I) under the diffusion
kernel (D = s^2/(s^2 + sigma^2) x, x(sigma) = x_T sqrt(s^2 + sigma^2)/sqrt(s^2 + sigma_max^2)), and
Gaussian data under Yukawa's InverseGaussian and PFGM's InverseGamma laws of S_t, where the generalised
denoiser (DESIGN.md 6) is a quadrature over S_t and the reference solution an adaptive DOP853 solve of
the radial ODE d ln|x| / d ln sigma = 1 - D/x. The grids stop at sigma_min > 0 (no step to 0), so the
error measured is the solver's, not the final denoising step's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from pdec.runtime import sampler as rs
from pdec.runtime.kernel import Kernel
from pdec.runtime.laws import InverseGamma, InverseGaussian

NAMES = tuple(rs.SOLVERS)
#: the order each solver must show (iPNDM's Adams-Bashforth is order 4 per step; its Euler start
#: bounds the measured order below that, the test asks for at least 3)
MEASURED_ORDER = {"euler": 1, "heun": 2, "dpmpp_2m": 2, "dpmpp_3m": 3, "ipndm": 3}


def _gaussian_denoiser(s_data):
    def D(x, sigma):
        return (s_data**2 / (s_data**2 + sigma.to(x.dtype) ** 2)).view(-1, *([1] * (x.dim() - 1))) * x
    return D


def _orders(errs):
    return [math.log2(a / b) for a, b in zip(errs, errs[1:])]


def test_registry_lists_every_solver_once_with_its_rule():
    assert {"euler", "heun", "dpmpp_2m", "dpmpp_3m", "ipndm"} <= set(rs.SOLVERS)
    for name, spec in rs.SOLVERS.items():
        assert spec.name == name and callable(spec.fn) and spec.order >= 1 and spec.doc
        with pytest.raises(AttributeError):
            spec.order = 7
    assert [rs.nfe(18, s) for s in ("heun", "euler", "dpmpp_2m", "dpmpp_3m", "ipndm")] == [35, 18, 18, 18, 18]


def test_unknown_solver_names_the_known_ones():
    x, sig = torch.zeros(2, 2), rs.edm_sigmas(3, 0.002, 5.0)
    for call in (lambda: rs.solve(_gaussian_denoiser(0.5), x, sig, "rk4"), lambda: rs.nfe(3, "rk4"),
                 lambda: rs.choose_grid(_gaussian_denoiser(0.5), None, x, 3, "rk4", 0.002, 5.0)):
        with pytest.raises(ValueError) as e:
            call()
        assert "rk4" in str(e.value) and all(name in str(e.value) for name in NAMES)


@pytest.mark.parametrize("solver", NAMES)
def test_nfe_is_the_number_of_denoiser_calls(solver):
    """A counting denoiser: nfe(steps, solver) calls for steps 1..10, each at a grid sigma > 0, as a [B] tensor."""
    D0 = _gaussian_denoiser(0.5)
    for steps in range(1, 11):
        sig = rs.edm_sigmas(steps, 0.002, 5.0)
        seen = []

        def D(x, sigma, seen=seen):
            assert sigma.shape == (x.shape[0],) and sigma.dtype == x.dtype
            seen.append(float(sigma[0]))
            return D0(x, sigma)

        out = rs.solve(D, torch.randn(3, 2), sig, solver)
        assert len(seen) == rs.nfe(steps, solver), (solver, steps)
        assert out.shape == (3, 2) and bool(torch.isfinite(out).all())
        grid = sig.to(torch.float32).tolist()
        assert all(s > 0 and s in grid for s in seen)


@pytest.mark.parametrize("solver", NAMES)
def test_cond_reaches_every_denoiser_call(solver):
    cond = torch.tensor([3, 1, 4])
    D0 = _gaussian_denoiser(0.5)
    got = []

    def D(x, sigma, cond=None):
        got.append(cond)
        return D0(x, sigma)

    x = torch.randn(3, 2)
    sig = rs.edm_sigmas(6, 0.002, 5.0)
    out = rs.solve(D, x, sig, solver, cond=cond)
    assert len(got) == rs.nfe(6, solver) and all(c is cond for c in got)
    # cond=None: the denoiser is called with (x, sigma) only (one that takes no cond works) and gives the same
    assert torch.equal(rs.solve(D0, x, sig, solver), out)


@pytest.mark.parametrize("solver", NAMES)
def test_order_on_gaussian_data_with_the_exact_solution(solver):
    s_data, smax, smin = 0.5, 20.0, 0.05
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64) * smax
    exact = x * math.sqrt(s_data**2 + smin**2) / math.sqrt(s_data**2 + smax**2)
    errs = [float((rs.solve(_gaussian_denoiser(s_data), x, rs.edm_sigmas(n, smin, smax)[:-1], solver) - exact).norm()
                  / exact.norm()) for n in (32, 64, 128)]
    p = _orders(errs)[-1]
    assert abs(p - MEASURED_ORDER[solver]) < 0.3 or (solver == "ipndm" and 3.0 < p < 4.3), (errs, _orders(errs))


def test_diffusers_3m_coefficient_is_second_order_only():
    """diffusers' / k-diffusion's DPM-Solver++(3M) phi_3 is half the exact one: measured order 2, against 3."""
    s_data, smax, smin = 0.5, 20.0, 0.05
    x = torch.tensor([[math.sqrt(smax**2 + s_data**2)]], dtype=torch.float64)
    errs = {}
    for scale in (0.5, 1.0):
        errs[scale] = [abs(float(rs._dpmpp_multistep(_gaussian_denoiser(s_data), x, rs.edm_sigmas(n, smin, smax)[:-1],
                                                     None, 3, scale)) / math.sqrt(s_data**2 + smin**2) - 1)
                       for n in (32, 64, 128)]
    assert abs(_orders(errs[0.5])[-1] - 2) < 0.2 and abs(_orders(errs[1.0])[-1] - 3) < 0.3, errs


class QuadratureDenoiser:
    """The exact generalised denoiser of Gaussian data N(0, s^2 I_d) under a law of S_t (DESIGN.md 6).

    Given S, y | x is N(s^2/(s^2+S) x, .) and the target y_eff = x - c (x - y)/a with c = rate(S, t)/(2S),
    a = d ln sigma/dt; so D = x (1 - g), g = E[c S / (a (s^2 + S)) | x], the expectation over
    S | x ~ f_t(S) (s^2+S)^(-d/2) exp(-|x|^2 / (2 (s^2+S))): a sum over a uniform grid in ln S.
    """

    def __init__(self, law, s_data: float, dim: int, n: int = 2001, lo: float = -30.0, hi: float = 30.0):
        self.law, self.s2, self.dim = law, s_data**2, dim
        self.kernel = Kernel(law)
        self.u = torch.linspace(lo, hi, n, dtype=torch.float64)
        self.S = torch.exp(self.u)
        self._at = {}

    def g(self, r2: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma not in self._at:
            t = self.kernel.sigma_inv(torch.tensor(sigma, dtype=torch.float64))
            log_w = self.law.log_pdf(self.S, t) + self.u - 0.5 * self.dim * torch.log(self.s2 + self.S)
            c_over_a = self.law.rate(self.S, t) / (2.0 * self.S) / self.law.dlog_sigma_dt(t)
            self._at[sigma] = (log_w, c_over_a * self.S / (self.s2 + self.S))
        log_w, h = self._at[sigma]
        w = torch.softmax(log_w - r2[:, None] / (2.0 * (self.s2 + self.S)), dim=1)
        return (w * h).sum(1)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x * (1.0 - self.g(x.square().sum(1), float(sigma[0])))[:, None]


def _reference(den: QuadratureDenoiser, x: torch.Tensor, smax: float, smin: float) -> torch.Tensor:
    """x at smin: DOP853 on d ln|x| / d ln sigma = g (the direction of x is constant), rtol 1e-11."""
    r = x.norm(dim=1)

    def rhs(u, y):
        return den.g(torch.from_numpy(np.exp(2.0 * y)), math.exp(u)).numpy()

    sol = solve_ivp(rhs, (math.log(smax), math.log(smin)), np.log(r.numpy()), method="DOP853", rtol=1e-11, atol=1e-12)
    assert sol.success
    return x * (torch.from_numpy(np.exp(sol.y[:, -1])) / r)[:, None]


@pytest.fixture(scope="module", params=[InverseGaussian(c=1.0, m=1.0), InverseGamma(D=1.0)],
                ids=["yukawa-inverse-gaussian", "pfgm-inverse-gamma"])
def non_gaussian_problem(request):
    s_data, dim, smax, smin = 0.5, 2, 10.0, 0.05
    den = QuadratureDenoiser(request.param, s_data, dim)
    x = torch.randn(3, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * smax
    return den, x, _reference(den, x, smax, smin), smax, smin


def test_quadrature_denoiser_is_exact_for_the_diffusion_kernel():
    """Check of the check: with Deterministic S_t = sigma^2 the quadrature collapses to s^2/(s^2+sigma^2) x."""
    from pdec.runtime.laws import InverseGamma as IG

    den = QuadratureDenoiser(IG(D=4000.0), 0.5, 2, n=4001)  # PFGM++ D -> infinity is diffusion
    x = torch.tensor([[1.0, -2.0], [0.3, 0.1]], dtype=torch.float64)
    sigma = torch.full((2,), 0.7, dtype=torch.float64)
    assert torch.allclose(den(x, sigma), _gaussian_denoiser(0.5)(x, sigma), rtol=2e-3)


@pytest.mark.parametrize("solver", NAMES)
def test_order_on_gaussian_data_under_non_gaussian_kernels(solver, non_gaussian_problem):
    den, x, ref, smax, smin = non_gaussian_problem
    errs = [float((rs.solve(den, x, rs.edm_sigmas(n, smin, smax)[:-1], solver) - ref).norm() / ref.norm())
            for n in (16, 32, 64)]
    p = _orders(errs)[-1]
    assert abs(p - MEASURED_ORDER[solver]) < 0.3 or (solver == "ipndm" and 3.0 < p < 4.3), (errs, _orders(errs))


# ---------------------------------------------------------------------------------------------- diffusers


class _Backbone(torch.nn.Module):
    """A fixed random MLP F(x, c_noise)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64),
                                       torch.nn.SiLU(), torch.nn.Linear(64, 2))

    def forward(self, x, c):
        return self.net(torch.cat([x, c.reshape(-1, 1).to(x.dtype).expand(x.shape[0], 1)], 1))


def _diffusers_run(sched, F, x):
    """diffusers' own loop: scale_model_input, the raw network output, scheduler.step."""
    for tstep in sched.timesteps:
        x = sched.step(F(sched.scale_model_input(x, tstep), tstep.expand(x.shape[0])), tstep, x).prev_sample
    return x


def _pdec_denoiser(sched, F):
    """The same network as a denoiser D(x, sigma) through diffusers' EDM preconditioning."""
    def D(x, sigma):
        s = sigma[:, None]
        return sched.precondition_outputs(x, F(sched.precondition_inputs(x, s), sched.precondition_noise(sigma)), s)
    return D


@pytest.mark.parametrize("steps", [3, 5, 8, 18])
@pytest.mark.parametrize("which", ["euler", "dpmpp_2m", "diffusers_3m"])
def test_solvers_reproduce_diffusers_edm_schedulers(which, steps):
    """pdec's grid and solver against diffusers' EDMEulerScheduler / EDMDPMSolverMultistepScheduler (dpmsolver++,
    midpoint, final sigma 0) on the same network and noise: samples agree to 1e-5 relative."""
    diffusers = pytest.importorskip("diffusers")
    sigma_max = 5.0
    common = dict(sigma_min=rs.SIGMA_MIN, sigma_max=sigma_max, sigma_data=0.5, rho=rs.RHO, prediction_type="epsilon",
                  final_sigmas_type="zero")
    if which == "euler":
        sched = diffusers.EDMEulerScheduler(**common)
    else:
        sched = diffusers.EDMDPMSolverMultistepScheduler(**common, solver_order=2 if which == "dpmpp_2m" else 3,
                                                         algorithm_type="dpmsolver++", solver_type="midpoint")
    sched.set_timesteps(steps)
    F = _Backbone()
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(1)) * sigma_max
    with torch.no_grad():
        ref = _diffusers_run(sched, F, x.clone())
        sig = rs.edm_sigmas(steps, rs.SIGMA_MIN, sigma_max)
        D = _pdec_denoiser(sched, F)
        out = rs._dpmpp_multistep(D, x, sig, None, 3, 0.5) if which == "diffusers_3m" else rs.solve(D, x, sig, which)
    assert float((out - ref).norm() / ref.norm()) < 1e-5


# ------------------------------------------------------------------------------------------------ grids


def test_rho_infinity_is_the_log_linear_grid():
    s = rs.edm_sigmas(6, 0.01, 10.0, math.inf)
    assert float(s[-1]) == 0.0
    r = s[1:-1] / s[:-2]
    assert torch.allclose(r, r[0].expand_as(r), rtol=1e-12) and float(s[0]) == pytest.approx(10.0, rel=1e-14)
    assert float(s[-2]) == pytest.approx(0.01, rel=1e-12)


@pytest.mark.parametrize("solver, steps", [("euler", 5), ("dpmpp_2m", 5), ("heun", 3)])
def test_choose_grid_beats_edm_rho_7_on_fresh_draws_and_is_deterministic(solver, steps):
    """Gaussian data, exact denoiser: the chosen grid's global error on new prior draws is at most rho = 7's."""
    s_data, smin, smax = 0.5, 0.002, 10.0
    D = _gaussian_denoiser(s_data)
    scale = math.sqrt(smax**2 + s_data**2)
    pilot = torch.randn(128, 2, generator=torch.Generator().manual_seed(0)) * scale
    sig, why = rs.choose_grid(D, None, pilot, steps, solver, smin, smax)
    sig2, why2 = rs.choose_grid(D, None, pilot.clone(), steps, solver, smin, smax)
    assert torch.equal(sig, sig2) and why == why2
    assert sig.shape == (steps + 1,) and float(sig[-1]) == 0.0 and bool((sig[1:] < sig[:-1]).all())
    assert float(sig[0]) == pytest.approx(smax) and float(sig[-2]) == pytest.approx(smin)
    assert "rho" in why and solver in why
    fresh = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * scale
    exact = fresh * s_data / scale

    def err(grid):
        return float((rs.solve(D, fresh, grid, solver) - exact).norm())

    assert err(sig) <= 1.02 * err(rs.edm_sigmas(steps, smin, smax, 7.0))


class _ExactNet(torch.nn.Module):
    """The exact Gaussian-data denoiser as a module (Sampler.sample finds the device from its parameters)."""

    def __init__(self, s_data):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        self.D = _gaussian_denoiser(s_data)

    def forward(self, x, sigma):
        return self.D(x, sigma)


def test_sampler_grid_auto_is_choose_grids_grid_and_edm_is_unchanged():
    """Sampler(grid="auto") samples on choose_grid's grid (pilot prior draws, fixed seed), grid="edm" on rho = 7."""
    from pdec.runtime.laws import Deterministic
    from pdec.runtime.sample import GRID_PILOT, GRID_PILOT_SEED, Sampler

    kern, net = Kernel(Deterministic(a=1.0)), _ExactNet(0.5)
    auto = Sampler(kern, (2,), 10.0, steps=5, solver="dpmpp_2m", grid="auto")
    sig, why = auto.sigmas_for(net)
    pilot = auto.prior(GRID_PILOT, generator=torch.Generator().manual_seed(GRID_PILOT_SEED))
    ref, why_ref = rs.choose_grid(net, kern, pilot, 5, "dpmpp_2m", auto.sigma_min, 10.0)
    assert torch.equal(sig, ref) and why == why_ref
    assert not torch.equal(sig, rs.edm_sigmas(5, auto.sigma_min, 10.0, 7.0))  # the Gaussian case prefers another rho
    x_auto = auto.sample(net, 64, generator=torch.Generator().manual_seed(3))
    x0 = auto.prior(64, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(x_auto, rs.solve(net, x0, ref, "dpmpp_2m"))
    edm = Sampler(kern, (2,), 10.0, steps=5, solver="dpmpp_2m")
    sig_edm, _ = edm.sigmas_for(net)
    assert torch.equal(sig_edm, rs.edm_sigmas(5, edm.sigma_min, 10.0, 7.0))
    with pytest.raises(ValueError, match="grid"):
        edm.sigmas_for(net, grid="karras")
