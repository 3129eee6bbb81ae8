"""Layer 6, batch scoring of backlogs: table readers and writers, scoring with a resumable
journal, Dask partitions, and the portfolio report.
"""
