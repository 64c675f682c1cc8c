"""A stand-in for HIPS autograd: its differential operators' names mapped onto autograd_nn's.

HIPS's own test helpers (test_util.py, wrap_util.py, util.py, vendored unchanged) are found
through this package's search path; `core` and `numpy` here map names only.
"""

import os

import autograd_nn as _ag

_VENDORED = os.path.join(os.environ["OP_SUITES_VENDOR"], "hips", "autograd")
__path__.append(_VENDORED)  # noqa: F821 - a package's own search path



def grad(fun, argnum=0):  # noqa: ANN001, ANN201 - HIPS's signature
    """HIPS's grad(fun, argnum) is ag.grad(fun, argnums)."""
    return _ag.grad(fun, argnums=argnum)


def value_and_grad(fun, argnum=0):  # noqa: ANN001, ANN201
    return _ag.value_and_grad(fun, argnums=argnum)


def jacobian(fun, argnum=0):  # noqa: ANN001, ANN201
    return _ag.jacobian(fun, argnums=argnum)


def hessian(fun, argnum=0):  # noqa: ANN001, ANN201
    return _ag.hessian(fun, argnums=argnum)



def __getattr__(name: str) -> object:
    from autograd.numpy import MissingName

    raise MissingName(f"autograd_nn has no differential operator for HIPS's `{name}`")
