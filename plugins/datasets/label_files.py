"""Labels kept beside images: StyleGAN's ``dataset.json`` and a CSV of path, label, targets.

``dataset.json`` is what stylegan2-ada-pytorch's ``dataset_tool.py`` writes
(``{"labels": [["00000/img00000000.png", 6], ...]}`` or ``{"labels": null}``), read as its
``training/dataset.py`` ``ImageFolderDataset`` reads it: every image needs a label.
Difference: only integer class labels (no label vectors). The CSV has a header; its first
column is the image path relative to the data set's root, the second the class label, and
every further column a per-image target (integers or words: a class target over the sorted
distinct values, so CelebA's -1/1 attributes become classes 0/1; other numbers: continuous).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtbench.api import TargetInfo
from mtbench.errors import UserError


@dataclass
class Labels:
    """Class labels per image (0..k-1), their names, and further targets per image."""

    values: np.ndarray
    class_names: tuple[str, ...]
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    target_info: dict[str, TargetInfo] = field(default_factory=dict)


def check_range(values: np.ndarray, where: str, num_classes: int | None) -> None:
    """A UserError for labels below 0 or (when given) not below ``num_classes``."""
    if len(values) and values.min() < 0:
        raise UserError(f"{where}: label {values.min()} is negative; labels are classes 0, 1, ...")
    if num_classes is not None and len(values) and values.max() >= num_classes:
        raise UserError(
            f"{where}: label {values.max()} is out of range for num_classes {num_classes}; "
            "fix the label or raise dataset.num_classes"
        )


def parse_dataset_json(text: str, where: str) -> dict[str, int] | None:
    """File name -> class label from a ``dataset.json`` (None when its labels are null)."""
    try:
        labels = json.loads(text).get("labels")
    except (ValueError, AttributeError) as exc:
        raise UserError(f"{where}: is not a dataset.json ({exc}); fix or remove it") from None
    if labels is None:
        return None
    try:
        out = {str(name).replace("\\", "/"): value for name, value in labels}
    except (TypeError, ValueError):
        raise UserError(
            f"{where}: labels must be a list of [file name, label] pairs, as dataset_tool.py "
            "writes them"
        ) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in out.values()):
        raise UserError(f"{where}: only integer class labels are supported; fix the labels")
    return out


def match_labels(names: list[str], by_name: dict[str, int], where: str) -> np.ndarray:
    """Each image's label; a UserError for labels of missing images or images without one."""
    missing = sorted(set(by_name) - set(names))
    if missing:
        raise UserError(
            f"{where}: names {len(missing)} files that are not in the data set (first: "
            f"{missing[0]}); add them or re-create dataset.json"
        )
    unlabelled = [n for n in names if n not in by_name]
    if unlabelled:
        raise UserError(
            f"{where}: has no label for {len(unlabelled)} images (first: {unlabelled[0]}); "
            "label them or remove them"
        )
    return np.array([by_name[n] for n in names], np.int64)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a label CSV; a UserError when it is unreadable or too narrow."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"dataset.labels_csv: cannot read '{path}' ({exc}); fix the file") from None
    if len(rows) < 2 or len(rows[0]) < 2 or any(len(r) != len(rows[0]) for r in rows):
        raise UserError(
            f"dataset.labels_csv: '{path}' needs a header and rows of the same width: "
            "path, label, further targets"
        )
    return rows[0], rows[1:]


def csv_labels(header: list[str], rows: list[list[str]], where: str) -> Labels:
    """Class labels (second column) and targets (further columns) of a label CSV."""
    values, names = _classes([r[1] for r in rows], where)
    labels = Labels(values, names)
    for j, name in enumerate(header[2:], start=2):
        column = [r[j] for r in rows]
        labels.targets[name], labels.target_info[name] = _target(column)
    return labels


def _classes(column: list[str], where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer labels as they are (classes 0..max); words as classes of their sorted values."""
    try:
        values = np.array([int(v) for v in column], np.int64)
    except ValueError:
        names = tuple(sorted(set(column)))
        index = {n: k for k, n in enumerate(names)}
        return np.array([index[v] for v in column], np.int64), names
    check_range(values, where, None)
    return values, tuple(str(k) for k in range(int(values.max()) + 1))


def _target(column: list[str]) -> tuple[np.ndarray, TargetInfo]:
    """A class target over sorted distinct values (integers, words), or a continuous one."""
    try:
        ints = [int(v) for v in column]
    except ValueError:
        ints = None
    if ints is None:
        try:
            floats = np.array([float(v) for v in column], np.float32)[:, None]
            return floats, TargetInfo("continuous", dim=1)
        except ValueError:
            pass
    keys = ints if ints is not None else column
    distinct = sorted(set(keys))
    index = {v: k for k, v in enumerate(distinct)}
    return np.array([index[v] for v in keys], np.int64), TargetInfo("class", len(distinct))
