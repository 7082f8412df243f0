"""Serving input hardening without Ray: bounded ids and times, the body limit on bytes
actually read, and a failing request isolated from the rest of its batch."""

import asyncio
import json
import logging

import pytest
from pydantic import ValidationError

from choirrec.serving.body_limit import BodyLimit
from choirrec.serving.schemas import MAX_ID, MAX_TS, ScoreRequest, ScoreResponse
from choirrec.serving.scorer import Scorer, ScoringError

OK = {"user_id": 1, "candidates": [{"item_id": 1, "category_id": 2}]}


@pytest.mark.parametrize("body, field", [
    ({**OK, "user_id": 2**64}, "user_id"),
    ({**OK, "user_id": MAX_ID + 1}, "user_id"),
    ({**OK, "candidates": [{"item_id": 2**63, "category_id": 1}]}, "item_id"),
    ({**OK, "candidates": [{"item_id": 1, "category_id": 2**63}]}, "category_id"),
    ({**OK, "context": {"ts": 2**70}}, "ts"),
    ({**OK, "context": {"ts": MAX_TS + 1}}, "ts"),
])
def test_ids_and_times_beyond_int64_or_2100_are_a_422_naming_the_field(body, field):
    with pytest.raises(ValidationError) as e:
        ScoreRequest.model_validate(body)
    assert e.value.errors()[0]["loc"][-1] == field


def test_the_largest_valid_values_pass():
    r = ScoreRequest.model_validate({"user_id": MAX_ID, "context": {"ts": MAX_TS},
                                     "candidates": [{"item_id": MAX_ID, "category_id": 0}]})
    assert r.user_id == MAX_ID and r.context.ts == MAX_TS


def test_unknown_candidate_fields_are_dropped_not_stored():
    big = {"item_id": 1, "category_id": 2, "title": "x" * 10_000, "price": 9.9}
    c = ScoreRequest.model_validate({**OK, "candidates": [big]}).candidates[0]
    assert c.model_dump() == {"item_id": 1, "category_id": 2}
    assert not c.__pydantic_extra__


def _call(app, messages, headers=()):
    """Run an ASGI app on one HTTP request; returns (status, body, chunks the app read)."""
    sent, read = [], []
    queue = list(messages)

    async def receive():
        msg = queue.pop(0) if queue else {"type": "http.disconnect"}
        read.append(msg)
        return msg

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "method": "POST", "path": "/v1/score", "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


async def _echo(scope, receive, send):
    """A stand-in app: reads the whole body and answers with its length."""
    size, more = 0, True
    while more:
        msg = await receive()
        size += len(msg.get("body", b""))
        more = msg.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _chunks(n: int, size: int):
    return [{"type": "http.request", "body": b"x" * size, "more_body": i < n - 1}
            for i in range(n)]


def test_a_chunked_body_over_the_limit_is_413_without_reading_the_rest():
    app = BodyLimit(_echo, max_bytes=1 << 20)
    status, body, read = _call(app, _chunks(48, 64 * 1024))  # 3 MiB, no Content-Length
    assert status == 413 and "limit is 1048576" in json.loads(body)["detail"][0]["msg"]
    assert len(read) == 17  # stopped at the first chunk past 1 MiB


def test_a_declared_length_over_the_limit_is_413_before_reading():
    app = BodyLimit(_echo, max_bytes=100)
    status, _, read = _call(app, _chunks(1, 10), headers=[(b"content-length", b"5000")])
    assert status == 413 and read == []


def test_a_body_within_the_limit_reaches_the_app_whole():
    app = BodyLimit(_echo, max_bytes=1 << 20)
    status, body, _ = _call(app, _chunks(15, 64 * 1024))
    assert status == 200 and int(body) == 15 * 64 * 1024


class _Flaky(Scorer):
    """Scores every request 0.5, except that user 13 breaks the model call."""

    def __init__(self):
        self.loaded = None
        self._reasons_logged = set()
        self.calls = 0

    def score(self, requests, now=None):
        self.calls += 1
        if any(r.user_id == 13 for r in requests):
            raise OverflowError("Python int too large to convert to C long")
        return [ScoreResponse(scores=[0.5] * len(r.candidates), model_version="v", group=[],
                              group_source="known", cold_start=False) for r in requests]


def test_one_failing_request_fails_alone_and_is_logged_once(caplog):
    s = _Flaky()
    reqs = [ScoreRequest.model_validate({**OK, "user_id": u}) for u in (1, 13, 2, 13)]
    with caplog.at_level(logging.WARNING, logger="choirrec.serving.scorer"):
        out = s.score_isolated(reqs)
        again = s.score_isolated(reqs[1:2])
    assert [type(o) for o in out] == [ScoreResponse, ScoringError, ScoreResponse, ScoringError]
    assert "OverflowError" in out[1].reason and isinstance(again[0], ScoringError)
    assert sum("could not be scored" in r.message for r in caplog.records) == 1
    assert s.score_isolated(reqs[:1])[0].scores == [0.5] and s.calls == 1 + 4 + 1 + 1
