"""The package version, in one place (setup.cfg reads it; so does the model manifest)."""

__version__ = "0.1.0"
