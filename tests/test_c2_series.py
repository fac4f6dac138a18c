"""C2 from the Puiseux series at k = 0 and k = infinity, kept branches without closed forms, and the
decimal forms of numbers in reasons."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from pdec import compile_pde
from pdec.asymptotics import evaluate, leading_real, puiseux
from pdec.branches import analyse, grid_roots
from pdec.errors import InvalidPDEError
from pdec.numfmt import exact_and_decimal
from pdec.parse import parse_pde
from pdec.pde import S, k


def test_puiseux_of_the_dissipative_wave_matches_its_closed_form():
    """S^2 + 2S + k^2: s = -1 +- sqrt(1 - k^2) = -k^2/2 - k^4/8 - ... at 0, -1 +- i k (1 - 1/(2k^2)) at oo."""
    P = S**2 + 2 * S + k**2
    at0 = puiseux(P, S, k)
    slow = next(b for b in at0 if abs(b.terms[0][0]) < 1 and b.terms[0][1] == 2)
    assert slow.terms[0][0] == pytest.approx(-0.5) and slow.terms[1] == (pytest.approx(-0.125), 4.0)
    for kk in (0.01, 0.1):
        assert evaluate(slow, kk).real == pytest.approx(-1 + np.sqrt(1 - kk**2), abs=0.1 * kk**6)  # 2 terms
    inf = puiseux(P, S, k, at_infinity=True)
    assert sorted(round(b.terms[0][0].imag) for b in inf) == [-1, 1]
    lead = leading_real(inf[0], 0.0, True, 1.0)
    assert (lead.sign, lead.a, lead.p) == (-1, pytest.approx(-1.0), 0)


def test_puiseux_roots_solve_a_polynomial_without_closed_form():
    P = S**5 + 3 * S**2 * k**2 + k**5 + 1
    for at_inf, kk in ((False, 0.05), (True, 40.0)):
        bs = puiseux(P, S, k, at_infinity=at_inf)
        assert sum(b.mult for b in bs) == 5
        exact = np.roots([1, 0, 0, 3 * kk**2, 0, kk**5 + 1])
        for b in bs:
            z = evaluate(b, kk, at_infinity=at_inf)
            assert np.min(np.abs(exact - z)) < 1e-3 * max(1.0, abs(z))


def test_grid_roots_are_roots():
    P = 3 * S**3 - S**2 + 2 * k**2 * S + k**4 - 1
    kk = np.geomspace(1e-3, 1e3, 50)
    R = grid_roots(P, kk)
    f = sp.lambdify((S, k), P, "numpy")
    assert np.all(np.abs(f(R, kk)) < 1e-8 * (1 + np.abs(R) ** 3 + kk**4))


@pytest.mark.parametrize("expr,verdict", [
    ("-3*phi_tt - 1*phi_t - 3*lap(lap(phi)) + 1*phi", "yes"),  # Re s(k) - Re s(0) ~ -0.83 k^4: no (0, 0.0011) band
    ("2*phi_ttt - 2*lap(lap(phi))", "yes"),  # two kept branches decay as k^(4/3); the growing one is not kept
    ("phi_tt - lap(phi)", "no"),
    ("phi_tt + lap(phi) + 4*phi", "conditional"),
    ("phi_t", "no"),  # nothing decays relative to k = 0
])
def test_c2_verdicts(expr, verdict):
    res = compile_pde(expr)
    assert res.c2.verdict == verdict, res.c2.reason


def test_the_kept_branches_of_a_third_order_pde():
    """2 S^3 - 2 k^4: s = k^(4/3) (grows, not kept) and k^(4/3) e^(+-2 pi i/3) (decay as -k^(4/3)/2)."""
    a = analyse(parse_pde("2*phi_ttt - 2*lap(lap(phi))").fourier)
    assert a.regime == "elliptic" and a.n_kept == 2 and a.g0 == 0
    assert (a.small.sign, a.small.a, float(a.small.p)) == (-1, pytest.approx(-0.5), pytest.approx(4 / 3))
    np.testing.assert_allclose(a.g, -0.5 * a.kk ** (4 / 3), rtol=1e-9)


def test_the_small_k_side_is_decided_by_the_leading_term():
    """Re s - Re s(0) ~ -c k^4 is far below 1e-12 at k = 1e-3; the series, not the grid, decides there."""
    a = analyse(parse_pde("-3*phi_tt - 1*phi_t - 3*lap(lap(phi)) + 1*phi").fourier)
    c = 3 / np.sqrt(13)  # d s / d(k^4) at k = 0 on the branch s(0) = (-1 + sqrt(13))/6
    assert a.small.sign == -1 and a.small.a == pytest.approx(-c, rel=1e-9) and float(a.small.p) == 4
    assert a.g0 == pytest.approx((-1 + np.sqrt(13)) / 6, rel=1e-12)
    assert a.large.sign == -1 and a.large.a == pytest.approx(-1 / 6 - a.g0, rel=1e-9)


def test_operators_on_parameters_and_second_fields_are_refused():
    for text, name in (("phi_t - lap(psi)", "psi"), ("phi_t - lap(phi) + dt(m)", "m"), ("u_t - lap(phi)", "u_t"),
                       ("lap(phi_t) + phi", "k = 0")):
        with pytest.raises(InvalidPDEError, match=name.replace("(", r"\(")):
            parse_pde(text)


@pytest.mark.parametrize("e,text", [
    (sp.log(10**36), "82.89 (= 36*log(10))"),
    (sp.pi / (2 * sp.Symbol("k0", positive=True)), "1.571/k0 (= pi/(2*k0))"),
    (3 * sp.log(10) / sp.Symbol("eps", positive=True), "6.908/eps (= 3*log(10)/eps)"),
    (sp.Integer(2), "2"),
    (sp.sqrt(3), "1.732 (= sqrt(3))"),
])
def test_numbers_are_decimals_beside_the_exact_form(e, text):
    assert exact_and_decimal(e) == text


def test_regimes_print_decimals():
    res = compile_pde("phi_tt + phi_t/6 - lap(phi)")
    assert "t >= 82.89 (= 36*log(10))" in res.c1.regime and "log(1000" not in res.c1.reason
