"""Streaming source: seeded, worker-count independent, resumable, same distribution as memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_data import CLASSES, N, small_set

from mtbench.api import DataInfo, TensorData
from mtbench.data import BatchSource
from mtbench.stream import StreamSource


def indices(batch) -> list[int]:
    return ((batch.images["image"][:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def draw(workers: int, steps: int = 6, seed: int = 3, start: int = 0) -> list[list[int]]:
    data, info = small_set()
    src = StreamSource(data, info, torch.device("cpu"), 8, seed, workers=workers)
    src.seek(start)
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(steps):
        b = src.sample(8, gen)
        idx = indices(b)
        assert b.labels.tolist() == [i % CLASSES for i in idx]
        assert b.targets["odd"].tolist() == [i % 2 for i in idx]
        out.append(idx)
    src.close()
    return out


def test_same_seed_same_batches_and_workers_do_not_matter():
    serial = draw(0)
    assert serial == draw(0)
    assert serial == draw(2)
    assert serial != draw(0, seed=4)


def test_seek_continues_the_stream_exactly():
    assert draw(0, steps=6)[4:] == draw(0, steps=2, start=4)


def test_probe_sized_samples_leave_the_stream_untouched():
    data, info = small_set()
    src = StreamSource(data, info, torch.device("cpu"), 8, 3, workers=0)
    gen = torch.Generator().manual_seed(0)
    assert src.sample(2, gen).images["image"].shape == (2, 1, 4, 4)
    assert indices(src.sample(8, gen)) == draw(0, steps=1)[0]


def test_stream_and_memory_draw_the_same_distribution():
    data, info = small_set()
    gen = torch.Generator().manual_seed(1)
    mem = BatchSource(data, info, torch.device("cpu"))
    src = StreamSource(data, info, torch.device("cpu"), 50, 1, workers=0)
    hist = {}
    for name, source in (("memory", mem), ("stream", src)):
        seen = torch.cat([indices_t(source.sample(50, gen)) for _ in range(80)])
        assert set(seen.tolist()) == set(range(N))  # every image reachable
        hist[name] = torch.bincount(seen % CLASSES, minlength=CLASSES).double() / len(seen)
    # 4,000 draws per source: a class share's standard error is about 0.007
    assert torch.allclose(hist["memory"], hist["stream"], atol=0.04)
    assert torch.allclose(
        hist["stream"], torch.full((CLASSES,), 0.25, dtype=torch.double), atol=0.04
    )


def indices_t(batch) -> torch.Tensor:
    return ((batch.images["image"][:, 0, 0, 0] + 1) * 127.5).round().long()


def test_conditions_come_from_the_whole_split():
    data, info = small_set()
    src = StreamSource(data, info, torch.device("cpu"), 8, 0, workers=0)
    gen = torch.Generator().manual_seed(0)
    assert src.fake_labels(5, gen).max() < CLASSES
    assert set(src.sample_conditions(200, gen, ["odd"])["odd"].tolist()) == {0, 1}


def test_reads_a_memory_mapped_array(tmp_path):
    data, info = small_set()
    np.save(tmp_path / "x.npy", data.images.numpy())
    mm = torch.from_numpy(np.load(tmp_path / "x.npy", mmap_mode="c"))
    src = StreamSource(
        TensorData(mm, data.labels, data.targets), info, torch.device("cpu"), 8, 3, 2
    )
    assert indices(src.sample(8, torch.Generator())) == draw(0, steps=1)[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_prefetch_matches_cpu():
    data, info = small_set()
    src = StreamSource(data, info, torch.device("cuda"), 8, 3, workers=2)
    gen = torch.Generator("cuda").manual_seed(0)
    got = [indices(src.sample(8, gen)) for _ in range(6)]
    assert got == draw(0)


def gradient_set() -> tuple[TensorData, DataInfo]:
    """Images whose pixel (row, col) is 10 * col, and a paired image target equal to them."""
    from mtbench.api import TargetInfo

    img = (torch.arange(4, dtype=torch.uint8) * 10).expand(30, 1, 4, 4).contiguous()
    info = DataInfo(1, 4, 0, targets={"twin": TargetInfo("image", shape=(1, 4, 4))})
    return TensorData(img, None, {"twin": img.clone()}), info


def flipped(batch) -> list[bool]:
    x = batch.images["image"]
    assert torch.equal(x, batch.images["twin"])  # pairs flip alike
    return (x[:, 0, 0, 0] > x[:, 0, 0, -1]).tolist()


@pytest.mark.parametrize("kind", ["memory", "stream"])
def test_hflip_is_seeded_and_flips_about_half(kind):
    data, info = gradient_set()

    def run(workers: int) -> list[bool]:
        gen = torch.Generator().manual_seed(5)
        if kind == "memory":
            src = BatchSource(data, info, torch.device("cpu"), flip=True)
        else:
            src = StreamSource(data, info, torch.device("cpu"), 64, 5, workers, flip=True)
        return [f for _ in range(5) for f in flipped(src.sample(64, gen))]

    first = run(0)
    assert first == run(0) and (kind == "memory" or first == run(2))
    assert 0.4 < sum(first) / len(first) < 0.6
    plain = BatchSource(data, info, torch.device("cpu")).sample(64, torch.Generator())
    assert not any(flipped(plain))


def test_ranks_draw_different_streams():
    data, info = small_set()
    draws = []
    for rank in (0, 1):
        src = StreamSource(data, info, torch.device("cpu"), 8, 3, 0, rank=rank, world_size=2)
        draws.append([indices(src.sample(8, torch.Generator())) for _ in range(3)])
    assert draws[0] == draw(0, steps=3) and draws[0] != draws[1]
