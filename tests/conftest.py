"""Shared test setup."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch intra-op thread per test module: these tests run many small tensor ops, and on a shared
    2-core machine two OpenMP threads make them many times slower. Modules that never import torch pay nothing."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
