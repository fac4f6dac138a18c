"""The YAML configuration of ``pdec generate``: a safe reader and a strict schema.

Keys (a contract; DESIGN.md section 7 and issue 4)::

    pde: "phi_tt + 2*eps*phi_t - lap(phi)"     # pdec's input language
    params: {eps: 4.0}                         # positive reals, named by identifiers
    augment_dim: 128                           # optional: PFGM++'s D (a positive integer)
    data: {name: moons}                        # moons, circles, 8gaussians, checkerboard, swissroll, digits
                                               # or {path: file.npy} of shape [n, ...]
    model: {kind: mlp, width: 256, depth: 4}   # or {kind: unet, channels: 64} (image-shaped data)
    train: {steps: 4000, batch: 256, lr: 1e-3, ema: 0.999, seed: 0}
    sample: {steps: 18, solver: heun}          # heun, euler, dpmpp_2m, dpmpp_3m, ipndm; sigma_max: a number or auto
                                               # and prior_tol (the sigma_max rule's tolerance)

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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError
from .runtime.data import BUILTIN_SETS
from .runtime.sampler import SOLVERS as SOLVER_REGISTRY

MAX_TEXT = 64 * 1024
MAX_ALIASES = 8
MAX_NODES = 2000
MAX_STRING = 4096
MAX_PDE = 2000
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}\Z")
FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")

MODEL_KINDS = ("mlp", "unet")
SOLVERS = tuple(SOLVER_REGISTRY)  # the runtime registry's names: heun, euler, dpmpp_2m, dpmpp_3m, ipndm


@dataclass(frozen=True)
class DataConfig:
    """The data: a built-in set by ``name`` or an [n, ...] array from ``path`` (absolute)."""

    name: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """The backbone: an MLP (width, depth) or a small U-Net (channels)."""

    kind: str = "mlp"
    width: int = 256
    depth: int = 4
    channels: int = 64


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 4000
    batch: int = 256
    lr: float = 1e-3
    ema: float = 0.999
    seed: int = 0


@dataclass(frozen=True)
class SampleConfig:
    """steps of the sigma grid, the solver, sigma_max (None: the data-and-kernel rule) and its tolerance."""

    steps: int = 18
    solver: str = "heun"
    sigma_max: float | None = None
    prior_tol: float = 0.01


@dataclass(frozen=True)
class Config:
    pde: str
    params: tuple[tuple[str, float], ...] = ()
    augment_dim: int | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def to_dict(self) -> dict:
        """The resolved configuration as plain JSON-able data (the emitted config.json)."""
        return {
            "pde": self.pde,
            "params": dict(self.params),
            "augment_dim": self.augment_dim,
            "data": {"name": self.data.name, "path": self.data.path},
            "model": {"kind": self.model.kind, "width": self.model.width, "depth": self.model.depth,
                      "channels": self.model.channels},
            "train": {"steps": self.train.steps, "batch": self.train.batch, "lr": self.train.lr,
                      "ema": self.train.ema, "seed": self.train.seed},
            "sample": {"steps": self.sample.steps, "solver": self.sample.solver,
                       "sigma_max": self.sample.sigma_max, "prior_tol": self.sample.prior_tol},
        }


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


TOP_KEYS = ("pde", "params", "augment_dim", "data", "model", "train", "sample")
DATA_KEYS = ("name", "path")
MODEL_KEYS = ("kind", "width", "depth", "channels")
TRAIN_KEYS = ("steps", "batch", "lr", "ema", "seed")
SAMPLE_KEYS = ("steps", "solver", "sigma_max", "prior_tol")


def parse_config(text: str, source: str = "<config>", base_dir: str | Path | None = None) -> Config:
    """A checked :class:`Config` from YAML text; relative data paths resolve against ``base_dir``."""
    if not isinstance(text, str):
        raise ConfigError(f"{source}:1: document: expected text")
    root = _safe_compose(text, source)
    R = _Reader(source)
    top = R.mapping(root, "", TOP_KEYS)
    if "pde" not in top:
        raise R.fail(root, "pde", "missing (the PDE in pdec's input language)")
    pde = R.string(top["pde"][1], "pde", MAX_PDE)
    if not pde.strip():
        raise R.fail(top["pde"][1], "pde", "expected a PDE, got an empty string")

    params: list[tuple[str, float]] = []
    if "params" in top:
        pnode = top["params"][1]
        if not (isinstance(pnode, yaml.ScalarNode) and pnode.tag == "tag:yaml.org,2002:null"):
            for name, (knode, vnode) in R.mapping(pnode, "params", None).items():
                shown = name if len(name) <= 40 else name[:40] + "..."
                if not IDENT.match(name) or keyword.iskeyword(name):
                    raise R.fail(knode, f"params.{shown!r}",
                                 "parameter names must be identifiers (a letter or _, then letters, digits, _; "
                                 "at most 32 characters)")
                params.append((name, R.number(vnode, f"params.{name}", 0.0, 1e12, lo_open=True)))
    params.sort()

    augment_dim = None
    if "augment_dim" in top:
        node = top["augment_dim"][1]
        if not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
            augment_dim = R.integer(node, "augment_dim", 1, 10**7)

    data = DataConfig(name="moons")
    if "data" in top:
        dnode = top["data"][1]
        d = R.mapping(dnode, "data", DATA_KEYS)
        if ("name" in d) == ("path" in d):
            raise R.fail(dnode, "data", "expected exactly one of name or path")
        if "name" in d:
            data = DataConfig(name=R.choice(d["name"][1], "data.name", BUILTIN_SETS))
        else:
            vnode = d["path"][1]
            raw = R.string(vnode, "data.path")
            if not raw.endswith(".npy"):
                raise R.fail(vnode, "data.path", f"expected a .npy file, got {_short(raw)}")
            p = Path(raw)
            if not p.is_absolute() and base_dir is not None:
                p = Path(base_dir) / p
            p = p.resolve()
            if not p.is_file():
                raise R.fail(vnode, "data.path", f"no such file: {_short(str(p))}")
            data = DataConfig(path=str(p))

    model = ModelConfig()
    if "model" in top:
        m = R.mapping(top["model"][1], "model", MODEL_KEYS)
        kind = R.choice(m["kind"][1], "model.kind", MODEL_KINDS) if "kind" in m else "mlp"
        for k in m:
            if kind == "mlp" and k == "channels" or kind == "unet" and k in ("width", "depth"):
                raise R.fail(m[k][0], f"model.{k}", f"not a key of model kind {kind!r}")
        model = ModelConfig(
            kind=kind,
            width=R.integer(m["width"][1], "model.width", 1, 65536) if "width" in m else 256,
            depth=R.integer(m["depth"][1], "model.depth", 1, 64) if "depth" in m else 4,
            channels=R.integer(m["channels"][1], "model.channels", 1, 4096) if "channels" in m else 64,
        )

    train = TrainConfig()
    if "train" in top:
        tr = R.mapping(top["train"][1], "train", TRAIN_KEYS)
        train = TrainConfig(
            steps=R.integer(tr["steps"][1], "train.steps", 1, 10**9) if "steps" in tr else train.steps,
            batch=R.integer(tr["batch"][1], "train.batch", 1, 2**20) if "batch" in tr else train.batch,
            lr=R.number(tr["lr"][1], "train.lr", 0.0, 1.0, lo_open=True) if "lr" in tr else train.lr,
            ema=R.number(tr["ema"][1], "train.ema", 0.0, 1.0, hi_open=True) if "ema" in tr else train.ema,
            seed=R.integer(tr["seed"][1], "train.seed", 0, 2**31 - 1) if "seed" in tr else train.seed,
        )

    sample = SampleConfig()
    if "sample" in top:
        sa = R.mapping(top["sample"][1], "sample", SAMPLE_KEYS)
        sigma_max = None
        if "sigma_max" in sa:
            node = sa["sigma_max"][1]
            if not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str"
                    and node.value == "auto"):
                sigma_max = R.number(node, "sample.sigma_max", 0.002, 1e6, lo_open=True)
        sample = SampleConfig(
            steps=R.integer(sa["steps"][1], "sample.steps", 1, 10000) if "steps" in sa else sample.steps,
            solver=R.choice(sa["solver"][1], "sample.solver", SOLVERS) if "solver" in sa else sample.solver,
            sigma_max=sigma_max,
            prior_tol=(R.number(sa["prior_tol"][1], "sample.prior_tol", 0.0, 0.5, lo_open=True)
                       if "prior_tol" in sa else sample.prior_tol),
        )
    return Config(pde=pde, params=tuple(params), augment_dim=augment_dim, data=data, model=model,
                  train=train, sample=sample)


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
