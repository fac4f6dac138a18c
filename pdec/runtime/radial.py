"""Tabulated radial laws of kernels that are positive but not Gaussian scale mixtures.

Runtime code: imports only torch and math; copied verbatim into emitted packages.

In low dimension N a radial kernel q_t(x - y) is sampled through its radial law,

    x = y + rho_t xi / |xi|,   xi ~ N(0, I_N)  (xi / |xi| uniform on the sphere),   rho_t = F_t^{-1}(U),

with U uniform and fixed per path (the quantile coupling), so the conditional velocity is
u = (d rho_t / dt) / rho_t (x - y). :class:`Tabulated` has the interface of the laws of S_t in
laws.py with S_t = rho_t^2 (so the Kernel's coefficient dS/(2 S) = (d rho/dt) / rho) and
``kernel_kind = "radial"``: ``Kernel(law)`` is then a RadialKernel, which normalises xi per sample.

The table (built at compile time by pdec.tabulate) holds, on a grid t_0 < ... < t_{n-1}:

- ``rho[i][j]``: the quantile at level u_j of the law of |x - y| restricted to its continuous part
  (normalised), at t_i;
- ``atom_mass[i]``, ``atom_r[i]``: a point mass of the radial law at the outermost radius (the N = 1
  telegraph kernel's atoms at |x - y| = t), 0 when there is none.

Interpolation: rho at level u_j is geometric in t (log rho linear in log t, exact for self-similar
laws rho_t = t^e rho_1), linear in u between levels; the atom's radius is geometric in t and its log
mass linear in t (exact for an exp(-eps t) front). With w(t) the atom mass,

    rho_t(U) = Q_t(U / (1 - w(t)))  for U < 1 - w(t),   rho_t(U) = r_atom(t)  otherwise,

and d rho_t / dt is the exact t-derivative of this interpolant at fixed U. The sampled process
x_t = y + rho_t(U) xi / |xi| therefore has exactly the velocity it is given: the continuity equation
holds for the interpolated law, whose distance to the true kernel is the tabulation error recorded
in the table (plus the clipped negative mass of a nearly positive kernel).

Range: t is clamped to ``t_range`` = (t_0, t_{n-1}). Outside it the law, its rate and sigma are those
at the nearest end of the table (the rate is the one-sided derivative there), so callers must keep t
inside ``t_range`` (pdec chooses t_min, t_max inside it). sigma_inv clamps the same way.

Alignment: sigma(t)^2 = median(rho_t^2) / median(chi^2_N), the per-coordinate scale of the Gaussian
with the same median radius (for a Gaussian kernel it is its variance per coordinate, so a tabulated
heat kernel gives Deterministic's sigma(t) = sqrt(2 a t)).

Everything is float64 internally and device-agnostic (tables move to t's device once and are cached);
results come back in the floating dtype of the inputs; every random draw takes ``generator``.
"""

from __future__ import annotations

import math

import torch

from .laws import Law, _device_of, _dtype_of, _f64

__all__ = ["Tabulated", "chi2_median", "FORMAT"]

FORMAT = "pdec-radial-table"
_F64 = torch.float64
#: floor under logs of table entries (a zero radius or a zero atom mass)
_TINY = 1e-300
_U_MIN = 2.0 ** -54
_U_MAX = 1.0 - 2.0 ** -53


def chi2_median(N: int) -> float:
    """median of chi^2_N = 2 median(Gamma(N/2, 1)), by bisection on the regularised incomplete gamma."""
    k = torch.tensor([0.5 * N], dtype=_F64)
    lo, hi = 0.0, 0.5 * N + 10.0 * math.sqrt(0.5 * N) + 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(torch.special.gammainc(k, torch.tensor([mid], dtype=_F64))[0]) < 0.5:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-16 * hi:
            break
    return lo + hi  # 2 * (lo + hi) / 2


