"""Evaluation: FID, KID, IS, precision/recall (through torch-fidelity), intra-class FID and
conditional accuracy, with a cached domain evaluator and the protocol recorded on every row.

Names load lazily, so importing the spec model does not import torch-fidelity.
"""

from importlib import import_module

_WHERE = {
    "Evaluator": "evaluator",
    "balanced_labels": "evaluator",
    "is_better": "evaluator",
    "compute_metrics": "context",
    "conditional_accuracy": "context",
    "DomainRecipe": "spec",
    "EvalSpec": "spec",
    "check_against": "spec",
    "resolve_cache_dir": "spec",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
