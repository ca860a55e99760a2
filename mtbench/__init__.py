"""mtbench: a plugin registry and benchmark suite for multi-task conditional GANs."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("mtbench")
"""Mark a plugin module's hook functions with this (as pytest plugins use ``pytest.hookimpl``)."""

__all__ = ["__version__", "hookimpl"]
