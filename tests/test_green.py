"""Tests of pdec.green: closed-form Green functions, the radial inverse Fourier transform, positivity."""

import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import scipy.special as sc
import sympy as sp
import yaml
from scipy.integrate import quad
from scipy.optimize import brentq

from pdec.green import (
    dissipative_wave_fourier,
    first_negative_radius,
    green_dissipative_wave,
    green_fourier,
    green_helmholtz,
    green_real,
    negative_mass,
    positivity_at,
    positivity_report,
    radial_inverse_fourier,
    sphere_area,
    to_numpy,
)
from pdec.pde import N as Nsym
from pdec.pde import k, r, t

TABLE = Path("/work/shared/reference/genphys_table.yaml")

# law, params, Fourier-kernel breakpoints (kinks)
MIXTURES = [
    ("Deterministic", {"a": 0.7}),
    ("Stable", {"alpha": 1, "c": 1.3}),
    ("InverseGaussian", {"c": 1.0, "m": 2.0}),
    ("InverseGaussian", {"c": 0.5, "m": 0.3}),
    ("InverseGamma", {"D": 1, "c": 1.0}),
    ("InverseGamma", {"D": 3, "c": 0.8}),
    ("InverseGamma", {"D": 12, "c": 1.0}),
    ("GIG", {"D": 4, "m": 1.5, "c": 1.0}),
    ("GIG", {"D": 2, "m": 0.5, "c": 2.0}),
]


def _ids(cases):
    return [f"{law}-{'-'.join(f'{a}{b}' for a, b in p.items())}" for law, p in cases]


def _mass(p, tt, N):
    """int_0^inf p(r) |S^(N-1)| r^(N-1) dr by adaptive quadrature."""
    def f(x):
        return float(p(x, tt)) * sphere_area(N) * x ** (N - 1)
    scale = 1.0 + tt
    head = quad(f, 0, scale, limit=200, epsabs=1e-13, epsrel=1e-11)[0]
    return head + quad(f, scale, np.inf, limit=400, epsabs=1e-13, epsrel=1e-11)[0]


# --- closed forms ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("law", "params"), MIXTURES, ids=_ids(MIXTURES))
def test_closed_forms_integrate_to_one(law, params):
    for N in (1, 2, 3, 6, 10):
        p = to_numpy(green_real(law, params, N), r, t)
        for tt in (0.4, 1.7):
            assert _mass(p, tt, N) == pytest.approx(1.0, abs=2e-8), (N, tt)


@pytest.mark.parametrize(("law", "params"), [*MIXTURES, ("Helmholtz", {"k0": 1.0}), ("Helmholtz", {"k0": 2.5})],
                         ids=_ids([*MIXTURES, ("Helmholtz", {"k0": 1.0}), ("Helmholtz", {"k0": 2.5})]))
def test_closed_forms_match_inverse_fourier(law, params):
    """|numerical - exact| <= 1e-7 |exact| + 1e-10 p(0): the closed form is the transform of q."""
    q = to_numpy(green_fourier(law, params), k, t)
    bp = [float(params["k0"])] if law == "Helmholtz" else []
    rr = np.array([0.0, 0.2, 0.7, 1.5, 3.0])
    for N in (1, 2, 3):
        p = to_numpy(green_real(law, params, N), r, t)
        for tt in (0.3, 0.55):
            exact = p(rr, tt)
            num = radial_inverse_fourier(q, tt, rr, N, breakpoints=bp)
            assert np.all(np.abs(num - exact) <= 1e-7 * np.abs(exact) + 1e-10 * abs(exact[0])), (N, tt, num, exact)


