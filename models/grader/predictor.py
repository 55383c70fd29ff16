"""`GraderPredictor`: photos in, one item result out; what serving and evaluation call.

All photos of a batch of items go through the network together (in chunks of `batch_size`);
item results combine their photos by the worst view (maximum severity score and counterfeit
evidence) and keep each photo's own result.

Fail closed: an item with any non-finite output (a corrupted or diverged network gives NaN)
is answered with no probabilities, confidence 0, every grade in its prediction set, the worst
grade, `needs_review` and the counterfeit flag set, and the reason code `NOT_FINITE`; one
WARNING naming the model is logged. `x < threshold` is False for NaN, so without this a NaN
item would pass as a confident, authentic grade A.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models.grader.artifact import GraderArtifact, load_artifact
from models.grader.engine import make_engine
from models.grader.preprocess import normalize, to_uint8, tta_views
from models.kinds import GRADER
from models.routing import NOT_FINITE

DEFAULT_BATCH_SIZE = 64

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CounterfeitResult:
    """Counterfeit evidence for an item: `flagged` when `score > threshold` or not finite.

    Scores are None when the model's output was not a finite number.
    """

    score: float | None
    flagged: bool
    threshold: float
    kind: str
    oneclass_score: float | None


@dataclass(frozen=True)
class PhotoResult:
    """One photo's own grade, probabilities and scores (None, and no probabilities, where the
    model's output was not finite)."""

    index: int
    grade: str
    probabilities: dict[str, float]
    severity: float | None
    counterfeit_score: float | None


@dataclass(frozen=True)
class PhotoMaps:
    """Where the model looked on one photo (both maps cover the whole photo).

    Attributes:
        counterfeit: `[g, g]` distance of each patch to the nearest authentic reference of the
            brand (the photo's one-class score is the largest); high is unlike the references.
        damage: `[S, S]` how strongly each pixel moves the severity score (|gradient x input|,
            summed over channels, lightly smoothed); high is where damage drives the grade.
        counterfeit_scale: The one-class threshold, a natural top of the counterfeit map's scale.
    """

    counterfeit: np.ndarray
    damage: np.ndarray
    counterfeit_scale: float


