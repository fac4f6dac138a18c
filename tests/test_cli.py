"""The command line: output for people and for programs, one-line errors with exit code 2, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pdec.cli import main

run = CliRunner().invoke


def test_check_text_report_names_every_stage():
    r = run(main, ["check", "phi_tt + lap(phi) - m**2*phi", "--param", "m=1"])
    assert r.exit_code == 0, r.output
    for label in ("PDE", "dispersion", "C1", "C2", "flow", "kernel", "green", "verdict"):
        assert label in r.output
    assert "InverseGaussian" in r.output and "R = -phi" in r.output and "normalised kernel" in r.output


def test_check_json_is_the_contract():
    r = run(main, ["check", "phi_tt + 2*eps*phi_t - lap(phi)", "--param", "eps=4", "--json"])
    assert r.exit_code == 0, r.output
    j = json.loads(r.output)
    assert j["params"] == {"eps": 4}
    assert j["c1"]["verdict"] == "conditional" and j["c2"]["verdict"] == "yes"
    assert j["s_generative"] == "conditional"


def test_check_fractional_in_dimension_two():
    r = run(main, ["check", "phi_t + fraclap(phi, beta)", "--param", "beta=0.5", "--dim", "2", "--json"])
    j = json.loads(r.output)
    assert j["dim"] == 2 and j["s_generative"] == "yes" and j["kernel"]["law"].startswith("InverseGamma")
    assert j["green"]["real"] is not None


@pytest.mark.parametrize("args", [
    ["check", "phi_t + phi**2"],
    ["check", "__import__('os').system('true')"],
    ["check", "phi.__class__"],
    ["check", "phi_t - lap(phi)", "--param", "m=1"],
    ["check", "phi_tt + lap(phi) - m**2*phi", "--param", "m=-1"],
    ["check", "phi_tt + lap(phi) - m**2*phi", "--param", "m"],
    ["check", "sin(phi)"],
    ["check", "(" * 100000 + "phi" + ")" * 100000],
    ["check", ""],
])
def test_bad_input_is_one_line_and_exit_code_2(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pdec: error:"), r.output


def test_console_script_exit_code_and_no_torch_import():
    """`pdec check` must not import torch (about a second); exit code 2 through the real entry point."""
    code = (
        "import sys\n"
        "from pdec.cli import main\n"
        "try:\n"
        "    main(['check', 'phi_t - lap(phi)'], standalone_mode=False)\n"
        "finally:\n"
        "    assert 'torch' not in sys.modules, 'pdec check imported torch'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    bad = subprocess.run([sys.executable, "-m", "pdec.cli", "check", "phi_t + phi*phi_t"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nonlinear" in bad.stderr


# ---- how the PDE is given: a leading minus, standard input, a file
MINUS = "-phi_t + lap(phi)"


@pytest.mark.parametrize("args", [
    ["check", MINUS],
    ["check", MINUS, "--json"],
    ["check", "--json", MINUS],
    ["check", "--", MINUS, ],
    ["check", "-phi_t+lap(phi)"],
    ["check", "-phi_tt - 2*eps*phi_t + lap(phi)", "-p", "eps=2"],
    ["check", "-phi_tt - 2*eps*phi_t + lap(phi)", "-peps=2"],
    ["check", "-phi_tt - 2*eps*phi_t + lap(phi)", "--param=eps=2"],
])
def test_a_leading_minus_is_the_pde(args):
    r = run(main, args)
    assert r.exit_code == 0, r.output
    assert "-phi_t" in r.output and ("eps" not in args[1] or "eps=2" in r.output or '"eps": 2' in r.output)


def test_a_leading_minus_through_the_console_script():
    import shutil

    exe = shutil.which("pdec")
    if exe is None:
        pytest.skip("the pdec console script is not installed")
    for args in ([MINUS, "--json"], ["--json", "--", MINUS]):
        out = subprocess.run([exe, "check", *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        j = json.loads(out.stdout)
        assert j["pde"] == MINUS and j["c2"]["verdict"] == "yes" and j["order_t"] == 1
    # standard input through the real command, and a one-line error for an empty one
    out = subprocess.run([exe, "check", "-", "--json"], input=MINUS + "\n", capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["pde"] == MINUS, out.stderr
    out = subprocess.run([exe, "check", "-"], input="  \n", capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "empty" in out.stderr


def test_stdin_and_files(tmp_path):
    f = tmp_path / "pde.txt"
    f.write_text("phi_tt + 2*eps*phi_t\n  - lap(phi)\n")
    for args, stdin in ((["check", "-", "--json"], f.read_text()), (["check", f"@{f}", "--json"], None),
                        (["check", "--file", str(f), "--json"], None), (["check", "-f", "-", "--json"], f.read_text())):
        r = CliRunner().invoke(main, args, input=stdin)
        assert r.exit_code == 0, (args, r.output)
        assert json.loads(r.output)["pde"] == "phi_tt + 2*eps*phi_t - lap(phi)"


@pytest.mark.parametrize("args,stdin,words", [
    (["check", "@/no/such/file"], None, "No such file"),
    (["check", "--file", "/no/such/file"], None, "No such file"),
    (["check", "-"], "", "empty"),
    (["check", "-"], " \n\t\n", "empty"),
    (["check", "-"], "phi_t + " * 3000, "too long"),
    (["check", "@"], None, "file name"),
    (["check"], None, "no PDE given"),
    (["check", "phi_t", "--file", "x"], None, "not both"),
    (["check", "phi_t - lap(psi)"], None, "psi"),
    (["check", "u_t - lap(u)"], None, "u_t"),
])
def test_input_errors_are_one_line(args, stdin, words, tmp_path):
    r = CliRunner().invoke(main, args, input=stdin)
    assert r.exit_code == 2, (r.output, r.exception)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pdec: error:") and words in lines[0], r.output


def test_binary_file_is_refused(tmp_path):
    f = tmp_path / "bin"
    f.write_bytes(b"\xff\xfe\x00phi")
    r = CliRunner().invoke(main, ["check", f"@{f}"])
    assert r.exit_code == 2 and "not text" in r.output
