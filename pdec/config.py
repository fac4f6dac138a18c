"""The YAML configuration of ``pdec generate``: a safe reader and a strict schema.

Keys (a contract; DESIGN.md section 7 and issue 4)::

    pde: "phi_tt + 2*eps*phi_t - lap(phi)"     # pdec's input language
    name: damped_wave                          # optional: the emitted package's name (an identifier)
    params: {eps: 4.0}                         # positive reals, named by identifiers
    augment_dim: 128                           # optional: PFGM++'s D (a positive integer)
    data: {name: moons}                        # moons, circles, 8gaussians, checkerboard, swissroll, digits
                                               # or {path: file.npy} of shape [n, ...]
                                               # class labels: {path: x.npy, labels: y.npy} (integers
                                               # 0..K-1, one per row) or {name: digits, conditional: true}
                                               # (digits: 10 classes; 8gaussians: the mode index)
    model: {kind: mlp, width: 256, depth: 4}   # or {kind: unet, channels: 64} (image-shaped data)
    train: {steps: 4000, batch: 256, lr: 1e-3, ema: 0.999, seed: 0}   # label_dropout: 0.1 (conditional)
    sample: {steps: 18, solver: heun}          # heun, euler, dpmpp_2m, dpmpp_3m, ipndm; sigma_max: a number or auto
                                               # and prior_tol (the sigma_max rule's tolerance)

Every key, its type, default, bounds and meaning is declared once, in :data:`SCHEMA`.

Safety: the text is bounded (64 KiB) before it is parsed, YAML aliases are counted (at most 8),
the document is composed with PyYAML's SafeLoader (no Python objects), every key is checked against
the schema (an unknown key is an error naming it and its line), every value has a type and a range,
and parameter names must be identifiers, so no value can inject code into the emitted package.
Every error is a one-line :class:`pdec.errors.ConfigError`: "<file>:<line>: <key>: <what was expected>".
"""

from __future__ import annotations

import difflib
import keyword
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError
from .runtime.data import BUILTIN_SETS, LABELLED_SETS
from .runtime.sampler import SOLVERS as SOLVER_REGISTRY
from .runtime.train import TARGETS as TARGET_REGISTRY

MAX_TEXT = 64 * 1024
MAX_ALIASES = 8
MAX_NODES = 2000
MAX_STRING = 4096
MAX_PDE = 2000
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}\Z")
FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")

MODEL_KINDS = ("mlp", "unet")
SOLVERS = tuple(SOLVER_REGISTRY)  # the runtime registry's names: heun, euler, dpmpp_2m, dpmpp_3m, ipndm
TARGETS = tuple(TARGET_REGISTRY)  # the runtime's training targets: sample, batch_posterior
#: package names that would shadow a module the package or its user imports, or its own entry files
RESERVED_NAMES = frozenset({"torch", "numpy", "tqdm", "pytest", "matplotlib", "pdec", "train", "sample", "tests",
                            "runtime", "conftest"} | set(getattr(sys, "stdlib_module_names", ())))


@dataclass(frozen=True)
class Field:
    """One key of the configuration: where it lives, its type, default, bounds or choices, and what it means.

    Types: text (a string of at most ``hi`` characters), ident (a package name), int, float, choice,
    params (a mapping of identifiers to numbers in the bounds), path (an .npy file), float_or_auto
    (a number, or auto / absent: None), bool (true or false).
    """

    section: str  # "" for the top level, else data, model, train, sample
    key: str
    type: str
    default: object = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple = ()
    doc: str = ""
    only: tuple[str, ...] = ()  # model kinds this key belongs to (empty: every kind)
    default_doc: str = ""  # the default in words, where it is not a value

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key

    def allowed(self) -> str:
        """The allowed values in words (the docs' column; the reader's messages say the same)."""
        if self.type == "int":
            return f"an integer in [{self.lo}, {self.hi}]"
        if self.type in ("float", "float_or_auto", "params"):
            lb, rb = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            rng = f"a number in {lb}{self.lo:g}, {self.hi:g}{rb}"
            return {"float": rng, "float_or_auto": f"{rng}, or auto",
                    "params": f"identifier: {rng}"}[self.type]
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "text":
            return f"a string of at most {self.hi} characters"
        if self.type == "ident":
            return "an identifier (at most 32 characters, not a module it would shadow)"
        if self.type == "bool":
            return "true or false"
        if self.key == "labels":
            return "an .npy file of integers 0..K-1, one per row of data.path"
        return "an .npy file of shape [n, ...]"