@dataclass(frozen=True)
class ItemResult:
    """The grader's answer for one item; `reasons` holds `NOT_FINITE` when it failed closed."""

    grade: str
    probabilities: dict[str, float]
    confidence: float
    prediction_set: list[str]
    needs_review: bool
    counterfeit: CounterfeitResult
    photos: list[PhotoResult]
    severity: float | None
    model_name: str
    model_version: str | None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class GraderPredictor:
    """Grades items from their photos with a loaded artifact.

    Args:
        artifact: A loaded grader artifact.
        name: Registered model name reported in results.
        version: Registered model version reported in results.
        batch_size: Photos per forward pass.
        engine: `onnxruntime` (default: same scores, several times faster on a CPU) or `torch`
            (see `models.grader.engine`).
        threads: The engine's threads per call (None: torch's count; see `make_engine`).
    """

    def __init__(
        self,
        artifact: GraderArtifact,
        *,
        name: str = GRADER.registered_name,
        version: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        engine: str = "onnxruntime",
        threads: int | None = None,
    ):
        self.artifact = artifact
        self.name = name
        self.version = version
        self.batch_size = batch_size
        self.net = artifact.net.eval()
        self.engine = engine
        self._run = make_engine(self.net, artifact.preprocess.image_size, engine, threads)
        self._normalize = normalize(artifact.preprocess)

    @classmethod
    def load(
        cls,
        model_dir: Path | str,
        *,
        name: str = GRADER.registered_name,
        version: str | None = None,
        engine: str = "onnxruntime",
        threads: int | None = None,
    ) -> GraderPredictor:
        """Load from an artifact folder alone."""
        artifact = load_artifact(model_dir)
        return cls(artifact, name=name, version=version, engine=engine, threads=threads)

    @property
    def labels(self) -> tuple[str, ...]:
        """Grade letters, best first."""
        return self.artifact.labels

    def to_uint8(self, photo: Image.Image | bytes) -> torch.Tensor:
        """Decode and resize one photo as the model expects, `[3, S, S]` uint8."""
        return to_uint8(photo, self.artifact.preprocess.image_size)

    @torch.inference_mode()
    def photo_outputs(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Raw per-photo outputs for uint8 photos `[N, 3, S, S]`.

        Returns:
            `score` `[N]`, `counterfeit` logit `[N]`, `oneclass` score `[N]` (before brands are
            known this is against the all-brands bank) and `patches` `[N, P, D]` (torch).
        """
        scores, logits, patches = [], [], []
        for chunk in images.split(self.batch_size):
            x = self._normalize(chunk)
            n = len(x)
            views = tta_views(x, self.artifact.tta)
            out = self._run(torch.cat(views))
            score = out["score"].view(len(views), n).mean(dim=0)
            logit = out["counterfeit"].view(len(views), n).mean(dim=0)
            scores.append(score.float())
            logits.append(logit.float())
            patches.append(out["patches"][:n].float())
        return {
            "score": torch.cat(scores).numpy().astype(np.float64),
            "counterfeit": torch.cat(logits).numpy().astype(np.float64),
            "patches": torch.cat(patches),
        }

    def predict_tensors(
        self, images: torch.Tensor, item_index: Sequence[int], brands: Sequence[str | None]
    ) -> list[ItemResult]:
        """Item results for already decoded photos.

        Args:
            images: uint8 photos `[N, 3, S, S]`.
            item_index: The item (0..n_items-1) of each photo.
            brands: The brand of each item (None when unknown).
        """
        art = self.artifact
        outputs = self.photo_outputs(images)
        item_index = np.asarray(item_index, dtype=np.int64)
        photo_brands = [brands[i] for i in item_index]
        oneclass = art.references.score(outputs["patches"], photo_brands)
        photo_probs = art.calibration.probs(outputs["score"])
        photo_grade = art.calibration.grade_index(outputs["score"])
        results = []
        for item in range(len(brands)):
            rows = np.nonzero(item_index == item)[0]
            if len(rows) == 0:
                raise ValueError(f"item {item} has no photos")
            severity = float(outputs["score"][rows].max())
            results.append(
                self._item_result(severity, outputs, oneclass, rows, photo_probs, photo_grade)
            )
        return results

    def _item_result(self, severity, outputs, oneclass, rows, photo_probs, photo_grade):
        art = self.artifact
        cal = art.calibration
        probs = cal.probs(np.array([severity]))[0]
        grade = int(cal.grade_index(np.array([severity]))[0])
        item_oneclass = float(oneclass[rows].max())
        if art.counterfeit.kind == "supervised":
            score = float(_sigmoid(outputs["counterfeit"][rows].max()))
        else:
            score = item_oneclass
        values = np.concatenate(
            [probs, photo_probs[rows].ravel(), outputs["score"][rows], oneclass[rows], [score]]
        )
        if not np.isfinite(values).all():
            return self._failed_closed(outputs, oneclass, rows, photo_probs, photo_grade)
        confidence = float(probs[grade])
        return ItemResult(
            grade=self.labels[grade],
            probabilities=dict(zip(self.labels, map(float, probs), strict=True)),
            confidence=confidence,
            prediction_set=[self.labels[k] for k in cal.prediction_sets(probs[None])[0]],
            needs_review=confidence < cal.review_confidence,
            counterfeit=CounterfeitResult(
                score=score,
                flagged=score > art.counterfeit.threshold,
                threshold=art.counterfeit.threshold,
                kind=art.counterfeit.kind,
                oneclass_score=item_oneclass,
            ),
            photos=self._photo_results(outputs, oneclass, rows, photo_probs, photo_grade),
            severity=severity,
            model_name=self.name,
            model_version=self.version,
        )

    def _photo_results(self, outputs, oneclass, rows, photo_probs, photo_grade):
        """Each photo's own result; a photo with a non-finite output gets no probabilities."""
        photos = []
        for k, r in enumerate(rows):
            ok = np.isfinite(photo_probs[r]).all() and math.isfinite(outputs["score"][r])
            photos.append(
                PhotoResult(
                    index=int(k),
                    grade=self.labels[int(photo_grade[r]) if ok else -1],
                    probabilities=(
                        dict(zip(self.labels, map(float, photo_probs[r]), strict=True))
                        if ok
                        else {}
                    ),
                    severity=_finite(float(outputs["score"][r])),
                    counterfeit_score=_finite(float(oneclass[r])),
                )
            )
        return photos

    def _failed_closed(self, outputs, oneclass, rows, photo_probs, photo_grade) -> ItemResult:
        """The answer for an item whose outputs are not all finite: a person must look."""
        log.warning(
            "grader %s version %s: non-finite model output on an item of %d photo(s); "
            "sent to review and authentication (%s)",
            self.name,
            self.version or "-",
            len(rows),
            NOT_FINITE,
        )
        counterfeit = self.artifact.counterfeit
        return ItemResult(
            grade=self.labels[-1],
            probabilities={},
            confidence=0.0,
            prediction_set=list(self.labels),
            needs_review=True,
            counterfeit=CounterfeitResult(
                score=None,
                flagged=True,
                threshold=counterfeit.threshold,
                kind=counterfeit.kind,
                oneclass_score=None,
            ),
            photos=self._photo_results(outputs, oneclass, rows, photo_probs, photo_grade),
            severity=None,
            model_name=self.name,
            model_version=self.version,
            reasons=[NOT_FINITE],
        )

    def photo_maps(
        self, photos: Sequence[Image.Image | bytes], brand: str | None = None
    ) -> list[PhotoMaps]:
        """Per photo, where the model looked: counterfeit patch distances and a damage map.

        Runs the eager network (not the inference engine) once with gradients, so it is meant
        for a person's review page, on demand, not for the intake path.

        Args:
            photos: Photos of one item (PIL images or encoded bytes).
            brand: The item's brand (picks the reference bank; None: all brands).
        """
        x = self._normalize(torch.stack([self.to_uint8(p) for p in photos])).detach()
        x.requires_grad_(True)
        with torch.enable_grad():  # gradients to the input only, none kept in the weights
            out = self.net(x, with_patches=True)
            (grad,) = torch.autograd.grad(out["score"].sum(), x)
        saliency = (grad * x).abs().sum(dim=1, keepdim=True).detach()  # [N, 1, S, S]
        size = saliency.shape[-1]
        kernel = max(3, (size // 16) | 1)
        damage = F.avg_pool2d(saliency, kernel, stride=1, padding=kernel // 2)[:, 0]
        patches = out["patches"].detach()  # [N, P, D]
        distances = self.artifact.references.distances(patches, brand)
        side = round(patches.shape[1] ** 0.5)
        grid = distances.reshape(len(photos), side, side).numpy()
        scale = float(self.artifact.counterfeit.oneclass_threshold)
        return [
            PhotoMaps(
                counterfeit=grid[i], damage=damage[i].detach().numpy(), counterfeit_scale=scale
            )
            for i in range(len(photos))
        ]

    def predict_items(
        self,
        items: Sequence[Sequence[Image.Image | bytes]],
        metadata: Sequence[Mapping] | None = None,
    ) -> list[ItemResult]:
        """Grade items from their photos.

        Args:
            items: Per item, 1..N photos (PIL images or encoded bytes).
            metadata: Per item, facts such as `brand` (used to pick the reference bank).

        Raises:
            features.images.ImageError: a photo cannot be decoded.
            ValueError: an item has no photos.
        """
        metadata = metadata or [{} for _ in items]
        if len(metadata) != len(items):
            raise ValueError("metadata must have one entry per item")
        tensors, index = [], []
        for i, photos in enumerate(items):
            if not photos:
                raise ValueError(f"item {i} has no photos")
            for photo in photos:
                tensors.append(self.to_uint8(photo))
                index.append(i)
        brands = [m.get("brand") or None for m in metadata]
        return self.predict_tensors(torch.stack(tensors), index, brands)
