"""Extractor weights: a local file, the torch hub cache, or a download only when allowed; a
local file and a download of the same bytes are one extractor identity. No network: the
"download" reads a file:// URL of a randomly initialised network saved here."""

from __future__ import annotations

import pytest
import torch

from mtbench.errors import UserError
from mtbench.evaluate import EvalSpec, weights
from mtbench.evaluate.networks import inception_extractor

NAME = weights.INCEPTION


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """torch-fidelity's Inception-v3, randomly initialised, saved as its state-dict file."""
    import torch_fidelity.feature_extractor_inceptionv3 as inc

    with pytest.MonkeyPatch.context() as m:
        m.setattr(inc, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(inc.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = inc.FeatureExtractorInceptionV3(NAME, ["2048"])
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def test_local_weights_and_allowed_download_are_one_identity(random_inception, hub, monkeypatch):
    monkeypatch.setitem(weights.URLS, NAME, random_inception.as_uri())  # "download" = file copy
    local = inception_extractor(str(weights.resolve(NAME, str(random_inception), False)))
    fetched_path = weights.resolve(NAME, None, allow_download=True)
    assert fetched_path == hub / weights.file_name(NAME) and fetched_path.is_file()
    fetched = inception_extractor(str(fetched_path))
    assert (local.label, local.name, local.hash) == (fetched.label, fetched.name, fetched.hash)
    assert weights.resolve(NAME, None, allow_download=False) == fetched_path  # now cached


def test_without_weights_and_downloads_off_one_line(hub):
    with pytest.raises(UserError, match="downloads are off: give a local weights-inception"):
        weights.resolve(NAME, None, allow_download=False)


def test_offline_download_names_the_network_and_eval_weights(hub, monkeypatch):
    monkeypatch.setitem(weights.URLS, NAME, (hub / "nowhere.pth").as_uri())  # fails like offline
    with pytest.raises(UserError) as got:
        weights.resolve(NAME, None, allow_download=True)
    text = str(got.value)
    assert text.startswith("eval.allow_download: the weights for inception-v3-compat could not")
    assert "give eval.weights" in text and "\n" not in text
    assert not list(hub.glob("*.pth"))  # nothing half-written left


def test_spec_allows_missing_weights_only_with_allow_download(hub):
    with pytest.raises(ValueError, match="set allow_download: true"):
        EvalSpec(feature_extractor=NAME)
    spec = EvalSpec(feature_extractor=NAME, allow_download=True)
    assert spec.weights is None and spec.allow_download


def test_unknown_extractor_lists_the_installed_ones():
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    with pytest.raises(ValueError) as got:
        EvalSpec(feature_extractor="inceptoin")
    text = str(got.value)
    assert "unknown feature extractor 'inceptoin'; installed: domain, " in text
    assert all(name in text for name in FEATURE_EXTRACTORS_REGISTRY if "mtbench" not in name)


def test_a_torch_fidelity_extractor_mtbench_cannot_build_says_so(monkeypatch):
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    monkeypatch.setitem(FEATURE_EXTRACTORS_REGISTRY, "newnet-x", object)  # a future listing
    with pytest.raises(ValueError, match="'newnet-x' is a torch-fidelity extractor mtbench"):
        EvalSpec(feature_extractor="newnet-x")


def test_the_old_field_name_says_it_was_renamed():
    with pytest.raises(ValueError, match="inception_weights is now called weights"):
        EvalSpec(feature_extractor=NAME, inception_weights="/w.pth")


def test_dinov2_spec_needs_its_hub_code_or_allow_download(hub, tmp_path):
    w = tmp_path / "w.pth"
    w.write_bytes(b"x")
    with pytest.raises(ValueError, match="facebookresearch/dinov2 code, not in the torch hub"):
        EvalSpec(feature_extractor="dinov2-vit-s-14", weights=str(w))
    assert EvalSpec(feature_extractor="dinov2-vit-s-14", weights=str(w), allow_download=True)
    (weights.hub_code() / "hubconf.py").parent.mkdir(parents=True)
    (weights.hub_code() / "hubconf.py").write_text("")
    spec = EvalSpec(feature_extractor="dinov2-vit-s-14", weights=str(w), metrics=["fid", "kid"])
    assert spec.best_metric == "fd_dinov2"  # the Fréchet distance's row names its network
    named = EvalSpec(
        feature_extractor="dinov2-vit-s-14", weights=str(w), metrics=["fid"], best_metric="fid"
    )
    assert named.best_metric == "fd_dinov2"
    with pytest.raises(ValueError, match="'fd_clip' is not computed by eval.metrics; choose one"):
        EvalSpec(feature_extractor="dinov2-vit-s-14", weights=str(w), metrics=["fid"],
                 best_metric="fd_clip")  # fmt: skip
