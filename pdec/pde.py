"""The PDE type: a linear, constant-coefficient operator L with L[phi] = 0.

Two views of the same operator:

- ``expr``: a SymPy expression in the field ``phi`` and the unevaluated operators
  ``dt(f, n)``, ``lap(f)``, ``fraclap(f, beta)``; ``str(expr)`` is valid pdec input.
- ``symbol``: the operator polynomial P(S, Lap, FL(beta)) obtained by the substitution
  d/dt -> S, lap -> Lap, (-lap)^beta -> FL(beta); L[phi] = P(d/dt, lap, ...) phi.

With phi ~ exp(i(k.x - omega t)): S = -i omega, Lap = -k^2, FL(beta) = k^(2 beta).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .errors import InvalidPDEError, NonlinearPDEError, UnsupportedOperatorError

#: the field
phi = sp.Symbol("phi")
#: time (or, with augment_dim D, the radius of the D extra dimensions)
t = sp.Symbol("t", positive=True)
#: the wavenumber |k|
k = sp.Symbol("k", positive=True)
#: the real-space radius |x - y|
r = sp.Symbol("r", positive=True)
#: the data dimension
N = sp.Symbol("N", positive=True, integer=True)

#: operator symbols: d/dt -> S, lap -> Lap
S = sp.Symbol("S")
Lap = sp.Symbol("Lap")
#: the fractional Laplacian (-lap)^beta -> FL(beta)
FL = sp.Function("FL")

#: names the input language reserves (everything else is a positive parameter)
RESERVED = frozenset({"phi", "t", "k", "r", "N", "x", "dt", "lap", "fraclap", "I", "pi", "S", "Lap", "FL"})

#: the largest order of a time derivative or power of an operator pdec accepts
MAX_ORDER = 12


class dt(sp.Function):
    """``dt(f, n)``: the n-th time derivative of f (n = 1 when omitted)."""

    nargs = (1, 2)


class lap(sp.Function):
    """``lap(f)``: the Laplacian of f in x."""

    nargs = 1


class fraclap(sp.Function):
    """``fraclap(f, beta)``: the fractional Laplacian (-lap)^beta of f."""

    nargs = 2


def param(name: str) -> sp.Symbol:
    """A PDE parameter: a positive real symbol."""
    return sp.Symbol(name, positive=True)


def _order(n: sp.Expr, what: str) -> int:
    if not (n.is_Integer and 0 <= int(n) <= MAX_ORDER):
        raise InvalidPDEError(f"{what} must be an integer between 0 and {MAX_ORDER}, got {n}")
    return int(n)


_F = sp.Symbol("_F")  # marker of the field inside to_symbol


def _walk(e: sp.Expr) -> sp.Expr:
    """Map the operator tree to a polynomial in the marker _F (linear iff degree 1)."""
    if e == phi:
        return _F
    if isinstance(e, sp.Equality):
        raise InvalidPDEError("an equation may contain one '=' only, at the top level")
    if isinstance(e, (dt, lap, fraclap)):
        inner = _walk(e.args[0])
        if not inner.has(_F):
            names = sorted(str(a) for a in e.args[0].free_symbols)
            what = (f"{', '.join(names)}, a constant parameter" if len(names) == 1 else
                    f"{', '.join(names)}, constant parameters" if names else "a constant")
            raise InvalidPDEError(
                f"{_unwalk(e)} applies an operator to {what}: the PDE has one unknown field, phi "
                "(every other name is a constant parameter)")
        if isinstance(e, dt):
            n = _order(e.args[1], "the order of dt(f, n)") if len(e.args) == 2 else 1
            return inner * S**n
        if isinstance(e, lap):
            return inner * Lap
        beta = e.args[1]
        if beta.has(phi, t, k) or not (beta.is_positive or (beta.is_Symbol and beta.is_positive)):
            raise InvalidPDEError(f"fraclap(f, beta) needs a positive constant beta, got {beta}")
        if beta.is_Integer:
            return inner * (-Lap) ** int(beta)
        return inner * FL(beta)
    if isinstance(e, sp.Add):
        return sp.Add(*[_walk(a) for a in e.args])
    if isinstance(e, sp.Mul):
        return sp.Mul(*[_walk(a) for a in e.args])
    if isinstance(e, sp.Pow):
        base, ex = e.args
        wb = _walk(base)
        if ex.has(phi, t, k, _F):
            raise NonlinearPDEError(f"pdec handles linear PDEs with constant coefficients; {e} is nonlinear")
        if wb.has(_F) and not (ex.is_Integer and ex >= 0):
            raise NonlinearPDEError(f"pdec handles linear PDEs with constant coefficients; {e} is nonlinear")
        return wb**ex
    if e in (t, k, r, N) or (isinstance(e, sp.Symbol) and e.name == "x"):
        raise NonlinearPDEError(
            f"pdec handles linear PDEs with constant coefficients; the coefficient {e} is not constant")
    if isinstance(e, sp.Symbol) or e.is_number:
        if e.is_number and not e.is_finite:
            raise InvalidPDEError(f"{e} is not a finite number")
        return e
    if isinstance(e, sp.Function) or isinstance(e, sp.Derivative):
        name = getattr(getattr(e, "func", None), "__name__", type(e).__name__)
        raise UnsupportedOperatorError(
            f"unsupported operator {name}(...); pdec knows dt(f, n), lap(f), fraclap(f, beta)")
    raise UnsupportedOperatorError(f"unsupported term {e}")


def to_symbol(expr: sp.Expr) -> sp.Expr:
    """The operator polynomial P of ``expr`` (an Eq is read as lhs - rhs).

    Raises NonlinearPDEError if the expression is not linear in phi (or has variable coefficients),
    InvalidPDEError if it has no phi or a source term.
    """
    if isinstance(expr, sp.Equality):
        expr = expr.lhs - expr.rhs
    if not isinstance(expr, sp.Basic):
        raise InvalidPDEError(f"expected a SymPy expression, got {type(expr).__name__} (use pdec.parse for text)")
    w = sp.expand(_walk(expr))
    if not w.has(_F):
        raise InvalidPDEError("the PDE has no term in phi")
    terms = sp.Add.make_args(w)
    for term in terms:
        if not term.has(_F):
            raise InvalidPDEError(
                f"the term {term} does not involve phi; pdec handles homogeneous PDEs L[phi] = 0")
        deg = sp.degree(term, _F) if term.is_polynomial(_F) else None
        if deg != 1:
            raise NonlinearPDEError(
                "pdec handles linear PDEs with constant coefficients; "
                f"{_unwalk(term)} is nonlinear")
    P = sp.expand(w / _F)
    if P == 0:
        raise InvalidPDEError("the PDE is identically zero")
    return P


def _unwalk(term: sp.Expr) -> sp.Expr:
    """A readable form of a symbol term (for error messages)."""
    return term.subs(_F, phi)


def from_symbol(P: sp.Expr) -> sp.Expr:
    """The operator expression (in dt, lap, fraclap, phi) of a symbol polynomial P; inverse of to_symbol."""
    out = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(P)):
        coeff, ops = sp.S.One, phi
        n_s = n_l = 0
        fls = []
        for f in sp.Mul.make_args(term):
            base, ex = f.as_base_exp()
            if base == S:
                n_s += int(ex)
            elif base == Lap:
                n_l += int(ex)
            elif isinstance(base, FL):
                fls += [base.args[0]] * int(ex)
            else:
                coeff *= f
        for beta in fls:
            ops = fraclap(ops, beta)
        for _ in range(n_l):
            ops = lap(ops)
        if n_s:
            ops = dt(ops, n_s) if n_s > 1 else dt(ops)
        out += coeff * ops
    return out


def fourier(P: sp.Expr) -> sp.Expr:
    """P with Lap -> -k^2 and FL(beta) -> k^(2 beta): a polynomial in S with coefficients in k."""
    return sp.expand(P.subs(Lap, -k**2).replace(FL, lambda b: k ** (2 * b)))


@dataclass(frozen=True)
class PDE:
    """A linear constant-coefficient PDE L[phi] = 0.

    ``expr`` is the operator expression, ``symbol`` the polynomial P(S, Lap, FL),
    ``params`` the parameters (positive symbols) in name order, ``order_t`` the order in time.
    """

    expr: sp.Expr
    symbol: sp.Expr
    params: tuple[sp.Symbol, ...]
    order_t: int

    @classmethod
    def from_expr(cls, expr: sp.Expr) -> PDE:
        """Build from a SymPy expression in phi, dt, lap, fraclap (an Eq is read as lhs - rhs)."""
        P = to_symbol(expr)
        if isinstance(expr, sp.Equality):
            expr = expr.lhs - expr.rhs
        order = int(sp.degree(P, S)) if P.has(S) else 0
        if order == 0:
            raise InvalidPDEError("the PDE has no time derivative; pdec needs an evolution in t")
        if order > MAX_ORDER or (P.has(Lap) and sp.degree(P, Lap) > MAX_ORDER):
            raise InvalidPDEError(f"the PDE's order in t or in lap exceeds {MAX_ORDER}")
        lead = sp.Poly(fourier(P), S).LC()
        if sp.expand(lead.subs(k, 0) if lead.has(k) else lead) == 0:
            top = from_symbol(sp.Poly(P, S).LC() * S**order)
            raise InvalidPDEError(
                f"the highest time derivative comes as {sp.sstr(top)}, whose Fourier coefficient vanishes at "
                "k = 0: the mode k = 0 does not evolve in t, so the PDE is not an evolution equation")
        params = tuple(sorted((s for s in P.free_symbols if s not in (S, Lap)), key=lambda s: s.name))
        return cls(expr=expr, symbol=P, params=params, order_t=order)

    @property
    def text(self) -> str:
        """The PDE in pdec's input language (re-parsable)."""
        return str(self.expr)

    @property
    def fourier(self) -> sp.Expr:
        """P(S, k): the symbol with Lap -> -k^2, FL(beta) -> k^(2 beta)."""
        return fourier(self.symbol)

    def subs(self, values: dict) -> PDE:
        """The same PDE with some parameters replaced by numbers."""
        if not values:
            return self
        return PDE.from_expr(self.expr.subs(values))

    def __str__(self) -> str:
        return self.text
