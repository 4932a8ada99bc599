"""engage: community dialogue and survey engagement for city public-safety work."""

__version__ = "0.1.0"
