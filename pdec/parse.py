"""Safe parser: pdec's input language -> SymPy expression -> PDE.

The text is parsed with Python's ``ast`` (eval mode) and the tree is walked with a whitelist:
numbers, names, ``+ - * / **``, unary ``+ -`` and calls of the known functions ``dt``, ``lap``,
``fraclap``, ``sqrt`` with positional arguments. The SymPy expression is built node by node;
nothing of the text is ever evaluated (no eval, exec, sympify or parse_expr).

Every input is bounded before SymPy computes anything, so that no text can hang the process
or exhaust its memory: length, characters, bracket depth, AST size, literal sizes, exponents,
the size of every number and the number of terms the PDE has after expansion.
"""

from __future__ import annotations

import ast
import math
import re
import warnings

import sympy as sp

from . import pde as _pde
from .errors import (
    InvalidPDEError,
    NonlinearPDEError,
    ParameterError,
    ParseError,
    PdecError,
    UnsupportedOperatorError,
)

__all__ = ["parse", "parse_pde", "parse_value", "parse_params", "to_text", "x",
           "MAX_LENGTH", "MAX_DEPTH", "MAX_NODES", "MAX_SIG_DIGITS", "MAX_EXPONENT", "MAX_DIGITS",
           "MAX_TOTAL_DIGITS", "MAX_TERMS", "MAX_ROOT_NESTING",
           "MAX_RADICAND_DIGITS", "MAX_BIG_ROOTS", "MAX_NAME", "MAX_VALUE", "MIN_VALUE"]

#: the largest input, in characters
MAX_LENGTH = 10_000
#: the deepest nesting of brackets
MAX_DEPTH = 64
#: the most AST nodes (numbers, names, operations, calls) an input may have
MAX_NODES = 2_000
#: the most decimal digits of any number (numerator or denominator), literals included.
#: (Not 10**12: str() of a parsed expression must parse again, and exact decimals such as
#: 1e-30 = 1/10**30 or powers such as 3**64 print as longer integers.)
MAX_DIGITS = 200
#: the most digits of all the numbers of an expression together
MAX_TOTAL_DIGITS = 2_000
#: the most significant digits of a decimal literal
MAX_SIG_DIGITS = 30
#: the largest |exponent| (and the largest denominator of a rational exponent)
MAX_EXPONENT = 64
#: the range of a parameter value (parse_value)
MAX_VALUE = sp.Integer(10) ** 12
MIN_VALUE = sp.Rational(1, 10**30)
#: the most terms the expression may have once fully expanded (an upper bound is checked)
MAX_TERMS = 64
#: the deepest nesting of roots of sums, as in sqrt(1 - sqrt(1 - sqrt(2))): SymPy's assumptions
#: evaluate such numbers at a cost exponential in the depth (depth 7 takes seconds)
MAX_ROOT_NESTING = 2
#: the most digits of a number under a root (a non-integer power of a rational): SymPy factors
#: it (trial division) whenever it builds or combines such a power
MAX_RADICAND_DIGITS = 30
#: the most distinct roots of numbers >= 10**6 in one input (each costs milliseconds to build)
MAX_BIG_ROOTS = 8
#: the longest identifier
MAX_NAME = 32
#: the deepest recursion of the tree walk (brackets, unary signs, powers)
_MAX_WALK = 200

#: the spatial coordinate (PDE.from_expr rejects it as a non-constant coefficient)
x = sp.Symbol("x")

_NAMES: dict[str, sp.Expr] = {
    "phi": _pde.phi, "t": _pde.t, "k": _pde.k, "r": _pde.r, "N": _pde.N, "x": x, "I": sp.I, "pi": sp.pi,
}
_FUNCTIONS = ("dt", "lap", "fraclap", "sqrt")
_KNOWN = "pdec knows dt, lap, fraclap, sqrt"
_RESERVED_NAMES = frozenset({"S", "Lap", "FL"})
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_PHI_T = re.compile(r"phi_(t+)\Z")
_OTHER_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9]*)_(?:t+|x+)\Z")
_DECIMAL = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_INTEGER = re.compile(r"[0-9]+\Z")
_LOG10_2 = math.log10(2)
_INFINITE = (sp.zoo, sp.nan, sp.oo, -sp.oo)

_DISALLOWED = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing is not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda expressions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples (commas) are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Compare: "comparisons are not allowed (an equation is written lhs = rhs)",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.IfExp: "conditional expressions (if/else) are not allowed",
    ast.NamedExpr: "':=' is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}

_OPERATOR_TEXT = {
    ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~",
}


