"""locator: a PostGIS registry of Thai government service points."""

__version__ = "0.1.0"
