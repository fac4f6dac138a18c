"""The laws of S_t, compile side: one class per law, in a registry (see :mod:`pdec.laws.base`).

To add a law: one module here (or anywhere: a plug-in) with a subclass of :class:`Law` decorated with
:func:`register`, plus a test. The built-in families, in the order they are tried: power terms
(Deterministic, Stable, InverseGamma), screened terms (InverseGaussian, GIG), Sum, Tabulated.
Their runtime classes are in pdec/runtime/laws.py and pdec/runtime/radial.py.
"""

from __future__ import annotations

from . import power, screened, sum, tabulated  # noqa: F401  (registers the built-in laws, in this order)
from .base import (
    Law,
    LawCode,
    LawSpec,
    Operator,
    Recognition,
    Refusal,
    find,
    get,
    laws,
    names,
    recognise,
    recognise_augmented,
    recognise_operator,
    register,
    unregister,
)

__all__ = [
    "Law", "LawCode", "LawSpec", "Operator", "Recognition", "Refusal",
    "find", "get", "laws", "names", "recognise", "recognise_augmented", "recognise_operator",
    "register", "unregister",
]
