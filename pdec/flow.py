"""Density flow (C1): s L[phi] = dp/dt + div J - R with p = s A[phi], J = s grad B[phi], R = -s c phi.

The operator splits as L = d/dt A + div grad B + c (A, B polynomials in d/dt and lap; fractional
Laplacians go to B through (-lap)^beta = -lap (-lap)^(beta - 1)); v = J / p. The sign s makes the
potential phi of a unit point source positive (so that p = s A[phi] >= 0 carries mass +1).
With augment_dim D the radial operator d2/dt2 + (D - 1)/t d/dt is multiplied by t^(D-1):
p = s t^(D-1) A[phi], J = s t^(D-1) grad B[phi], R = -s c t^(D-1) phi (the flux through the D-sphere).
Every result is verified by substituting back, symbolically (see ``verify``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from .errors import InvalidPDEError
from .kernel import operator_parts
from .pde import FL, PDE, Lap, S, from_symbol, phi, t

grad = sp.Function("grad")


def _grad(e: sp.Expr) -> sp.Expr:
    """grad of an operator expression, linear: constants pulled out, sums split."""
    out = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(e)):
        coeff, op = term.as_independent(*[a for a in term.free_symbols if a.name == "phi"], as_Add=False)
        out += coeff * grad(op)
    return out


@dataclass(frozen=True)
class Flow:
    """The density flow: p, J = p v, R as operator expressions in phi, the sign s, and A, B, c."""

    sign: int
    A: sp.Expr
    B: sp.Expr
    c: sp.Expr
    p: sp.Expr
    J: sp.Expr
    v: sp.Expr
    R: sp.Expr
    augment_dim: int | None = None

    def as_text(self) -> dict[str, str]:
        """p, v, R (and J) as strings, with phi_t-style time derivatives."""
        return {name: display(getattr(self, name)) for name in ("p", "v", "R", "J")}


def display(e: sp.Expr) -> str:
    """str(e) with dt(phi, n) written phi_t...t (display only; not re-parsed)."""
    s = sp.sstr(e)
    s = re.sub(r"dt\(phi, (\d+)\)", lambda m: "phi_" + "t" * int(m.group(1)), s)
    return s.replace("dt(phi)", "phi_t")


def _split_B(rest: sp.Expr) -> sp.Expr:
    """B with rest = Lap B, where FL(beta) = (-Lap)^beta = -Lap FL(beta - 1)."""
    B = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(rest)):
        if term == 0:
            continue  # no spatial operator at all (phi_t = 0): B = 0
        if term.has(Lap):
            B += sp.expand(term / Lap)
        else:
            fls = sorted(term.atoms(FL), key=sp.default_sort_key)
            if not fls:
                raise InvalidPDEError(f"internal: the term {term} of the spatial operator has no Laplacian")
            f = fls[0]
            beta = f.args[0]
            lower = sp.S.One if beta - 1 == 0 else FL(beta - 1)
            B += sp.expand(-term / f * lower)
    return B


def density_flow(pde: PDE, sign: int, augment_dim: int | None = None) -> Flow:
    """(p, v, R) of the PDE for the sign s (+1 or -1); verified symbolically before it is returned."""
    A, rest, c = operator_parts(pde.symbol)
    B = _split_B(rest)
    w = t ** (augment_dim - 1) if augment_dim and augment_dim > 1 else sp.S.One
    Aphi, Bphi = from_symbol(A), from_symbol(B)
    p = sp.expand(sign * w * Aphi)
    J = sign * w * _grad(Bphi)
    R = sp.expand(-sign * c * w * phi)
    v = sp.simplify(J / p) if p != 0 else sp.nan
    flow = Flow(sign=sign, A=A, B=B, c=c, p=p, J=J, v=v, R=R, augment_dim=augment_dim)
    if not verify(pde, flow):
        raise InvalidPDEError(f"internal: the density flow of {pde} failed its own verification")
    return flow


def verify(pde: PDE, flow: Flow) -> bool:
    """s w L[phi] == dp/dt + div J - R, checked in the operator symbol algebra, and for local
    operators also in real space on a generic function phi(t, x1, x2, x3) (w = t^(D-1) with D dims)."""
    s, D = flow.sign, flow.augment_dim
    # symbol algebra: d/dt (s A) + Lap (s B) + s c == s P (without augmentation)
    lhs = sp.expand(S * s * flow.A + Lap * s * flow.B + s * flow.c)
    rhs = sp.expand(s * pde.symbol)
    if sp.simplify(_fl_to_lap(lhs) - _fl_to_lap(rhs)) != 0:
        return False
    if pde.symbol.has(FL):
        return True  # non-local: the symbol identity is the verification
    xs = sp.symbols("x1:4", real=True)
    f = sp.Function("f")(t, *xs)

    def apply(sym: sp.Expr, g: sp.Expr) -> sp.Expr:
        out = sp.S.Zero
        for term in sp.Add.make_args(sp.expand(sym)):
            coeff, ops = sp.S.One, g
            for fac in sp.Mul.make_args(term):
                base, ex = fac.as_base_exp()
                if base == S:
                    ops = sp.diff(ops, t, int(ex))
                elif base == Lap:
                    for _ in range(int(ex)):
                        ops = sum(sp.diff(ops, x, 2) for x in xs)
                else:
                    coeff *= fac
            out += coeff * ops
        return out

    w = t ** (D - 1) if D and D > 1 else sp.S.One
    L = apply(pde.symbol, f)
    if D and D > 1:
        L = L + (D - 1) / t * sp.diff(f, t)  # the radial term of the augmented d2/dt2
    p = s * w * apply(flow.A, f)
    Bf = apply(flow.B, f)
    divJ = s * w * sum(sp.diff(Bf, x, 2) for x in xs)
    R = -s * flow.c * w * f
    return sp.simplify(sp.expand(s * w * L - (sp.diff(p, t) + divJ - R))) == 0


def _fl_to_lap(e: sp.Expr) -> sp.Expr:
    """Replace FL(beta) by (-Lap)^beta so that symbol identities can be compared."""
    return sp.expand(e.replace(FL, lambda b: (-Lap) ** b), power_base=False)
