"""Runtime torch code: copied verbatim into every emitted package (imports only torch, math)."""
