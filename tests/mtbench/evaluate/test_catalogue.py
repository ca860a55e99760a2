"""The metric catalogue: one declaration gives spec validation, direction and display order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mtbench.evaluate import EvalSpec, catalogue
from mtbench.evaluate.catalogue import Row
from mtbench.results import headline_metrics, higher_is_better, order_metrics


def test_the_catalogue_is_torch_free():
    code = "import sys, mtbench.evaluate.catalogue as c; c.names(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_families_share_their_facts():
    assert catalogue.rows_of("prc") == ("precision", "recall", "f_score")
    assert catalogue.higher_is_better("accuracy/colour") and not catalogue.higher_is_better("fid")
    assert not catalogue.is_headline("intra_fid/3") and catalogue.is_headline("intra_fid")
    assert catalogue.yields(["accuracy"], "accuracy/shape")
    assert not catalogue.yields(["fid"], "accuracy/shape")


@pytest.fixture
def declared_metric():
    """A metric declared for one test, as a new metric module would declare it."""

    @catalogue.metric("sharpness", (Row("sharpness", True),), reads_real=False)
    def sharpness(ctx):
        return []

    yield "sharpness"
    catalogue._METRICS.pop("sharpness")


def test_one_declaration_reaches_spec_results_and_order(declared_metric):
    spec = EvalSpec(metrics=[declared_metric])
    assert spec.best_metric == declared_metric
    assert higher_is_better(declared_metric)
    assert headline_metrics([declared_metric, "intra_fid/0"]) == [declared_metric]
    assert order_metrics(["intra_fid/0", declared_metric, "fid"])[-1] == "intra_fid/0"


def test_an_unknown_metric_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown metric 'fidd'; choose from fid, kid"):
        EvalSpec(metrics=["fid", "fidd"])


def test_the_frechet_distance_row_names_its_network():
    assert catalogue.fd_row("domain") == catalogue.fd_row("inception-v3-compat") == "fid"
    assert catalogue.fd_row("dinov2-vit-l-14") == "fd_dinov2"
    assert catalogue.fd_row("clip-vit-b-32") == "fd_clip"
    assert catalogue.fd_row("vgg16") == "fd_vgg16"
    assert not catalogue.higher_is_better("fd_dinov2") and catalogue.is_headline("fd_clip")
    assert catalogue.compares_with_real("fd_dinov2")
    assert catalogue.order(["precision", "fd_dinov2", "accuracy"])[0] == "fd_dinov2"  # fid's place
    assert catalogue.computed_rows(["fid", "kid"], "dinov2-vit-s-14") == ["fd_dinov2", "kid"]
