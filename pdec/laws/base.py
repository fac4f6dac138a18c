"""The compile-side description of a law of S_t, and the registry of laws (DESIGN.md section 5).

A kernel whose normalised Fourier form q(k, t) is completely monotone in lam = k^2/2 is a Gaussian scale
mixture x = y + sqrt(S_t) xi with E exp(-lam S_t) = q(sqrt(2 lam), t). For q = exp(t psi(k)), psi(k) =
s(k) - s(0) the exponent of the kept branch, psi is a sum of terms and S_t the sum of independent
scales, one per term. A law is one class (a subclass of :class:`Law`, registered with
:func:`register`) that owns

- its recognition: from one term of psi (:meth:`Law.from_term`), from the augmented problem with D
  extra dimensions (:meth:`Law.from_augmented`), or, for approximate laws, from the operator
  (:meth:`Law.from_operator`); or a refusal of the term with the reason (:meth:`Law.refuse`);
- its closed forms: the normalised Fourier kernel (:meth:`Law.fourier`) and the real-space density
  (:meth:`Law.real`), None where there is none;
- its runtime class (``name`` in pdec/runtime/``runtime_module``.py, or a plug-in's ``runtime_class``,
  whose source the emitted package receives as runtime/``runtime_module``.py) and how it is built;
- its printing: the constructor call of the emitted kernel.py (:meth:`Law.code`) and the text of
  ``pdec check`` (:meth:`Law.text`).

A recognised law is a :class:`LawSpec` (its name and parameters, symbols or numbers); the class is
looked up by name in the registry. Compile-time code: SymPy only (torch is imported when a law is built).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import sympy as sp

from ..errors import ParameterError
from ..pde import k

__all__ = [
    "Law", "LawSpec", "LawCode", "Refusal", "Recognition", "Operator",
    "register", "unregister", "get", "find", "laws", "names",
    "recognise", "recognise_augmented", "recognise_operator",
    "value", "param_values", "power_term", "sqrt_term",
]


# ---------------------------------------------------------------------------------------------
# typed results


@dataclass(frozen=True)
class LawSpec:
    """A law of S_t named as its runtime class, with its parameters (symbols or numbers).

    ``condition``: where the parameters are symbolic, the condition under which the law exists
    (e.g. 0 < alpha <= 2 for a stable law); True when it always does. ``exact``: False for an
    approximate law (a tabulated one).
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    components: tuple[LawSpec, ...] = ()
    exact: bool = True
    condition: Any = True

    @property
    def law(self) -> type[Law]:
        """The registered class of this law."""
        return get(self.name)

    def subs(self, values: dict) -> LawSpec:
        """The law with parameter values substituted."""
        return LawSpec(
            name=self.name,
            params=tuple((n, sp.sympify(v).subs(values)) for n, v in self.params),
            components=tuple(c.subs(values) for c in self.components),
            exact=self.exact,
            condition=sp.sympify(self.condition).subs(values),
        )

    @property
    def is_numeric(self) -> bool:
        return all(sp.sympify(v).is_number for _, v in self.params) and all(c.is_numeric for c in self.components)

    def numbers(self) -> dict[str, float]:
        """The parameters as floats (ParameterError when one is still symbolic)."""
        out = {}
        for n, v in self.params:
            v = sp.sympify(v)
            if not v.is_number:
                names = ", ".join(sorted(s.name for s in v.free_symbols))
                raise ParameterError(f"the kernel needs a value for {names} (--param {names}=... or params:)")
            out[n] = float(v)
        return out

    def walk(self) -> Iterator[LawSpec]:
        """This law and its components, depth first."""
        yield self
        for c in self.components:
            yield from c.walk()

    def to_source(self) -> str:
        """Python source that builds the runtime law, numbers printed with full precision (repr)."""
        return self.law.source(self)

    def build(self):
        """The runtime law object (imports torch; a tabulated law is tabulated here, with SciPy)."""
        return self.law.build(self)

    def code(self, runtime_law) -> LawCode:
        """How the emitted package builds ``runtime_law`` (:meth:`build`'s result, or a runtime law given
        directly, e.g. a table computed elsewhere: then the registered law of its runtime class prints it)."""
        law = self.law
        if not isinstance(runtime_law, law.runtime()):
            law = next((c for c in laws() if c.code_from_object and isinstance(runtime_law, c.runtime())), law)
        return law.code(self, runtime_law)

    def __str__(self) -> str:
        return self.law.text(self)


