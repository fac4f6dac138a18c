"""Class conditioning (issue 10): labels in the config, the label embedding, label dropout, guidance,
sample.py --label / --guidance, and the errors (one line; ConfigError from the API, exit code 2 from scripts)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_emit_packages import _env, run_package, torchrun_two_ranks

from pdec import emit
from pdec.config import parse_config
from pdec.errors import ConfigError
from pdec.runtime import data as rdata
from pdec.runtime import model as rm
from pdec.runtime import sampler as rs
from pdec.runtime import train as rt
from pdec.runtime.guidance import Guided, check_weight
from pdec.runtime.precond import Precond
from pdec.runtime.sample import Sampler

DIFFUSION = '"phi_t - lap(phi)"'


def blobs(n: int, k: int = 3, seed: int = 0, radius: float = 3.0, std: float = 0.2):
    """n points of k Gaussian blobs (std) at angles 2 pi j / k on a circle of the radius, and their labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = radius * np.stack([np.cos(2 * np.pi * np.arange(k) / k), np.sin(2 * np.pi * np.arange(k) / k)], 1)
    return (centres[y] + std * rng.standard_normal((n, 2))).astype(np.float32), y, centres


def nearest(x, centres) -> np.ndarray:
    return np.argmin(((np.asarray(x)[:, None, :] - centres[None]) ** 2).sum(-1), 1)


def write_blobs(folder, labels=None, n=3000, extra=""):
    """x.npy, y.npy (or the given labels) and c.yaml of a conditional diffusion package on 3 blobs."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, _ = blobs(n)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y if labels is None else labels)
    (folder / "c.yaml").write_text(f"pde: {DIFFUSION}\nname: blobs\ndata: {{path: x.npy, labels: y.npy{extra}}}\n"
                                   "model: {kind: mlp, width: 64, depth: 3}\n")
    return folder / "c.yaml"


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------- config


def test_config_label_keys():
    c = parse_config("pde: x\ndata: {name: digits, conditional: true}")
    assert c.data.labelled and c.data.conditional and c.train.label_dropout == 0.1
    assert not parse_config("pde: x").data.labelled
    c = parse_config("pde: x\ndata: {name: 8gaussians, conditional: true}\ntrain: {label_dropout: 0.25}")
    assert c.data.labelled and c.train.label_dropout == 0.25
    d = c.to_dict()
    assert d["data"]["conditional"] is True and d["train"]["label_dropout"] == 0.25


@pytest.mark.parametrize("text, key, fragment", [
    ("data: {name: moons, conditional: true}", "data.conditional", "has no labels"),
    ("data: {name: digits, conditional: 1}", "data.conditional", "true or false"),
    ("data: {name: digits, classes: 3}", "data.classes", "goes with data.labels"),
    ("train: {label_dropout: 1.0}", "train.label_dropout", "[0, 1)"),
    ("train: {label_dropout: -0.1}", "train.label_dropout", "[0, 1)"),
])
def test_config_label_errors(text, key, fragment):
    with pytest.raises(ConfigError) as e:
        parse_config(f"pde: x\n{text}")
    msg = str(e.value)
    assert "\n" not in msg and f": {key}: " in msg and fragment in msg, msg


def test_config_labels_file_errors(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 2), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(10, np.int64))
    for text, key, fragment in (
            ("{name: digits, labels: y.npy}", "data.labels", "goes with data.path"),
            ("{name: swissroll, labels: y.npy}", "data.labels", "'swissroll' has no labels"),
            ("{path: x.npy, conditional: true}", "data.conditional", "needs data.labels"),
            ("{path: x.npy, labels: y.npy, conditional: false}", "data.conditional", "contradicts"),
            ("{path: x.npy, labels: nothere.npy}", "data.labels", "no such file")):
        with pytest.raises(ConfigError) as e:
            parse_config(f"pde: x\ndata: {text}", base_dir=tmp_path)
        assert f": {key}: " in str(e.value) and fragment in str(e.value), str(e.value)


@pytest.mark.parametrize("labels, fragment", [
    (np.zeros(9, np.int64), "9 labels for 10 rows"),
    (np.array([0, 1, 2, 0.5, 1, 2, 0, 1, 2, 0]), "must be integers, got 0.5 at row 3"),
    (np.array(["a"] * 10), "must be integers"),
    (np.array([0, 1, 2, -1, 1, 2, 0, 1, 2, 0]), "0..K-1, got -1 at row 3"),
    (np.zeros((10, 2), np.int64), "one label per row"),
])
def test_plan_refuses_bad_labels(tmp_path, labels, fragment):
    """Labels that do not fit the data: a one-line ConfigError naming data.labels."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((10, 2)).astype(np.float32))
    np.save(tmp_path / "y.npy", labels)
    (tmp_path / "c.yaml").write_text(f"pde: {DIFFUSION}\ndata: {{path: x.npy, labels: y.npy}}\n")
    with pytest.raises(ConfigError) as e:
        emit.generate(tmp_path / "c.yaml", tmp_path / "out")
    msg = str(e.value)
    assert "\n" not in msg and "data.labels: y.npy: " in msg and fragment in msg, msg