# ----------------------------------------------------------------------------------------------
# errors


def _error(cls: type[PdecError], message: str, col: int | None, text: str | None = None) -> PdecError:
    """An error of class cls with the 1-based column in its message (and in ``.col``)."""
    if cls is ParseError:
        return ParseError(message, col=col, text=text)
    err = cls(f"{message} (column {col})" if col is not None else message)
    err.col = col
    return err


def _short(s: str, n: int = 40) -> str:
    s = s.strip()
    return s if len(s) <= n else s[: n - 3] + "..."


# ----------------------------------------------------------------------------------------------
# numbers


def _digits(q: sp.Rational) -> float:
    """Decimal digits of the larger of |numerator| and denominator (approximately)."""
    return max(abs(int(q.p)).bit_length(), int(q.q).bit_length()) * _LOG10_2


def _size(q: sp.Rational) -> float:
    """Decimal digits of numerator and denominator together (approximately)."""
    return (abs(int(q.p)).bit_length() + int(q.q).bit_length()) * _LOG10_2


def _top_rationals(e: sp.Expr):
    """The rationals SymPy combines when e enters a sum or a product: e itself, the coefficient
    of a product, the constant and the coefficients of a sum."""
    for a in (e.args if e.is_Add else (e,)):
        if a.is_Rational:
            yield a
        elif a.is_Mul and a.args[0].is_Rational:
            yield a.args[0]


def _is_root(e: sp.Expr) -> bool:
    """A non-integer rational power of a rational number, such as sqrt(2) or 3**(2/3)."""
    return e.is_Pow and e.base.is_Rational and e.exp.is_Rational and not e.exp.is_Integer


def _top_roots(e: sp.Expr):
    """The roots of numbers in e, in its terms and in their factors (what SymPy combines)."""
    for a in (e.args if e.is_Add else (e,)):
        for b in (a.args if a.is_Mul else (a,)):
            if _is_root(b):
                yield b


def _radicand_weight(factors) -> float:
    """Digits of the numbers under roots among factors (and among their factors)."""
    return sum(_size(b.base) for f in factors for b in (f.args if f.is_Mul else (f,)) if _is_root(b))


def _weight(items) -> float:
    return sum(_size(q) for e in items for q in _top_rationals(e))


def _decimal(s: str, cls: type[PdecError], col: int | None, text: str | None = None) -> sp.Rational:
    """The exact value of a decimal literal (``0.5`` -> 1/2), within the literal bounds."""
    if not _DECIMAL.match(s):
        raise _error(cls, f"{_short(s)!s} is not a decimal number", col, text)
    mant, _, ex = s.lower().partition("e")
    ex_digits = ex.lstrip("+-").lstrip("0")
    if len(ex_digits) > 6:
        raise _error(cls, f"the number {_short(s)} is out of range", col, text)
    e = int(("-" if ex.startswith("-") else "") + ex_digits) if ex_digits else 0
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    e -= len(fp)
    stripped = digits.rstrip("0")
    e += len(digits) - len(stripped)
    digits = stripped
    if not digits:
        return sp.S.Zero
    if len(digits) > MAX_SIG_DIGITS:
        raise _error(cls, f"the number {_short(s)} has more than {MAX_SIG_DIGITS} significant digits", col, text)
    if len(digits) + e > MAX_DIGITS or -e >= MAX_DIGITS:
        raise _error(cls, f"the number {_short(s)} is out of range (numerators and denominators have at most "
                     f"{MAX_DIGITS} digits)", col, text)
    return sp.Integer(int(digits)) * sp.Integer(10) ** e


# ----------------------------------------------------------------------------------------------
# text scan (before ast.parse)


