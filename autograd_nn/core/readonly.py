"""NumPy's bare "assignment destination is read-only", explained where the library can see it.

A graph keeps an array over 8 KiB that a recorded op's backward will read read-only until the
graph is released (saved.py), rather than copy it; a write into it then fails inside NumPy
with a message that names neither the graph nor the fix. Where the write happens under one of
our calls (a function given to `ag.grad`/`value_and_grad`, a Module's `forward`, the loss
function `autograd-nn` runs), `explained` turns that ValueError into a `ReadOnlyWriteError` (a
ValueError too) that says why and what to do. A write in your own
top-level code (`x.data[0] = 0` between forward and backward) cannot be seen: README's "What it
refuses" documents it.
"""

from __future__ import annotations

NUMPY_MESSAGE = "assignment destination is read-only"

FIX = ("autograd_nn keeps an array over 8 KiB that a live graph's backward will read read-only "
       "until the graph is released, instead of copying it. Write after backward() (which "
       "releases it), write into a copy (x = x.copy()), or rebind the Tensor's array "
       "(p.data = p.data - lr * p.grad) instead of writing into it")


class ReadOnlyWriteError(ValueError):
    """A write into an array that a live graph holds read-only, with the reason and the fix."""


def is_read_only_write(err: BaseException) -> bool:
    """Whether `err` is NumPy's refusal to write into a read-only array, not yet explained."""
    return (type(err) is ValueError and NUMPY_MESSAGE in str(err))


def explained(err: ValueError, where: str = "") -> ReadOnlyWriteError:
    """`err` (NumPy's read-only refusal) with the reason and the fix; raise it `from err`."""
    place = f" in {where}" if where else ""
    return ReadOnlyWriteError(f"{NUMPY_MESSAGE}{place}: the array is most likely held by a live "
                              f"graph. {FIX}")
