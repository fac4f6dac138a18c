"""The YAML configuration of pdec generate: the schema, the line numbers, hostile input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdec.config import Config, load_config, parse_config
from pdec.errors import ConfigError

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))

ISSUE_EXAMPLE = """\
pde: "phi_tt + 2*eps*phi_t - lap(phi)"     # the input language of the core issue
params: {eps: 4.0}
augment_dim: 1                             # optional; PFGM++'s D
data: {name: moons}
model: {kind: mlp, width: 256, depth: 4}   # or {kind: unet, channels: 64} for image-shaped data
train: {steps: 4000, batch: 256, lr: 1e-3, ema: 0.999, seed: 0}
sample: {steps: 18, solver: heun}          # heun (NFE = 2*steps - 1) or euler
"""


def refuse(text: str, *fragments: str) -> str:
    """Parse must raise one one-line ConfigError containing every fragment."""
    with pytest.raises(ConfigError) as e:
        parse_config(text, source="c.yaml")
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


def test_issue_example_parses_exactly():
    c = parse_config(ISSUE_EXAMPLE)
    assert c.pde == "phi_tt + 2*eps*phi_t - lap(phi)"
    assert c.params == (("eps", 4.0),) and c.augment_dim == 1
    assert c.data.name == "moons" and c.data.path is None
    assert (c.model.kind, c.model.width, c.model.depth) == ("mlp", 256, 4)
    assert (c.train.steps, c.train.batch, c.train.lr, c.train.ema, c.train.seed) == (4000, 256, 1e-3, 0.999, 0)
    assert (c.sample.steps, c.sample.solver, c.sample.sigma_max) == (18, "heun", None)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_parse(path):
    assert isinstance(load_config(path), Config)


def test_defaults_and_sigma_max():
    c = parse_config('pde: "phi_t - lap(phi)"\nsample: {sigma_max: 2.5, prior_tol: 0.02}')
    assert c.data.name == "moons" and c.model.kind == "mlp" and c.train.steps == 4000
    assert c.sample.sigma_max == 2.5 and c.sample.prior_tol == 0.02
    assert parse_config('pde: x\nsample: {sigma_max: auto}').sample.sigma_max is None


def test_unknown_keys_name_key_and_line():
    refuse('pde: x\nparams: {}\ntrainn: {steps: 3}\n', "c.yaml:3:", "'trainn'", "did you mean 'train'")
    refuse('pde: x\ntrain:\n  steps: 3\n  lr: 0.1\n  momentum: 0.9\n', "c.yaml:5:", "train.'momentum'")
    refuse('pde: x\nmodel: {kind: unet, width: 3}\n', "c.yaml:2:", "model.width", "unet")
    refuse('pde: x\ndata: {name: moons, path: a.npy}\n', "data", "exactly one of name or path")


@pytest.mark.parametrize("text, fragments", [
    ('pde: x\ntrain: {steps: true}', ("train.steps", "integer")),
    ('pde: x\ntrain: {steps: 1.5}', ("train.steps", "integer")),
    ('pde: x\ntrain: {steps: 0}', ("train.steps", "[1,")),
    ('pde: x\ntrain: {steps: "12"}', ("train.steps",)),
    ('pde: x\ntrain: {lr: abc}', ("train.lr", "number")),
    ('pde: x\ntrain: {lr: .nan}', ("train.lr",)),
    ('pde: x\ntrain: {lr: .inf}', ("train.lr",)),
    ('pde: x\ntrain: {lr: 0}', ("train.lr", "(0, 1]")),
    ('pde: x\ntrain: {ema: 1.0}', ("train.ema", "[0, 1)")),
    ('pde: x\ntrain: [1, 2]', ("train", "expected a mapping")),
    ('pde: x\nparams: {m: -1}', ("params.m", "number")),
    ('pde: x\nparams: {m: [1]}', ("params.m", "scalar")),
    ('pde: x\naugment_dim: 0', ("augment_dim",)),
    ('pde: x\naugment_dim: 2.5', ("augment_dim", "integer")),
    ('pde: 3', ("pde", "string")),
    ('pde: ""', ("pde", "empty")),
    ('params: {m: 1}', ("pde", "missing")),
    ('pde: x\nsample: {solver: rk4}', ("sample.solver", "heun, euler")),
    ('pde: x\ndata: {name: mnist}', ("data.name", "moons")),
    ('pde: x\ndata: {path: data.csv}', ("data.path", ".npy")),
    ('pde: x\ndata: {path: /nonexistent/z.npy}', ("data.path", "no such file")),
    ('pde: x\ntrain: {steps: 1}\ntrain: {steps: 2}', ("c.yaml:3:", "duplicate key")),
    ('- 1\n- 2', ("expected a mapping",)),
    ('pde: x\n---\npde: y', ("one YAML document",)),
    ('pde: [unclosed', ("not valid YAML",)),
    ('pde: !!python/object/apply:os.system ["echo pwned"]', ("pde", "expected")),
    ('pde: !!python/str x', ("pde", "string")),
    ('pde: x\nmodel: {kind: !!python/name:os.system mlp}', ("model.kind",)),
])
def test_wrong_types_refused(text, fragments):
    refuse(text, *fragments)


def test_accepts_exponent_without_dot_and_underscores():
    c = parse_config("pde: x\ntrain: {lr: 2e-4, steps: 10_000}")
    assert c.train.lr == 2e-4 and c.train.steps == 10000


def test_hostile_names_refused():
    refuse('pde: x\nparams: {"x\\"); import os; os.system(\\"echo pwned": 1}', "params.", "identifiers")
    refuse('pde: x\nparams: {"m m": 1}', "identifiers")
    refuse('pde: x\nparams: {class: 1}', "identifiers")
    refuse('pde: x\ndata: {name: "moons\\"); import os; os.system(\\"echo pwned"}', "data.name", "expected one of")
    refuse('pde: x\nmodel: {kind: "mlp; import os"}', "model.kind")


def test_huge_text_refused_fast(tmp_path):
    t0 = time.perf_counter()
    refuse("pde: '" + "x" * 10_000_000 + "'", "65536")
    big = tmp_path / "big.yaml"
    big.write_text("pde: '" + "x" * 10_000_000 + "'")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(big)
    assert time.perf_counter() - t0 < 2.0


def test_yaml_bomb_refused_fast():
    bomb = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"]
                     + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)])
    t0 = time.perf_counter()
    refuse(bomb, "aliases")
    # few aliases but a wide expansion is bounded by the node count
    small = "pde: x\nparams: &p {m: 1}\ntrain: *p\n"
    refuse(small, "train.'m'")
    assert time.perf_counter() - t0 < 1.0


def test_non_utf8_and_missing_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(b"pde: \xff\xfe")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_data_path_resolves_relative_to_the_file(tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((4, 2), dtype=np.float32))
    (tmp_path / "c.yaml").write_text("pde: x\ndata: {path: x.npy}\n")
    c = load_config(tmp_path / "c.yaml")
    assert c.data.path == str((tmp_path / "x.npy").resolve())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_is_a_config_or_one_line_error(text):
    try:
        parse_config(text)
    except ConfigError as e:
        assert "\n" not in str(e)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["steps", "batch", "lr", "ema", "seed", "bogus"]),
                       st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True), st.booleans(), st.text(max_size=8)),
                       max_size=4))
def test_train_section_fuzz(section):
    import yaml

    text = yaml.safe_dump({"pde": "phi_t - lap(phi)", "train": section})
    try:
        c = parse_config(text)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    assert c.train.steps >= 1 and c.train.batch >= 1 and 0 < c.train.lr <= 1 and 0 <= c.train.ema < 1
    assert "bogus" not in section


# ---------------------------------------------------------------------------------------------- the schema


def test_readme_table_is_the_schema():
    """README.md's config section holds exactly config.schema_markdown(), and its YAML example uses only
    keys of the schema."""
    import re

    from pdec.config import SCHEMA, SECTIONS, schema_markdown

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- config-schema:start -->\n")[1].split("<!-- config-schema:end -->")[0]
    assert table == schema_markdown()
    paths = {f.path for f in SCHEMA}
    example = readme.split("The config (YAML")[1].split("```yaml\n")[1].split("```")[0]
    c = parse_config(example.replace("{path: x.npy}", ""))  # the example parses (its comments aside)
    assert c.name == "damped_wave"
    for line in example.splitlines():
        key = line.split(":")[0].strip()
        if key in SECTIONS:
            inner = re.findall(r"(\w+):", line.split("#")[0].split(":", 1)[1])
            assert {f"{key}.{k}" for k in inner} <= paths, line
        elif key:
            assert key in paths, key


@pytest.mark.parametrize("path", ["model.width", "model.depth", "train.steps", "train.batch", "train.lr", "train.ema",
                                  "train.seed", "sample.steps", "sample.sigma_max", "sample.prior_tol",
                                  "augment_dim"])
def test_errors_and_defaults_come_from_the_schema(path):
    """Out of the declared bounds: the message names the key and the schema's bounds; absent: its default."""
    from pdec.config import field_of

    f = field_of(path)
    bad = f.hi * 10 if f.type == "int" else f.hi + 1
    section, _, key = path.rpartition(".")
    text = f"pde: x\n{section}: {{{key}: {bad}}}" if section else f"pde: x\n{key}: {bad}"
    msg = refuse(text, path)
    assert f.allowed().split(", or auto")[0] in msg, (msg, f.allowed())
    if f.default is not None:
        assert parse_config("pde: x").value(f) == f.default


def test_to_dict_is_the_schema():
    from pdec.config import SCHEMA

    d = parse_config(ISSUE_EXAMPLE).to_dict()
    flat = {f"{s}.{k}" for s, sub in d.items() if isinstance(sub, dict) and s != "params" for k in sub}
    assert flat | {k for k, v in d.items() if not isinstance(v, dict) or k == "params"} == {f.path for f in SCHEMA}


def test_package_name():
    assert parse_config("pde: x\nname: my_pkg").name == "my_pkg"
    assert parse_config("pde: x").name is None and parse_config("pde: x\nname: null").name is None
    refuse("pde: x\nname: 3d", "name", "identifiers")
    refuse("pde: x\nname: my-pkg", "name", "identifiers")
    refuse("pde: x\nname: class", "name", "identifiers")
    for shadow in ("torch", "json", "train", "runtime"):
        refuse(f"pde: x\nname: {shadow}", "name", "shadow")
