"""relaunch: a pure restart-policy engine. Outcomes and durations in; retry, reset, give up or stop out.

The kernel (:mod:`relaunch.kernel`) decides and never acts; adapters (:mod:`relaunch.adapters`)
carry its decisions out against Docker and local processes.
"""

from . import presets
from .kernel import *  # noqa: F403 -- the kernel's names are the package's public surface
from .kernel import __all__ as _kernel_all

__all__ = [*_kernel_all, "presets"]
__version__ = "0.1.0"
