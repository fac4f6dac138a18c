"""Speed: NFE needed to reach a given quality, the emitted sampler's overhead, kernel, check and generate times.

1. NFE to reach a target SW2 per model (the seeds' "PFGM is 10-20x faster than diffusion" claim, here
   for ODE samplers at equal training): every model of the quality benchmark (trained models shared
   through its cache) is sampled on a ladder of NFE (Euler up to 5, Heun above); the targets are the
   EDM peer's SW2 at NFE 35 times 1.1 and times 2. Reported: the smallest NFE on the ladder that
   reaches each target, and the speed-up against EDM.
2. The emitted sampler's overhead beyond the network at NFE 35 (target <= 5 %): ``pdec generate``
   writes a package (its wall time is measured), and in a subprocess inside that package
   ``sampler.sample(net, n, steps=18, solver="heun")`` is timed against 35 bare calls of the same
   preconditioned network on the same batch (medians, interleaved).
3. Kernel sampling against torch.randn: benchmarks/kernel_speed.py (run as it is, its table written
   to speed_kernel.md beside speed.md).
4. ``pdec check``: benchmarks/check_speed.py (run as it is, speed_check.md); ``pdec generate``: cold
   CLI calls on examples/.

Writes speed.md, speed.json and speed.png.

    python benchmarks/speed.py            # moons and 8gaussians, seed 0, 4000-step models
    python benchmarks/speed.py --quick    # moons, 800-step models
    python benchmarks/speed.py --quick --smoke --out /tmp/s
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common as C  # noqa: E402

LADDER = (3, 5, 7, 9, 11, 15, 21, 35, 51, 75)
TARGETS = (1.1, 2.0)
EXAMPLES = ("diffusion.yaml", "pfgmpp.yaml", "yukawa.yaml", "yukawa_d.yaml", "digits.yaml")

_OVERHEAD_CODE = r"""
import json, os, statistics, sys, time
sys.path.insert(0, os.getcwd())
import torch
torch.set_num_threads(1)
import importlib
pkg = next(d for d in sorted(os.listdir(".")) if os.path.isfile(os.path.join(d, "model.py")))  # the package folder
model, sampler = importlib.import_module(pkg + ".model"), importlib.import_module(pkg + ".sampler")
n, repeats = int(sys.argv[1]), int(sys.argv[2])
net = model.build().eval()
calls = [0]
inner = net.forward
def counted(x, s):
    calls[0] += 1
    return inner(x, s)
