"""One hook per plugin kind. A plugin module implements any of them and returns its classes.

Registered through the ``mtbench`` entry-point group, e.g. in a plugin package's pyproject::

    [project.entry-points.mtbench]
    my_head = "my_package.my_head"
"""

import pluggy

from mtbench.api import (
    DatasetPlugin,
    ExecutorPlugin,
    GeneratorPlugin,
    HeadPlugin,
    LossFamily,
    Regularizer,
    TrunkPlugin,
    WeightingPlugin,
)

hookspec = pluggy.HookspecMarker("mtbench")


@hookspec
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    """Data set plugin classes this module provides.

    A data set with image targets may also override ``DatasetPlugin.derive(images, target)``
    (how a target is made from the primary image), which evaluation's ``consistency`` rows
    read; ``mtbench.contract.check_derived`` checks what it returns before training.
    """


@hookspec
def mtbench_generators() -> list[type[GeneratorPlugin]]:
    """Generator plugin classes this module provides."""


@hookspec
def mtbench_trunks() -> list[type[TrunkPlugin]]:
    """Discriminator trunk plugin classes this module provides."""


@hookspec
def mtbench_heads() -> list[type[HeadPlugin]]:
    """Discriminator head plugin classes this module provides."""


@hookspec
def mtbench_losses() -> list[type[LossFamily]]:
    """Adversarial loss family plugin classes this module provides."""


@hookspec
def mtbench_regularizers() -> list[type[Regularizer]]:
    """Regularizer plugin classes (penalties, augmentations) this module provides."""


@hookspec
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    """Loss weighting plugin classes this module provides."""


@hookspec
def mtbench_executors() -> list[type[ExecutorPlugin]]:
    """Suite executor plugin classes (where a suite's runs execute) this module provides."""


HOOK_OF_KIND = {
    "dataset": "mtbench_datasets",
    "generator": "mtbench_generators",
    "trunk": "mtbench_trunks",
    "head": "mtbench_heads",
    "loss": "mtbench_losses",
    "regularizer": "mtbench_regularizers",
    "weighting": "mtbench_weightings",
    "executor": "mtbench_executors",
}
