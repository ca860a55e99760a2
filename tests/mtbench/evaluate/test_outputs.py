"""Which outputs evaluation scores, and the one-line problems of a bad eval.outputs choice."""

from __future__ import annotations

import subprocess
import sys

from mtbench.api import DataInfo, TargetInfo
from mtbench.evaluate import EvalSpec, catalogue, check_against
from mtbench.evaluate.outputs import best_problems, select

INFO = DataInfo(
    1,
    28,
    10,
    targets={
        "image_2x": TargetInfo("image", shape=(1, 56, 56)),
        "edges": TargetInfo("image", shape=(1, 28, 28)),
        "colour": TargetInfo("class", num_classes=3),
    },
)
GEN = {"image": (1, 28, 28), "image_2x": (1, 56, 56), "edges": (1, 28, 28)}


def test_outputs_selection_is_torch_free():
    code = "import sys, mtbench.evaluate.outputs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_scores_every_output_with_a_target_of_its_shape():
    assert select(None, INFO, GEN) == (["image_2x", "edges"], [])
    assert select(None, INFO, {"image": (1, 28, 28), "edges": (1, 14, 14)}) == ([], [])
    assert select(None, INFO, None) == ([], [])  # an image-only generator
    assert select([], INFO, GEN) == ([], [])
    assert select(["image", "edges"], INFO, GEN) == (["edges"], [])  # the image: plain rows
    unlabelled = DataInfo(1, 28, 0, targets=INFO.targets)
    assert select(None, unlabelled, GEN) == ([], [])


def test_bad_choices_are_one_line_each():
    _, problems = select(["colour", "depth"], INFO, GEN)
    assert problems == [
        "eval.outputs: 'colour' has no real target in the data set (its image targets: "
        "image_2x, edges); remove it from eval.outputs",
        "eval.outputs: 'depth' has no real target in the data set (its image targets: "
        "image_2x, edges); remove it from eval.outputs",
    ]
    _, problems = select(["edges"], INFO, {"image": (1, 28, 28)})
    assert problems == [
        "eval.outputs: the generator has no output 'edges' (its outputs: image); remove it "
        "or add it to the generator's outputs"
    ]
    _, problems = select(["edges"], INFO, {"image": (1, 28, 28), "edges": (3, 28, 28)})
    assert "output 'edges' has shape (3, 28, 28) but its target has (1, 28, 28)" in problems[0]


def test_spec_validation_needs_no_generator_for_a_missing_target():
    spec = EvalSpec(metrics=["fid"], outputs=["depth"])
    assert check_against(spec, INFO) == [
        "eval.outputs: 'depth' has no real target in the data set (its image targets: "
        "image_2x, edges); remove it from eval.outputs"
    ]


def test_best_metric_must_name_a_scored_output():
    assert best_problems("fid/edges", ["edges"], INFO) == []
    assert best_problems("accuracy/colour", [], INFO) == []  # a class target, not an output
    assert best_problems("intra_fid/3", [], INFO) == []
    assert "names output 'edges'" in best_problems("consistency/edges", ["image_2x"], INFO)[0]
    assert "names output 'edges'" in best_problems("accuracy/edges", [], INFO)[0]


def test_catalogue_knows_the_per_output_rows():
    assert not catalogue.higher_is_better("fid/edges")
    assert not catalogue.higher_is_better("consistency/edges")
    assert catalogue.higher_is_better("consistency_psnr/edges")
    assert catalogue.is_headline("consistency/edges")
    assert not catalogue.is_headline("real_consistency/edges")
    assert catalogue.yields(["consistency"], "consistency_psnr/edges")
    assert EvalSpec(metrics=["consistency", "kid"]).best_metric is None  # per output only
    assert best_problems("consistency", ["edges"], INFO) == [
        "eval.best_metric: 'consistency' exists per output only; name one, e.g. 'consistency/edges'"
    ]