def _scan(text: str) -> tuple[str, list[int]]:
    """Check characters and brackets; return the text with whitespace normalised and the
    0-based positions of the top-level '=' signs."""
    if not isinstance(text, str):
        raise ParseError(f"a PDE must be given as text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the PDE text is too long: {len(text)} characters (at most {MAX_LENGTH})")
    chars = list(text)
    stack: list[tuple[str, int]] = []
    equals: list[int] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    n = len(chars)
    for i, ch in enumerate(chars):
        o = ord(ch)
        if ch in "\t\n\r\f\v":
            chars[i] = " "
            continue
        if o < 32 or o == 127:
            raise ParseError(f"the control character {ch!r} is not allowed", col=i + 1, text=text)
        if o > 127:
            raise ParseError(f"the character {ch!r} is not allowed (pdec input is ASCII)", col=i + 1, text=text)
        if ch in "'\"":
            raise ParseError("string literals are not allowed", col=i + 1, text=text)
        if ch == "#":
            raise ParseError("comments ('#') are not allowed", col=i + 1, text=text)
        if ch == "\\":
            raise ParseError("the character '\\' is not allowed", col=i + 1, text=text)
        if ch in "([{":
            stack.append((ch, i))
            if len(stack) > MAX_DEPTH:
                raise ParseError(f"brackets are nested too deeply (at most {MAX_DEPTH} levels)", col=i + 1, text=text)
        elif ch in ")]}":
            if not stack or stack[-1][0] != pairs[ch]:
                raise ParseError(f"unmatched '{ch}'", col=i + 1, text=text)
            stack.pop()
        elif ch == "=":
            prev = chars[i - 1] if i > 0 else ""
            nxt = chars[i + 1] if i + 1 < n else ""
            if nxt == "=":
                raise ParseError("'==' is not allowed; an equation is written lhs = rhs", col=i + 1, text=text)
            if prev in ("<", ">", "!", ":", "="):
                continue  # part of <=, >=, != or := (rejected by the tree walk) or of ==
            if not stack:
                equals.append(i)
    if stack:
        ch, i = stack[-1]
        raise ParseError(f"unmatched '{ch}'", col=i + 1, text=text)
    return "".join(chars), equals


# ----------------------------------------------------------------------------------------------
# the tree walk


