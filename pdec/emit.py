"""``pdec generate``: a configuration -> a self-contained PyTorch package (DESIGN.md section 7).

Three steps, each a function:

- :func:`plan`: compile the PDE (refusing what is not generative), load the data, choose sigma_max;
  the result is a frozen :class:`Plan` that holds every resolved value.
- :func:`render`: the package's files as {relative path: bytes}; Jinja2 with StrictUndefined renders
  templates/*.j2 (layout only: every value arrives pre-formatted, numbers as repr(float), strings as
  repr(str), names checked as identifiers), and pdec/runtime/*.py are copied verbatim. Deterministic:
  the same plan gives the same bytes; complete: every expected file is there and not empty
  (:func:`check_complete`, else :class:`IncompletePackageError`).

The layout (NAME: :func:`package_name`)::

    <out>/train.py, sample.py          entry files: load the package NAME by its path, run NAME.train / .sample
    <out>/README.md, config.json, pytest.ini, ruff.toml
    <out>/NAME/__init__.py, kernel.py, data.py, model.py, sampler.py, train.py, sample.py   (templates/package/)
    <out>/NAME/runtime/*.py            pdec/runtime/*.py, verbatim
    <out>/NAME/tests/                  the package's own tests
    <out>/NAME/law_table.json, digits.npy   data shipped with some packages (digits_labels.npy: conditional digits)

The templates ship inside the wheel as pdec/templates/ (setup.py maps the repository's templates/ there).
- :func:`write_tree`: writes the files to a temporary sibling folder and renames it into place, so a
  failure leaves nothing half-written; an existing non-empty folder is replaced only with ``force``
  and only if it is a package pdec generated (its config.json says so).

The emitted package imports only torch, numpy and tqdm (never pdec).
"""

from __future__ import annotations

import ast
import io
import json
import keyword
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .config import RESERVED_NAMES, SCHEMA, Config, load_config
from .errors import ConfigError, NotGenerativeError, PdecError

ROOT = Path(__file__).resolve().parent
RUNTIME_DIR = ROOT / "runtime"


def _template_dir() -> Path:
    """pdec/templates/ in an installed wheel (setup.py ships the repository's templates/ there), else the
    checkout's top-level templates/ (a source tree or an editable install)."""
    for d in (ROOT / "templates", ROOT.parent / "templates"):
        if (d / "package" / "train.py.j2").is_file():
            return d
    return ROOT / "templates"


TEMPLATE_DIR = _template_dir()


def runtime_files() -> list[str]:
    """pdec/runtime/*.py, copied verbatim into <package>/runtime/ (sorted)."""
    return sorted(p.name for p in RUNTIME_DIR.glob("*.py"))
#: the marker in config.json that lets --force replace a folder
MARKER = "generated_by"


class OutputExistsError(PdecError):
    """The output folder exists and is not empty (use --force to replace a generated package)."""


class IncompletePackageError(PdecError):
    """render() produced a package with a file missing or empty (templates not found or not shipped)."""


@dataclass(frozen=True)
class Plan:
    """Every resolved value of a package: the config, the compiled kernel, the data, the schedule."""

    config: Config
    source: str
    pde_text: str
    verdict: str
    law_source: str
    law_names: tuple[tuple[str, str], ...]
    self_similar: bool
    t_max_bound: float | None
    sigma_cap: float | None
    t_min: float | None
    sigma_floor: float | None
    sigma_min: float
    law_table: bool
    shape: tuple[int, ...]
    sigma_max: float
    sigma_max_why: str
    warnings: tuple[str, ...]
    extra_files: tuple[tuple[str, bytes], ...] = ()
    #: the emitted Python package's name (config name:, else derived: see package_name)
    name: str = "model"
    #: K of a class-conditional package (data.labels or a labelled built-in set); None: unconditional
    classes: int | None = None


# ----------------------------------------------------------------------------------------------
# plan


