"""benchmarks/conditional.py runs end to end (--smoke): rows for every NFE and guidance weight, the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of scripts, not installed


def test_conditional_smoke(tmp_path):
    from benchmarks import conditional

    md = conditional.main(["--smoke", "--out", str(tmp_path), "--cache", "none"])
    data = json.loads((tmp_path / "conditional.json").read_text())
    rows = data["rows"]
    guided = [r for r in rows if r["guidance"] is not None]
    assert {(r["nfe"], r["guidance"]) for r in guided} == {(11, 1.0), (11, 2.0)}
    assert all(0.0 <= r["accuracy"] <= 1.0 and len(r["fd"]) == 10 for r in guided)
    assert any(r["guidance"] is None and r["fd_all"] > 0 for r in rows)  # the unconditional samples, scored
    assert data["meta"]["classifier_accuracy"] > 0.9 and len(data["meta"]["floor"]) == 10
    text = md.read_text()
    assert "Command: `python benchmarks/conditional.py --smoke" in text and "Per-class FD" in text
