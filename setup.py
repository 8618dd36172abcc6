"""Build configuration beyond pyproject.toml: the optional C speedups.

``optional=True``: where the extension cannot be compiled (no C compiler), the build goes on
without it and seamless_core uses its pure-Python equivalents (see seamless_core/_native.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "seamless_core._speedups",
            sources=["seamless_core/_speedups.c"],
            optional=True,
        )
    ]
)
