"""Shared code of the benchmarks: data, models (pdec-compiled and the peers), training, sampling, scoring.

One protocol for every model (BENCHMARKS.md, issue 5): the same backbone (pdec.runtime.model.MLP,
4 hidden layers of 256 SiLU units, the conditioning scalar appended to the input), Adam, batch, steps,
EMA, seed, and the same mini-batches, through the same loop as the emitted packages
(pdec.runtime.train.fit: one generator reseeded per step, the batch drawn first, so every model sees
the same data in the same order). Data are normalised as the emitted packages do (per-coordinate mean removed,
RMS sigma_data = 0.5); metrics are computed in the data's own units.

Models:
- pdec: ``compile_pde(expr, params, augment_dim).kernel.runtime`` gives the kernel; training is the
  emitted package's (pdec.runtime.train.kernel_loss): ln sigma ~ N(-1.2, 1.2^2), t = sigma^{-1}(sigma),
  (x, u) = perturb(y, t), target y_eff = x - u / a(t), EDM's weighted loss through pdec's Precond;
  sampling is pdec.runtime.sample.Sampler (prior at t_max, EDM's rho = 7 grid in sigma, Euler or
  Heun), with sigma_max from pdec's data-and-kernel rule (choose_sigma_max).
- EDM peer (``diffusers``): the same loss written with diffusers' EDMEulerScheduler preconditioning
  (precondition_inputs / precondition_noise / precondition_outputs), sigma grid from its
  set_timesteps; Euler through scheduler.step; Heun (EDM's Algorithm 1) on the scheduler's sigmas and
  preconditioning, since diffusers has no EDM Heun scheduler. sigma_max: the same data rule as pdec
  (the diffusion kernel's choose_sigma_max), not EDM's 80. fewstep.py also samples it with diffusers'
  EDMDPMSolverMultistepScheduler (EDM_SOLVERS) on both sigma schedules (EDM_SCHEDULES).
- flow_matching peer (Meta's ``flow_matching``): AffineProbPath with CondOTScheduler, loss
  |v(x_t, t) - dx_t|^2, sampling with its ODESolver on a uniform time grid: 'euler' for NFE 5,
  'heun2' then a last 'euler' step above (NFE = 2 steps - 1, as EDM's Heun); fewstep.py also uses its
  other fixed-grid methods (FM_METHODS).

NFE: 5 -> Euler, 5 steps; odd NFE > 5 -> Heun, (NFE + 1)/2 steps. Every solve counts its network
calls and checks the count.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pdec import compile_pde
from pdec.runtime import data as rdata
from pdec.runtime import precond as rprecond
from pdec.runtime import sampler as rsampler
from pdec.runtime import train as rtrain
from pdec.runtime.model import MLP
from pdec.runtime.sample import Sampler

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = Path(os.environ.get("PDEC_BENCH_CACHE", "/tmp/pdec-bench-cache"))

TOY_SETS = ("moons", "8gaussians", "checkerboard", "swissroll")
DATASETS = TOY_SETS + ("digits",)
NFES = (5, 11, 35)
N_TOY_TRAIN = 20000
N_TOY_TEST = 5000


# ----------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Dataset:
    """A benchmark data set: raw splits (numpy, [n, dim]), the normalised training tensor and its constants."""

    name: str
    train_raw: np.ndarray
    test_raw: np.ndarray
    train: torch.Tensor
    mean: np.ndarray
    scale: float
    lam_max: float
    labels_train: np.ndarray | None = None
    labels_test: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])

    def denormalise(self, x: torch.Tensor) -> np.ndarray:
        return rdata.denormalise(x.detach().to(torch.float64).cpu().numpy(), self.mean, self.scale)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = rdata.digits_from_counts(d.data).reshape(len(d.data), -1)
    idx_train, idx_test = rdata.split_train_test(np.arange(len(x)), rdata.DIGITS_N_TRAIN, rdata.DIGITS_SPLIT_SEED)
    return x[idx_train], x[idx_test], d.target[idx_train], d.target[idx_test]


def _top_eigenvalue(x: torch.Tensor) -> float:
    """The largest covariance eigenvalue of the normalised data (pdec.runtime's, wherever it lives now)."""
    fn = getattr(rsampler, "top_eigenvalue", None) or getattr(rdata, "top_eigenvalue", None)
    if fn is not None:
        return float(fn(x))
    z = x.reshape(x.shape[0], -1).to(torch.float64)
    z = z - z.mean(0)
    return float(torch.linalg.eigvalsh(z.T @ z / z.shape[0])[-1])


def load_data(name: str, path: str | None = None) -> Dataset:
    """A built-in set (moons, 8gaussians, checkerboard, swissroll, digits) or a .npy file (80/20 split, seed 7)."""
    labels_train = labels_test = None
    if path is not None:
        x = rdata.load_npy(path).reshape(-1, int(np.prod(rdata.load_npy(path).shape[1:])))
        n_train = int(round(0.8 * len(x)))
        train, test = rdata.split_train_test(x, n_train, rdata.DIGITS_SPLIT_SEED)
    elif name == "digits":
        train, test, labels_train, labels_test = _digits()
    elif name in rdata.TOY_SETS:
        train = rdata.make_toy(name, N_TOY_TRAIN, 0)
        test = rdata.make_toy(name, N_TOY_TEST, 1)
    else:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)} or --data file.npy")
    mean, scale = rdata.normalisation(train)
    xt = torch.from_numpy(rdata.normalise(train, mean, scale))
    return Dataset(name=name, train_raw=np.asarray(train, np.float32), test_raw=np.asarray(test, np.float32),
                   train=xt, mean=mean, scale=scale, lam_max=_top_eigenvalue(xt),
                   labels_train=labels_train, labels_test=labels_test)


