"""The kept branches of P(S, k) = 0 along k, for numeric parameter values (DESIGN.md section 5).

The roots are computed on a k grid (eigenvalues of the companion matrix) and followed from large k
down to small k (an optimal assignment between neighbouring grid points), so that a branch is the
continuation of one root. At both ends the grid is joined to the Puiseux series (pdec.asymptotics):
at k -> infinity they say which branches are kept (first order: the only one; a branch grows without
bound: the ones that decay; otherwise all of them), at k -> 0 they give s_j(0) and the leading term of
Re s_j(k) - Re s(0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.optimize import linear_sum_assignment

from . import asymptotics as asy
from .pde import S, k

#: grid points per decade of k
PER_DECADE = 100
#: the grid covers at least [K_LO, K_HI], more where the series need it (within [K_MIN, K_MAX])
K_LO, K_HI, K_MIN, K_MAX = 1e-3, 1e3, 1e-6, 1e6


def grid_roots(P: sp.Expr, kk: np.ndarray) -> np.ndarray:
    """The roots of the numeric polynomial P(S, k) at each kk: array [degree, len(kk)] (nan where the
    leading coefficient vanishes, i.e. a root is infinite there)."""
    coeffs = sp.Poly(P, S).all_coeffs()
    kc = np.asarray(kk, dtype=complex)
    cv = np.array([np.broadcast_to(np.asarray(sp.lambdify(k, c, "numpy")(kc), dtype=complex), kc.shape)
                   for c in coeffs])  # [n + 1, K]
    n = len(coeffs) - 1
    lead = cv[0]
    bad = np.abs(lead) <= 1e-13 * np.abs(cv).max(axis=0)
    lead = np.where(bad, 1.0, lead)
    comp = np.zeros((kc.size, n, n), dtype=complex)
    comp[:, 0, :] = -(cv[1:] / lead).T
    if n > 1:
        comp[:, np.arange(1, n), np.arange(n - 1)] = 1.0
    roots = np.linalg.eigvals(comp).T  # [n, K]
    roots[:, bad] = np.nan
    return roots


def _assign(prev: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The permutation p with new[p] closest to prev (nan costs a lot)."""
    cost = np.abs(prev[:, None] - new[None, :])
    cost = np.where(np.isfinite(cost), cost, 1e300)
    _, cols = linear_sum_assignment(cost)
    return cols


def track(roots: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Reorder the roots [n, K] so that row j follows one branch, from the last column (matched to
    ``start``) down to the first."""
    out = roots.copy()
    if out.shape[0] == 1:
        return out
    prev = start
    for i in range(out.shape[1] - 1, -1, -1):
        col = out[:, i]
        if np.all(np.isfinite(col)):
            out[:, i] = col[_assign(prev, col)]
            prev = out[:, i]
    return out


def _spread(bs: list[asy.Branch]) -> list[asy.Branch]:
    return [b for b in bs for _ in range(b.mult)]


def _scale(b: asy.Branch) -> float:
    return max((abs(c) for c, _ in b.terms), default=0.0)


def _combine(signs: list[int | None]) -> int | None:
    """The sign of max_j of leading terms: +1 if any is positive, else 0, else undecided, else -1."""
    for s in (1, 0, None):
        if s in signs:
            return s
    return -1


@dataclass(frozen=True)
class BranchAnalysis:
    """Re s(k) on the kept branches for one set of parameter values.

    ``kk`` the grid, ``g`` = max_kept Re s_j(k) on it, ``g0`` = max_kept Re s_j(0), ``tol`` the
    tolerance of g - g0 at each k (relative to the size of the roots), ``small``/``large`` the leading
    terms of g(k) - g0 at k -> 0 and k -> infinity, ``regime`` as in pdec.kernel; ``n_kept`` how many
    branches are kept (0: none decays although one grows); ``unbounded0``: a kept branch is infinite at k = 0.
    """

    kk: np.ndarray
    g: np.ndarray
    g0: float
    tol: np.ndarray
    small: asy.Leading
    large: asy.Leading
    regime: str
    n_kept: int
    unbounded0: bool = False


def analyse(P: sp.Expr) -> BranchAnalysis:
    """The kept branches of a numeric P(S, k) (no free symbols but S and k)."""
    n = sp.Poly(P, S).degree()
    at0 = _spread(asy.puiseux(P, S, k, at_infinity=False))
    atinf = _spread(asy.puiseux(P, S, k, at_infinity=True))
    growth = [asy.leading_real(b, 0.0, True, _scale(b)) for b in atinf]
    grows = [lr.sign == 1 and lr.p > 0 for lr in growth]
    decays = [lr.sign == -1 and lr.p > 0 for lr in growth]
    if n == 1:
        regime, kept = "first order", [0]
    elif any(grows):
        regime, kept = "elliptic", [j for j in range(n) if decays[j]]
    else:
        regime, kept = "hyperbolic", list(range(n))
    r0 = min((asy.radius(b) for b in at0), default=np.inf)
    rinf = min((asy.radius(b) for b in atinf), default=np.inf)
    lo = float(np.clip(min(K_LO, 0.1 * r0), K_MIN, K_LO))
    hi = float(np.clip(max(K_HI, 10.0 / rinf if rinf > 0 else K_MAX), K_HI, K_MAX))
    kk = np.geomspace(lo, hi, int(round(PER_DECADE * np.log10(hi / lo))) + 1)
    if not kept:
        nan = np.full(kk.shape, np.nan)
        return BranchAnalysis(kk, nan, np.nan, nan, asy.Leading(None), asy.Leading(None), regime, 0)
    roots = grid_roots(P, kk)
    ends = np.array([asy.evaluate(b, hi, at_infinity=True) for b in atinf])
    roots = track(roots, ends)  # row j continues the branch atinf[j]
    near0 = np.array([asy.evaluate(b, lo) for b in at0])
    first = roots[:, 0]
    order = _assign(first, near0) if np.all(np.isfinite(first)) else np.arange(n)  # row j -> at0[order[j]]
    kept0 = [at0[order[j]] for j in kept]
    if any(b.terms and b.terms[0][1] < 0 for b in kept0):
        nan = np.full(kk.shape, np.nan)
        return BranchAnalysis(kk, nan, np.nan, nan, asy.Leading(1), asy.Leading(None), regime, len(kept), True)
    s0 = [b.terms[0][0].real if b.terms and b.terms[0][1] == 0 else 0.0 for b in kept0]
    g0 = max(s0)
    top = [b for b, s in zip(kept0, s0) if abs(s - g0) <= 1e-12 * (abs(g0) + _scale(b))]
    small = [asy.leading_real(b, g0, False, _scale(b)) for b in top]
    large = [asy.leading_real(atinf[j], g0, True, _scale(atinf[j])) for j in kept]
    g = np.real(roots[kept]).max(axis=0)
    tol = 1e-9 * (np.abs(roots).max(axis=0) + abs(g0))
    return BranchAnalysis(kk, g, g0, tol, _pick(small), _pick(large), regime, len(kept))


def _pick(leads: list[asy.Leading]) -> asy.Leading:
    """The leading term of the maximum over branches (its sign is ``_combine`` of theirs)."""
    sign = _combine([lr.sign for lr in leads])
    return next(lr for lr in leads if lr.sign == sign)
