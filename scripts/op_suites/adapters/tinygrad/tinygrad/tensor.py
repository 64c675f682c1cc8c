"""tinygrad.tensor's names used by its op tests."""

from tinylike import Tensor, _to_np_dtype, dtypes

__all__ = ["Tensor", "_to_np_dtype", "dtypes"]
