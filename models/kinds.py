"""The model kinds regrade trains and serves, and the one place their registered names live.

Every command, the service and the demo name a model through `KINDS` (or `GRADER` and `PRICING`):
`KINDS["grader"].registered_name` is "regrade-grader", `.champion_uri` its `@champion` alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KindName = Literal["grader", "pricing"]
CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: what it is called in the registry and in commands.

    Attributes:
        name: The kind, as commands take it (`regrade train grader`).
        registered_name: The registered model's name in MLflow.
        artifact_format: The `format` its artifact metadata carries.
        format_version: The artifact layout version this code writes and reads.
    """

    name: KindName
    registered_name: str
    artifact_format: str
    format_version: int

    def uri(self, alias: str = CHAMPION) -> str:
        """The registry URI of this kind's model under `alias` (`models:/NAME@ALIAS`)."""
        return f"models:/{self.registered_name}@{alias}"

    @property
    def champion_uri(self) -> str:
        """`models:/NAME@champion`: what the service loads by default."""
        return self.uri(CHAMPION)


GRADER = ModelKind("grader", "regrade-grader", "regrade-grader", 1)
PRICING = ModelKind("pricing", "regrade-pricing", "regrade-pricing", 1)
KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (GRADER, PRICING)}
"""Every model kind by name."""


def kind_of(name: str) -> ModelKind:
    """The kind called `name`.

    Raises:
        ValueError: not a model kind, naming the known ones.
    """
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown model kind {name!r}; expected one of {sorted(KINDS)}") from None
