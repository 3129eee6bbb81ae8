"""goalmatch's tests, one folder per layer of the package (tests/data mirrors goalmatch/data, …).

The folders are packages, so a file name may repeat between layers and test code shared by
several files imports by its full name: the toy frameworks and projects from ``tests.toys``,
the review app's browser steps from ``tests.web.helpers``. Shared fixtures are in conftest.py.
"""
