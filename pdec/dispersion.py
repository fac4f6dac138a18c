"""Dispersion relation: the branches omega_j(k) of P(-i omega, k) = 0.

With phi ~ exp(i(k.x - omega t)) the operator symbol P(S, k) (S = d/dt = -i omega) is a
polynomial in S; its roots s_j(k) are the branches, omega_j = i s_j, and Im omega_j = Re s_j is the
growth rate of mode k on branch j. Closed forms come from SymPy's ``roots`` (up to degree 4 where
they are usable); otherwise the branches are computed numerically, and reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .pde import PDE, S, k

#: the largest time order for which closed-form roots are attempted
MAX_CLOSED_DEGREE = 4


@dataclass(frozen=True)
class Dispersion:
    """The branches of P(S, k) = 0.

    ``P`` is the Fourier symbol (polynomial in S, coefficients in k and the parameters);
    ``s`` the closed-form roots s_j(k) (empty when ``exact`` is False); ``omega`` = i s.
    """

    P: sp.Expr
    s: tuple[sp.Expr, ...]
    exact: bool

    @property
    def omega(self) -> tuple[sp.Expr, ...]:
        """omega_j(k) = i s_j(k)."""
        return tuple(_tidy(sp.I * sj) for sj in self.s)

    @property
    def degree(self) -> int:
        return sp.Poly(self.P, S).degree()

    def coeffs(self) -> list[sp.Expr]:
        """Coefficients of P in S, highest power first."""
        return sp.Poly(self.P, S).all_coeffs()

    def numeric_s(self, values: dict, kk: np.ndarray) -> np.ndarray:
        """Branches s_j at the wavenumbers ``kk`` for numeric parameter ``values``: array [n, len(kk)].

        Closed-form branches keep their order (so a branch stays a branch along k);
        numeric ones are sorted by real part, largest first.
        """
        kk = np.asarray(kk, dtype=complex)
        if self.exact:
            out = []
            for sj in self.s:
                f = sp.lambdify(k, sj.subs(values), modules="numpy")
                out.append(np.broadcast_to(np.asarray(f(kk), dtype=complex), kk.shape))
            return np.array(out)
        cs = [sp.lambdify(k, c.subs(values), modules="numpy") for c in self.coeffs()]
        cv = np.array([np.broadcast_to(np.asarray(c(kk), dtype=complex), kk.shape) for c in cs])
        roots = np.array([np.roots(cv[:, i]) for i in range(kk.size)]).T
        return -np.sort(-roots.real, axis=0) + 1j * np.take_along_axis(
            roots.imag, np.argsort(-roots.real, axis=0), axis=0)


def _tidy(e: sp.Expr) -> sp.Expr:
    """Light simplification that keeps the shape of the branch readable."""
    e = sp.expand(e)
    if e.has(sp.Pow(-1, sp.Rational(1, 3))) or any(
            isinstance(a, sp.Pow) and a.base == -1 for a in e.atoms(sp.Pow)):
        e = sp.expand(sp.expand_complex(e))
    simpler = sp.simplify(e)
    return simpler if sp.count_ops(simpler) < sp.count_ops(e) else e


def dispersion(pde: PDE) -> Dispersion:
    """The branches s_j(k) (omega_j = i s_j) of the PDE's Fourier symbol."""
    P = pde.fourier
    poly = sp.Poly(P, S)
    n = poly.degree()
    s: tuple[sp.Expr, ...] = ()
    if n <= MAX_CLOSED_DEGREE:
        rts = sp.roots(poly, multiple=False)
        if sum(rts.values()) == n and all(not r.has(sp.RootOf) for r in rts):
            ordered = []
            for r, mult in rts.items():
                ordered += [_tidy(r)] * mult
            if n > 2 and any(sp.count_ops(r) > 60 for r in ordered):
                ordered = []  # Cardano/Ferrari forms too big to read: use numbers
            s = tuple(ordered)
    return Dispersion(P=P, s=s, exact=bool(s))


#: values tried for a parameter the user left free ("for every positive value" is checked on these)
PARAM_PROBES = (0.1, 0.5, 1.0, 2.0, 10.0)
#: the most parameter combinations probed
MAX_PROBES = 64


def probe_values(params: tuple[sp.Symbol, ...], given: dict | None = None) -> list[dict]:
    """Numeric parameter assignments on which numeric checks run.

    ``given`` maps parameter symbols to numbers and is kept; free parameters run over PARAM_PROBES
    (a product grid, thinned deterministically when it would exceed MAX_PROBES combinations).
    """
    given = dict(given or {})
    free = [p for p in params if p not in given]
    combos: list[dict] = [dict(given)]
    for p in free:
        combos = [{**c, p: v} for c in combos for v in PARAM_PROBES]
    if len(combos) > MAX_PROBES:
        step = len(combos) / MAX_PROBES
        combos = [combos[int(i * step)] for i in range(MAX_PROBES)]
    return combos


def growth_rates(disp: Dispersion, values: dict, kk: np.ndarray) -> np.ndarray:
    """Re s_j(k) = Im omega_j(k) on a grid: array [n, len(kk)]."""
    return disp.numeric_s(values, kk).real


#: wavenumbers at which a branch is judged "growing at high k"
K_HIGH = (1e2, 1e8)


def grows_at_high_k(disp: Dispersion, values: dict) -> np.ndarray:
    """For each branch: does Re s_j(k) grow without bound as k -> infinity (elliptic in t)?"""
    g = growth_rates(disp, values, np.array(K_HIGH))
    return (g[:, 1] > 1.0) & (g[:, 1] > 2.0 * np.maximum(g[:, 0], 0.0))


def decays_at_high_k(disp: Dispersion, values: dict) -> np.ndarray:
    """For each branch: does Re s_j(k) -> -infinity as k -> infinity?"""
    g = growth_rates(disp, values, np.array(K_HIGH))
    return (g[:, 1] < -1.0) & (g[:, 1] < 2.0 * np.minimum(g[:, 0], 0.0))