@dataclass(frozen=True)
class LawCode:
    """What the emitted kernel.py needs for a law: the expression that builds it (``source``), the
    imports ((runtime module, class name), sorted), extra files of the package ((path, bytes): a
    plug-in's runtime module, a table), and ``table``: the law is read from law_table.json."""

    source: str
    imports: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, bytes], ...] = ()
    table: bool = False


@dataclass(frozen=True)
class Refusal:
    """A term of psi that no law accepts, with the reason; ``signed``: the kernel is then signed."""

    reason: str
    signed: bool = False


@dataclass(frozen=True)
class Recognition:
    """The law recognised from psi, or None with the reason (``signed``: provably not positive)."""

    law: LawSpec | None
    reason: str = ""
    signed: bool = False


@dataclass(frozen=True)
class Operator:
    """What an approximate law is recognised from: the operator polynomial P(S, k) of a kernel that is
    positive (to tolerance) but not a scale mixture, its regime and kept branches, and where it is a
    density (t_min, t_max: None when unbounded), in ``dim`` dimensions (None: unknown)."""

    P: sp.Expr
    regime: str
    n_kept: int
    t_min: sp.Expr | None
    t_max: sp.Expr | None
    dim: int | None


# ---------------------------------------------------------------------------------------------
# parameters and term shapes shared by the law families


_DEFAULTS = {"c": sp.Integer(1)}


def value(v) -> sp.Expr:
    """A parameter value as a SymPy number/expression (never parses text)."""
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, bool):
        raise TypeError("a parameter value must be a number or a SymPy expression, not a bool")
    if isinstance(v, int):
        return sp.Integer(v)
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    if isinstance(v, float):
        return sp.Integer(int(v)) if v.is_integer() else sp.Float(v)
    raise TypeError(f"a parameter value must be a number or a SymPy expression, got {type(v).__name__}")


def param_values(law: str, params: dict, names: Sequence[str]) -> list[sp.Expr]:
    """The values of ``names`` in ``params`` (c defaults to 1); ValueError naming a missing one."""
    out = []
    for name in names:
        if name in params:
            out.append(value(params[name]))
        elif name in _DEFAULTS:
            out.append(_DEFAULTS[name])
        else:
            raise ValueError(f"law {law!r} needs parameter {name!r} (got {sorted(params)})")
    return out