#: the schema, declared once: the reader, its error messages, the dataclasses' defaults, config.json,
#: the emitter's template values and the README's table (schema_markdown) all come from this table
SCHEMA: tuple[Field, ...] = (
    Field("", "pde", "text", None, hi=MAX_PDE, doc="the PDE in pdec's input language", default_doc="required"),
    Field("", "name", "ident", None, doc="the emitted Python package's name",
          default_doc="the config file's name, else the output folder's"),
    Field("", "params", "params", (), lo=0.0, hi=1e12, lo_open=True, doc="the values of the PDE's parameters"),
    Field("", "augment_dim", "int", None, lo=1, hi=10**7, doc="PFGM++'s D, the augmented dimensions (optional)"),
    Field("data", "name", "choice", "moons", choices=BUILTIN_SETS, doc="a built-in data set (or data.path)",
          default_doc="`moons` (when there is no data section)"),
    Field("data", "path", "path", None, doc="an .npy file, relative to the config file (or data.name)"),
    Field("data", "labels", "path", None, doc="class labels of data.path (relative to the config file): a "
          "class-conditional package (sample.py --label K [--guidance W])"),
    Field("data", "conditional", "bool", False, doc="class-conditional on a built-in set's own labels (" +
          ", ".join(f"{k}: {v} classes" for k, v in LABELLED_SETS.items()) + ")",
          default_doc="`false` (true with data.labels)"),
    Field("data", "classes", "int", None, lo=1, hi=100000, doc="K, the number of classes of data.labels",
          default_doc="the largest label + 1"),
    Field("model", "kind", "choice", "mlp", choices=MODEL_KINDS, doc="the backbone: an MLP, or a small U-Net "
          "for image-shaped data"),
    Field("model", "width", "int", 256, lo=1, hi=65536, only=("mlp",), doc="units per hidden layer"),
    Field("model", "depth", "int", 4, lo=1, hi=64, only=("mlp",), doc="hidden layers"),
    Field("model", "channels", "int", 64, lo=1, hi=4096, only=("unet",), doc="channels of the first resolution"),
    Field("model", "anchored", "bool", True, doc="the anchored scale (runtime/precond.py: c_out of order the "
          "distance to the nearest training row where a heavy-tailed kernel puts a point far from every row); "
          "the checkpoint then holds up to 8192 training rows", default_doc="`true`"),
    Field("train", "steps", "int", 4000, lo=1, hi=10**9, doc="optimiser steps"),
    Field("train", "batch", "int", 256, lo=1, hi=2**20, doc="global batch"),
    Field("train", "lr", "float", 1e-3, lo=0.0, hi=1.0, lo_open=True, doc="Adam's learning rate"),
    Field("train", "ema", "float", 0.999, lo=0.0, hi=1.0, hi_open=True, doc="EMA decay of the weights"),
    Field("train", "seed", "int", 0, lo=0, hi=2**31 - 1, doc="random seed"),
    Field("train", "target", "choice", "sample", choices=TARGETS,
          doc="the regression target: sample (y_eff = x - u / a) or batch_posterior (its mean under the batch's "
          "rows, runtime/kernel.py batch_posterior_target: less variance, B^2 x 64 work per step)"),
    Field("train", "sigma_mean", "float_or_auto", None, lo=-10.0, hi=10.0,
          doc="the mean of ln sigma in training (auto: EDM's -1.2 for a self-similar law, -2.0 otherwise; "
          "runtime/train.py sigma_mean)", default_doc="auto"),
    Field("train", "label_dropout", "float", 0.1, lo=0.0, hi=1.0, hi_open=True,
          doc="conditional packages: the probability of the null label in training (classifier-free guidance)"),
    Field("sample", "steps", "int", 18, lo=1, hi=10000, doc="steps of the sigma grid"),
    Field("sample", "solver", "choice", "heun", choices=SOLVERS, doc="the ODE solver (runtime/sampler.py SOLVERS)"),
    Field("sample", "grid", "choice", "edm", choices=("edm", "auto"),
          doc="the sigma grid: edm (EDM's rho = 7) or auto (runtime/sampler.py choose_grid with the trained network)"),
    Field("sample", "sigma_max", "float_or_auto", None, lo=0.002, hi=1e6, lo_open=True,
          doc="the prior's sigma (auto: the data-and-kernel rule)", default_doc="auto"),
    Field("sample", "prior_tol", "float", 0.01, lo=0.0, hi=0.5, lo_open=True,
          doc="the sigma_max rule's tolerance on the prior's scale error"),
)
SECTIONS = ("data", "model", "train", "sample")


