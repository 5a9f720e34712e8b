"""relaunch: a pure restart-policy engine. Outcomes and durations in; retry, reset, give up or stop out.

The kernel (:mod:`relaunch.kernel`) decides and never acts; adapters (:mod:`relaunch.adapters`)
carry its decisions out against Docker and local processes.

The kernel's names are this package's public surface, loaded on first use (PEP 562): importing
a submodule imports this package first, and ``relaunch ctl`` (a socket round trip) should not
pay the kernel's and the presets' import, about 90 ms here, for names it never uses; nor
``typing``'s, about 9 ms (hence ``TYPE_CHECKING`` defined here, which mypy reads as typing's).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from . import presets as presets
    from .kernel import *  # noqa: F403 -- the kernel's names are the package's public surface

__version__ = "0.1.0"


def _kernel_names() -> list[str]:
    from .kernel import __all__ as kernel_all

    return [*kernel_all, "presets"]


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return _kernel_names()
    if name == "presets":
        return importlib.import_module(".presets", __name__)
    kernel = importlib.import_module(".kernel", __name__)
    if name in kernel.__all__:
        value = getattr(kernel, name)
        globals()[name] = value  # later lookups find it without coming here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_kernel_names()})