class _Builder:
    """Builds the SymPy expression of one side of an equation from its AST."""

    def __init__(self, text: str, src: str, offset: int):
        self.text = text  # the whole input (for error messages)
        self.src = src  # the side that was parsed
        self.offset = offset  # position of src[0] in text
        self.memo: dict = {}  # of _expansion_bound
        self.roots: dict = {}  # of _root_nesting
        self.big_roots: set = set()  # distinct roots of numbers >= 10**6 seen so far

    def too_large(self, parts, node: ast.AST, power: int = 1, product: bool = True) -> None:
        """Refuse node if expanding it (the product or sum of parts, to a power) could give too many terms."""
        cap = MAX_TERMS + 1
        total = 1 if product else 0
        for e in parts:
            b = _expansion_bound(e, power, self.memo)
            total = min(cap, total * b if product else total + b)
        if total > MAX_TERMS:
            raise self.fail(f"{self.seg(node)} is too large: expanded, it could have more than {MAX_TERMS} terms", node)

    def col(self, node: ast.AST) -> int:
        return self.offset + getattr(node, "col_offset", 0) + 1

    def seg(self, node: ast.AST) -> str:
        a, b = getattr(node, "col_offset", 0), getattr(node, "end_col_offset", None)
        return _short(self.src[a:b] if b is not None else self.src[a:])

    def raw(self, node: ast.AST) -> str:
        a, b = getattr(node, "col_offset", 0), getattr(node, "end_col_offset", None)
        return self.src[a:b] if b is not None else self.src[a:]

    def fail(self, message: str, node: ast.AST, cls: type[PdecError] = ParseError) -> PdecError:
        return _error(cls, message, self.col(node), self.text)

    def reject(self, node: ast.AST) -> PdecError:
        for kind, message in _DISALLOWED.items():
            if isinstance(node, kind):
                return self.fail(f"{message}: {self.seg(node)}", node)
        return self.fail(f"{type(node).__name__} is not allowed: {self.seg(node)}", node)

    # -- nodes

    def build(self, node: ast.AST, depth: int = 0) -> sp.Expr:
        if depth > _MAX_WALK:
            raise self.fail("the expression is nested too deeply", node)
        if isinstance(node, ast.Expression):
            return self.build(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.Add, ast.Sub)):
                return self.sum(node, depth)
            if isinstance(node.op, (ast.Mult, ast.Div)):
                return self.product(node, depth)
            if isinstance(node.op, ast.Pow):
                return self.power(node, depth)
            op = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            raise self.fail(f"the operator '{op}' is not allowed: {self.seg(node)}", node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, depth + 1)
            op = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            raise self.fail(f"the operator '{op}' is not allowed: {self.seg(node)}", node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.reject(node)

    def constant(self, node: ast.Constant) -> sp.Expr:
        v, s, raw = node.value, self.seg(node), self.raw(node)
        if isinstance(v, bool) or v is None or v is Ellipsis:
            raise self.fail(f"the constant {s} is not allowed", node)
        if isinstance(v, int):
            if not _INTEGER.match(raw):
                raise self.fail(f"the number literal {s} is not allowed; write numbers in decimal", node)
            if len(raw.lstrip("0")) > MAX_DIGITS:
                raise self.fail(f"the integer {s} has more than {MAX_DIGITS} digits", node)
            return sp.Integer(v)
        if isinstance(v, float):
            if not _DECIMAL.match(raw):
                raise self.fail(f"the number literal {s} is not allowed; write numbers in decimal", node)
            return _decimal(raw, ParseError, self.col(node), self.text)
        if isinstance(v, complex):
            raise self.fail(f"the imaginary literal {s} is not allowed; write I (e.g. 2*I)", node)
        raise self.fail(f"the literal {s} is not allowed", node)

    def name(self, node: ast.Name) -> sp.Expr:
        name = node.id
        if name.startswith("_"):
            raise self.fail(f"names starting with '_' are not allowed: {_short(name)}", node)
        if not _IDENT.match(name):
            raise self.fail(f"the name {_short(name)} is not allowed", node)
        if len(name) > MAX_NAME:
            raise self.fail(f"the name {_short(name)} is too long (at most {MAX_NAME} characters)", node)
        if name in _NAMES:
            return _NAMES[name]
        if name in _FUNCTIONS:
            raise self.fail(f"{name} is an operator; write {name}(...)", node)
        if name in _RESERVED_NAMES:
            raise self.fail(f"the name {name} is reserved", node)
        m = _OTHER_FIELD.match(name)
        if m and m.group(1) != "phi":
            raise self.fail(f"{name} looks like a derivative of a second field {m.group(1)}: the PDE has one "
                            "unknown field, phi (a parameter name cannot end in _t or _x)", node, InvalidPDEError)
        if name.startswith("phi_"):
            m = _PHI_T.match(name)
            if not m:
                raise self.fail(f"unsupported derivative {name}; pdec knows phi_t, phi_tt, ... in time "
                                "and lap(f), fraclap(f, beta) in space", node, UnsupportedOperatorError)
            n = len(m.group(1))
            if n > _pde.MAX_ORDER:
                raise self.fail(f"{_short(name)}: time derivatives go up to order {_pde.MAX_ORDER}", node)
            return _pde.dt(_pde.phi) if n == 1 else _pde.dt(_pde.phi, n)
        return _pde.param(name)

    def sum(self, node: ast.BinOp, depth: int) -> sp.Expr:
        """A chain a + b - c + ... (left-associative), built in one Add."""
        items = _chain(node, ast.Add, ast.Sub)
        terms = []
        for neg, sub in items:
            e = self.build(sub, depth + 1)
            terms.append(-e if neg else e)
        self.too_large(terms, node, product=False)
        if _weight(terms) > 2 * MAX_TOTAL_DIGITS:
            raise self.fail(f"the numbers in {self.seg(node)} are too large", node)
        return self.checked(sp.Add(*terms), node)

    def product(self, node: ast.BinOp, depth: int) -> sp.Expr:
        """A chain a * b / c * ... (left-associative), built in one Mul."""
        items = _chain(node, ast.Mult, ast.Div)
        factors = []
        for div, sub in items:
            if not div:
                # -a*b is (-a)*b in Python but Mul(-1, a, b) for SymPy (which prints it so): keep the
                # sign as a factor, so that -(x + 1)*y does not become (-x - 1)*y
                while isinstance(sub, ast.UnaryOp) and isinstance(sub.op, (ast.USub, ast.UAdd)):
                    if isinstance(sub.op, ast.USub):
                        factors.append(sp.S.NegativeOne)
                    sub = sub.operand
            e = self.build(sub, depth + 1)
            if div:
                e = sp.Pow(e, -1)
                if e in _INFINITE:
                    raise self.fail(f"division by zero: {self.seg(sub)}", sub)
            factors.append(e)
        self.too_large(factors, node)
        if _radicand_weight(factors) > 2 * MAX_RADICAND_DIGITS:
            raise self.fail(f"the numbers under roots in {self.seg(node)} are too large", node)
        if _weight(factors) > 2 * MAX_TOTAL_DIGITS:
            raise self.fail(f"the numbers in {self.seg(node)} are too large", node)
        return self.checked(sp.Mul(*factors), node)

    def checked(self, e: sp.Expr, node: ast.AST) -> sp.Expr:
        """e, after checking the size of the numbers SymPy has just computed.

        A product or sum SymPy left nested or unexpanded (it does, e.g. sqrt(sqrt(1/3)) or
        sqrt(-8*I) = 2*(1 - I)) is rebuilt, as parsing its printed form would.
        """
        if e.is_Mul or e.is_Add:
            e = e.func(*[b for a in e.args for b in (a.args if a.func is e.func else (a,))])
        for a in (e.args if e.is_Mul else (e,)):
            for q in _top_rationals(a):
                if _digits(q) > MAX_DIGITS:
                    raise self.fail(f"{self.seg(node)} gives a number with more than {MAX_DIGITS} digits", node)
        for a in (e.args if e.is_Add else (e,)):
            if _radicand_weight([a]) > 2 * MAX_RADICAND_DIGITS:
                raise self.fail(f"the numbers under roots in {self.seg(node)} are too large", node)
        for b in _top_roots(e):
            if _size(b.base) > MAX_RADICAND_DIGITS:
                raise self.fail(f"{self.seg(node)} gives a root of a number with more than "
                                f"{MAX_RADICAND_DIGITS} digits", node)
            if max(abs(b.base.p), b.base.q) >= 10**6:
                self.big_roots.add(b)
                if len(self.big_roots) > MAX_BIG_ROOTS:
                    raise self.fail(f"too many roots of large numbers (at most {MAX_BIG_ROOTS})", node)
        return e

    def power(self, node: ast.BinOp, depth: int) -> sp.Expr:
        base = self.build(node.left, depth + 1)
        ex = self.build(node.right, depth + 1)
        return self.pow(base, ex, node, node.right)

    def pow(self, base: sp.Expr, ex: sp.Expr, node: ast.AST, ex_node: ast.AST) -> sp.Expr:
        """base**ex, after checking that the exponent is a small constant."""
        if _has_field(ex):
            raise self.fail(f"the exponent of {self.seg(node)} contains phi; pdec handles linear PDEs",
                            ex_node, NonlinearPDEError)
        if ex.is_Rational:
            c = ex
            if base.is_Rational and not ex.is_Integer and _size(base) > MAX_RADICAND_DIGITS:
                raise self.fail(f"{self.seg(node)}: the number under a root has more than "
                                f"{MAX_RADICAND_DIGITS} digits", node)
        elif ex.is_number:
            raise self.fail(f"the exponent {self.seg(ex_node)} must be a rational number or an expression in "
                            "the parameters", ex_node)
        else:
            if ex.has(sp.I) or _root_nesting(ex, self.roots) > 0:
                raise self.fail(f"the exponent {self.seg(ex_node)} must be real: a rational number or an expression "
                                "in the parameters (without I or roots of sums)", ex_node)
            if base.is_positive is not True:
                raise self.fail(f"{self.seg(node)}: a power with a symbolic exponent needs a positive base", node)
            c = ex.as_coeff_Add()[0]
            if not c.is_Rational:
                c = sp.S.Zero
        if abs(c) > MAX_EXPONENT or c.q > MAX_EXPONENT:
            raise self.fail(f"the exponent {self.seg(ex_node)} is too large: exponents are at most "
                            f"{MAX_EXPONENT} in absolute value, with denominators up to {MAX_EXPONENT}", ex_node)
        self.too_large([base], node, power=max(1, int(abs(c))))
        nest = max(_root_nesting(base, self.roots) + (0 if ex.is_Integer or base.is_Atom else 1),
                   _root_nesting(ex, self.roots))
        if nest > MAX_ROOT_NESTING:
            raise self.fail(f"roots of sums are nested too deeply in {self.seg(node)} "
                            f"(at most {MAX_ROOT_NESTING} levels)", node)
        if abs(c.p) > 1:  # SymPy computes base**p for base**(p/q) (e.g. 7**(63/64) = 7 * (7**63)**(-1/64))
            d = max((_digits(q) for q in base.atoms(sp.Rational)), default=0.0)
            if d * abs(int(c.p)) > MAX_DIGITS:
                raise self.fail(f"{self.seg(node)} gives a number with more than {MAX_DIGITS} digits", node)
        result = sp.Pow(base, ex)
        if result in _INFINITE:
            raise self.fail(f"{self.seg(node)} is not finite (a division by zero?)", node)
        return self.checked(result, node)

    def call(self, node: ast.Call, depth: int) -> sp.Expr:
        func = node.func
        if not isinstance(func, ast.Name):
            if type(func) in _DISALLOWED:
                raise self.reject(func)
            raise self.fail(f"only dt, lap, fraclap and sqrt can be called: {self.seg(node)}", node)
        name = func.id
        if name not in _FUNCTIONS:
            raise self.fail(f"unsupported operator {_short(name, 32)}(...); {_KNOWN}", node, UnsupportedOperatorError)
        if node.keywords:
            kw = node.keywords[0]
            raise self.fail(f"keyword arguments are not allowed: {self.seg(kw)}", kw)
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.reject(a)
        args = node.args
        arity = {"dt": (1, 2), "lap": (1,), "fraclap": (2,), "sqrt": (1,)}[name]
        if len(args) not in arity:
            want = {"dt": "dt(f) or dt(f, n)", "lap": "lap(f)", "fraclap": "fraclap(f, beta)", "sqrt": "sqrt(c)"}
            raise self.fail(f"{name} takes {' or '.join(map(str, arity))} argument(s), got {len(args)}: "
                            f"write {want[name]}", node)
        if name == "sqrt":
            return self.pow(self.build(args[0], depth + 1), sp.S.Half, node, node)
        f = self.build(args[0], depth + 1)
        if name == "lap":
            return _pde.lap(f)
        if name == "dt":
            if len(args) == 1:
                return _pde.dt(f)
            a = args[1]
            if not (isinstance(a, ast.Constant) and type(a.value) is int and _INTEGER.match(self.raw(a))
                    and 1 <= a.value <= _pde.MAX_ORDER):
                raise self.fail(f"the order n of dt(f, n) must be an integer literal from 1 to {_pde.MAX_ORDER}, "
                                f"got {self.seg(a)}", a)
            return _pde.dt(f) if a.value == 1 else _pde.dt(f, sp.Integer(a.value))
        beta = self.build(args[1], depth + 1)
        if _has_field(beta) or beta.has(_pde.t, _pde.k, _pde.r, x):
            raise self.fail(f"the order beta of fraclap(f, beta) must be a constant, got {self.seg(args[1])}",
                            args[1], InvalidPDEError)
        if beta.is_number and not (beta.is_real and abs(beta) <= _pde.MAX_ORDER):
            raise self.fail(f"the order beta of fraclap(f, beta) must be a real number up to {_pde.MAX_ORDER}, "
                            f"got {self.seg(args[1])}", args[1], InvalidPDEError)
        return _pde.fraclap(f, beta)


def _chain(node: ast.AST, op: type, inverse: type) -> list[tuple[bool, ast.AST]]:
    """A left-associative chain a op b inverse c ... as [(inverted, operand), ...] in reading order."""
    items: list[tuple[bool, ast.AST]] = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, (op, inverse)):
        items.append((isinstance(node.op, inverse), node.right))
        node = node.left
    items.append((False, node))
    return items[::-1]