def fields(section: str) -> tuple[Field, ...]:
    """The fields of a section ("" for the top level), in the schema's order."""
    return tuple(f for f in SCHEMA if f.section == section)


def field_of(path: str) -> Field:
    """The field at a dotted path (train.lr)."""
    return next(f for f in SCHEMA if f.path == path)


def _defaults(section: str) -> dict:
    return {f.key: f.default for f in fields(section)}


def schema_markdown() -> str:
    """The schema as a Markdown table (README.md's config section holds exactly this text)."""
    def default(f: Field) -> str:
        return f.default_doc or ("none" if f.default in (None, ()) else f"`{f.default}`")

    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    rows += [f"| `{f.path}` | {default(f)} | {f.allowed()} | {f.doc} |" for f in SCHEMA]
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class DataConfig:
    """The data: a built-in set by ``name`` or an [n, ...] array from ``path`` (absolute); class labels from
    ``labels`` (absolute; ``classes`` = K, None: the largest label + 1) or a built-in set's own (``conditional``)."""

    name: str | None = None
    path: str | None = None
    labels: str | None = None
    conditional: bool = False
    classes: int | None = None

    @property
    def labelled(self) -> bool:
        """Whether the package is class-conditional."""
        return self.conditional or self.labels is not None


@dataclass(frozen=True)
class ModelConfig:
    """The backbone: an MLP (width, depth) or a small U-Net (channels)."""

    kind: str = _defaults("model")["kind"]
    width: int = _defaults("model")["width"]
    depth: int = _defaults("model")["depth"]
    channels: int = _defaults("model")["channels"]
    anchored: bool = _defaults("model")["anchored"]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = _defaults("train")["steps"]
    batch: int = _defaults("train")["batch"]
    lr: float = _defaults("train")["lr"]
    ema: float = _defaults("train")["ema"]
    seed: int = _defaults("train")["seed"]
    label_dropout: float = _defaults("train")["label_dropout"]
    target: str = _defaults("train")["target"]
    sigma_mean: float | None = _defaults("train")["sigma_mean"]


@dataclass(frozen=True)
class SampleConfig:
    """steps of the sigma grid, the solver, sigma_max (None: the data-and-kernel rule) and its tolerance."""

    steps: int = _defaults("sample")["steps"]
    solver: str = _defaults("sample")["solver"]
    grid: str = _defaults("sample")["grid"]
    sigma_max: float | None = _defaults("sample")["sigma_max"]
    prior_tol: float = _defaults("sample")["prior_tol"]


SECTION_TYPES = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "sample": SampleConfig}


