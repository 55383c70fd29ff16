"""Counterfeit scoring: one-class patch distances to authentic references, and the threshold.

PatchCore-style: patch embeddings of authentic reference photos form a memory bank per brand
(plus one over all brands for unknown or missing brands), thinned by greedy k-center coreset
selection. A photo's one-class score is the largest distance from any of its patches to the
nearest reference patch; an item's is the maximum over its photos. This needs no counterfeit
labels. Where labels exist the network's supervised head gives a second score; `fit_threshold`
sets the flag threshold on held-out authentic items for a target false-positive rate.
"""

from __future__ import annotations

import numpy as np
import torch

ALL_BRANDS = "*"
"""Bank key used for items whose brand has no bank of its own."""

_CHUNK = 4096


def coreset(patches: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Greedy k-center subset of `patches` `[M, D]` with at most `size` rows."""
    if len(patches) <= size:
        return patches.clone()
    gen = torch.Generator().manual_seed(seed)
    first = int(torch.randint(len(patches), (1,), generator=gen))
    chosen = [first]
    squares = (patches * patches).sum(1)  # once: each step is then one matrix-vector product

    def distances(i: int) -> torch.Tensor:  # squared, to every patch (same order as distances)
        return (squares - 2 * (patches @ patches[i]) + squares[i]).clamp_min_(0)

    nearest = distances(first)
    for _ in range(size - 1):
        pick = int(torch.argmax(nearest))
        chosen.append(pick)
        nearest = torch.minimum(nearest, distances(pick))
    return patches[chosen].clone()


class ReferenceBank:
    """Authentic patch embeddings per brand.

    Args:
        banks: brand -> `[M, D]` float tensor; `ALL_BRANDS` covers brands without a bank.
    """

    def __init__(self, banks: dict[str, torch.Tensor]):
        self.banks = banks

    @classmethod
    def fit(
        cls, patches: torch.Tensor, brands: list[str | None], *, size: int, seed: int = 0
    ) -> ReferenceBank:
        """Build banks from reference photos' patches `[N, P, D]` and their brands."""
        flat = patches.reshape(len(patches), -1, patches.shape[-1])
        gen = torch.Generator().manual_seed(seed)
        banks: dict[str, torch.Tensor] = {}
        named = sorted({b for b in brands if b})
        for brand in named:
            rows = [i for i, b in enumerate(brands) if b == brand]
            banks[brand] = coreset(flat[rows].reshape(-1, flat.shape[-1]), size, seed)
        pool = flat.reshape(-1, flat.shape[-1])
        sample = torch.randperm(len(pool), generator=gen)[: 20 * size]
        banks[ALL_BRANDS] = coreset(pool[sample], size, seed)
        return cls(banks)

    def bank_for(self, brand: str | None) -> torch.Tensor:
        """The bank of `brand`, or the all-brands bank."""
        return self.banks.get(brand or ALL_BRANDS, self.banks[ALL_BRANDS])

    def score(self, patches: torch.Tensor, brands: list[str | None]) -> np.ndarray:
        """One-class score per photo: max over patches of the distance to the nearest reference.

        Args:
            patches: `[N, P, D]` patch embeddings.
            brands: The brand of each photo's item (None when unknown).
        """
        scores = np.empty(len(patches), dtype=np.float64)
        for brand in set(brands):
            rows = [i for i, b in enumerate(brands) if b == brand]
            bank = self.bank_for(brand).float()
            flat = patches[rows].float()
            n, p, d = flat.shape
            flat = flat.reshape(-1, d)
            nearest = torch.cat(
                [torch.cdist(chunk, bank).amin(dim=1) for chunk in flat.split(_CHUNK)]
            )
            scores[rows] = nearest.reshape(n, p).amax(dim=1).numpy()
        return scores

    def distances(self, patches: torch.Tensor, brand: str | None) -> torch.Tensor:
        """Per patch, the distance to the nearest reference of `brand` (`score` is their max).

        Args:
            patches: `[N, P, D]` patch embeddings of photos of one brand.

        Returns:
            `[N, P]` distances.
        """
        bank = self.bank_for(brand).float()
        n, p, d = patches.shape
        flat = patches.float().reshape(-1, d)
        nearest = [torch.cdist(chunk, bank).amin(dim=1) for chunk in flat.split(_CHUNK)]
        return torch.cat(nearest).reshape(n, p)

    def tensors(self) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Tensors keyed `bank_<i>` (for safetensors) and the brand name of each index."""
        names = sorted(self.banks)
        return {f"bank_{i}": self.banks[n].half().contiguous() for i, n in enumerate(names)}, names

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], names: list[str]) -> ReferenceBank:
        """Inverse of `tensors`."""
        return cls({n: tensors[f"bank_{i}"].float() for i, n in enumerate(names)})


def fit_threshold(authentic_scores: np.ndarray, target_fpr: float) -> float:
    """Score above which an item is flagged, so that at most `target_fpr` of authentic items are.

    Args:
        authentic_scores: Scores of held-out authentic items.
        target_fpr: Wanted false-positive rate (e.g. 0.02).
    """
    scores = np.sort(np.asarray(authentic_scores, dtype=np.float64))
    if len(scores) == 0:
        return float("inf")
    allowed = int(np.floor(target_fpr * len(scores)))
    return float(scores[len(scores) - 1 - allowed])
