"""Build hook for the one C module: the fast path of the HTTP head parsers.

Everything else is in pyproject.toml. The module is optional: without a C compiler the
install still succeeds and standby runs on the pure-Python parsers, which give the same
results (tests/http1/test_speedups.py compares them), only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "standby.http1._speedups",
            sources=["src/standby/http1/_speedups.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