def _has_field(e: sp.Expr) -> bool:
    return e.has(_pde.phi) or e.has(_pde.dt, _pde.lap, _pde.fraclap)


# ----------------------------------------------------------------------------------------------
# checks of the built expression


def _exponent_part(c: sp.Expr) -> sp.Rational:
    """The rational part of an exponent that SymPy's expand can turn into repeated products."""
    if c.is_Rational:
        return c
    if c.is_number:
        return sp.S.Zero
    c0 = c.as_coeff_Add()[0]
    return c0 if c0.is_Rational else sp.S.Zero


def _expansion_bound(e: sp.Basic, n: int = 1, memo: dict | None = None) -> int:
    """An upper bound (capped at MAX_TERMS + 1) on the number of terms of expand(e**n), n >= 1.

    Add: a multinomial with comb(len + n - 1, n) monomials, each a product of the terms' powers;
    Mul: the product of the factors' bounds; Pow: the exponents multiply (rational parts only,
    SymPy's expand splits x**(a + c) into x**a * x**c); functions: their arguments are expanded.
    """
    if e.is_Atom:
        return 1
    memo = {} if memo is None else memo
    key = (e, n)
    if key in memo:
        return memo[key]
    cap = MAX_TERMS + 1
    if e.is_Add:
        if n == 1:
            total = sum(_expansion_bound(a, 1, memo) for a in e.args)
        else:
            total = math.comb(len(e.args) + n - 1, n) if n <= 4 * cap else cap
            for a in e.args:
                if total >= cap:
                    break
                total *= _expansion_bound(a, n, memo)
    elif e.is_Pow:
        b, c = e.args
        m = int(abs(_exponent_part(c)) * n)
        total = cap if m > 4 * cap and not b.is_Atom else _expansion_bound(b, max(m, 1), memo)
    else:  # Mul: the factors' powers; a function: its arguments, expanded
        k = n if e.is_Mul else 1
        total = 1
        for a in e.args:
            total = min(cap, total * _expansion_bound(a, k, memo))
    total = min(cap, total)
    memo[key] = total
    return total


