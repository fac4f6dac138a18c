"""pdec's typed errors: each names what the user did wrong, in one line.

The CLI turns every :class:`PdecError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class PdecError(Exception):
    """Base class of every error pdec raises on bad input."""


class ParseError(PdecError, ValueError):
    """The text is not in pdec's input language; ``col`` is the 1-based column, if known."""

    def __init__(self, message: str, col: int | None = None, text: str | None = None):
        self.col = col
        self.text = text
        where = f" (column {col})" if col is not None else ""
        super().__init__(f"{message}{where}")


class UnsupportedOperatorError(PdecError, ValueError):
    """A function or operator pdec does not know (sin, grad, x, ...)."""


class NonlinearPDEError(PdecError, ValueError):
    """The PDE is not linear in phi, or its coefficients are not constant."""


class InvalidPDEError(PdecError, ValueError):
    """The expression is linear but is not a PDE pdec can use (no phi, a source term, ...)."""


class ParameterError(PdecError, ValueError):
    """A parameter value is missing, not a positive real number, or not a parameter of the PDE."""


class NotGenerativeError(PdecError):
    """The PDE fails C1 or C2 (or its kernel is signed), so no generative model can be emitted."""


class ConfigError(PdecError, ValueError):
    """A YAML configuration is malformed: names the key, the line and what was expected."""
