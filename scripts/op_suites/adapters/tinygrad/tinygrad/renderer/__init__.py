"""tinygrad.renderer: only the names its op tests import."""
