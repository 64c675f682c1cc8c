"""tinygrad.renderer.nir: a class the tests check `isinstance` against (never our renderer)."""


class NIRRenderer:
    """Never instantiated: autograd_nn runs on NumPy."""
