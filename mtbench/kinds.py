"""The plugin kinds, in listing order (torch-free, so the command line can name them cheaply)."""

KINDS: tuple[str, ...] = (
    "dataset",
    "generator",
    "trunk",
    "head",
    "loss",
    "regularizer",
    "weighting",
    "executor",
)
