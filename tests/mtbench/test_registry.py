"""Registry messages read as English: every kind's plural."""

from __future__ import annotations

import pytest

from mtbench.api import KINDS
from mtbench.registry import plural


def test_unknown_loss_lists_installed_losses(registry):
    msg = registry.unknown_message("loss", "hinj")
    assert "installed losses: " in msg and "losss" not in msg
    assert "installed heads: " in registry.unknown_message("head", "advers")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_plural(kind):
    assert plural(kind) in {"datasets", "generators", "trunks", "heads", "losses", "weightings"}
