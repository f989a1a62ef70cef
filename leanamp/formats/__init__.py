"""Model files: leanamp's own (native) and those real-time plugins load (nam, aidax, agm)."""

from leanamp.formats.native import load_model, save_model

__all__ = ["load_model", "save_model"]
