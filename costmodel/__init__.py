"""costmodel: exact parameter, MAC and memory counts of efficient CNNs, as numbers and closed forms."""

from costmodel.errors import SpecError, UsageError
from costmodel.model import Model, Point, load_model

__all__ = ["Model", "Point", "SpecError", "UsageError", "load_model"]
__version__ = "0.1.0"