def test_fourier_kernels_are_normalised_and_match_the_laws():
    kk = np.array([1e-9, 0.3, 1.0, 2.5])
    for law, params in MIXTURES:
        q = to_numpy(green_fourier(law, params), k, t)
        assert q(kk[:1], 0.8)[0] == pytest.approx(1.0, abs=1e-7), law
    # InverseGamma with D = 1 is exp(-c k t); GIG with D = 1 is the inverse Gaussian
    q1 = to_numpy(green_fourier("InverseGamma", {"D": 1, "c": 1.3}), k, t)
    np.testing.assert_allclose(q1(kk, 0.7), np.exp(-1.3 * 0.7 * kk), rtol=1e-12)
    g1 = to_numpy(green_fourier("GIG", {"D": 1, "m": 0.9, "c": 1.2}), k, t)
    ig = to_numpy(green_fourier("InverseGaussian", {"m": 0.9, "c": 1.2}), k, t)
    np.testing.assert_allclose(g1(kk, 0.7), ig(kk, 0.7), rtol=1e-12)


def test_poisson_equals_inverse_gamma_with_D_1():
    c = sp.Symbol("c", positive=True)
    poisson = green_real("Stable", {"alpha": 1, "c": c})
    pfgm = green_real("InverseGamma", {"D": 1, "c": c})
    assert sp.simplify(poisson - pfgm) == 0
    assert green_real("Stable", {"alpha": 1.0, "c": 1}) == green_real("Stable", {"alpha": 1, "c": 1})
    # and GIG with D = 1 is the inverse Gaussian (Yukawa), numerically
    rr = np.linspace(0, 4, 9)
    for N in (1, 2, 5):
        a = to_numpy(green_real("GIG", {"D": 1, "m": 0.8, "c": 1.1}, N), r, t)(rr, 0.6)
        b = to_numpy(green_real("InverseGaussian", {"m": 0.8, "c": 1.1}, N), r, t)(rr, 0.6)
        np.testing.assert_allclose(a, b, rtol=1e-11)


def test_no_closed_form_and_errors():
    assert green_real("Stable", {"alpha": sp.Rational(1, 2), "c": 1}) is None
    assert green_real("Stable", {"alpha": sp.Symbol("alpha", positive=True)}) is None
    assert sp.simplify(green_real("Stable", {"alpha": 2, "c": 3}) - green_real("Deterministic", {"a": 3})) == 0
    with pytest.raises(ValueError):
        green_real("Cauchy", {})
    with pytest.raises(ValueError, match="needs parameter 'm'"):
        green_real("InverseGaussian", {"c": 1})
    with pytest.raises(TypeError):
        green_real("Deterministic", {"a": "1"})


def _table():
    return {row["name"]: row for row in yaml.safe_load(TABLE.read_text())}


def _const_ratio(a, b, points):
    vals = np.array([complex(sp.N((a / b).subs({r: rv, t: tv}), 30)) for rv, tv in points])
    return np.max(np.abs(vals / vals[0] - 1))


def test_agrees_with_the_genphys_table():
    """Transcriptions of the table (checked against the yaml text), then identities up to normalisation."""
    table = _table()
    nospace = {name: row.get("green_real", "").replace(" ", "") for name, row in table.items()}
    assert nospace["diffusion"] == "(4*pi*t)**(-N/2)*exp(-r**2/(4*t))"
    assert nospace["screened_poisson"] == "(m/sqrt(t**2+r**2))**((N-1)/2)*besselk((N-1)/2,m*sqrt(t**2+r**2))"
    assert nospace["helmholtz"] == "(k0/sqrt(t**2+r**2))**((N-1)/2)*hankel1((N-1)/2,k0*sqrt(t**2+r**2))"
    assert table["poisson"]["green_real"].startswith("proportional to (t**2 + r**2)**(-(N-1)/2)")
    assert table["screened_poisson"]["green_fourier"] == "exp(-sqrt(k**2 + m**2)*t)"

    rho = sp.sqrt(t**2 + r**2)
    heat = (4 * sp.pi * t) ** (-Nsym / 2) * sp.exp(-(r**2) / (4 * t))
    assert sp.simplify(green_real("Deterministic", {"a": 1}) - heat) == 0
    # Poisson: -d/dt of the N+1-dim potential rho^-(N-1), normalised
    pois = -sp.diff(rho ** (-(Nsym - 1)), t)
    ratio = sp.simplify(pois / green_real("Stable", {"alpha": 1}))
    assert not ratio.has(r) and not ratio.has(t)
    # Yukawa and Helmholtz: -d/dt of the table's potentials, in N = 1, 2, 3
    m, k0 = sp.Rational(3, 2), sp.Rational(4, 5)
    pts = [(0.1, 0.3), (0.9, 0.3), (2.0, 0.7), (4.0, 1.1)]
    for N in (1, 2, 3):
        nu = sp.Rational(N - 1, 2)
        yuk = -sp.diff((m / rho) ** nu * sp.besselk(nu, m * rho), t)
        ours = green_real("InverseGaussian", {"c": 1, "m": m}, N) * sp.exp(-m * t)
        assert _const_ratio(yuk, ours, pts) < 1e-12
        helm = -sp.diff((k0 / rho) ** nu * sp.hankel1(nu, k0 * rho), t)
        ours = green_helmholtz(k0, N) * sp.cos(k0 * t)
        assert _const_ratio(sp.im(helm), ours, pts) < 1e-12
        assert _const_ratio(sp.re(helm), ours, pts) > 1e-2  # the J part is not it


