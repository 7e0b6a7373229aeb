"""costmodel: exact parameter, MAC and memory counts of efficient CNNs, as numbers and closed forms."""

from costmodel.errors import SpecError, UsageError, UserError
from costmodel.loading import load_model
from costmodel.model import Model, Point, PointOptions

__all__ = ["Model", "Point", "PointOptions", "SpecError", "UsageError", "UserError", "load_model"]
__version__ = "0.1.0"
