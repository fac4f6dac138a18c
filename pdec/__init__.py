"""pdec: compile a linear physical PDE into a generative model (GenPhys, PFGM++, diffusion)."""

from .compiler import Compiled, compile_pde
from .errors import (
    ConfigError,
    InvalidPDEError,
    NonlinearPDEError,
    NotGenerativeError,
    ParameterError,
    ParseError,
    PdecError,
    UnsupportedOperatorError,
)
from .parse import parse_pde
from .pde import PDE, dt, fraclap, lap, param, phi, t

__all__ = [
    "compile_pde", "Compiled", "PDE", "parse_pde", "dt", "fraclap", "lap", "param", "phi", "t",
    "PdecError", "ParseError", "NonlinearPDEError", "InvalidPDEError", "UnsupportedOperatorError",
    "ParameterError", "NotGenerativeError", "ConfigError",
]

__version__ = "0.1.0"
