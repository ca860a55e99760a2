"""The process group as the rest of mtbench sees it: rank, world size, is_main().

A single process is world size 1, never a special case elsewhere. Under ``torchrun`` the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) says where this process stands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

RANK_SEED_STRIDE = 1_000_003  # a prime: rank streams of nearby seeds never coincide


@dataclass(frozen=True)
class Dist:
    """Where this process stands in a job: global rank, number of ranks, rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def is_main(self) -> bool:
        """Whether this process writes files, shows progress and logs (rank 0)."""
        return self.rank == 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Dist:
        """The torchrun environment, or a single process when it is absent."""
        env = os.environ if env is None else env
        return cls(
            int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))
        )


SINGLE = Dist()


def rank_seed(seed: int, rank: int) -> int:
    """The seed of one rank's random streams (data indices, noise, labels, augmentation).

    Rank 0 keeps the spec seed, so a one-process run draws exactly what it always did.
    """
    return seed + rank * RANK_SEED_STRIDE