def _root_nesting(e: sp.Basic, memo: dict | None = None) -> int:
    """How deeply non-integer powers of compound bases (roots of sums, ...) nest in e."""
    if e.is_Atom:
        return 0
    memo = {} if memo is None else memo
    if e not in memo:
        d = max(_root_nesting(a, memo) for a in e.args)
        if e.is_Pow and not e.exp.is_Integer and not e.base.is_Atom:
            d = max(d, _root_nesting(e.base, memo) + 1)
        memo[e] = d
    return memo[e]


def _check_result(e: sp.Expr) -> None:
    """Finite, numbers of bounded size, bounded expansion, bounded operator orders."""
    total = 0.0
    for a in sp.preorder_traversal(e):
        if a in _INFINITE:
            raise ParseError("the expression is not finite (a division by zero?)")
        if isinstance(a, sp.Float):
            raise ParseError("floating-point numbers are not allowed")
        if a.is_Rational:
            if _digits(a) > MAX_DIGITS:
                raise ParseError(f"the expression contains a number with more than {MAX_DIGITS} digits")
            total += _size(a)
    if total > MAX_TOTAL_DIGITS:
        raise ParseError(f"the numbers of the expression have more than {MAX_TOTAL_DIGITS} digits together")
    if _root_nesting(e) > MAX_ROOT_NESTING:
        raise ParseError(f"roots of sums are nested too deeply (at most {MAX_ROOT_NESTING} levels)")
    if _expansion_bound(e) > MAX_TERMS:
        raise ParseError(f"the expression is too large: expanded, it could have more than {MAX_TERMS} terms")
    s, l = _orders(e)
    if s > _pde.MAX_ORDER:
        raise InvalidPDEError(f"the PDE has a time derivative of order {s}; pdec accepts at most {_pde.MAX_ORDER}")
    if l > _pde.MAX_ORDER:
        raise InvalidPDEError(f"the PDE has {l} nested Laplacians; pdec accepts at most {_pde.MAX_ORDER}")


