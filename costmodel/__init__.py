"""costmodel: exact parameter, MAC and memory counts of efficient CNNs, as numbers and closed forms."""

from costmodel.errors import SpecError, UsageError, UserError
from costmodel.loading import load_model
from costmodel.model import Model, Point, PointOptions
from costmodel.version import __version__

__all__ = ["Model", "Point", "PointOptions", "SpecError", "UsageError", "UserError", "__version__", "load_model"]
