"""The one compiled module (`core/flex_days.pyx`, the flexibility's daily search); everything
else about the package is in pyproject.toml."""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# No fused multiply-adds: each product and sum is rounded on its own, as numpy's are.
FLAGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]

setup(ext_modules=cythonize(
    [Extension("bess_duos.core.flex_days", ["core/flex_days.pyx"], extra_compile_args=FLAGS)],
    compiler_directives={"language_level": "3"},
))
