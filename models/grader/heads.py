"""The grader network: backbone, ordinal (cumulative-link) grade head, counterfeit head.

Grades are ordered A > B > C. The grade head maps a photo to one severity score `s`; with
ordered thresholds `t_1 < t_2`, `P(grade worse than k) = sigmoid((s - t_k) / T)`. Decoding picks
the median class, `#{k: s > t_k}`, which is the expected-cost decision for absolute-error cost
and is monotone in `s`: a worse-looking photo can never get a better grade (a calibrated model
may decide at other cut points: `models.grader.calibration`, `decision`). Item scores are the
maximum over views, so one damaged view is enough to lower the grade.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.grader.backbones import create_backbone

N_GRADES = 3
INITIAL_GAP_RAW = 6.0
"""softplus(6.0) ~ 6: the initial distance between neighbouring cut points."""


class OrdinalHead(nn.Module):
    """A linear severity score and `n_classes - 1` ordered thresholds."""

    def __init__(self, in_features: int, n_classes: int = N_GRADES):
        super().__init__()
        self.score = nn.Linear(in_features, 1)
        # cut points start 6 apart so the middle grade can be likely (p up to 0.9) from the start
        self.first = nn.Parameter(torch.full((1,), -3.0))
        self.gaps = nn.Parameter(torch.full((n_classes - 2,), INITIAL_GAP_RAW))

    @torch.no_grad()
    def init_from_prior(self, counts: torch.Tensor) -> None:
        """Place the cut points so that a zero score predicts the training class shares.

        Without this the first epochs go to moving the cut points to the prior, and the scores
        learn the common shift before any difference between photos.
        """
        share = counts.double().clamp_min(1) / counts.double().clamp_min(1).sum()
        worse = 1.0 - torch.cumsum(share, 0)[:-1]  # P(grade worse than k), decreasing
        cuts = -torch.logit(worse.clamp(1e-3, 1 - 1e-3))
        gaps = (cuts[1:] - cuts[:-1]).clamp_min(0.05)
        self.first.copy_(cuts[:1].float())
        self.gaps.copy_(torch.log(torch.expm1(gaps)).float())  # inverse softplus

    def thresholds(self) -> torch.Tensor:
        """Ordered thresholds, shape `[n_classes - 1]`."""
        steps = F.softplus(self.gaps) + 1e-3
        return torch.cat([self.first, self.first + torch.cumsum(steps, 0)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Severity score per row, `[N]`."""
        return self.score(features).squeeze(-1)


def class_probs(
    score: torch.Tensor, thresholds: torch.Tensor, temperature: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """Class probabilities `[N, K]` (best grade first) of the cumulative-link model."""
    worse = torch.sigmoid((score[:, None] - thresholds[None, :]) / temperature)  # [N, K-1]
    ones = torch.ones_like(score)[:, None]
    zeros = torch.zeros_like(score)[:, None]
    upper = torch.cat([ones, worse], dim=1)
    lower = torch.cat([worse, zeros], dim=1)
    return (upper - lower).clamp_min(1e-7)


def ordinal_nll(
    score: torch.Tensor,
    thresholds: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """(Weighted) mean negative log-likelihood of integer targets (0 = best grade)."""
    nll = -torch.log(class_probs(score, thresholds).gather(1, target[:, None])).squeeze(1)
    if weight is None:
        return nll.mean()
    return (nll * weight).sum() / weight.sum()


def decode(score: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Median-class decision: the number of thresholds the score exceeds."""
    return (score[:, None] > thresholds[None, :]).sum(dim=1)


def item_max(values: torch.Tensor, item_index: torch.Tensor, n_items: int) -> torch.Tensor:
    """Maximum of per-photo `values` over each item's photos, `[n_items]`."""
    out = torch.full((n_items,), float("-inf"), dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, item_index, values, reduce="amax", include_self=True)


class GraderNet(nn.Module):
    """Photo -> severity score, counterfeit logit and embeddings.

    Args:
        backbone: Backbone name (see `models.grader.backbones`).
        n_classes: Number of ordered grades.
        pretrained_file: Optional local backbone weights.
    """

    def __init__(
        self, backbone: str, n_classes: int = N_GRADES, pretrained_file: Path | str | None = None
    ):
        super().__init__()
        self.backbone = create_backbone(backbone, pretrained_file=pretrained_file)
        mid, last = self.backbone.feature_info.channels()
        self.embed_dim = 2 * last
        self.patch_dim = mid + last
        self.grade = OrdinalHead(self.embed_dim, n_classes)
        self.counterfeit = nn.Linear(self.embed_dim, 1)
        # training-only auxiliary grade classifier: a K-way signal that shapes the features
        self.aux = nn.Linear(self.embed_dim, n_classes)

    def thresholds(self) -> torch.Tensor:
        """The grade cut points on this network's severity score."""
        return self.grade.thresholds()

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Pooled embedding `[N, 2C]` (mean and max over space: damage is local) and the mid and
        last stages' maps."""
        mid, last = self.backbone(x)
        pooled = torch.cat([last.mean(dim=(2, 3)), last.amax(dim=(2, 3))], dim=1)
        return pooled, (mid, last)

    def forward(self, x: torch.Tensor, *, with_patches: bool = False) -> dict[str, torch.Tensor]:
        """Per-photo outputs from one backbone pass.

        Returns:
            `score` `[N]`, `counterfeit` logit `[N]`, `embedding` `[N, D]`, and with
            `with_patches` also `patches` `[N, P, mid + last]`: PatchCore-style embeddings on the
            mid stage's grid (3x3 local average joined with the upsampled last stage, L2-normed).
        """
        pooled, (mid, last) = self.features(x)
        out = {
            "score": self.grade(pooled),
            "counterfeit": self.counterfeit(pooled).squeeze(-1),
            "embedding": pooled,
        }
        if with_patches:
            mid = F.avg_pool2d(mid, 3, stride=1, padding=1)
            up = F.interpolate(last, size=mid.shape[-2:], mode="bilinear", align_corners=False)
            patch = torch.cat([mid, up], dim=1).flatten(2).transpose(1, 2)
            out["patches"] = F.normalize(patch, dim=-1)
        return out


class GraderEnsemble(nn.Module):
    """Several `GraderNet`s (trained from different seeds) answering as one network.

    Each member's severity is put on a common scale on which its own first and last cut points
    sit at 0 and 1, and the ensemble's severity is the mean of these: monotone in every member's
    score, so a worse-looking photo still never gets a better grade. Counterfeit logits are
    averaged; embeddings and PatchCore patches come from the first member (the one-class
    references are fitted on them).

    Args:
        members: Trained networks of the same backbone.
    """

    def __init__(self, members: list[GraderNet]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def thresholds(self) -> torch.Tensor:
        """Cut points on the common scale: the first at 0, the last at 1, evenly between."""
        n_cuts = len(self.members[0].thresholds())
        return torch.linspace(0.0, 1.0, n_cuts)

    def forward(self, x: torch.Tensor, *, with_patches: bool = False) -> dict[str, torch.Tensor]:
        """Per-photo outputs, as `GraderNet.forward`."""
        scores, logits, first = [], [], None
        for k, member in enumerate(self.members):
            out = member(x, with_patches=with_patches and k == 0)
            cuts = member.thresholds()
            scores.append((out["score"] - cuts[0]) / (cuts[-1] - cuts[0]))
            logits.append(out["counterfeit"])
            first = first if first is not None else out
        result = dict(first)
        result["score"] = torch.stack(scores).mean(dim=0)
        result["counterfeit"] = torch.stack(logits).mean(dim=0)
        return result
