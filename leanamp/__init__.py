"""leanamp: small, fast neural models of guitar pedals and amplifiers."""

__version__ = "0.1.0"