@dataclass(frozen=True)
class Config:
    pde: str
    params: tuple[tuple[str, float], ...] = ()
    augment_dim: int | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    name: str | None = None

    def value(self, f: Field):
        """The value of a schema field in this configuration."""
        return getattr(getattr(self, f.section), f.key) if f.section else getattr(self, f.key)

    def to_dict(self) -> dict:
        """The resolved configuration as plain JSON-able data (the emitted config.json), key by key of SCHEMA."""
        out: dict = {}
        for f in SCHEMA:
            v = self.value(f)
            v = dict(v) if f.type == "params" else v
            if f.section:
                out.setdefault(f.section, {})[f.key] = v
            else:
                out[f.key] = v
        return out


# ----------------------------------------------------------------------------------------------
# reading


class _Reader:
    """Turns a composed YAML node tree into checked Python values, with file:line in every error."""

    def __init__(self, source: str):
        self.source = source
        self.nodes = 0

    def fail(self, node, key: str, msg: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else 1
        return ConfigError(f"{self.source}:{line}: {key}: {msg}")

    def count(self, node, key: str):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, key, f"the document has more than {MAX_NODES} nodes")

    def mapping(self, node, key: str, allowed: tuple[str, ...] | None) -> dict:
        """{name: (key node, value node)} of a mapping node; unknown or duplicate keys are errors."""
        self.count(node, key)
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key or "document", f"expected a mapping, got {_kind(node)}")
        out: dict = {}
        for knode, vnode in node.value:
            self.count(knode, key)
            if not (isinstance(knode, yaml.ScalarNode) and knode.tag == "tag:yaml.org,2002:str"):
                raise self.fail(knode, key or "document", f"keys must be plain strings, got {_kind(knode)}")
            name = knode.value
            full = f"{key}.{name}" if key else name
            if allowed is not None and name not in allowed:
                hint = difflib.get_close_matches(name, allowed, n=1)
                tip = f" (did you mean {hint[0]!r}?)" if hint else ""
                shown = name if len(name) <= 40 else name[:40] + "..."
                raise self.fail(knode, repr(shown) if not key else f"{key}.{shown!r}",
                                f"unknown key{tip}; expected one of {', '.join(allowed)}")
            if name in out:
                raise self.fail(knode, full, "duplicate key")
            out[name] = (knode, vnode)
        return out

    def scalar(self, node, key: str):
        self.count(node, key)
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, f"expected a scalar, got {_kind(node)}")
        if len(node.value) > MAX_STRING:
            raise self.fail(node, key, f"value longer than {MAX_STRING} characters")
        return node.tag, node.value

    def string(self, node, key: str, max_len: int = MAX_STRING) -> str:
        tag, value = self.scalar(node, key)
        if tag != "tag:yaml.org,2002:str":
            raise self.fail(node, key, f"expected a string, got {_short(value)}")
        if len(value) > max_len:
            raise self.fail(node, key, f"expected at most {max_len} characters, got {len(value)}")
        if "\x00" in value:
            raise self.fail(node, key, "the string holds a NUL character")
        return value

    def choice(self, node, key: str, options: tuple[str, ...]) -> str:
        value = self.string(node, key, 64)
        if value not in options:
            raise self.fail(node, key, f"expected one of {', '.join(options)}, got {_short(value)}")
        return value

    def integer(self, node, key: str, lo: int, hi: int) -> int:
        tag, value = self.scalar(node, key)
        if tag != "tag:yaml.org,2002:int" or not re.fullmatch(r"[+-]?\d{1,19}", value.replace("_", "")):
            raise self.fail(node, key, f"expected an integer in [{lo}, {hi}], got {_short(value)}")
        v = int(value.replace("_", ""))
        if not lo <= v <= hi:
            raise self.fail(node, key, f"expected an integer in [{lo}, {hi}], got {v}")
        return v

    def number(self, node, key: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> float:
        """A finite float in the interval; accepts YAML ints and floats, and strings such as 1e-3
        (PyYAML reads exponents without a dot as strings)."""
        tag, value = self.scalar(node, key)
        text = value.replace("_", "")
        lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
        want = f"a number in {lb}{lo:g}, {hi:g}{rb}"
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:str") \
                or len(text) > 40 or not FLOAT.fullmatch(text):
            raise self.fail(node, key, f"expected {want}, got {_short(value)}")
        v = float(text)
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        if not ok:
            raise self.fail(node, key, f"expected {want}, got {v!r}")
        return v


def _kind(node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        return _short(node.value) if node.value else "an empty value"
    return type(node).__name__


def _short(value: str) -> str:
    s = value if len(value) <= 40 else value[:40] + "..."
    return repr(s)


def _safe_compose(text: str, source: str):
    """The YAML node tree of ``text``, after the size and alias checks (no object construction)."""
    if len(text) > MAX_TEXT:
        raise ConfigError(f"{source}:1: document: the text is {len(text)} characters, more than {MAX_TEXT}")
    aliases = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    line = event.start_mark.line + 1
                    raise ConfigError(f"{source}:{line}: document: more than {MAX_ALIASES} YAML aliases")
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{source}:{line}: document: not valid YAML ({problem})") from None
    if len(docs) != 1 or docs[0] is None:
        raise ConfigError(f"{source}:1: document: expected exactly one YAML document, got {len(docs)}")
    return docs[0]


def _is_null(node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _identifier(R: _Reader, knode, key: str, name: str, what: str) -> str:
    shown = name if len(name) <= 40 else name[:40] + "..."
    if not IDENT.match(name) or keyword.iskeyword(name):
        raise R.fail(knode, key.format(shown=repr(shown)), f"{what} must be identifiers (a letter or _, then "
                     "letters, digits, _; at most 32 characters)")
    return name


def _value(R: _Reader, f: Field, node, base_dir):
    """The checked value of one field from its YAML node (the messages name f.path and f's bounds)."""
    key = f.path
    if f.type == "int":
        return R.integer(node, key, f.lo, f.hi)
    if f.type == "float":
        return R.number(node, key, f.lo, f.hi, lo_open=f.lo_open, hi_open=f.hi_open)
    if f.type == "float_or_auto":
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str" and node.value == "auto":
            return None
        return R.number(node, key, f.lo, f.hi, lo_open=f.lo_open, hi_open=f.hi_open)
    if f.type == "choice":
        return R.choice(node, key, f.choices)
    if f.type == "bool":
        tag, value = R.scalar(node, key)
        if tag != "tag:yaml.org,2002:bool":
            raise R.fail(node, key, f"expected true or false, got {_short(value)}")
        return value.lower() in ("true", "yes", "on")
    if f.type == "text":
        value = R.string(node, key, f.hi)
        if not value.strip():
            raise R.fail(node, key, "expected a PDE, got an empty string")
        return value
    if f.type == "ident":
        name = _identifier(R, node, key, R.string(node, key, 64), "package names")
        if name in RESERVED_NAMES:
            raise R.fail(node, key, f"{name!r} would shadow the module of that name (or an entry file): "
                         "choose another package name")
        return name
    if f.type == "params":
        if _is_null(node):
            return ()
        out = []
        for name, (knode, vnode) in R.mapping(node, key, None).items():
            _identifier(R, knode, "params.{shown}", name, "parameter names")
            out.append((name, R.number(vnode, f"params.{name}", f.lo, f.hi, lo_open=f.lo_open, hi_open=f.hi_open)))
        return tuple(sorted(out))
    # path: an existing .npy file, relative paths against the config file's folder
    raw = R.string(node, key)
    if not raw.endswith(".npy"):
        raise R.fail(node, key, f"expected a .npy file, got {_short(raw)}")
    p = Path(raw)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    p = p.resolve()
    if not p.is_file():
        raise R.fail(node, key, f"no such file: {_short(str(p))}")
    return str(p)


def _section(R: _Reader, top: dict, section: str, base_dir) -> dict:
    """{key: value} of a section: the schema's defaults, overridden by the keys given (checked)."""
    values = _defaults(section)
    if section not in top:
        return values
    given = R.mapping(top[section][1], section, tuple(f.key for f in fields(section)))
    kind_field = next((f for f in fields(section) if f.key == "kind"), None)
    if kind_field is not None and "kind" in given:
        values["kind"] = _value(R, kind_field, given["kind"][1], base_dir)
    for f in fields(section):
        if f.key not in given:
            continue
        if f.only and values.get("kind") not in f.only:
            raise R.fail(given[f.key][0], f.path, f"not a key of {section} kind {values.get('kind')!r}")
        values[f.key] = _value(R, f, given[f.key][1], base_dir)
    return values


def _check_labels_keys(R: _Reader, data: DataConfig, d: dict) -> None:
    """The data section's label keys agree: labels with a path, conditional with a labelled built-in set,
    classes with labels."""
    def at(key):
        return d[key][0]

    if data.name is not None and (data.conditional or data.labels is not None):
        key = "data.conditional" if data.conditional else "data.labels"
        if data.name not in LABELLED_SETS:
            raise R.fail(at(key.split(".")[1]), key, f"the data set {data.name!r} has no labels (labelled built-in "
                         f"sets: {', '.join(LABELLED_SETS)})")
        if data.labels is not None:
            raise R.fail(at("labels"), "data.labels", f"a labels file goes with data.path; {data.name} has its own "
                         "labels (conditional: true)")
    if data.path is not None and data.conditional and data.labels is None:
        raise R.fail(at("conditional"), "data.conditional", "a data.path needs data.labels (an .npy of integers)")
    if "conditional" in d and not data.conditional and data.labels is not None:
        raise R.fail(at("conditional"), "data.conditional", "false contradicts data.labels")
    if data.classes is not None and data.labels is None:
        raise R.fail(at("classes"), "data.classes", "goes with data.labels (a built-in set knows its classes)")


def parse_config(text: str, source: str = "<config>", base_dir: str | Path | None = None) -> Config:
    """A checked :class:`Config` from YAML text (keys, types, bounds: SCHEMA); relative data paths resolve
    against ``base_dir``."""
    if not isinstance(text, str):
        raise ConfigError(f"{source}:1: document: expected text")
    root = _safe_compose(text, source)
    R = _Reader(source)
    top = R.mapping(root, "", tuple(f.key for f in fields("")) + SECTIONS)
    if "pde" not in top:
        raise R.fail(root, "pde", "missing (the PDE in pdec's input language)")
    values = _defaults("")
    for f in fields(""):
        if f.key in top and not (f.key in ("augment_dim", "name") and _is_null(top[f.key][1])):
            values[f.key] = _value(R, f, top[f.key][1], base_dir)

    data = DataConfig(name="moons")
    if "data" in top:
        dnode = top["data"][1]
        d = R.mapping(dnode, "data", tuple(f.key for f in fields("data")))
        if ("name" in d) == ("path" in d):
            raise R.fail(dnode, "data", "expected exactly one of name or path")
        data = DataConfig(**{k: _value(R, field_of(f"data.{k}"), node, base_dir) for k, (_, node) in d.items()})
        _check_labels_keys(R, data, d)
    sections = {s: SECTION_TYPES[s](**_section(R, top, s, base_dir)) for s in SECTIONS if s != "data"}
    return Config(data=data, **values, **sections)


def load_config(path: str | Path) -> Config:
    """Read and check a YAML configuration file (bounded read: at most 64 KiB)."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_TEXT + 1)
    except OSError as e:
        raise ConfigError(f"{p}:1: document: cannot read the file ({e.strerror})") from None
    if len(raw) > MAX_TEXT:
        raise ConfigError(f"{p}:1: document: the file is larger than {MAX_TEXT} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}:1: document: the file is not UTF-8 text") from None
    return parse_config(text, source=str(p), base_dir=p.resolve().parent)