def _radial_lap(f, N):
    return sp.diff(f, r, 2) + (N - 1) / r * sp.diff(f, r)


def _mp(expr):
    return sp.lambdify((r, t), expr, modules="mpmath")


def test_closed_forms_solve_their_pdes():
    """heat p_t = a lap p; Poisson p_tt + lap p = 0; Yukawa and Helmholtz (unnormalised) likewise
    (residuals evaluated with mpmath at 30 digits)."""
    a, m, k0 = sp.Rational(7, 10), sp.Rational(3, 2), sp.Rational(4, 5)
    pts = [("0.3", "0.4"), ("1.1", "0.9"), ("2.5", "1")]
    with mpmath.workdps(30):
        for N in (1, 2, 3):
            heat = green_real("Deterministic", {"a": a}, N)
            pois = green_real("Stable", {"alpha": 1, "c": 1}, N)
            yuk = green_real("InverseGaussian", {"c": 1, "m": m}, N) * sp.exp(-m * t)
            helm = green_helmholtz(k0, N) * sp.cos(k0 * t)
            residuals = [(sp.diff(heat, t) - a * _radial_lap(heat, N), heat),
                         (sp.diff(pois, t, 2) + _radial_lap(pois, N), pois),
                         (sp.diff(yuk, t, 2) + _radial_lap(yuk, N) - m**2 * yuk, yuk),
                         (sp.diff(helm, t, 2) + _radial_lap(helm, N) + k0**2 * helm, helm),
                         ]
            for res, f in residuals:
                res_mp, f_mp = _mp(res), _mp(f)
                for rv, tv in pts:
                    x, y = mpmath.mpf(rv), mpmath.mpf(tv)
                    assert abs(res_mp(x, y)) < 1e-22 * abs(f_mp(x, y)), (N, f)
            # a wrong PDE is not solved
            wrong = _mp(sp.diff(heat, t, 2) + _radial_lap(heat, N))
            assert abs(wrong(mpmath.mpf("0.3"), mpmath.mpf("0.4"))) > 1e-3


# --- numerics ------------------------------------------------------------------------------------------


def test_to_numpy_broadcasts():
    f = to_numpy(sp.Integer(2) + 0 * r, r, t)
    assert f(np.zeros(3), 1.0).shape == (3,)
    g = to_numpy(sp.besselk(1, r) * sp.gamma(t), r, t)
    np.testing.assert_allclose(g(np.array([0.5, 2.0]), 3.0), 2 * sc.kv(1, [0.5, 2.0]), rtol=1e-14)