net.forward = counted
sigmas, _ = sampler.time_grid(18)
x = sampler.prior(n, generator=torch.Generator().manual_seed(0))
ts, tn = [], []
with torch.no_grad():
    for r in range(repeats + 1):
        calls[0] = 0
        a = time.perf_counter(); sampler.sample(net, n, steps=18, solver="heun"); b = time.perf_counter()
        nfe = calls[0]
        c = time.perf_counter()
        for i in range(nfe):
            inner(x, sigmas[min(i // 2, 17)].to(torch.float32).expand(n))
        d = time.perf_counter()
        if r:
            ts.append(b - a); tn.append(d - c)
print(json.dumps({"nfe": nfe, "sample_s": statistics.median(ts), "net_s": statistics.median(tn)}))
"""


def _tail(text: str) -> str:
    """The last line of a subprocess's stderr (or the exit's lack of one)."""
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "no message (killed?)"


def _cli(name: str) -> list[str]:
    exe = Path(sys.executable).with_name("pdec")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pdec.cli"]


def nfe_to_target(args, datasets, ladder, out_rows):
    cfg = C.TrainConfig(steps=args.steps or (800 if args.quick else 4000), batch=512)
    n = 300 if args.smoke else (2000 if args.quick else 5000)
    models = ["diffusion", "pfgmpp-8", "flow_matching", "edm"] if args.smoke else [
        m.name for m in C.ALL_MODELS if m.name != "wave"]
    if args.smoke:
        cfg = C.TrainConfig(steps=30, batch=512)
    lines = []
    for ds_name, path in datasets:
        ds = C.load_data(ds_name, path)
        scorer = C.Scorer(ds, n_eval=n)
        curves = {}
        for name in models:
            try:
                tr = C.train(C.BY_NAME[name], ds, cfg, 0, cache=C.cache_of(args))
            except C.Unavailable as e:
                lines.append(f"- {name}: not available ({e})")
                continue
            curves[name] = [(k, scorer.score(tr.sample(n, k, 0))["sw2"]) for k in ladder]
            for k, v in curves[name]:
                out_rows.append({"part": "nfe", "dataset": ds.name, "model": name, "nfe": k,
                                 "sw2": v if math.isfinite(v) else None})
        ref = dict(curves.get("edm", []))
        base = ref.get(max(k for k in ladder if k <= 35), math.nan)
        lines += [f"### {ds.name} (floor SW2 {scorer.floor['sw2']:.3f}; EDM at NFE 35: {base:.3f})", "",
                  "| model | " + " | ".join(f"NFE for SW2 <= {f:g} x EDM@35 ({f * base:.3f})" for f in TARGETS)
                  + " | speed-up vs EDM | SW2 at NFE " + ", ".join(str(k) for k in ladder) + " |",
                  "|---|" + "---|" * len(TARGETS) + "---|---|"]
        need_edm = [_first(curves.get("edm", []), f * base) for f in TARGETS]
        for name, curve in curves.items():
            need = [_first(curve, f * base) for f in TARGETS]
            sp = [f"{e / k:.2f}x" if (k and e) else "-" for k, e in zip(need, need_edm)]
            lines.append(f"| {C.BY_NAME[name].label} | " + " | ".join(str(k) if k else f"> {ladder[-1]}" for k in need)
                         + f" | {' / '.join(sp)} | " + ", ".join(C.fmt(v) for _, v in curve) + " |")
        lines.append("")
    return lines


def _first(curve, target):
    for k, v in curve:
        if math.isfinite(v) and v <= target:
            return k
    return None


def emitted_overhead(args, rows):
    """Generate packages (timed) and measure the emitted sampler's overhead at NFE 35."""
    n_list = [256] if args.smoke else [1000, 10000]
    repeats = 1 if args.smoke else 7
    examples = EXAMPLES[:1] if args.smoke else EXAMPLES
    lines = ["| package (examples/) | `pdec generate` wall (s) | batch | NFE | sampler (s) | network alone (s) | "
             "overhead |", "|---|---|---|---|---|---|---|"]
    gen_times = []
    with tempfile.TemporaryDirectory() as tmp:
        for ex in examples:
            cfg = C.ROOT / "examples" / ex
            if not cfg.exists():
                lines.append(f"| {ex} | not in examples/ | | | | | |")
                continue
            pkg = Path(tmp) / ex.replace(".yaml", "")
            a = time.perf_counter()
            r = subprocess.run(_cli("pdec") + ["generate", str(cfg), "-o", str(pkg)], capture_output=True, text=True)
            gen = time.perf_counter() - a
            if r.returncode != 0:
                lines.append(f"| {ex} | failed: {_tail(r.stderr)} | | | | | |")
                continue
            gen_times.append(gen)
            unet = "unet" in cfg.read_text()  # a U-Net on the CPU: a smaller batch keeps this part short
            for n in ([min(n_list)] if unet else n_list):
                n = min(n, 256) if unet else n
                res = subprocess.run([sys.executable, "-c", _OVERHEAD_CODE, str(n), str(repeats)], cwd=pkg,
                                     capture_output=True, text=True)
                if res.returncode != 0:
                    lines.append(f"| {ex} | {gen:.2f} | {n} | failed: {_tail(res.stderr)} | | | |")
                    continue
                m = json.loads(res.stdout.strip().splitlines()[-1])
                ov = m["sample_s"] / m["net_s"] - 1.0
                rows.append({"part": "overhead", "example": ex, "batch": n, "generate_s": gen, **m, "overhead": ov})
                lines.append(f"| {ex} | {gen:.2f} | {n} | {m['nfe']} | {m['sample_s']:.4f} | {m['net_s']:.4f} | "
                             f"{100 * ov:+.1f} % |")
    return lines, gen_times


def run(args) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    datasets = C.datasets_of(args, default=("moons", "8gaussians"))
    if (args.quick or args.smoke) and not args.data and not args.datasets:
        datasets = [("moons", None)]
    ladder = (3, 5, 11) if args.smoke else LADDER
    rows = []
    lines_nfe = nfe_to_target(args, datasets, ladder, rows)
    lines_ov, gen_times = emitted_overhead(args, rows)
    lines_k = _run_script("kernel_speed.py", out / "speed_kernel.md",
                          ["--repeats", "1" if args.smoke else "30"] + (["--dim", "64"] if args.smoke else []))
    lines_c = _run_script("check_speed.py", out / "speed_check.md", ["--repeats", "1" if args.smoke else "5"])
    wall = time.perf_counter() - t0
    lines = C.header("Speed", [0], wall)
    lines += ["## 1. NFE needed to reach a given sliced W2", "",
              "The seeds' claim (PFGM 10-20x faster than diffusion) compares against diffusion *SDE* samplers; "
              "here every model uses the same ODE solver (Euler to NFE 5, Heun above), so the claim's "
              "counterpart is the speed-up column. Targets: the EDM peer's SW2 at NFE 35 times 1.1 and 2; "
              "the smallest NFE of the ladder that reaches it.", ""] + lines_nfe
    lines += ["## 2. The emitted sampler's overhead beyond the network at NFE 35 (target <= 5 %)", "",
              "Untrained networks (timing only): sampler.sample(net, n, steps=18, solver='heun') of the "
              "generated package against the same number of bare calls of its preconditioned network on the "
              "same batch; medians, one thread.", ""] + lines_ov + [""]
    if gen_times:
        lines += [f"`pdec generate` wall time (cold CLI, incl. Python start-up): median "
                  f"{statistics.median(gen_times):.2f} s over {len(gen_times)} examples.", ""]
    lines += ["## 3. Kernel sampling against torch.randn (benchmarks/kernel_speed.py)", ""] + lines_k
    lines += ["## 4. `pdec check` (benchmarks/check_speed.py)", ""] + lines_c
    (out / "speed.json").write_text(json.dumps(rows, indent=1) + "\n")
    _plot(rows, out / "speed.png")
    md = out / "speed.md"
    md.write_text("\n".join(lines) + "\n")
    print(md.read_text())
    return md


def _run_script(script: str, md_out: Path, extra: list[str]) -> list[str]:
    path = C.ROOT / "benchmarks" / script
    if not path.exists():
        return [f"{script} is not in the tree yet: not measured.", ""]
    r = subprocess.run([sys.executable, str(path), "--out", str(md_out)] + extra, capture_output=True, text=True,
                       cwd=C.ROOT)
    if r.returncode != 0:
        return [f"`python benchmarks/{script}` failed: {_tail(r.stderr)}", ""]
    body = md_out.read_text().splitlines()
    table = [ln for ln in body if ln.startswith("|")]
    return [f"Full table: [{md_out.name}]({md_out.name}) (`python benchmarks/{script} {' '.join(extra)}`).", ""] + \
        table + [""]


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nfe_rows = [r for r in rows if r["part"] == "nfe"]
    datasets = list(dict.fromkeys(r["dataset"] for r in nfe_rows))
    if not datasets:
        return
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.8), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for name in dict.fromkeys(r["model"] for r in nfe_rows if r["dataset"] == ds):
            pts = [(r["nfe"], r["sw2"]) for r in nfe_rows if r["dataset"] == ds and r["model"] == name
                   and r["sw2"] is not None]
            spec = C.BY_NAME[name]
            if pts:
                ax.plot(*zip(*pts), "--" if spec.family == "peer" else "-", marker="o", ms=3, label=spec.label,
                        lw=2 if spec.family == "peer" else 1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("NFE")
        ax.set_ylabel("sliced W2")
        ax.set_title(ds)
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    C.set_command(__file__, argv)
    ap = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