def _data(cfg: Config, source: str):
    """(raw training data as float32 numpy, extra files to ship)."""
    import numpy as np

    from .runtime import data as rdata

    if cfg.data.name in rdata.TOY_SETS:
        return rdata.load_dataset(cfg.data.name, None, "train"), ()
    if cfg.data.name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ConfigError(f"{source}: data.name: digits are read from scikit-learn at generate time "
                              "(pip install scikit-learn)") from None
        counts = np.asarray(load_digits().data, dtype=np.uint8)  # [1797, 64], values 0..16
        buf = io.BytesIO()
        np.save(buf, counts, allow_pickle=False)
        x = rdata.digits_from_counts(counts)
        train, _ = rdata.split_train_test(x, rdata.DIGITS_N_TRAIN, rdata.DIGITS_SPLIT_SEED)
        return train, (("digits.npy", buf.getvalue()),)
    try:
        return rdata.load_npy(cfg.data.path), ()
    except (OSError, ValueError) as e:
        raise ConfigError(f"{source}: data.path: {str(e).splitlines()[0]}") from None


def _labels(cfg: Config, source: str, n_rows: int):
    """(K or None, extra files to ship): the training labels checked against the data's rows (one line per
    problem, as a ConfigError naming data.labels / data.conditional)."""
    import numpy as np

    from .runtime import data as rdata

    if not cfg.data.labelled:
        return None, ()
    if cfg.data.name == "digits":
        from sklearn.datasets import load_digits

        y = np.asarray(load_digits().target, dtype=np.uint8)
        buf = io.BytesIO()
        np.save(buf, y, allow_pickle=False)
        return rdata.LABELLED_SETS["digits"], (("digits_labels.npy", buf.getvalue()),)
    key = "data.conditional" if cfg.data.name is not None else "data.labels"
    try:
        y, k = rdata.load_labels(cfg.data.name, cfg.data.labels, "train", classes=cfg.data.classes)
        if cfg.data.name is None:
            rdata.check_labels(y, n_rows, k, what=Path(cfg.data.labels).name)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{source}: {key}: {str(e).splitlines()[0]}") from None
    return k, ()


def _law_modules() -> dict[str, str]:
    """{runtime law class name: runtime module} of the registered laws (pdec.laws)."""
    from . import laws

    return {law.name: law.runtime_module for law in laws.laws()}


