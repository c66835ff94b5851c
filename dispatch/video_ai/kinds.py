"""The video-AI detection kinds as data: ``kinds.yaml`` beside this module (or ``CITYOPS_VIDEO_AI_KINDS``),
checked with pydantic — unique snake_case codes, a category code, a minimum confidence in [0, 1] and a
debounce window of 1 minute to 1 day (default 10 minutes). Pure: no database."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The kinds file shipped with CityOps.
KINDS_FILE = Path(__file__).with_name("kinds.yaml")
DEFAULT_WINDOW_MINUTES = 10


class KindSpec(BaseModel):
    """One detection kind: what it is called, the category its incidents take, the minimum confidence to
    file one and the debounce window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=16)
    min_confidence: float = Field(ge=0, le=1)
    window_minutes: int = Field(default=DEFAULT_WINDOW_MINUTES, ge=1, le=1440)


class KindsFile(BaseModel):
    """The whole file: a list of kinds with unique codes."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[KindSpec] = Field(min_length=1)

    @field_validator("kinds")
    @classmethod
    def _unique(cls, kinds: list[KindSpec]) -> list[KindSpec]:
        codes = [kind.code for kind in kinds]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"kind codes must be unique: {', '.join(repeated)}")
        return kinds


def parse_kinds(text: str) -> dict[str, KindSpec]:
    """The kinds of a YAML document, by code (``pydantic.ValidationError`` or ``yaml.YAMLError`` when wrong)."""
    return {kind.code: kind for kind in KindsFile.model_validate(yaml.safe_load(text)).kinds}


@lru_cache(maxsize=4)
def load_kinds(path: str | None = None) -> dict[str, KindSpec]:
    """The detection kinds of ``path`` (default ``CITYOPS_VIDEO_AI_KINDS`` or the shipped ``kinds.yaml``)."""
    chosen = Path(path or os.environ.get("CITYOPS_VIDEO_AI_KINDS") or KINDS_FILE)
    return parse_kinds(chosen.read_text(encoding="utf-8"))
