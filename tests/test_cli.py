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