def _check_law_source(src: str) -> tuple[tuple[str, str], ...]:
    """((module, law name), ...) used by a LawSpec's source; refuses anything but calls of runtime laws
    on numbers, None, and tuples or lists of them (no attribute access, no other names)."""
    known = _law_modules()
    names: list[str] = []

    def ok(node) -> bool:
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in known):
                return False
            names.append(node.func.id)
            return all(ok(a) for a in node.args) and all(k.arg is not None and ok(k.value) for k in node.keywords)
        if isinstance(node, ast.Constant):
            return node.value is None or (type(node.value) in (int, float) and math.isfinite(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return ok(node.operand)
        if isinstance(node, (ast.Tuple, ast.List)):
            return all(ok(e) for e in node.elts)
        return False

    try:
        tree = ast.parse(src, mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        tree = None
    if tree is None or not isinstance(tree.body, ast.Call) or not ok(tree.body):
        raise NotGenerativeError(f"internal error: the kernel's law source is not a call of runtime laws: {src[:80]}")
    return tuple(sorted({(known[n], n) for n in names}))


def format_law_source(src: str, indent: int = 0, width: int = 100) -> str:
    """The law source laid out within ``width`` columns: a call too long for one line gets one argument
    per line (recursively); numbers keep their repr, so the value is unchanged."""
    if len(src) + indent <= width:
        return src
    node = ast.parse(src, mode="eval").body
    if not isinstance(node, ast.Call):
        return src
    pad = " " * (indent + 4)
    parts = [format_law_source(ast.unparse(a), indent + 4, width) for a in node.args]
    parts += [f"{k.arg}={format_law_source(ast.unparse(k.value), indent + 4 + len(k.arg) + 1, width)}"
              for k in node.keywords]
    return f"{ast.unparse(node.func)}(\n" + "".join(f"{pad}{p},\n" for p in parts) + " " * indent + ")"


def package_name(cfg: Config, source: str = "<config>", out: str | Path | None = None) -> str:
    """The emitted package's name: the config's ``name:``, else the config file's name, else the output
    folder's, made an identifier (other characters become _) that shadows no module; else "model"."""
    if cfg.name is not None:
        return cfg.name
    for raw in (Path(source).stem if source.endswith((".yaml", ".yml")) else "", Path(out).name if out else ""):
        name = re.sub(r"\W", "_", raw.lower(), flags=re.ASCII)[:32]
        if not name or name[0].isdigit():
            name = f"m_{name}"[:32] if name else ""
        if name and (keyword.iskeyword(name) or name in RESERVED_NAMES):
            name = f"{name[:26]}_model"
        if name and name.isidentifier():
            return name
    return "model"


def _float(x) -> float | None:
    return None if x is None else float(x)


def _reason(c) -> str:
    return (getattr(c, "reason", "") or "").strip().rstrip(".")


def plan(cfg: Config, source: str = "<config>", out: str | Path | None = None) -> Plan:
    """Compile the PDE of ``cfg``, refuse what cannot drive a generative model, resolve everything else
    (``out``, the output folder, names the package only when neither the config nor its file does)."""
    import numpy as np
    import torch

    from .compiler import compile_pde
    from .runtime import data as rdata
    from .runtime import sampler as rsampler
    from .runtime import train as rtrain

    x_raw, extra = _data(cfg, source)
    classes, label_files = _labels(cfg, source, len(x_raw))
    extra = (*extra, *label_files)
    shape = tuple(int(s) for s in x_raw.shape[1:])
    n_dim = int(np.prod(shape))
    if cfg.model.kind == "unet" and not (len(shape) in (2, 3) and shape[-1] % 2 == 0 and shape[-2] % 2 == 0
                                         and min(shape[-2:]) >= 2):
        raise ConfigError(f"{source}: model.kind: unet needs image data of shape [C, H, W] or [H, W] with even "
                          f"H and W; the data has samples of shape {list(shape)} (use kind: mlp)")

    try:
        # values as repr strings: parsed exactly as decimals (a float through nsimplify keeps only 15 digits)
        values = {name: repr(v) for name, v in cfg.params}
        compiled = compile_pde(cfg.pde, params=values, dim=n_dim, augment_dim=cfg.augment_dim)
    except PdecError as e:
        raise type(e)(f"{source}: pde: {e}") from None
    text = " ".join(cfg.pde.split())  # as the user wrote it (the parser accepted it)
    kern = compiled.kernel
    if compiled.verdict == "no":
        failed = [f"{name}: {_reason(c)}" for name, c in (("C1", compiled.c1), ("C2", compiled.c2))
                  if c.verdict == "no"]
        raise NotGenerativeError(f"{text} is not generative ({'; '.join(failed) or 'check says no'})")
    if kern is None:
        raise NotGenerativeError(f"{text} has no perturbation kernel ({_reason(compiled.c2) or 'see pdec check'})")
    if kern.positive is False:
        raise NotGenerativeError(f"{text}: the kernel is signed, not a probability path ({kern.note.strip()})")
    if kern.law is None:
        raise NotGenerativeError(f"{text}: pdec has no sampler for this kernel yet (not a Gaussian scale mixture; "
                                 f"{kern.note.strip() or 'see pdec check'})")
    warnings: list[str] = []
    if compiled.verdict == "conditional":
        why = [f"{name} {_reason(c)}" for name, c in (("C1", compiled.c1), ("C2", compiled.c2))
               if c.verdict == "conditional"]
        warnings.append(f"{text} is generative only in a regime: {'; '.join(why) or kern.note}")
    if not kern.law.exact:
        warnings.append(f"the law of S_t is approximate: {kern.note.strip() or kern.law}")

    runtime = kern.runtime
    law = runtime.law
    try:
        rtrain.check_target(runtime, cfg.train.target)
    except ValueError as e:
        raise ConfigError(f"{source}: train.target: {e}") from None
    code = kern.law.code(law)  # the law's own printing: its call, imports, files (a table, a plug-in's module)
    if not code.table and _check_law_source(code.source) != code.imports:
        raise NotGenerativeError(f"internal error: the law's imports {code.imports} do not match its source")
    law_source, law_names, law_table = code.source, code.imports, code.table
    extra = (*extra, *code.files)

    def sig(t: float) -> float:
        return float(runtime.sigma(torch.tensor([t], dtype=torch.float64))[0])

    t_max_bound, t_min = _float(kern.t_max_bound), _float(getattr(kern, "t_min", None))
    t_range = getattr(law, "t_range", None)
    t_hi = min([v for v in (t_max_bound, t_range[1] if t_range else None) if v is not None], default=None)
    # the later of the symbolic bound (the wavefront's weight) and the table's measured range: conservative
    t_lo = max([v for v in (t_min, t_range[0] if t_range else None) if v is not None], default=None)
    sigma_cap = None if t_hi is None else sig(t_hi)
    sigma_floor = None if t_lo is None else sig(t_lo)
    if t_hi is not None:
        warnings.append(f"the kernel is used only for t < {t_hi:.6g} (sigma < {sigma_cap:.6g})"
                        + (f"; it is a density only for t < {t_max_bound:.6g}" if t_max_bound is not None else "")
                        + "; training and sampling stay below it")
    if t_lo is not None:
        warnings.append(f"the kernel is used only for t > {t_lo:.6g} (sigma > {sigma_floor:.6g})"
                        + (f"; its negative part is below tolerance only for t >= {t_min:.6g}" if t_min else "")
                        + "; training stays above it and sampling stops there (sigma_min), the last step "
                        "jumping to the denoiser's estimate")
    sigma_min = max(rsampler.SIGMA_MIN, sigma_floor or 0.0)
    if sigma_cap is not None and sigma_floor is not None and not sigma_floor < sigma_cap:
        raise NotGenerativeError(f"{text}: the kernel's valid range of t is empty ({t_lo:.6g} >= {t_hi:.6g})")

    mean, scale = rdata.normalisation(x_raw)
    x = torch.from_numpy(rdata.normalise(x_raw, mean, scale))
    if cfg.sample.sigma_max is not None:
        sigma_max = cfg.sample.sigma_max
        if sigma_cap is not None and sigma_max >= sigma_cap:
            raise ConfigError(f"{source}: sample.sigma_max: must be below {sigma_cap:.6g}, where the kernel stops "
                              "being a density")
        if sigma_max <= sigma_min:
            raise ConfigError(f"{source}: sample.sigma_max: must be above sigma_min = {sigma_min:.6g}")
        why = f"sigma_max = {sigma_max!r}, set in the configuration"
    else:
        lam = rsampler.top_eigenvalue(x)
        cap = None if sigma_cap is None else 0.999 * sigma_cap
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small Monte-Carlo tensors: one thread is fastest, and immune to a busy machine
        try:
            sigma_max, why = rsampler.choose_sigma_max(runtime, lam, cfg.sample.prior_tol, sigma_cap=cap)
        finally:
            torch.set_num_threads(threads)
        sigma_max = float(f"{sigma_max:.6g}")  # a readable number; the rule's tolerance is far coarser
        if cap is not None and sigma_max >= 0.99 * cap and sigma_max ** 2 < lam:
            raise NotGenerativeError(
                f"{text}: the kernel is usable only up to sigma = {sigma_cap:.4g}, below the data's own scale "
                f"sqrt(lambda_max) = {math.sqrt(lam):.4g}: its prior cannot forget the data")
    return Plan(config=cfg, source=source, pde_text=text, verdict=compiled.verdict, law_source=law_source,
                law_names=law_names, self_similar=bool(runtime.self_similar), t_max_bound=t_max_bound,
                sigma_cap=sigma_cap, t_min=t_min, sigma_floor=sigma_floor, sigma_min=sigma_min,
                law_table=law_table, shape=shape, sigma_max=sigma_max, sigma_max_why=why,
                warnings=tuple(warnings), extra_files=extra, name=package_name(cfg, source, out), classes=classes)


# ----------------------------------------------------------------------------------------------
# render

_DOC_SAFE = re.compile(r"[^A-Za-z0-9_ +\-*/().,=<>\[\]:;^!?%&|~@#$]")


def doc_safe(text: str, limit: int = 400) -> str:
    """Text that is safe inside a docstring, a comment or Markdown: no quotes, backslashes, newlines, backticks."""
    s = _DOC_SAFE.sub("?", " ".join(str(text).split()))
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _wrap(text: str, width: int = 100) -> str:
    """Text wrapped into lines of at most ``width`` characters (for docstrings and Markdown)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_long_words=True)) if text else text


def _r(x) -> str:
    """repr for the templates: floats at full precision, strings as Python literals."""
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"refusing to bake a non-finite number {x!r}")
        return repr(x)
    if isinstance(x, (bool, int, str)) or x is None:
        return repr(x)
    if isinstance(x, tuple):
        return f"({_r(x[0])},)" if len(x) == 1 else "(" + ", ".join(_r(e) for e in x) + ")"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{_r(k)}: {_r(v)}" for k, v in x.items()) + "}"
    raise TypeError(f"cannot bake {type(x).__name__}")


def _config_json(p: Plan) -> dict:
    d = p.config.to_dict()
    d[MARKER] = f"pdec {__version__}"
    d["resolved"] = {
        **({} if p.classes is None else {"classes": p.classes}),
        "package": p.name, "pde": p.pde_text, "verdict": p.verdict, "law": p.law_source, "shape": list(p.shape),
        "sigma_max": p.sigma_max, "sigma_max_why": p.sigma_max_why, "t_max_bound": p.t_max_bound,
        "t_min": p.t_min, "sigma_min": p.sigma_min,
        "warnings": list(p.warnings),
    }
    return d


def _schema_values(c: Config) -> dict:
    """{section_key_repr: repr(value)} for every key of the model, train and sample sections (config.SCHEMA)."""
    return {f"{f.section}_{f.key}_repr": _r(c.value(f)) for f in SCHEMA if f.section in ("model", "train", "sample")}


def _context(p: Plan) -> dict:
    from .runtime import data as rdata
    from .runtime import sampler as rsampler

    c = p.config
    params = dict(c.params)
    if c.data.name == "digits":
        data_name, data_path, path_doc = "digits", "digits.npy", "shipped with the package"
    elif c.data.name is not None:
        data_name, data_path, path_doc = c.data.name, None, "none: a toy set"
    else:
        data_name, data_path, path_doc = None, c.data.path, "the configuration's data.path"
    if c.data.name is None:
        labels_path, labels_doc = c.data.labels, "the configuration's data.labels"
    elif c.data.name == "digits":
        labels_path, labels_doc = "digits_labels.npy", "shipped with the package"
    else:
        labels_path, labels_doc = None, "none: the toy set's own labels"
    return {
        # class conditioning (the templates add its lines only when conditional: unconditional bytes unchanged)
        "conditional": p.classes is not None,
        "classes_repr": _r(p.classes),
        "labels_path_repr": _r(labels_path),
        "labels_doc": labels_doc,
        "classes_text": "" if p.classes is None else str(p.classes),
        "label_max_text": "" if p.classes is None else str(p.classes - 1),
        **_schema_values(c),
        "pde_doc": doc_safe(p.pde_text),
        "pde_text": doc_safe(p.pde_text, 2000),
        "pde_repr": _r(p.pde_text),
        "params_repr": _r(params),
        "augment_dim_repr": _r(c.augment_dim),
        "verdict_repr": _r(p.verdict),
        "t_max_bound_repr": _r(p.t_max_bound),
        "sigma_cap_repr": _r(p.sigma_cap),
        "t_min_repr": _r(p.t_min),
        "sigma_floor_repr": _r(p.sigma_floor),
        "law_table": p.law_table,
        "law_imports": "\n".join(f"from .runtime.{mod} import {', '.join(n for m, n in p.law_names if m == mod)}"
                                 for mod in sorted({m for m, _ in p.law_names})),
        "law_source": format_law_source(p.law_source, indent=0, width=110),
        "data_name_repr": _r(data_name),
        "data_path_repr": _r(data_path),
        "data_path_doc": path_doc,
        "shape_repr": _r(p.shape),
        "sigma_min_repr": _r(float(p.sigma_min)),
        "sigma_max_repr": _r(float(p.sigma_max)),
        "rho_repr": _r(rsampler.RHO),
        "sigma_max_doc": _wrap(doc_safe(p.sigma_max_why, 1000)),
        "train_steps": c.train.steps,
        # the package's name and its entry files
        "name": p.name,
        "name_repr": _r(p.name),
        "tests_package_repr": _r(f"{p.name}.tests"),
        # README
        "params_text": doc_safe(", ".join(f"{k} = {v!r}" for k, v in params.items()) or "none"),
        "augment_text": "none" if c.augment_dim is None else f"D = {c.augment_dim}",
        "data_text": doc_safe(data_name or f"the array in {Path(c.data.path).name}"),
        "shape_text": doc_safe(str(list(p.shape))),
        "verdict": p.verdict,
        "verdict_note": "".join(f" Warning: {doc_safe(w)}." for w in p.warnings),
        "t_max_note": "" if p.t_max_bound is None else
        f" The kernel is a density only for t < {p.t_max_bound:.6g}; training and sampling stay below it.",
        "sigma_min_text": repr(float(p.sigma_min)),
        "solver": c.sample.solver,
        "steps": c.sample.steps,
        "nfe": rsampler.nfe(c.sample.steps, c.sample.solver),
        "sigma_data_text": repr(rdata.SIGMA_DATA),
    }


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_names() -> list[str]:
    """The templates (paths relative to templates/, ending in .j2), sorted."""
    return sorted(p.relative_to(TEMPLATE_DIR).as_posix() for p in TEMPLATE_DIR.rglob("*.j2"))


#: templates/package/* render into the package folder <name>/; templates/entry.py.j2 renders once per entry
#: file (<out>/train.py, <out>/sample.py run <name>.train, <name>.sample); the rest render at the top
PACKAGE_PREFIX = "package/"
ENTRY_TEMPLATE = "entry.py.j2"
ENTRIES = {"train": "Train the denoiser", "sample": "Sample from a trained checkpoint",
           "likelihood": "Exact log-likelihood (bits/dim) of data under a trained checkpoint"}


def _targets(template: str, name: str) -> list[tuple[str, dict]]:
    """[(output path, extra context)] of one template."""
    if template == ENTRY_TEMPLATE:
        return [(f"{e}.py", {"entry": e, "entry_doc": doc}) for e, doc in ENTRIES.items()]
    rel = template[: -len(".j2")]
    return [(f"{name}/{rel[len(PACKAGE_PREFIX):]}" if rel.startswith(PACKAGE_PREFIX) else rel, {})]


def render(p: Plan) -> dict[str, bytes]:
    """The package's files, {relative path: bytes}, in a deterministic order."""
    env = _environment()
    ctx = _context(p)
    files: dict[str, bytes] = {}
    for template in template_names():
        for path, extra in _targets(template, p.name):
            files[path] = env.get_template(template).render(**ctx, **extra).encode("utf-8")
    for name in runtime_files():
        files[f"{p.name}/runtime/{name}"] = (RUNTIME_DIR / name).read_bytes()
    files["config.json"] = (json.dumps(_config_json(p), indent=2, sort_keys=True) + "\n").encode("utf-8")
    for name, blob in p.extra_files:
        files[f"{p.name}/{name}"] = blob
    check_complete(files, expected_files(p))
    for name, blob in files.items():
        if name.endswith(".py"):
            compile(blob, name, "exec")  # a template bug must never reach the user's disk
    return dict(sorted(files.items()))


#: the files every package has, whatever the templates folder holds (a floor for check_complete); {name}:
#: the package's folder
CORE_FILES = ("README.md", "config.json", "train.py", "sample.py", "likelihood.py", "{name}/__init__.py",
              "{name}/data.py", "{name}/kernel.py", "{name}/model.py", "{name}/sample.py", "{name}/sampler.py",
              "{name}/train.py", "{name}/likelihood.py", "{name}/tests/__init__.py",
              "{name}/tests/test_package.py", "{name}/runtime/kernel.py", "{name}/runtime/laws.py",
              "{name}/runtime/model.py", "{name}/runtime/precond.py", "{name}/runtime/sample.py",
              "{name}/runtime/sampler.py", "{name}/runtime/train.py")


def expected_files(p: Plan) -> tuple[str, ...]:
    """The package's file set: CORE_FILES, every template's outputs, every runtime file, the plan's extra files."""
    names = {*(f.format(name=p.name) for f in CORE_FILES),
             *(path for t in template_names() for path, _ in _targets(t, p.name)),
             *(f"{p.name}/runtime/{n}" for n in runtime_files()), *(f"{p.name}/{n}" for n, _ in p.extra_files)}
    return tuple(sorted(names))


def check_complete(files: dict[str, bytes], expected) -> None:
    """Every expected file is present and non-empty (runtime/__init__.py may be empty); else IncompletePackageError."""
    missing = [n for n in expected if n not in files]
    empty = [n for n in expected if n in files and not files[n].strip() and not n.endswith("runtime/__init__.py")]
    if missing or empty:
        what = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                           f"empty {', '.join(empty)}" if empty else "") if part)
        raise IncompletePackageError(f"the emitted package is incomplete ({what}); pdec's templates were looked for "
                                     f"in {TEMPLATE_DIR}: reinstall pdec (pip install .) so that they ship with it")


# ----------------------------------------------------------------------------------------------
# write


def _is_generated(folder: Path) -> bool:
    try:
        with open(folder / "config.json", encoding="utf-8") as f:
            return MARKER in json.loads(f.read(1 << 20))
    except (OSError, ValueError, TypeError):
        return False


def write_tree(files: dict[str, bytes], out: str | Path, force: bool = False) -> Path:
    """Write ``files`` under ``out`` atomically: a temporary sibling folder renamed into place.

    An existing non-empty ``out`` is an error unless ``force``; with ``force`` it is replaced (only
    after the new folder is complete) and only if it holds a package pdec generated.
    """
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    nonempty = out.is_dir() and any(out.iterdir())
    if nonempty and not force:
        raise OutputExistsError(f"{out} exists and is not empty (use --force to replace a generated package)")
    if nonempty and not _is_generated(out):
        raise OutputExistsError(f"refusing to replace {out}: it is not a package generated by pdec "
                                "(no config.json with the pdec marker)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        for name, blob in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        os.chmod(tmp, 0o755)
        if out.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rmdir(old)
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except OSError:
                os.replace(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


@dataclass(frozen=True)
class Generated:
    """The result of :func:`generate`: where the package went, its plan and its file names."""

    out: Path
    plan: Plan
    files: tuple[str, ...]


def generate(config: str | Path | Config, out: str | Path, force: bool = False) -> Generated:
    """``pdec generate``: read the configuration, plan, render and write the package to ``out``."""
    if isinstance(config, Config):
        cfg, source = config, "<config>"
    else:
        cfg, source = load_config(config), str(config)
    p = plan(cfg, source, out)
    files = render(p)
    path = write_tree(files, out, force=force)
    return Generated(out=path, plan=p, files=tuple(files))
