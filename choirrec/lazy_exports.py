"""Package-root exports resolved on first use (PEP 562).

``from choirrec.grouping import RQKMeans`` should work, but importing a package root must not
import every module under it: ``choirrec.config`` imports ``choirrec.models.config``, which
would otherwise pull in torch (and, through the bundle code, ``choirrec.config`` itself — an
import cycle); and a light helper such as ``choirrec.profiles.prompt`` should not start
importing Ray.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a public name to the
    module (relative to the package) that defines it."""
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
