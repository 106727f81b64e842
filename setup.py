"""The compiled modules (`core/flex_days.pyx`, the flexibility's daily search; `core/duos_rows.pyx`,
DUoS charging's per-half-hour pass; `core/feature_rows.pyx`, the load-shape features' passes over
each row); everything else about the package is in pyproject.toml."""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# No fused multiply-adds: each product and sum is rounded on its own, as numpy's are.
FLAGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]

setup(ext_modules=cythonize(
    [Extension(f"bess_duos.core.{name}", [f"core/{name}.pyx"], extra_compile_args=FLAGS)
     for name in ("flex_days", "duos_rows", "feature_rows")],
    compiler_directives={"language_level": "3"},
))
