"""The version this package is (one place: the package face and the pages read it)."""

__version__ = "0.1.0"