class Tabulated(Law):
    """A radial law tabulated on a (log t, u) grid; the "S" it returns is rho^2 (see the module docstring).

    ``Tabulated(N, log_t, u, rho, atom_mass=None, atom_r=None, info=None)``: log_t [n_t] increasing,
    u [n_u] increasing from 0 to 1, rho [n_t][n_u] non-decreasing in u, atom_mass/atom_r [n_t].
    Usually built by ``Tabulated.from_dict(d)`` from pdec.tabulate.radial_table's dict.
    """

    self_similar = False
    exponent = None
    #: the kernel kind (kernel.py: RadialKernel, x = y + rho xi/|xi|); ``radial`` is kept for older callers
    kernel_kind = "radial"
    radial = True

    def __init__(self, N, log_t, u, rho, atom_mass=None, atom_r=None, info=None):
        log_t = torch.as_tensor(log_t, dtype=_F64).reshape(-1).cpu()
        u = torch.as_tensor(u, dtype=_F64).reshape(-1).cpu()
        rho = torch.as_tensor(rho, dtype=_F64).cpu()
        n_t, n_u = log_t.numel(), u.numel()
        if int(N) != N or N < 1:
            raise ValueError(f"Tabulated needs a dimension N >= 1, got {N!r}")
        if n_t < 2 or n_u < 2 or tuple(rho.shape) != (n_t, n_u):
            raise ValueError(f"Tabulated needs rho of shape [n_t, n_u] = [{n_t}, {n_u}] (both >= 2), "
                             f"got {tuple(rho.shape)}")
        if not bool((log_t[1:] > log_t[:-1]).all()) or not bool(torch.isfinite(log_t).all()):
            raise ValueError("Tabulated: log_t must be finite and increasing")
        if not (float(u[0]) == 0.0 and float(u[-1]) == 1.0 and bool((u[1:] > u[:-1]).all())):
            raise ValueError("Tabulated: u must increase from 0 to 1")
        if not bool(torch.isfinite(rho).all()) or bool((rho < 0).any()) or bool((rho[:, 1:] < rho[:, :-1]).any()):
            raise ValueError("Tabulated: rho must be finite, >= 0 and non-decreasing in u")
        zeros = torch.zeros(n_t, dtype=_F64)
        atom_mass = zeros if atom_mass is None else torch.as_tensor(atom_mass, dtype=_F64).reshape(-1).cpu()
        atom_r = rho[:, -1].clone() if atom_r is None else torch.as_tensor(atom_r, dtype=_F64).reshape(-1).cpu()
        if atom_mass.numel() != n_t or atom_r.numel() != n_t:
            raise ValueError("Tabulated: atom_mass and atom_r need one entry per t")
        if bool((atom_mass < 0).any()) or bool((atom_mass >= 1).any()):
            raise ValueError("Tabulated: atom masses must lie in [0, 1)")
        self.N = int(N)
        self.n_t, self.n_u = n_t, n_u
        self._cpu = {
            "log_t": log_t, "t": torch.exp(log_t), "u": u, "rho": rho,
            "lR": torch.log(rho.clamp_min(_TINY)),
            "lw": torch.log(atom_mass.clamp_min(_TINY)), "lra": torch.log(atom_r.clamp_min(_TINY)),
            "atom_mass": atom_mass, "atom_r": atom_r,
        }
        self._dev = {}
        self.has_atom = bool((atom_mass > 0).any())
        self._L_lo, self._L_hi = float(log_t[0]), float(log_t[-1])
        #: the times the table covers; t outside is clamped to the nearest end
        self.t_range = (math.exp(self._L_lo), math.exp(self._L_hi))
        self.chi2_median = chi2_median(self.N)
        self.info = dict(info or {})

    # ---- serialisation --------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict) -> Tabulated:
        """Build from pdec.tabulate.radial_table's JSON-serialisable dict."""
        if d.get("format", FORMAT) != FORMAT:
            raise ValueError(f"not a {FORMAT} dict: format={d.get('format')!r}")
        info = {k: v for k, v in d.items() if k not in ("N", "log_t", "u", "rho", "atom_mass", "atom_r")}
        return cls(d["N"], d["log_t"], d["u"], d["rho"], d.get("atom_mass"), d.get("atom_r"), info=info)

    def to_dict(self) -> dict:
        """The table as plain Python lists (JSON-serialisable; from_dict(to_dict()) is the same law)."""
        c = self._cpu
        out = dict(self.info)
        out.update({
            "format": FORMAT, "N": self.N, "log_t": c["log_t"].tolist(), "u": c["u"].tolist(),
            "rho": c["rho"].tolist(), "atom_mass": c["atom_mass"].tolist(), "atom_r": c["atom_r"].tolist(),
        })
        return out

    def __repr__(self):
        lo, hi = self.t_range
        return f"Tabulated(N={self.N}, n_t={self.n_t}, n_u={self.n_u}, t_range=({lo!r}, {hi!r}))"

    # ---- evaluation -----------------------------------------------------------------------------
    def _tables(self, device):
        key = str(device)
        if key not in self._dev:
            self._dev[key] = {k: v.to(device) for k, v in self._cpu.items()}
        return self._dev[key]

    def _cell(self, t):
        """Clamped log t, cell index i, weight a in [0, 1], clamped t, and the tables on t's device."""
        T = self._tables(t.device)
        lt = T["log_t"]
        L = torch.log(t).clamp(self._L_lo, self._L_hi)
        i = (torch.searchsorted(lt, L.contiguous(), right=True) - 1).clamp(0, self.n_t - 2)
        a = (L - lt[i]) / (lt[i + 1] - lt[i])
        return L, i, a, torch.exp(L), T

    def _radius64(self, U, t):
        """(rho_t(U), d rho_t(U)/dt), float64, U and t broadcast."""
        U, t = torch.broadcast_tensors(U, t)
        L, i, a, tc, T = self._cell(t)
        i1 = i + 1
        dLt = (T["log_t"][i1] - T["log_t"][i]) * tc  # d(log t) per unit dt is 1/t
        # atom: log w linear in t, log r_atom linear in log t
        lw0 = T["lw"][i]
        t0 = T["t"][i]
        dlw = (T["lw"][i1] - lw0) / (T["t"][i1] - t0)
        w = torch.exp(lw0 + (tc - t0) * dlw)
        keep = 1.0 - w
        gr = T["lra"][i1] - T["lra"][i]
        ra = torch.exp(T["lra"][i] + a * gr)
        dra = ra * gr / dLt
        # continuous part at level v = U / (1 - w)
        v = (U / keep).clamp(max=1.0)
        dv = v * (w * dlw) / keep
        uu = T["u"]
        j = (torch.searchsorted(uu, v.contiguous(), right=True) - 1).clamp(0, self.n_u - 2)
        j1 = j + 1
        du = uu[j1] - uu[j]
        b = (v - uu[j]) / du
        lR = T["lR"]
        g0, g1 = lR[i, j], lR[i, j1]
        h0, h1 = lR[i1, j] - g0, lR[i1, j1] - g1
        R0 = torch.exp(g0 + a * h0)
        R1 = torch.exp(g1 + a * h1)
        dR0 = R0 * h0 / dLt
        dR1 = R1 * h1 / dLt
        rho = R0 + b * (R1 - R0)
        drho = dR0 + b * (dR1 - dR0) + (R1 - R0) / du * dv
        if self.has_atom:
            in_atom = U >= keep
            rho = torch.where(in_atom, ra, rho)
            drho = torch.where(in_atom, dra, drho)
        return rho, drho

    def _uniform(self, shape, generator, device):
        return torch.rand(shape, generator=generator, dtype=_F64, device=device).clamp_(_U_MIN, _U_MAX)

    # ---- the Law interface (S = rho^2) ------------------------------------------------------------
    def _sample64(self, t, generator):
        rho, _ = self._radius64(self._uniform(t.shape, generator, t.device), t)
        return rho * rho

    def _sample_with_rate64(self, t, generator):
        rho, drho = self._radius64(self._uniform(t.shape, generator, t.device), t)
        return rho * rho, 2.0 * rho * drho

    def _icdf64(self, u, t):
        rho, _ = self._radius64(u, t)
        return rho * rho

    def _median64(self, t):
        rho, _ = self._radius64(torch.full_like(t, 0.5), t)
        return rho * rho

    def _dlog_sigma_dt64(self, t):
        rho, drho = self._radius64(torch.full_like(t, 0.5), t)
        return drho / rho

    def _sigma_inv64(self, sig):
        """t with median(rho_t) = sigma sqrt(median chi^2_N): bisection in log t, then Newton; clamped."""
        target = sig * math.sqrt(self.chi2_median)
        lo = torch.full_like(target, self._L_lo)
        hi = torch.full_like(target, self._L_hi)
        half = torch.full_like(target, 0.5)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            below = self._radius64(half, torch.exp(mid))[0] < target
            lo = torch.where(below, mid, lo)
            hi = torch.where(below, hi, mid)
        L = 0.5 * (lo + hi)
        for _ in range(2):  # Newton in log t inside the final bracket
            tt = torch.exp(L)
            rho, drho = self._radius64(half, tt)
            step = (rho - target) / (tt * drho)
            Ln = L - torch.where(torch.isfinite(step), step, torch.zeros_like(step))
            L = torch.where((Ln >= lo) & (Ln <= hi), Ln, L)
        return torch.exp(L)

    # ---- public API --------------------------------------------------------------------------------
    def radius(self, u, t):
        """(rho_t(u), d rho_t(u)/dt): the radial quantile at level u and its rate (t clamped to t_range)."""
        dev = _device_of(t, u)
        rho, drho = self._radius64(_f64(u, dev), _f64(t, dev))
        dt = _dtype_of(u, t)
        return rho.to(dt), drho.to(dt)

    def cdf(self, s, t):
        """P(S_t <= s) = P(rho_t <= sqrt(s)) of the interpolated law."""
        dev = _device_of(t, s)
        s64, t64 = torch.broadcast_tensors(_f64(s, dev), _f64(t, dev))
        shape = s64.shape
        r = torch.sqrt(s64.clamp_min(0.0)).reshape(-1, 1)
        L, i, a, tc, T = self._cell(t64.reshape(-1))
        R = torch.exp(T["lR"][i] + a.unsqueeze(-1) * (T["lR"][i + 1] - T["lR"][i]))  # [B, n_u]
        j = (torch.searchsorted(R, r.contiguous(), right=True) - 1).clamp(0, self.n_u - 2)
        R0, R1 = R.gather(1, j), R.gather(1, j + 1)
        u0, u1 = T["u"][j], T["u"][j + 1]
        gap = R1 - R0
        frac = torch.where(gap > 0, (r - R0) / torch.where(gap > 0, gap, torch.ones_like(gap)), torch.ones_like(gap))
        F = (u0 + frac.clamp(0.0, 1.0) * (u1 - u0)).squeeze(1)
        F = torch.where(r.squeeze(1) < R[:, 0], torch.zeros_like(F), F)
        if self.has_atom:
            t0 = T["t"][i]
            w = torch.exp(T["lw"][i] + (tc - t0) * (T["lw"][i + 1] - T["lw"][i]) / (T["t"][i + 1] - t0))
            ra = torch.exp(T["lra"][i] + a * (T["lra"][i + 1] - T["lra"][i]))
            F = torch.where(r.squeeze(1) >= ra, torch.ones_like(F), (1.0 - w) * F)
        return F.reshape(shape).to(_dtype_of(s, t))

    def sigma(self, t):
        """sigma(t) = median(rho_t) / sqrt(median chi^2_N)."""
        return (torch.sqrt(self._median64(_f64(t))) / math.sqrt(self.chi2_median)).to(_dtype_of(t))