# --------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    """A model of the benchmark: a pdec PDE (expr, params, augment_dim) or a peer (library)."""

    name: str
    family: str  # "pdec" or "peer"
    library: str
    expr: str | None = None
    params: tuple[tuple[str, float], ...] = ()
    augment_dim: int | None = None
    label: str = ""


PDEC_MODELS = (
    ModelSpec("diffusion", "pdec", "pdec", "phi_t - lap(phi)", label="diffusion"),
    ModelSpec("pfgm", "pdec", "pdec", "phi_tt + lap(phi)", augment_dim=1, label="PFGM (D = 1)"),
    ModelSpec("pfgmpp-8", "pdec", "pdec", "phi_tt + lap(phi)", augment_dim=8, label="PFGM++ D = 8"),
    ModelSpec("pfgmpp-128", "pdec", "pdec", "phi_tt + lap(phi)", augment_dim=128, label="PFGM++ D = 128"),
    ModelSpec("pfgmpp-2048", "pdec", "pdec", "phi_tt + lap(phi)", augment_dim=2048, label="PFGM++ D = 2048"),
    ModelSpec("yukawa", "pdec", "pdec", "phi_tt + lap(phi) - m**2*phi", (("m", 1.0),), label="Yukawa m = 1"),
    ModelSpec("yukawa-8", "pdec", "pdec", "phi_tt + lap(phi) - m**2*phi", (("m", 1.0),), augment_dim=8,
              label="Yukawa m = 1, D = 8"),
    ModelSpec("fractional", "pdec", "pdec", "phi_t + fraclap(phi, beta)", (("beta", 0.75),),
              label="fractional diffusion beta = 0.75"),
    ModelSpec("mixed", "pdec", "pdec", "phi_tt + a*phi_t + lap(phi)", (("a", 1.0),),
              label="mixed diffusion-Poisson a = 1"),
    ModelSpec("wave", "pdec", "pdec", "phi_tt + 2*eps*phi_t - lap(phi)", (("eps", 4.0),),
              label="dissipative wave eps = 4"),
)
PEER_MODELS = (
    ModelSpec("flow_matching", "peer", "flow_matching", label="flow_matching CondOT"),
    ModelSpec("edm", "peer", "diffusers", label="EDM (diffusers EDMEulerScheduler)"),
)
ALL_MODELS = PDEC_MODELS + PEER_MODELS
BY_NAME = {m.name: m for m in ALL_MODELS}