def test_mollifier_is_a_gaussian_convolution_and_wave_kernels_need_it():
    """exp(-t k^2) mollified with width delta is the heat kernel at t + delta^2 / 2."""
    rr = np.linspace(0, 3, 7)
    for N in (1, 2, 3):
        p = to_numpy(green_real("Deterministic", {"a": 1}, N), r, t)
        num = radial_inverse_fourier(lambda kk, tt: np.exp(-tt * kk**2), 0.5, rr, N, mollify=0.4)
        np.testing.assert_allclose(num, p(rr, 0.5 + 0.08), rtol=1e-8, atol=1e-14)
    with pytest.raises(ValueError, match="mollify"):
        radial_inverse_fourier(lambda kk, tt: np.cos(kk * tt), 1.0, rr, 2)


def _signed(power):
    return lambda kk, tt: np.exp(-tt * kk**power)


@pytest.mark.parametrize("N", [1, 2, 3])
def test_negative_mass_of_positive_and_signed_kernels(N):
    positive = {"heat": _signed(2), "poisson": _signed(1), "stable1.5": _signed(1.5),
                "yukawa": lambda kk, tt: np.exp(-tt * (np.sqrt(kk**2 + 4) - 2))}
    for name, q in positive.items():
        for tt in (0.5, 2.0):
            P = positivity_at(q, tt, N)
            assert P.negative_mass < 1e-6 and P.first_negative_radius is None, (name, tt, P)
    # biharmonic exp(-t k^4) and fractional beta = 1.5, exp(-t k^3): signed, self-similar
    expected = {4: {1: 0.1186, 2: 0.2576, 3: 0.4201}, 3: {1: 0.06418, 2: 0.1280, 3: 0.1931}}
    for power in (4, 3):
        q = _signed(power)
        P1, P2 = positivity_report(q, N, [0.5, 4.0])
        assert P1.negative_mass == pytest.approx(expected[power][N], rel=2e-3)
        assert P2.negative_mass == pytest.approx(P1.negative_mass, rel=2e-4)
        assert P1.min_p < 0 and P1.min_p_rel < -0.01
        # the first negative radius scales like t^(1/power); p is positive before it, negative after
        assert P2.first_negative_radius == pytest.approx(P1.first_negative_radius * 8 ** (1 / power), rel=2e-3)
        r0 = first_negative_radius(q, 0.5, N)
        p = radial_inverse_fourier(q, 0.5, [0.95 * r0, 1.05 * r0], N)
        assert p[0] > 0 > p[1]
    assert negative_mass(_signed(4), 1.0, N) == pytest.approx(expected[4][N], rel=2e-3)


def test_helmholtz_first_negative_radius_is_the_zero_of_Y():
    """q_t(r) < 0 once k0 sqrt(t^2 + r^2) passes the first zero of Y_{(N+1)/2}."""
    k0, tt = 1.0, 0.5
    q = to_numpy(green_fourier("Helmholtz", {"k0": k0}), k, t)
    for N in (1, 2, 3):
        nu = (N + 1) / 2
        y1 = brentq(lambda z, nu=nu: sc.yv(nu, z), 1.0, nu + 2.5)
        r0 = math.sqrt((y1 / k0) ** 2 - tt**2)
        P = positivity_at(q, tt, N, r_max=12.0, breakpoints=[k0])
        assert P.first_negative_radius == pytest.approx(r0, abs=5e-3)
        assert P.negative_mass > 0.05


# --- the dissipative wave ------------------------------------------------------------------------------


def test_dissipative_wave_positivity_numbers():
    """N = 1 positive; N = 2 signed at resolution delta = 0.05, negative mass falling with eps t."""
    q1, q4 = dissipative_wave_fourier(1.0), dissipative_wave_fourier(4.0)
    support = {"mollify": 0.05, "r_max": lambda tt: tt + 0.6}  # the kernel lives on r <= t
    for tt in (0.5, 1.0, 2.0):
        assert negative_mass(q1, tt, 1, mollify=0.05) < 1e-9
    neg = [P.negative_mass for P in positivity_report(q1, 2, [0.5, 1.0, 2.0, 4.0], **support)]
    assert neg == pytest.approx([0.548, 0.404, 0.150, 0.0124], rel=0.03)
    assert all(a > 1.2 * b for a, b in zip(neg, neg[1:], strict=False)), neg
    assert negative_mass(q1, 1.0, 3, mollify=0.05, r_max=1.6) > 1.0
    assert max(P.negative_mass for P in positivity_report(q4, 2, [1.0, 2.0], **support)) < 1e-6
    assert positivity_at(q4, 0.1, 2, mollify=0.05).negative_mass > 1e-3


