"""The reference bank's greedy k-center coreset: the farthest patch from those chosen, each step."""

from __future__ import annotations

import torch

from models.grader.counterfeit import coreset


def _greedy(patches: torch.Tensor, size: int, first: int) -> list[int]:
    """Greedy k-center by its definition, with exact distances (slow, for the test)."""
    chosen = [first]
    for _ in range(size - 1):
        nearest = torch.cdist(patches.double(), patches[chosen].double()).min(dim=1).values
        chosen.append(int(torch.argmax(nearest)))
    return chosen


def test_the_coreset_is_the_greedy_k_center_choice():
    patches = torch.randn(600, 32, generator=torch.Generator().manual_seed(3))
    got = coreset(patches, 40, seed=5)
    first = int(torch.randint(600, (1,), generator=torch.Generator().manual_seed(5)))
    assert torch.equal(got, patches[_greedy(patches, 40, first)])


def test_the_coreset_covers_clusters_and_keeps_small_sets_whole():
    centres = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    noise = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    patches = centres.repeat_interleave(100, dim=0) + noise
    nearest_centres = sorted(
        int(torch.cdist(c[None], centres).argmin()) for c in coreset(patches, 3)
    )
    assert nearest_centres == [0, 1, 2]  # one pick in each cluster
    assert torch.equal(coreset(patches[:5], 8), patches[:5])