class Unavailable(Exception):
    """A model that cannot be built here (no sampler for its kernel, or a peer library missing)."""


def pdec_kernel(spec: ModelSpec):
    """The runtime kernel of a pdec model, or Unavailable with the compiler's reason."""
    c = compile_pde(spec.expr, params=dict(spec.params), augment_dim=spec.augment_dim)
    if c.kernel is None or c.kernel.law is None:
        raise Unavailable(f"verdict {c.verdict!r}; compiled without a dimension, the kernel is not a Gaussian "
                          "scale mixture and has no law of S_t. pdec's tabulated radial laws (N <= 8, valid from a "
                          "t_min on, with a sigma cap and floor) are not wired into the benchmark yet")
    return c.kernel.runtime


class _SigmaInvTable:
    """t = sigma^{-1}(sigma) by linear interpolation of ln t against ln sigma on a dense grid.

    Used for kernels whose sigma^{-1} is a root search (not self-similar: Yukawa, GIG); exact calls
    outside the grid. ``max_rel_err`` is the measured error at the grid's midpoints; the table is only
    used when it is below 1e-6 (the training distribution of t is then unchanged to that accuracy).
    """

    def __init__(self, kernel, lo: float = 1e-5, hi: float = 1e4, n: int = 8001):
        self.kernel = kernel
        u = torch.linspace(math.log(lo), math.log(hi), n, dtype=torch.float64)
        self.u = u
        self.v = torch.log(torch.as_tensor(kernel.sigma_inv(torch.exp(u)), dtype=torch.float64))
        mid = 0.5 * (u[1:] + u[:-1])
        exact = torch.as_tensor(kernel.sigma_inv(torch.exp(mid)), dtype=torch.float64)
        self.max_rel_err = float(((self._interp(mid) - exact) / exact).abs().max())

    def _interp(self, w: torch.Tensor) -> torch.Tensor:
        i = torch.searchsorted(self.u, w).clamp(1, self.u.shape[0] - 1)
        u0, u1 = self.u[i - 1], self.u[i]
        v0, v1 = self.v[i - 1], self.v[i]
        return torch.exp(v0 + (v1 - v0) * (w - u0) / (u1 - u0))

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        w = torch.log(sigma)
        out = self._interp(w)
        outside = (w < self.u[0]) | (w > self.u[-1])
        if bool(outside.any()):
            out[outside] = torch.as_tensor(self.kernel.sigma_inv(sigma[outside]), dtype=torch.float64)
        return out


