"""Request and response models of ``POST /v1/score`` (validated; limits name the field)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_CANDIDATES = 1000
MAX_STRING = 2000  # profile text
MAX_ATTRIBUTE = 64  # attribute values
# ids are int64 everywhere (artifacts, the feature store, the model): larger ones cannot
# name anything we hold and would overflow inside the scorer, so they are a 422, not a 500
MAX_ID = 2**63 - 1
# request time: unix seconds from 1970 to 2100-01-01; the feature store keys events by
# (user << 32 | ts offset), so a wild timestamp must be refused, not clipped silently
MAX_TS = 4_102_444_800


class Candidate(BaseModel):
    # other item features (price, title, ...) are accepted and dropped, never stored
    model_config = ConfigDict(extra="ignore")

    item_id: int = Field(ge=0, le=MAX_ID,
                         description="item id; unknown ids score with the OOV embedding")
    category_id: int = Field(ge=0, le=MAX_ID,
                             description="leaf category id; unknown ids map to OOV")


class Context(BaseModel):
    ts: int | None = Field(None, ge=0, le=MAX_TS, description="unix seconds of the request; "
                           "history strictly before it is used (default: now)")


class UserHints(BaseModel):
    """What a client knows about a user the system has never seen (cold start)."""

    profile: str | None = Field(None, max_length=MAX_STRING,
                                description="a semantic profile text of the user")
    gender: str | None = Field(None, max_length=MAX_ATTRIBUTE)
    age_band: str | None = Field(None, max_length=MAX_ATTRIBUTE)
    occupation: str | None = Field(None, max_length=MAX_ATTRIBUTE)
    city_tier: int | None = Field(None, ge=1, le=10)
    consumption_level: int | None = Field(None, ge=1, le=10)


class ScoreRequest(BaseModel):
    user_id: int = Field(ge=0, le=MAX_ID)
    candidates: list[Candidate] = Field(min_length=1, max_length=MAX_CANDIDATES)
    context: Context | None = None
    user: UserHints | None = Field(None, description="attributes/profile for unknown users")


class ScoreResponse(BaseModel):
    scores: list[float] = Field(description="conversion probabilities, in candidate order")
    model_version: str
    group: list[int] = Field(description="the user's group codes g1..gM (-1: unknown level)")
    group_source: str = Field(description="known | profile | attributes | population")
    cold_start: bool
    group_note: str | None = Field(
        None, description="why an unknown user's profile/attributes could not place it in a "
                          "group (the run's embedder cannot run in a scoring replica)")


class ModelInfo(BaseModel):
    version: str
    kind: str
    name: str
    trained_at: str | None
    config: dict
    metrics: dict
    cold_start: dict | None = Field(
        None, description="how unknown users are grouped: the run's embedder, and whether a "
                          "replica can embed their profiles (if not, why)")
