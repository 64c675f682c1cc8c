"""teenygrad.helpers' names the op tests read: environment flags and the device description."""

import contextlib
import os
from types import SimpleNamespace
from typing import Any

from tinylike import dtypes


def getenv(key: str, default: Any = 0) -> Any:
    return type(default)(os.getenv(key, default))


DEBUG = getenv("DEBUG")
IMAGE = 0
CI = 1  # quiet: the suites print timing lines unless CI is set
DEV = SimpleNamespace(interface="", renderer="", device="CPU")


@contextlib.contextmanager
def Context(**kwargs: Any) -> Any:  # noqa: N802 - tinygrad's name
    yield


class _Renderer:
    @staticmethod
    def supported_dtypes() -> list:
        return [dtypes.bool, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8,
                dtypes.uint16, dtypes.uint32, dtypes.uint64, dtypes.float32, dtypes.float64]


class _Device:
    DEFAULT = "CPU"

    def __getitem__(self, name: str) -> Any:
        return SimpleNamespace(renderer=_Renderer())

    def canonicalize(self, name: Any) -> str:
        return "CPU"


Device = _Device()
