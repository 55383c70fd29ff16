"""Helpers for persistence tests: tiny photo bytes, a case to store, row counts."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.store.records import CaseRecord, PhotoInput
from serving.store.writes import Store


def photo_bytes(seed: int = 0, fmt: str = "PNG", size: tuple[int, int] = (32, 24)) -> bytes:
    """A small random image encoded as `fmt` (PNG, JPEG or WEBP)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def item(item_id: str = "u1", **fields: Any) -> dict[str, Any]:
    """Item fields as the intake portal posts them."""
    return {
        "item_id": item_id,
        "category": "phone",
        "brand": "Acme",
        "age_months": 14,
        "new_price": 400.0,
        "acquisition_cost": 40.0,
        "refurb_cost": 15.0,
        "logistics_cost": 10.0,
        "source": "trade_in",
        "benchmark_ebay": 150.0,
        "attr_storage_gb": 128,
        **fields,
    }


def new_case(
    store: Store,
    item_id: str = "u1",
    *,
    kinds: tuple[str, ...] = ("grade_uncertain",),
    photos: int = 2,
    seed: int = 0,
    recommended: float | None = 120.0,
    floor: float | None = 81.25,
    grade: str = "B",
    **fields: Any,
) -> CaseRecord:
    """Store a case as POST /assess would: in review when `kinds`, priced when `recommended`."""
    price = (
        None if recommended is None else {"recommended_price": recommended, "floor_price": floor}
    )
    return store.create_case(
        item(item_id, **fields),
        [PhotoInput(photo_bytes(seed + i), f"p{i}.png", {"grade": grade}) for i in range(photos)],
        {"grade": grade, "confidence": 0.55, "probabilities": {"A": 0.3, "B": 0.55, "C": 0.15}},
        price,
        "review" if kinds else "resell",
        list(kinds) or ["resell_profitable"],
        list(kinds),
        {"grader": "models:/regrade-grader/3", "pricing": "models:/regrade-pricing/2"},
        actor="intake-key",
    )


def count(store: Store, model: type) -> int:
    """Rows in a table."""
    with Session(store.engine) as session:
        return session.scalar(select(func.count()).select_from(model))
