"""goalmatch's tests, one folder per layer of the package (tests/data mirrors goalmatch/data, …).

The folders are packages, so a test file's name may repeat between layers and shared test
helpers import by their full name (``tests.<layer>.<module>``).
"""
