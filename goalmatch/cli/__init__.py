"""Layer 8, the command line: ``goalmatch <command>``; thin adapters over the library.

The entry point is :func:`goalmatch.cli.main.main`; it is not imported here, so that
``python -m goalmatch.cli.main`` runs the module once, without runpy's warning.
"""
