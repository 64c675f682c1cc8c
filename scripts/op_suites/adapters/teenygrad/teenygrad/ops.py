"""teenygrad.ops' Device."""

from teenygrad.helpers import Device

__all__ = ["Device"]
