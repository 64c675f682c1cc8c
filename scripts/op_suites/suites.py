"""The three op suites: where each comes from (repository, commit, files) and how it is run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Suite:
    """One suite: its source files at a pinned commit, the tests to run, and its adapter."""

    name: str
    repo: str  # GitHub owner/name
    commit: str
    files: dict[str, str]  # path in the repository -> sha256 of its text at `commit`
    licence: str  # path of the licence file kept next to the vendored files
    tests: tuple[str, ...]  # vendored paths pytest runs
    adapter: str  # directory under adapters/ put first on sys.path
    target: int  # the pass-count target
    env: dict[str, str] = field(default_factory=dict)


SUITES = {
    s.name: s
    for s in (
        Suite(
            name="teenygrad",
            repo="tinygrad/teenygrad",
            commit="b911d3c8d3210593aba0903f36360a38cb045973",
            files={
                "test/test_ops.py":
                    "8a1b1dffe658b57dba914148810e37561b71359213e3253d02570e9a40579f11",
            },
            licence="LICENSE",
            tests=("test/test_ops.py",),
            adapter="teenygrad",
            target=207,
        ),
        Suite(
            name="hips",
            repo="HIPS/autograd",
            commit="bff107b8d71a444a1160deade3e1cbd0b92f4fa6",
            files={
                "tests/test_numpy.py":
                    "b9814e7b09326e20afeb649e9973bdb8c9e16b4509b5e34a290dea775ca9768a",
                "tests/test_systematic.py":
                    "765dc6923c74fd437ce98362532f7b4d80c3fa6865c9ae4411f278454a3ff9f9",
                "tests/test_scalar_ops.py":
                    "3228d6574d2cb587d2fea8ea0a80a063ed3c694015d0492dbc8db1fbd3db2664",
                "tests/test_binary_ops.py":
                    "fceac232e380f1e76f722876a3cd3497365bf8761d98a9941110a808df6ca6a8",
                "tests/numpy_utils.py":
                    "8dbaf858f256ea41afcb8f2ed8281a72fe73ae49f5c0162b41fa154a6f4d7071",
                "tests/conftest.py":
                    "00be50af6d74e18dda075da6b6862ec28a0ffee1486b66bba71e61991e273efa",
                "autograd/test_util.py":
                    "181eae45716578dbaa37c9f71f6f51ce11a43a1ac54ff4bee56415448df0ec40",
                "autograd/wrap_util.py":
                    "8ead6eb653fc72fba301f1ea8f169f1c918009daaefb5a6f0e3bfc398d314696",
                "autograd/util.py":
                    "8a83651a92185be490b1637229d479c728cc0dab17ca75c4a2a2e50a9ab2fe03",
            },
            licence="license.txt",
            tests=("tests/test_numpy.py", "tests/test_systematic.py", "tests/test_scalar_ops.py",
                   "tests/test_binary_ops.py"),
            adapter="hips",
            target=235,
            env={"OP_SUITES_COMPLEX": "1"},
        ),
        Suite(
            name="tinygrad",
            repo="tinygrad/tinygrad",
            commit="a9069c177a9da9cca18593edf55acd2e6073cca6",
            files={
                "test/backend/test_ops.py":
                    "b0b8f94a538c555d3ecc094cc7d001de157805b340671b5efa845d54e0cefaf1",
            },
            licence="LICENSE",
            tests=("test/backend/test_ops.py",),
            adapter="tinygrad",
            target=340,
        ),
    )
}