def test_plan_refuses_labels_beyond_classes(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((10, 2)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.arange(10) % 4)
    (tmp_path / "c.yaml").write_text(f"pde: {DIFFUSION}\ndata: {{path: x.npy, labels: y.npy, classes: 3}}\n")
    fragment = "labels must be in 0..2 (classes = 3), got 3 at row 3"
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        emit.generate(tmp_path / "c.yaml", tmp_path / "out")
    res = subprocess.run([sys.executable, "-m", "pdec.cli", "generate", str(tmp_path / "c.yaml"), "-o",
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr and fragment in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


# ---------------------------------------------------------------------------------------------- data


def test_builtin_labels():
    """8gaussians: the label is the mode (every point nearest its own centre); the points are make_toy's;
    the other toy sets have none."""
    x, y = rdata.make_toy_labelled("8gaussians", 4000, 3)
    assert np.array_equal(x, rdata.make_toy("8gaussians", 4000, 3)) and y.dtype == np.int64
    angle = 2 * np.pi * np.arange(8) / 8
    assert np.array_equal(nearest(x, 2 * np.stack([np.cos(angle), np.sin(angle)], 1)), y)
    assert np.array_equal(rdata.load_labels("8gaussians", None, "test")[0], rdata.make_toy_labelled(
        "8gaussians", 20000, 1)[1])
    assert rdata.make_toy_labelled("moons", 10, 0)[1] is None
    with pytest.raises(ValueError, match="'moons' has no labels"):
        rdata.load_labels("moons", None)


def test_digits_labels_follow_the_split(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    np.save(tmp_path / "d.npy", d.data.astype(np.uint8))
    np.save(tmp_path / "l.npy", d.target.astype(np.uint8))
    for split in ("train", "test"):
        x = rdata.load_dataset("digits", str(tmp_path / "d.npy"), split)
        y, k = rdata.load_labels("digits", str(tmp_path / "l.npy"), split)
        assert k == 10 and len(y) == len(x)
        # each row is the sklearn digit of its label: look the rows up in the full set
        full = rdata.digits_from_counts(d.data).reshape(len(d.data), -1)
        idx = [int(np.flatnonzero((full == row).all(1))[0]) for row in x.reshape(len(x), -1)[:200]]
        assert np.array_equal(d.target[idx], y[:200])


def test_check_labels():
    y, k = rdata.check_labels(np.array([[0.0], [2.0], [1.0]]), 3)
    assert y.dtype == np.int64 and list(y) == [0, 2, 1] and k == 3
    assert rdata.check_labels(np.array([0, 1]), 2, classes=5)[1] == 5
    with pytest.raises(ValueError, match="got nan"):
        rdata.check_labels(np.array([0.0, np.nan]), 2)


# ---------------------------------------------------------------------------------------------- network


def test_label_embedding_architecture():
    """classes = K adds exactly one table of K + 1 rows (the MLP's first layer widens by its width);
    classes = None is the unconditional network, parameter for parameter and output for output."""
    for kind, shape, kw, e in (("mlp", (3,), {"width": 8, "depth": 2}, rm.MLP_LABEL_DIM),
                               ("unet", (1, 4, 4), {"channels": 4}, 16)):
        torch.manual_seed(0)
        plain = rm.backbone(kind, shape, **kw)
        torch.manual_seed(0)
        none = rm.backbone(kind, shape, classes=None, **kw)
        cond = rm.backbone(kind, shape, classes=5, **kw)
        a, b, c = plain.state_dict(), none.state_dict(), cond.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
        assert set(c) - set(a) == {"label.weight"} and c["label.weight"].shape == (6, e)
        for n in a:
            if kind == "mlp" and n == "net.0.weight":
                assert c[n].shape == (a[n].shape[0], a[n].shape[1] + e)
            else:
                assert c[n].shape == a[n].shape, n
        x, s = torch.randn(4, *shape), torch.randn(4)
        assert torch.equal(cond(x, s), cond(x, s, cond=torch.full((4,), 5)))  # None: the null label
        # the label reaches the output: d out / d (embedding row k) is non-zero for the labels used
        # and exactly zero for the others (a gradient, not a difference of outputs, which a small
        # untrained network can make as small as rounding)
        out = cond(x[:1].expand(2, *shape), s[:1].expand(2), cond=torch.tensor([0, 1]))
        out.square().sum().backward()
        g = cond.label.weight.grad.norm(dim=1)
        assert g[0] > 1e-4 and g[1] > 1e-4 and torch.all(g[2:] == 0), g
        with pytest.raises(ValueError, match="positive integer"):
            rm.backbone(kind, shape, classes=0, **kw)


def test_label_dropout_rate_and_reproducibility():
    """drop_labels replaces a label by the null label with probability p (5 binomial standard errors), from g."""
    cond = torch.arange(20000) % 7
    out = rt.drop_labels(cond, 0.1, 7, torch.Generator().manual_seed(0))
    dropped = out == 7
    assert abs(float(dropped.double().mean()) - 0.1) < 5 * math.sqrt(0.1 * 0.9 / 20000)
    assert torch.equal(out[~dropped], cond[~dropped])
    assert torch.equal(out, rt.drop_labels(cond, 0.1, 7, torch.Generator().manual_seed(0)))
    assert rt.drop_labels(cond, 0.0, 7, None) is cond


def test_conditional_fit_resumes_exactly():
    """With labels and label dropout, 3 + 4 steps equal 7 in one call; the dropout really happens."""
    x = torch.randn(64, 2)
    labels = torch.arange(64) % 3
    seen = []

    def loss_fn(model, y, g, cond):
        seen.append(cond.clone())
        return (model(y, torch.zeros(len(y)), cond=cond) - y).square().mean()

    def build():
        return rm.MLP(2, width=8, depth=2, classes=3)

    one = rt.fit(rt.init(build, 1e-2, 0), loss_fn, x, 7, 32, 3, 0.9, labels=labels, label_dropout=0.3, null_label=3)
    two = rt.init(build, 1e-2, 0)
    rt.fit(two, loss_fn, x, 3, 32, 3, 0.9, labels=labels, label_dropout=0.3, null_label=3)
    rt.fit(two, loss_fn, x, 7, 32, 3, 0.9, labels=labels, label_dropout=0.3, null_label=3)
    for p, q in zip([*one.net.parameters(), *one.ema.parameters()], [*two.net.parameters(), *two.ema.parameters()]):
        assert torch.equal(p, q)
    assert all(torch.equal(a, b) for a, b in zip(seen[:7], seen[7:]))
    share = float(torch.cat(seen[:7]).eq(3).double().mean())
    assert 0.15 < share < 0.45, share
    with pytest.raises(ValueError, match="null label"):
        rt.fit(rt.init(build, 1e-2, 0), loss_fn, x, 1, 4, 0, 0.9, labels=labels, label_dropout=0.1)


# ---------------------------------------------------------------------------------------------- guidance


class _Affine(torch.nn.Module):
    """D(x, sigma, cond) = x + cond (cond=None: 100), counting calls and rows."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))
        self.rows = []

    def forward(self, x, sigma, cond=None):
        self.rows.append(x.shape[0])
        c = torch.full((x.shape[0],), 100.0) if cond is None else cond.to(x.dtype)
        return x + c[:, None]


def test_guided_is_the_cfg_combination_in_one_call():
    net = _Affine()
    x, s, k = torch.randn(5, 2), torch.full((5,), 0.3), torch.full((5,), 2)
    for w in (0.0, 1.0, 2.5):
        out = Guided(net, w, null=9)(x, s, cond=k)
        assert torch.allclose(out, x + 9 + w * (2 - 9))  # D_null + w (D_k - D_null)
    assert net.rows == [10, 5, 10]  # w = 1: the plain conditional call; otherwise one call of 2B rows
    assert torch.equal(Guided(net, 3.0, null=9)(x, s), x + 100)  # no label: the denoiser itself
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            check_weight(bad)


def test_guided_sampling_counts_the_solvers_nfe():
    """A guided Heun solve of 6 steps evaluates the wrapper 2 * 6 - 1 times, each one call of 2B rows."""
    net = _Affine()
    kernel = __import__("pdec").compile_pde("phi_t - lap(phi)").kernel.runtime
    sampler = Sampler(kernel, (2,), 5.0, steps=6)
    x = sampler.sample(Guided(net, 2.0, null=3), 4, generator=torch.Generator().manual_seed(0),
                       cond=torch.ones(4, dtype=torch.long))
    assert x.shape == (4, 2) and net.rows == [8] * rs.nfe(6, "heun") == [8] * 11


# ---------------------------------------------------------------------------------------------- accuracy


def _train_blobs(expr, params=(), augment_dim=None, steps=600):
    from pdec import compile_pde

    x, y, centres = blobs(3000)
    mean, scale = rdata.normalisation(x)
    xn = torch.from_numpy(rdata.normalise(x, mean, scale))
    kernel = compile_pde(expr, params=dict(params), augment_dim=augment_dim).kernel.runtime

    def build():
        return Precond(rm.MLP(2, width=64, depth=3, classes=3), 2, rdata.SIGMA_DATA)

    state = rt.fit(rt.init(build, 2e-3, 0), rt.kernel_loss(kernel), xn, steps, 128, 0, 0.99,
                   labels=torch.from_numpy(y), label_dropout=0.2, null_label=3)
    sampler = Sampler(kernel, (2,), rs.choose_sigma_max(kernel, rs.top_eigenvalue(xn))[0], steps=12)
    return state.ema.eval(), sampler, mean, scale, centres


@pytest.mark.parametrize("expr, params, augment_dim", [("phi_t - lap(phi)", (), None),
                                                       ("phi_tt + lap(phi)", (), 8)])
def test_per_label_accuracy_on_separated_blobs(one_thread, expr, params, augment_dim):
    """3 blobs (std 0.2) 5.2 apart; 600 steps; 300 samples per label: nearest-blob accuracy >= 0.9 at W = 1,
    W = 2 and 3 no worse (0.02 slack), and the unconditional samples of the same net cover every blob (>= 20%)."""
    net, sampler, mean, scale, centres = _train_blobs(expr, params, augment_dim)
    acc = {}
    for w in (1.0, 2.0, 3.0):
        D = net if w == 1.0 else Guided(net, w, null=3)
        hits = 0
        for k in range(3):
            s = sampler.sample(D, 300, generator=torch.Generator().manual_seed(k), cond=torch.full((300,), k))
            hits += int((nearest(rdata.denormalise(s.numpy(), mean, scale), centres) == k).sum())
        acc[w] = hits / 900
    print(f"\n{expr}: accuracy {acc}")
    assert acc[1.0] >= 0.9, acc
    assert acc[2.0] >= acc[1.0] - 0.02 and acc[3.0] >= acc[1.0] - 0.02, acc
    s = sampler.sample(net, 900, generator=torch.Generator().manual_seed(7))
    share = np.bincount(nearest(rdata.denormalise(s.numpy(), mean, scale), centres), minlength=3) / 900
    assert share.min() >= 0.2, share


# ---------------------------------------------------------------------------------------------- packages


def test_conditional_package_end_to_end(tmp_path):
    """A package on blobs with labels: its own tests (per-label accuracy, errors, resume) pass where pdec
    cannot be imported; it trains and samples unconditionally; the render is byte-identical twice."""
    cfg = write_blobs(tmp_path / "cfg")
    g = emit.generate(cfg, tmp_path / "pkg")
    assert g.plan.classes == 3
    assert emit.render(emit.plan(emit.load_config(cfg), str(cfg))) == emit.render(g.plan)
    text = (g.out / "blobs" / "train.py").read_text()
    assert "LABEL_DROPOUT = 0.1" in text and "CLASSES = 3" in (g.out / "blobs" / "data.py").read_text()
    report, x = run_package(g.out, tmp_path, 100, 128, 200)
    assert report["pytest"] == 0 and x.shape == (200, 2) and np.isfinite(x).all()


def test_conditional_torchrun_two_cpu_ranks_end_identical(tmp_path):
    cfg = write_blobs(tmp_path / "cfg")
    pkg = emit.generate(cfg, tmp_path / "pkg").out
    r0, r1, main = torchrun_two_ranks(pkg, tmp_path)
    assert "label.weight" in {k.split("backbone.")[-1] for k in r0["net"]}
    for key in ("net", "ema"):
        for k in r0[key]:
            assert torch.equal(r0[key][k], r1[key][k]), (key, k)
    assert main["classes"] == 3 and main["step"] == 6


@pytest.mark.parametrize("data, classes", [("{name: 8gaussians, conditional: true}", 8),
                                           ("{name: digits, conditional: true}", 10)])
def test_builtin_conditional_packages_render(data, classes, tmp_path):
    model = "{kind: unet, channels: 8}" if "digits" in data else "{kind: mlp, width: 16, depth: 1}"
    p = emit.plan(parse_config(f"pde: {DIFFUSION}\nname: cpkg\ndata: {data}\nmodel: {model}"))
    assert p.classes == classes
    files = emit.render(p)
    assert ("cpkg/digits_labels.npy" in files) == ("digits" in data)
    assert f"CLASSES = {classes}" in files["cpkg/data.py"].decode()
    out = emit.write_tree(files, tmp_path / "pkg")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from cpkg import data, model; y = data.labels('train'); "
            "x = data.load('train')[0]; "
            "print(len(y), len(x), int(y.max()), model.build().backbone.label.num_embeddings)")
    res = subprocess.run([sys.executable, "-I", "-c", code, str(out)], capture_output=True, text=True, timeout=300,
                         env=_env())
    assert res.returncode == 0, res.stderr
    n_y, n_x, top, rows = map(int, res.stdout.split())
    assert n_y == n_x and top == classes - 1 and rows == classes + 1


def test_unconditional_package_refuses_label(tmp_path):
    """sample.py --label on an unconditional package: one line on stderr, exit code 2, no traceback; its
    templated files carry no trace of conditioning."""
    cfg = parse_config(f"pde: {DIFFUSION}\nname: plain\nmodel: {{kind: mlp, width: 8, depth: 1}}")
    g = emit.generate(cfg, tmp_path / "pkg")
    for name in ("model.py", "train.py", "data.py", "sample.py"):
        text = (g.out / "plain" / name).read_text()
        assert "CLASSES" not in text and "LABEL" not in text and "label" not in text, name
    ckpt = tmp_path / "a.pt"
    subprocess.run([sys.executable, "-I", str(g.out / "train.py"), "--steps", "1", "--batch", "8", "--quiet",
                    "--device", "cpu", "--out", str(ckpt)], check=True, capture_output=True, timeout=300, env=_env())
    for args, fragment in ((["--label", "0"], "unconditional"), (["--guidance", "2"], "needs --label")):
        res = subprocess.run([sys.executable, "-I", str(g.out / "sample.py"), "--ckpt", str(ckpt), "-n", "2", *args,
                              "--out", str(tmp_path / "s.npy"), "--device", "cpu"], capture_output=True, text=True,
                             timeout=300, env=_env())
        assert res.returncode == 2 and fragment in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