def test_dissipative_wave_fourier_is_the_symbolic_kernel():
    qs = to_numpy(green_fourier("DissipativeWave", {"eps": 1.5}), k, t)
    kk = np.array([0.0, 0.4, 1.2, 1.499999])
    np.testing.assert_allclose(dissipative_wave_fourier(1.5)(kk, 0.8)[1:], qs(kk[1:], 0.8), rtol=1e-10)
    assert dissipative_wave_fourier(1.5)(kk, 0.8)[0] == pytest.approx(1.0, abs=1e-15)
    assert np.isfinite(dissipative_wave_fourier(5.0)(np.array([0.1, 7.0]), 400.0)).all()


def test_telegraph_kernel_in_one_dimension():
    """ac >= 0, ac mass 1 - e^(-eps t), and int ac cos(k x) dx + e^(-eps t) cos(k t) = q(k, t)."""
    for eps, tt in ((1.0, 0.7), (4.0, 1.3)):
        K = green_dissipative_wave(eps, 1)
        ac = to_numpy(K.ac, r, t)
        xs = np.linspace(0, tt * (1 - 1e-9), 2001)
        assert np.all(ac(xs, tt) > 0)
        mass = 2 * quad(lambda x, ac=ac, tt=tt: float(ac(x, tt)), 0, tt, limit=200)[0]
        assert mass == pytest.approx(1 - math.exp(-eps * tt), rel=1e-9)
        assert float(K.front_mass.subs(t, tt)) == pytest.approx(math.exp(-eps * tt))
        q = dissipative_wave_fourier(eps)
        for kk in (0.5, 3.0, 9.0):
            ft = 2 * quad(lambda x, ac=ac, tt=tt, kk=kk: float(ac(x, tt)) * math.cos(kk * x), 0, tt, limit=400)[0]
            assert ft + math.exp(-eps * tt) * math.cos(kk * tt) == pytest.approx(q(np.array([kk]), tt)[0], abs=1e-9)


def test_dissipative_wave_parts_in_two_and_three_dimensions():
    """The ac parts match the (finely mollified) transform inside; N = 3 ac >= 0 with the stated mass,
    N = 2 ac goes negative at the front."""
    eps, tt, delta = 1.5, 2.0, 0.01
    q = dissipative_wave_fourier(eps)
    rr = np.array([0.2, 0.7, 1.2, 1.6])
    for N in (2, 3):
        ac = to_numpy(green_dissipative_wave(eps, N).ac, r, t)
        num = radial_inverse_fourier(q, tt, rr, N, mollify=delta)
        np.testing.assert_allclose(num, ac(rr, tt), rtol=3e-4)
    K3 = green_dissipative_wave(eps, 3)
    ac3 = to_numpy(K3.ac, r, t)
    assert np.all(ac3(np.linspace(0, tt * (1 - 1e-9), 1001), tt) > 0)
    mass = quad(lambda x: float(ac3(x, tt)) * 4 * math.pi * x**2, 0, tt, limit=200)[0]
    assert mass == pytest.approx(1 - float(K3.front_mass.subs(t, tt)), rel=1e-9)
    ac2 = to_numpy(green_dissipative_wave(eps, 2).ac, r, t)
    assert ac2(np.array([tt * (1 - 1e-3)]), tt)[0] < 0 < ac2(np.array([0.5 * tt]), tt)[0]
    assert green_dissipative_wave(eps, 2).front_mass is None
    with pytest.raises(ValueError):
        green_dissipative_wave(eps, 4)
