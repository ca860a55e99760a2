"""Fixed weighting: each term times its constant weight from the spec, summed."""

from __future__ import annotations

from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PluginConfig, WeightingPlugin


class FixedWeighting(WeightingPlugin):
    """Fixed linear scalarisation, the weighted sum used by AC-GAN (Odena et al. 2017) and
    most multi-task GANs: loss = sum of base[name] * term. Holds no parameters.
    """

    name = "fixed"
    description = "weighted sum of loss terms with the spec's constant weights"

    class Config(PluginConfig):
        """No options."""

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        if not terms:
            raise ValueError("fixed weighting got no loss terms to combine")
        missing = sorted(set(terms) - set(self.base))
        if missing:
            raise KeyError(
                f"fixed weighting has no weight for term(s) {missing}; "
                f"weighted terms are {sorted(self.base)}"
            )
        return sum(self.base[name] * term for name, term in terms.items())

    def current_weights(self) -> dict[str, float]:
        return dict(self.base)


@hookimpl
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    return [FixedWeighting]
