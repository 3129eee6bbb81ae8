"""Layer 8, the command line: ``goalmatch <command>``; thin adapters over the library."""

from goalmatch.cli.main import main

__all__ = ["main"]
