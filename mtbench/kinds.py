"""The plugin kinds, torch-free so the command line can name them without importing torch."""

KINDS: tuple[str, ...] = (
    "dataset",
    "generator",
    "trunk",
    "head",
    "loss",
    "regularizer",
    "weighting",
)
