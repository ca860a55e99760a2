"""Evaluation: FID, KID, IS, precision/recall (through torch-fidelity), intra-class FID and
conditional accuracy, with a cached domain evaluator and the protocol recorded on every row."""

from mtbench.evaluate.evaluator import Evaluator, balanced_labels, is_better
from mtbench.evaluate.metrics import compute_metrics, conditional_accuracy, list_valid_metrics
from mtbench.evaluate.spec import DomainRecipe, EvalSpec, check_against, resolve_cache_dir

__all__ = [
    "DomainRecipe",
    "EvalSpec",
    "Evaluator",
    "balanced_labels",
    "check_against",
    "compute_metrics",
    "conditional_accuracy",
    "is_better",
    "list_valid_metrics",
    "resolve_cache_dir",
]
