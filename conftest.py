"""Root conftest: pytest collects doctests from every module of the package
(``--doctest-modules`` over ``goalmatch/``); the web app's modules need the ``web``
extra, so they are not collected where it is not installed."""

import importlib.util

_WEB_DEPS = ("fastapi", "jinja2", "sqlalchemy", "itsdangerous", "multipart")

collect_ignore_glob = [] if all(importlib.util.find_spec(m) for m in _WEB_DEPS) else ["goalmatch/web/*"]