@dataclass
class Trained:
    """A trained model: its EMA network and everything its sampler needs."""

    spec: ModelSpec
    data: Dataset
    backbone: MLP
    train_s: float
    seed: int
    kernel: object = None
    sigma_max: float = float("nan")
    t_max: float = float("nan")
    why: str = ""
    notes: list = field(default_factory=list)
    cached: bool = False
    #: pdec models: the anchored scale of pdec.runtime.precond (TrainConfig.anchored)
    anchored: bool = True

    # ---- the denoiser / velocity the sampler integrates
    def precond(self, net=None, cls=None, **kw) -> rprecond.Precond:
        """pdec's Precond (or the subclass ``cls``) around ``net`` (default the trained backbone), its outlier
        threshold fitted to the training rows, as an emitted package's train.py does."""
        kw.setdefault("anchored", self.anchored)
        return (cls or rprecond.Precond)(self.backbone if net is None else net, self.data.dim, rdata.SIGMA_DATA,
                                         data=self.data.train, **kw)

    def denoiser(self):
        if self.spec.family == "pdec":
            return self.precond().eval()
        if self.spec.name == "edm":
            return _DiffusersDenoiser(self.backbone, _edm_scheduler(self.sigma_max)).eval()
        raise ValueError("flow_matching has no denoiser")

    @torch.no_grad()
    def sample(self, n: int, nfe: int, seed: int, out_noise: float = 0.0, normalised: bool = False):
        """n samples at the given NFE (Euler for NFE <= 5, Heun above), data units (numpy) unless normalised.

        ``out_noise`` adds out_noise * N(0, I) to every backbone output (robustness.py).
        """
        steps, solver = steps_for(nfe)
        g = torch.Generator().manual_seed(10_000 + seed)
        counter = _Counting(self.backbone, out_noise, g)
        if self.spec.family == "pdec":
            net = self.precond(counter).eval()
            x = Sampler(self.kernel, (self.data.dim,), self.sigma_max).sample(net, n, steps, solver, generator=g)
        elif self.spec.name == "edm":
            x = _edm_sample(counter, self.sigma_max, n, self.data.dim, steps, solver, g)
        else:
            x = _fm_sample(counter, n, self.data.dim, steps, solver, g)
        if counter.calls != nfe:
            raise AssertionError(f"{self.spec.name}: {counter.calls} network calls for NFE {nfe}")
        return x if normalised else self.data.denormalise(x)


def steps_for(nfe: int) -> tuple[int, str]:
    """(steps, solver) of an NFE: Euler for NFE <= 5, Heun (odd NFE = 2 steps - 1) above."""
    if nfe <= 5:
        return nfe, "euler"
    if nfe % 2 == 0:
        raise ValueError(f"Heun needs an odd NFE, got {nfe}")
    return (nfe + 1) // 2, "heun"


class _Counting(nn.Module):
    """Counts the backbone's calls; optionally adds alpha * N(0, I) to its output."""

    def __init__(self, backbone, out_noise: float = 0.0, generator=None):
        super().__init__()
        self.backbone = backbone
        self.out_noise = out_noise
        self.generator = generator
        self.calls = 0

    def forward(self, x, c):
        self.calls += 1
        F = self.backbone(x, c)
        if self.out_noise:
            F = F + self.out_noise * torch.randn(F.shape, generator=self.generator, dtype=F.dtype)
        return F


# ----------------------------------------------------------------------------- peers: EDM via diffusers


#: diffusers' fixed-step EDM solvers: name -> the EDMDPMSolverMultistepScheduler options (None: EDMEulerScheduler)
EDM_SOLVERS = {
    "euler": None,  # EDMEulerScheduler.step
    "heun": None,  # EDM's Algorithm 1 on EDMEulerScheduler's sigmas and preconditioning (no Heun scheduler)
    "dpmpp_2m": {"solver_order": 2, "solver_type": "midpoint"},
    "dpmpp_2m_heun": {"solver_order": 2, "solver_type": "heun"},
    "dpmpp_3m": {"solver_order": 3, "solver_type": "midpoint"},
}
#: diffusers' EDM sigma schedules: karras = EDM's rho = 7 grid, exponential = log-linear
EDM_SCHEDULES = ("karras", "exponential")


def _edm_scheduler(sigma_max: float, solver: str = "euler", sigma_schedule: str = "karras"):
    """diffusers' EDM scheduler of a solver (EDM_SOLVERS): EDMEulerScheduler, or EDMDPMSolverMultistepScheduler
    (algorithm_type dpmsolver++, lower_order_final, final sigma 0), with pdec's sigma_min and the data's sigma_max."""
    import diffusers

    kw = dict(sigma_min=rsampler.SIGMA_MIN, sigma_max=float(sigma_max), sigma_data=rdata.SIGMA_DATA,
              sigma_schedule=sigma_schedule, rho=rsampler.RHO, prediction_type="epsilon", final_sigmas_type="zero")
    opts = EDM_SOLVERS[solver]
    if opts is None:
        return diffusers.EDMEulerScheduler(**kw)
    return diffusers.EDMDPMSolverMultistepScheduler(**kw, **opts, algorithm_type="dpmsolver++")