def _orders(e: sp.Basic) -> tuple[int, int]:
    """The largest total dt order and lap count along any chain of nested operators."""
    if e.is_Atom:
        return 0, 0
    s = l = 0
    for a in e.args:
        sa, la = _orders(a)
        s, l = max(s, sa), max(l, la)
    if isinstance(e, _pde.dt):
        n = e.args[1] if len(e.args) == 2 else sp.S.One
        s += int(n) if n.is_Integer else _pde.MAX_ORDER + 1
    elif isinstance(e, _pde.lap):
        l += 1
    elif isinstance(e, _pde.fraclap):
        beta = e.args[1]
        l += max(1, math.ceil(abs(float(beta)))) if beta.is_Rational else 1
    return s, l


# ----------------------------------------------------------------------------------------------
# public API


def _parse_side(text: str, norm: str, start: int, end: int, what: str) -> tuple[_Builder, ast.Expression]:
    side = norm[start:end]
    stripped = side.lstrip()
    offset = start + len(side) - len(stripped)
    if not stripped.strip():
        raise ParseError(f"{what} is empty", col=min(offset, len(text)) + 1 if what != "the PDE" else None,
                         text=text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as err:
        col = offset + (err.offset if err.offset else len(stripped.rstrip()) + 1)  # 0: at the end
        col = max(1, min(col, len(text) + 1))
        msg = err.msg if err.offset else f"{err.msg} (the expression is incomplete)"
        raise ParseError(f"syntax error: {msg}", col=col, text=text) from None
    except (RecursionError, MemoryError):
        raise ParseError("the expression is nested too deeply or too long", text=text) from None
    except ValueError as err:  # e.g. NUL bytes (rejected earlier) or an integer too long to convert
        raise ParseError(f"cannot read the expression: {_short(str(err), 80)}", text=text) from None
    return _Builder(text, stripped, offset), tree


def _count_nodes(tree: ast.AST) -> int:
    skip = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
    return sum(1 for n in ast.walk(tree) if not isinstance(n, skip))


def parse(text: str) -> sp.Expr:
    """Parse pdec input into a SymPy expression (``lhs = rhs`` gives an unevaluated Eq).

    Raises ParseError (with the 1-based column) for text outside the language,
    UnsupportedOperatorError for unknown functions (sin, grad, ...), NonlinearPDEError for a phi
    in an exponent, InvalidPDEError for bad operator orders.
    """
    norm, equals = _scan(text)
    if len(equals) > 1:
        raise ParseError("an equation may contain one '=' only", col=equals[1] + 1, text=text)
    if equals:
        p = equals[0]
        sides = [_parse_side(text, norm, 0, p, "the left-hand side of '='"),
                 _parse_side(text, norm, p + 1, len(norm), "the right-hand side of '='")]
    else:
        sides = [_parse_side(text, norm, 0, len(norm), "the PDE")]
    nodes = sum(_count_nodes(tree) for _, tree in sides)
    if nodes > MAX_NODES:
        raise ParseError(f"the expression is too large: {nodes} terms and operations (at most {MAX_NODES})",
                         text=text)
    try:
        exprs = [b.build(tree) for b, tree in sides]
    except RecursionError:
        raise ParseError("the expression is nested too deeply", text=text) from None
    for e in exprs:
        _check_result(e)
    if len(exprs) == 2:
        _check_result(exprs[0] - exprs[1])
        return sp.Eq(exprs[0], exprs[1], evaluate=False)
    return exprs[0]


def parse_pde(text: str) -> _pde.PDE:
    """``PDE.from_expr(parse(text))``."""
    expr = parse(text)
    try:
        return _pde.PDE.from_expr(expr)
    except PdecError:
        raise
    except Exception as err:  # a SymPy failure on an odd but bounded expression
        raise InvalidPDEError(f"cannot read {_short(to_text(expr), 60)} as a PDE: {_short(str(err), 80)}") from err


def to_text(expr: sp.Basic) -> str:
    """pdec input text of an expression from :func:`parse` (``parse(to_text(e)) == e``).

    SymPy's str() is valid input except for equations, printed ``lhs = rhs``.
    """
    if isinstance(expr, sp.Equality):
        return f"{to_text(expr.lhs)} = {to_text(expr.rhs)}"
    return sp.sstr(expr)


def parse_value(text: str | int | float) -> sp.Rational:
    """A parameter value: a positive finite real number, exact (``"0.5"`` -> 1/2, ``"1/3"``, ``"1e-3"``).

    Ints and floats are accepted too (a float through its shortest repr, so 0.1 -> 1/10).
    """
    if isinstance(text, bool):
        raise ParameterError(f"a parameter value must be a positive number, got {text!r}")
    if isinstance(text, int):
        text = str(text) if abs(text) < 10**MAX_DIGITS else "inf"
    if isinstance(text, float):
        if not math.isfinite(text):
            raise ParameterError(f"a parameter value must be a positive finite number, got {text!r}")
        text = repr(text)
    if not isinstance(text, str):
        raise ParameterError(f"a parameter value must be a number, got {type(text).__name__}")
    s = text.strip()
    if len(s) > 100:
        raise ParameterError(f"the parameter value {_short(s)!r} is too long")
    hint = "write e.g. 1.5, 1/2 or 1e-3"
    num, slash, den = s.partition("/")
    try:
        value = _decimal(num.strip(), ParameterError, None)
        if slash:
            d = _decimal(den.strip(), ParameterError, None)
            if d == 0:
                raise ParameterError(f"the parameter value {s!r} divides by zero")
            value = value / d
    except ParameterError as err:
        raise ParameterError(f"the parameter value {_short(s)!r} is not a positive number ({err}); {hint}") from None
    if not value > 0:
        raise ParameterError(f"the parameter value {s!r} must be positive; {hint}")
    if not MIN_VALUE <= value <= MAX_VALUE:
        raise ParameterError(f"the parameter value {s!r} is out of range (1e-30 .. 1e12)")
    return value


def _check_param_name(name: str, item: str) -> None:
    if not _IDENT.match(name) or len(name) > MAX_NAME:
        raise ParameterError(f"{_short(item)!r}: {_short(name)!r} is not a parameter name "
                             f"(letters, digits and '_', starting with a letter, at most {MAX_NAME} characters)")
    if name in _pde.RESERVED or name in _FUNCTIONS or name.startswith("phi_"):
        raise ParameterError(f"{_short(item)!r}: {name} is reserved and cannot be a parameter")


def parse_params(items: list[str]) -> dict[str, sp.Rational]:
    """``["m=1", "eps=0.5"]`` -> ``{"m": 1, "eps": 1/2}`` (exact values; names checked, no duplicates)."""
    out: dict[str, sp.Rational] = {}
    for item in items:
        if not isinstance(item, str):
            raise ParameterError(f"a parameter must be given as name=value, got {item!r}")
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq:
            raise ParameterError(f"{_short(item)!r}: a parameter is given as name=value, e.g. m=1.5")
        _check_param_name(name, item)
        if name in out:
            raise ParameterError(f"the parameter {name} is given twice")
        out[name] = parse_value(value)
    return out
