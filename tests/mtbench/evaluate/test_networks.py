"""torch-fidelity's standard networks built from weights mtbench loads itself: each from a
small random network saved in that network's own format (no download), features of the
documented width and resize, one identity for a local file and its "download", and a weight
file of the wrong format or shape refused in one line."""

from __future__ import annotations

import pytest
import torch
from feature_nets import (
    TinyVGG,
    dinov2_repo,
    save_clip_torchscript,
    save_dinov2_weights,
)

from mtbench.errors import UserError
from mtbench.evaluate import weights
from mtbench.evaluate.networks import buildable, resolve_extractor, standard_extractor

IMAGES = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)  # grey: repeated to RGB


def features(ext, metric: str = "fid") -> torch.Tensor:
    layer = ext.layer(metric)
    return ext.features(IMAGES, [layer], torch.device("cpu"), batch_size=2)[layer]


@pytest.fixture
def vgg16(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.models, "vgg16", TinyVGG)  # toy width; layout as torchvision
    path = tmp_path / weights.file_name("vgg16")
    torch.save(TinyVGG().state_dict(), path)
    return path


@pytest.fixture
def clip(tmp_path):
    return save_clip_torchscript(tmp_path / weights.file_name("clip-vit-b-32"))


@pytest.fixture
def dinov2(hub, tmp_path):
    repo = dinov2_repo(weights.hub_code())
    return save_dinov2_weights(repo, tmp_path / weights.file_name("dinov2-vit-s-14"))


def test_every_torch_fidelity_network_is_buildable_and_has_a_download_address():
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    listed = [n for n in FEATURE_EXTRACTORS_REGISTRY if not n.startswith("mtbench-")]
    assert sorted(buildable()) == sorted(listed)
    assert all(weights.URLS[n].startswith("https://") for n in listed)
    assert weights.file_name("dinov2-vit-b-14") == "dinov2_vitb14_pretrain.pth"
    assert weights.file_name("vgg16") == "vgg16-397923af.pth"


def test_vgg16_from_torchvision_state_dict(vgg16):
    ext = standard_extractor("vgg16", str(vgg16))
    assert features(ext).shape == (4, 10)  # fc2 (classifier cut after it), relu'd
    assert ext.resize() == "224x224 bilinear-tf1" and ext.label == "vgg16"


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load, as torch-fidelity uses it
def test_clip_from_torchscript_archive_and_from_plain_state_dict_agree(clip, tmp_path):
    archive = standard_extractor("clip-vit-b-32", str(clip))
    plain = tmp_path / "clip-state.pt"
    torch.save(dict(torch.jit.load(str(clip)).state_dict()), plain)
    state = standard_extractor("clip-vit-b-32", str(plain))
    assert archive.resize() == "32x32 bilinear-tf1"  # the archive's own input resolution
    a, b = features(archive), features(state)
    assert a.shape == (4, 8) and torch.allclose(a, b)
    assert archive.hash != state.hash  # identity is the file: different bytes, different rows


def test_dinov2_from_its_hub_code_and_a_data_only_state_dict(dinov2):
    ext = standard_extractor("dinov2-vit-s-14", str(dinov2), weights.hub_code())
    got = features(ext)
    assert got.shape == (4, 6) and torch.isfinite(got).all()
    assert ext.resize() == "224x224 bilinear-tf1"


@pytest.mark.parametrize("name", ["vgg16", "clip-vit-b-32", "dinov2-vit-s-14"])
def test_local_weights_and_an_allowed_download_are_one_identity(
    name, hub, vgg16, clip, dinov2, monkeypatch
):
    local = {"vgg16": vgg16, "clip-vit-b-32": clip, "dinov2-vit-s-14": dinov2}[name]
    monkeypatch.setitem(weights.URLS, name, local.as_uri())  # the "download" is a file copy
    given = resolve_extractor(name, str(local), allow_download=False)
    fetched = resolve_extractor(name, None, allow_download=True)
    assert fetched.weights_path == str(hub / weights.file_name(name))
    assert (given.label, given.name, given.hash) == (fetched.label, fetched.name, fetched.hash)
    assert torch.allclose(features(given), features(fetched))


def test_dinov2_without_its_code_and_downloads_off_is_one_line(tmp_path, hub):
    path = tmp_path / "w.pth"
    torch.save({}, path)
    with pytest.raises(UserError) as got:
        resolve_extractor("dinov2-vit-s-14", str(path), allow_download=False)
    text = str(got.value)
    assert "facebookresearch/dinov2 code" in text and "allow_download" in text
    assert "\n" not in text


@pytest.mark.parametrize("name", ["vgg16", "clip-vit-b-32"])
def test_weights_of_the_wrong_format_or_shape_are_one_line(name, tmp_path, vgg16):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match=r"^eval\.weights: .* is not a plain weights file"):
        standard_extractor(name, str(junk))
    wrong = tmp_path / "wrong.pt"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UserError, match=rf"^eval\.weights: .* does not fit {name} \("):
        standard_extractor(name, str(wrong))