class _DiffusersDenoiser(nn.Module):
    """D(x, sigma) = precondition_outputs(x, F(precondition_inputs(x, sigma), precondition_noise(sigma)), sigma)."""

    def __init__(self, backbone, scheduler):
        super().__init__()
        self.backbone = backbone
        self.scheduler = scheduler

    def forward(self, x, sigma):
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(x.shape[0])
        s = sigma[:, None]
        F = self.backbone(self.scheduler.precondition_inputs(x, s), self.scheduler.precondition_noise(sigma))
        return self.scheduler.precondition_outputs(x, F, s)


def _edm_loss(backbone, y, g, scheduler):
    """EDM's loss written with diffusers' preconditioning: lambda(sigma) |D(y + sigma n) - y|^2."""
    sigma = rprecond.sample_train_sigma(y.shape[0], g).to(y.dtype)
    x = y + sigma[:, None] * torch.randn(y.shape, generator=g, dtype=y.dtype)
    D = _DiffusersDenoiser(backbone, scheduler)(x, sigma)
    sd = rdata.SIGMA_DATA
    weight = (sigma**2 + sd**2) / (sigma * sd) ** 2
    return (weight * (D - y).square().mean(1)).mean()


def _edm_sample(backbone, sigma_max, n, dim, steps, solver, g, sigma_schedule="karras"):
    """diffusers' sampling loop of an EDM_SOLVERS solver on a sigma schedule (EDM_SCHEDULES): steps sigmas, then 0."""
    sched = _edm_scheduler(sigma_max, solver, sigma_schedule)
    sched.set_timesteps(steps)
    sig = sched.sigmas  # float32, ends in 0
    x = sig[0] * torch.randn(n, dim, generator=g)  # EDM's prior sigma_max * N(0, I)
    if solver != "heun":
        for tstep in sched.timesteps:
            F = backbone(sched.scale_model_input(x, tstep), tstep.expand(n))
            x = sched.step(F, tstep, x).prev_sample
        return x
    D = _DiffusersDenoiser(backbone, sched)
    for i in range(steps):  # EDM's Algorithm 1 (Heun, Euler for the last step to sigma = 0)
        s, s_next = sig[i], sig[i + 1]
        d = (x - D(x, s)) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:
            d_next = (x_next - D(x_next, s_next)) / s_next
            x_next = x + (s_next - s) * 0.5 * (d + d_next)
        x = x_next
    return x


# ------------------------------------------------------------------------- peers: Meta's flow_matching


def _fm_loss(backbone, y, g, path):
    t = torch.rand(y.shape[0], generator=g, dtype=y.dtype)
    x0 = torch.randn(y.shape, generator=g, dtype=y.dtype)
    ps = path.sample(x_0=x0, x_1=y, t=t)
    return (backbone(ps.x_t, ps.t) - ps.dx_t).square().mean()


#: flow_matching's ODESolver methods with a fixed grid (torchdiffeq's fixed-grid solvers; 'implicit_adams' is
#: left out: its corrector iterates to a tolerance, so its NFE is not fixed by the grid)
FM_METHODS = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams")


def _fm_sample(backbone, n, dim, steps, solver, g):
    """ODESolver.sample on the uniform grid of ``steps`` intervals of [0, 1] (its step_size grid).

    ``solver``: a FM_METHODS method, or "<method>+euler" (the method on the first steps - 1 intervals,
    then one Euler step: odd NFE for the two-stage methods); "heun" is "heun2+euler".
    """
    from flow_matching.solver import ODESolver
    from flow_matching.utils import ModelWrapper

    class Velocity(ModelWrapper):
        def forward(self, x, t, **extras):
            return self.model(x, t.reshape(-1).expand(x.shape[0]))

    ode = ODESolver(velocity_model=Velocity(backbone))
    x = torch.randn(n, dim, generator=g)
    grid = torch.linspace(0.0, 1.0, steps + 1)
    method, _, last = ("heun2+euler" if solver == "heun" else solver).partition("+")
    if not last:
        return ode.sample(x, step_size=None, method=method, time_grid=grid)
    if steps > 1:
        x = ode.sample(x, step_size=None, method=method, time_grid=grid[:-1])
    return ode.sample(x, step_size=None, method=last, time_grid=grid[-2:])


