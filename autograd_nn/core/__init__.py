"""The core: the Tensor, the op rows, recording, the reverse walk, what a graph keeps, and the
per-thread modes with the one interface transforms use (`state.Layer`). It imports nothing
outside itself (tests/test_layout.py)."""