def power_term(term: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """(c, alpha) when the term of psi is -c k^alpha, else None."""
    coeff, rest = term.as_independent(k, as_Add=False)
    if rest == k or (rest.is_Pow and rest.base == k):
        return sp.simplify(-coeff), (sp.S.One if rest == k else rest.exp)
    return None


def sqrt_term(term: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr] | None:
    """(c, m^2, base) when the term of psi is -coeff sqrt(A2 k^2 + B0): c = coeff sqrt(A2), m^2 = B0/A2."""
    coeff, rest = term.as_independent(k, as_Add=False)
    if rest.is_Pow and rest.exp == sp.Rational(1, 2) and rest.base.is_polynomial(k):
        base = sp.Poly(rest.base, k)
        if base.degree() == 2 and base.coeff_monomial(k) == 0:
            A2, B0 = base.coeff_monomial(k**2), base.coeff_monomial(1)
            return sp.simplify(-coeff * sp.sqrt(A2)), sp.simplify(B0 / A2), rest.base
    return None


# ---------------------------------------------------------------------------------------------
# the base class


class Law:
    """A law of S_t, compile side (subclass, set ``name`` and ``params``, override what the law has).

    Every hook is a classmethod: a law is its class. ``runtime_module``: the module of pdec/runtime
    (and of the package's runtime/) that defines the runtime class ``name``. A plug-in law defined
    outside pdec sets ``runtime_class`` (a subclass of pdec.runtime.laws.Law); its class source, under
    ``runtime_header`` (its imports, relative to the package's runtime/), is shipped as
    runtime/``runtime_module``.py. ``priority``: laws are tried in decreasing priority (then in the
    order they were registered); set by :func:`register`.
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[str, ...]] = ()
    runtime_module: ClassVar[str] = "laws"
    runtime_class: ClassVar[type | None] = None
    runtime_header: ClassVar[str] = "import torch\n\nfrom .laws import Law\n"
    priority: ClassVar[int] = 0
    #: :meth:`code` reads only the runtime object (a table), so it can print any runtime law of its class
    code_from_object: ClassVar[bool] = False
    #: the closed forms (classmethods in subclasses that have them): fourier(params) and real(params, N)
    fourier: ClassVar[Callable[..., sp.Expr | None] | None] = None
    real: ClassVar[Callable[..., sp.Expr | None] | None] = None

    # ---- recognition ------------------------------------------------------------------------
    @classmethod
    def from_term(cls, term: sp.Expr) -> LawSpec | None:
        """The law of the scale of exp(t term), for one term of psi (None: not this law)."""
        return None

    @classmethod
    def refuse(cls, term: sp.Expr) -> Refusal | None:
        """Why a term of this law's shape that no law accepted is not a scale mixture (None: not its shape)."""
        return None

    @classmethod
    def from_augmented(cls, c: sp.Expr, m: sp.Expr, D: int) -> LawSpec | None:
        """The law of the elliptic problem w(k)^2 = c^2 (k^2 + m^2) with D augmented dimensions."""
        return None

    @classmethod
    def from_operator(cls, op: Operator) -> LawSpec | None:
        """An approximate law of a positive (to tolerance) kernel that is not a scale mixture."""
        return None

    @classmethod
    def note(cls, spec: LawSpec) -> str:
        """What ``pdec check`` says about how the law is sampled ("" for an exact law)."""
        return ""

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def spec(cls, *values, condition: Any = True) -> LawSpec:
        """The LawSpec of this law with ``values`` for ``params`` (in order)."""
        return LawSpec(cls.name, tuple(zip(cls.params, values)), condition=condition)

    @classmethod
    def runtime(cls) -> type:
        """The runtime class (imports torch)."""
        if cls.runtime_class is not None:
            return cls.runtime_class
        return getattr(importlib.import_module(f"pdec.runtime.{cls.runtime_module}"), cls.name)

    @classmethod
    def build(cls, spec: LawSpec):
        """The runtime law: the runtime class called with the numeric parameters."""
        return cls.runtime()(**spec.numbers())

    # ---- printing ---------------------------------------------------------------------------
    @classmethod
    def source(cls, spec: LawSpec) -> str:
        """Name(p=repr(float), ...): the call that builds the runtime law."""
        return f"{cls.name}(" + ", ".join(f"{n}={v!r}" for n, v in spec.numbers().items()) + ")"

    @classmethod
    def text(cls, spec: LawSpec) -> str:
        """Name(p=value, ...) with symbolic values as SymPy prints them."""
        return f"{cls.name}(" + ", ".join(f"{n}={sp.sstr(v)}" for n, v in spec.params) + ")"

    @classmethod
    def code(cls, spec: LawSpec, runtime_law) -> LawCode:
        """The call of :meth:`source`, the imports of every law in it, the plug-in modules it needs."""
        used = [get(s.name) for s in spec.walk()]
        files = {f"runtime/{c.runtime_module}.py": c.module_source() for c in used if c.runtime_class is not None}
        return LawCode(source=spec.to_source(), imports=tuple(sorted({(c.runtime_module, c.name) for c in used})),
                       files=tuple(sorted(files.items())))

    @classmethod
    def module_source(cls) -> bytes:
        """A plug-in's runtime module: a docstring, ``runtime_header`` and the runtime class's source."""
        doc = (f'"""The law {cls.name} of S_t: the runtime class of a plug-in law\n\n'
               f'({cls.__module__}.{cls.__qualname__}), copied by pdec generate.\n"""\n\n')
        body = inspect.getsource(cls.runtime_class)
        return (doc + "from __future__ import annotations\n\n" + cls.runtime_header.strip() + "\n\n\n" + body).encode()


# ---------------------------------------------------------------------------------------------
# the registry

_REGISTRY: list[tuple[int, int, type[Law]]] = []  # (-priority, sequence, law)
_SEQ = [0]


def register(cls: type[Law] | None = None, *, priority: int = 0):
    """Class decorator: add a law to the registry (``@register`` or ``@register(priority=10)``).

    A law of higher priority is tried first; names are unique (ValueError otherwise).
    """

    def add(law: type[Law]) -> type[Law]:
        if not (isinstance(law, type) and issubclass(law, Law) and law.name.isidentifier()):
            raise TypeError(f"register takes a subclass of pdec.laws.Law with a name, got {law!r}")
        if find(law.name) is not None:
            raise ValueError(f"a law named {law.name!r} is already registered")
        law.priority = priority
        _SEQ[0] += 1
        _REGISTRY.append((-priority, _SEQ[0], law))
        _REGISTRY.sort(key=lambda e: e[:2])
        return law

    return add if cls is None else add(cls)


def unregister(law: type[Law]) -> None:
    """Remove a law from the registry (KeyError when it is not registered)."""
    for entry in _REGISTRY:
        if entry[2] is law:
            _REGISTRY.remove(entry)
            return
    raise KeyError(f"the law {law.name!r} is not registered")


def laws() -> tuple[type[Law], ...]:
    """The registered laws in the order they are tried."""
    return tuple(e[2] for e in _REGISTRY)


def names() -> tuple[str, ...]:
    return tuple(law.name for law in laws())


def find(name: str) -> type[Law] | None:
    """The registered law called ``name``, or None."""
    return next((law for law in laws() if law.name == name), None)


def get(name: str) -> type[Law]:
    """The registered law called ``name`` (LookupError when there is none)."""
    law = find(name)
    if law is None:
        raise LookupError(f"no law named {name!r} is registered (known: {', '.join(names())})")
    return law


def _first(hook: str, *args) -> Any:
    for law in laws():
        out = getattr(law, hook)(*args)
        if out is not None:
            return out
    return None


def recognise(psi: sp.Expr) -> Recognition:
    """The law of S_t with E exp(-lam S_t) = exp(t psi(sqrt(2 lam))), from the exponent psi(k).

    Each term of psi (constants cancel: psi(0) = 0) goes to the first law that accepts it; one law is
    the answer, several are their Sum. A term no law accepts is refused with the first law's reason
    (or "not of a known law's form"): the kernel may still be positive (the numerical check decides).
    """
    comps: list[LawSpec] = []
    for term in sp.Add.make_args(sp.expand(psi)):
        if term.as_independent(k, as_Add=False)[1] == 1:
            continue
        spec = _first("from_term", term)
        if spec is None:
            refusal = _first("refuse", term) or Refusal(f"the term {term} is not of a known law's form")
            return Recognition(None, refusal.reason, refusal.signed)
        comps.append(spec)
    if not comps:
        return Recognition(None, "the kernel does not depend on k")
    if len(comps) == 1:
        return Recognition(comps[0])
    return Recognition(LawSpec("Sum", components=tuple(comps)))


def recognise_augmented(c: sp.Expr, m: sp.Expr, D: int) -> LawSpec | None:
    """The law of w(k)^2 = c^2 (k^2 + m^2) with D augmented dimensions (PFGM++), or None."""
    return _first("from_augmented", c, m, D)


def recognise_operator(op: Operator) -> LawSpec | None:
    """An approximate law (a tabulated one) of a kernel that is not a scale mixture, or None."""
    return _first("from_operator", op)