# ---------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """The one training protocol of every model."""

    steps: int = 4000
    batch: int = 512
    lr: float = 1e-3
    ema: float = 0.999
    #: pdec models' regression target (pdec.runtime.train.TARGETS), as train.target of a config
    target: str = "sample"
    #: pdec models' training sigmas, ln sigma ~ N(p_mean, p_std^2) (None: pdec.runtime.train.sigma_mean's rule)
    p_mean: float | None = None
    p_std: float = rprecond.P_STD
    #: the MLP's width
    width: int = 256
    #: pdec models' anchored scale (pdec.runtime.precond.Precond, anchored)
    anchored: bool = True

    def key(self) -> str:
        key = f"n{self.steps}-b{self.batch}-lr{self.lr:g}-ema{self.ema:g}"
        for name, default in (("target", "sample"), ("p_mean", rprecond.P_MEAN), ("p_std", rprecond.P_STD),
                              ("width", 256)):  # EDM's protocol keeps its cache names
            if getattr(self, name) not in (default, None):
                key += f"-{name}{getattr(self, name)}"
        return key


def _data_hash(ds: Dataset) -> str:
    return hashlib.sha1(np.ascontiguousarray(ds.train_raw).tobytes()).hexdigest()[:10]


def train(spec: ModelSpec, ds: Dataset, cfg: TrainConfig, seed: int, cache: Path | None = CACHE,
          log=None) -> Trained:
    """Train ``spec`` on ``ds`` (or load it from the cache); raises Unavailable for models that cannot run."""
    torch.set_num_threads(int(os.environ.get("PDEC_BENCH_THREADS", "1")))  # 2 threads on 2 shared cores is slower
    tr = Trained(spec=spec, data=ds, backbone=MLP(ds.dim, width=cfg.width), train_s=0.0, seed=seed,
                 anchored=cfg.anchored)
    if spec.family == "pdec":
        tr.kernel = pdec_kernel(spec)
        cfg = replace(cfg, p_mean=rtrain.sigma_mean(tr.kernel, cfg.p_mean))  # resolved, for the cache key
    if spec.name in ("edm", "diffusion") or spec.family == "pdec":
        kern = tr.kernel if spec.family == "pdec" else pdec_kernel(BY_NAME["diffusion"])
        tr.sigma_max, tr.why = rsampler.choose_sigma_max(kern, ds.lam_max)
        tr.t_max = float(kern.sigma_inv(torch.tensor(tr.sigma_max, dtype=torch.float64)))
    if spec.family == "peer":
        _import_peer(spec)
    path = None
    if cache is not None:
        anchored = "-anchored" if spec.family == "pdec" and cfg.anchored else ""  # older caches: unanchored
        path = Path(cache) / f"{ds.name}-{_data_hash(ds)}-{spec.name}-s{seed}-{cfg.key()}{anchored}.pt"
        if path.exists():
            state = torch.load(path, map_location="cpu", weights_only=True)
            tr.backbone.load_state_dict(state["backbone"])
            tr.train_s = float(state["train_s"])
            tr.notes = list(state.get("notes", []))
            tr.cached = True
            return tr

    # the same initial weights for every model of a seed
    state = rtrain.init(lambda: MLP(ds.dim, width=cfg.width), cfg.lr, seed)
    model, loss_fn = _loss_fn(spec, tr, state.net, cfg)

    def on_step(st: rtrain.State, checked: bool):
        if log is not None and st.step % max(1, cfg.steps // 4) == 0:
            log(f"    {spec.name} step {st.step}/{cfg.steps} loss {st.loss:.4f}")

    t0 = time.perf_counter()
    try:  # the emitted train.py's loop: batches, noise, Adam and the EMA warm-up
        rtrain.fit(state, loss_fn, ds.train, cfg.steps, cfg.batch, seed, cfg.ema, model=model, on_step=on_step)
    except rtrain.TrainingDiverged as e:
        raise FloatingPointError(f"{spec.name}: {e}") from None
    ema = state.ema
    tr.train_s = time.perf_counter() - t0
    tr.backbone = ema.eval()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"backbone": tr.backbone.state_dict(), "train_s": tr.train_s, "notes": tr.notes}, tmp)
        os.replace(tmp, path)
    return tr


