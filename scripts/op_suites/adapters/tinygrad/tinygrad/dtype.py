"""tinygrad.dtype's names used by its op tests."""

from tinylike import DType, _to_np_dtype, dtypes

__all__ = ["DType", "_to_np_dtype", "dtypes"]