def _import_peer(spec: ModelSpec):
    try:
        if spec.library == "diffusers":
            import diffusers  # noqa: F401
        elif spec.library == "flow_matching":
            import flow_matching  # noqa: F401
    except ImportError as e:
        raise Unavailable(f"the peer library {spec.library!r} is not installed ({e}); "
                          f"pip install -e '.[bench]'") from e


def _loss_fn(spec: ModelSpec, tr: Trained, net: MLP, cfg: TrainConfig):
    """(the module the loss calls, loss(module, y, g, cond=None)) of a model, for pdec.runtime.train.fit."""
    if spec.family == "pdec":
        kernel = tr.kernel
        sigma_inv = None
        if not kernel.self_similar:
            table = _SigmaInvTable(kernel)
            if table.max_rel_err < 1e-6:
                sigma_inv = table
                tr.notes.append(f"t = sigma^-1(sigma) tabulated (max rel. error {table.max_rel_err:.1e})")
        return tr.precond(net), rtrain.kernel_loss(kernel, sigma_inv=sigma_inv, target=cfg.target, p_mean=cfg.p_mean,
                                                   p_std=cfg.p_std)
    if spec.name == "edm":
        sched = _edm_scheduler(tr.sigma_max)
        return net, lambda m, y, g, cond=None: _edm_loss(m, y, g, sched)
    if spec.name == "flow_matching":
        from flow_matching.path import AffineProbPath
        from flow_matching.path.scheduler import CondOTScheduler

        path = AffineProbPath(scheduler=CondOTScheduler())
        return net, lambda m, y, g, cond=None: _fm_loss(m, y, g, path)
    raise ValueError(spec.name)


# ---------------------------------------------------------------------------------------------- scoring


class Scorer:
    """Scores sample sets against a data set's held-out split; the floor is the training set's score."""

    def __init__(self, ds: Dataset, n_eval: int = 5000, classifier_cache: Path | None = None):
        from benchmarks import metrics

        self.ds = ds
        self.metrics = metrics
        self.h = metrics.median_bandwidth(ds.test_raw)
        self.sw2_to_test = metrics.SlicedW2To(ds.test_raw)
        self.clf = None
        if ds.name == "digits":
            self.clf = metrics.DigitsClassifier(ds.train_raw, ds.labels_train, ds.test_raw, ds.labels_test,
                                                cache=classifier_cache)
            self.ref_features = self.clf.features(ds.test_raw)
        rng = np.random.Generator(np.random.PCG64(0))
        train_sub = ds.train_raw[rng.permutation(len(ds.train_raw))[:n_eval]]
        self.floor = self.score(train_sub)
        self.gaussian = self.score(rdata.fit_gaussian(ds.train_raw, n_eval, seed=0))

    def score(self, x, mmd: bool = True) -> dict:
        """{"sw2", "mmd"} (+ "fd", "conf", "is" for digits); NaN where the samples are not finite (or mmd=False)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        finite = bool(np.isfinite(x).all())
        out = {"sw2": float("nan"), "mmd": float("nan")}
        if finite:
            out["sw2"] = self.sw2_to_test(x)  # = metrics.sliced_w2(x, test_raw), the test split's quantiles kept
            if mmd:
                out["mmd"] = self.metrics.mmd(x, self.ds.test_raw, self.h)
        if self.clf is not None:
            s = self.clf.scores(x, self.ref_features) if finite else None
            out.update(fd=s.fd if s else float("nan"), conf=s.confidence if s else float("nan"),
                       is_=s.inception if s else float("nan"))
        return out


# --------------------------------------------------------------------------------------------- reporting


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({'cuda' if torch.cuda.is_available() else 'cpu'}), Python {platform.python_version()}")


_COMMAND = {"script": None, "argv": None}


def set_command(script: str, argv) -> None:
    """Record the script and arguments of this run (for the tables' Command line)."""
    _COMMAND["script"] = script
    _COMMAND["argv"] = list(sys.argv[1:] if argv is None else argv)


def command() -> str:
    script = _COMMAND["script"] or sys.argv[0]
    argv = _COMMAND["argv"] if _COMMAND["argv"] is not None else sys.argv[1:]
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(script, ROOT)] + argv)


def header(title: str, seeds, wall_s: float, extra: str = "") -> list[str]:
    lines = [f"# {title}", "",
             f"Command: `{command()}`  ",
             f"Date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; machine: {machine()}  ",
             f"Seeds: {', '.join(str(s) for s in seeds)}; wall time: {wall_s:.0f} s ({wall_s / 60:.1f} min)"]
    if extra:
        lines += ["", extra]
    return lines + [""]


def fmt(m: float, s: float | None = None, digits: int = 3) -> str:
    if not np.isfinite(m):
        return "diverged"
    if s is None or not np.isfinite(s):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def add_common_args(ap, quick_help: str = "a few minutes"):
    ap.add_argument("--data", default=None, help="a .npy file of shape [n, ...] instead of the built-in sets")
    ap.add_argument("--datasets", default=None, help="comma-separated subset of " + ",".join(DATASETS))
    ap.add_argument("--quick", action="store_true", help=f"a reduced run ({quick_help})")
    ap.add_argument("--smoke", action="store_true", help="a tiny end-to-end run (CI)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="output folder (default benchmarks/results)")
    ap.add_argument("--cache", type=Path, default=CACHE, help="trained-model cache ('none' to disable)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds")
    ap.add_argument("--steps", type=int, default=None, help="training steps")
    return ap


def overrides(args, seeds, steps, models):
    """(seeds, steps, models): a script's defaults with --seeds, --steps and --models applied."""
    if args.seeds:
        seeds = int_list(args.seeds)
    if args.steps:
        steps = args.steps
    if args.models:
        models = args.models.split(",")
    return seeds, steps, models


def sampling_settings(args, seeds, steps, n, nfes, models, datasets):
    """(seeds, steps, n_samples, nfes, models, datasets): a sampling script's defaults with --seeds, --steps,
    --models, --nfe and --n-samples applied."""
    seeds, steps, models = overrides(args, seeds, steps, models)
    if args.nfe:
        nfes = int_list(args.nfe)
    return seeds, steps, (args.n_samples or n), nfes, models, datasets


def unless_chosen(args, datasets, default):
    """``default`` in place of ``datasets`` when neither --data nor --datasets was given."""
    return datasets if args.data or args.datasets else list(default)


def int_list(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]."""
    return [int(v) for v in text.split(",")]


def json_num(v):
    """A float for JSON: None for a missing or non-finite value."""
    return None if v is None or not math.isfinite(v) else float(v)


def datasets_of(args, default=DATASETS) -> list[tuple[str, str | None]]:
    """[(name, path)] of the run: --data file.npy, or --datasets, or the defaults."""
    if args.data:
        return [(Path(args.data).stem, args.data)]
    names = args.datasets.split(",") if args.datasets else list(default)
    return [(n.strip(), None) for n in names if n.strip()]


def cache_of(args):
    return None if str(args.cache).lower() == "none" else args.cache
