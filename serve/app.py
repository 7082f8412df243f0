"""The Ray Serve application: a FastAPI ingress deployment that scores in batches.

    serve run serve.app:build run_dir=runs/demo              # local, http://127.0.0.1:8000
    serve deploy serve/config.yaml                            # onto a running cluster

Endpoints: ``POST /v1/score``, ``GET /healthz``, ``GET /v1/model`` (OpenAPI at ``/docs``).
Requests are batched across clients with ``@serve.batch``; a new checkpoint rolls out
through ``reconfigure`` (``user_config.model_uri``) without dropping requests.
"""


import asyncio
import logging
import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve

from choirrec.run_dir import RunDir
from choirrec.serving.body_limit import BodyLimit
from choirrec.serving.schemas import ModelInfo, ScoreRequest, ScoreResponse
from choirrec.serving.scorer import Scorer, ScoringError, load_model, model_uri

log = logging.getLogger("choirrec.serve")
MAX_BODY_BYTES = int(os.environ.get("CHOIRREC_MAX_BODY_BYTES", 1 << 20))

api = FastAPI(title="choirrec", version="1",
              description="ChoirRec CVR scoring: semantic groups for low-activity users.")
api.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES,
                   hint=" (CHOIRREC_MAX_BODY_BYTES): send fewer candidates per request")


@serve.deployment(name="ChoirRec", ray_actor_options={"num_cpus": 0.5},
                  max_ongoing_requests=64)
@serve.ingress(api)
class ChoirRecService:
    """The FastAPI ingress and the batched scorer in one deployment.

    One hop instead of two: on this 2-core machine a separate ingress deployment cost a
    pickle round trip and a second replica's CPU per request (benchmarks/serve_load.py).
    Scale it with ``num_replicas`` / ``autoscaling_config``; the feature lookup is held once
    per replica.
    """

    def __init__(self, run_dir: str):
        # the model comes in through reconfigure(user_config): the same path at start-up and
        # at every hot swap, so a swap never changes the replica's init args (no restart)
        self.run = RunDir(run_dir)
        self.uri: str | None = None
        self.scorer: Scorer | None = None

    async def reconfigure(self, user_config: dict) -> None:
        """Load the model named by ``model_uri`` fully, then swap one reference (in-flight
        batches finish on the old one). The load runs in a thread, so the replica keeps
        answering with the old model meanwhile. Also applies batch size / wait changes."""
        uri = user_config.get("model_uri")
        if not uri:
            raise ValueError("user_config.model_uri is required, e.g. models/choirrec/seed_0")
        if uri != self.uri:
            new = await asyncio.to_thread(lambda: Scorer(load_model(self.run, uri)))
            self.scorer, self.uri = new, uri
            log.info("serving %s", new.loaded.version)
        if "max_batch_size" in user_config:
            self.score_batch.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            self.score_batch.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def score_batch(self, requests: list[ScoreRequest]
                          ) -> list[ScoreResponse | ScoringError]:
        # one result per request: a request that cannot be scored gets its own ScoringError
        # instead of an exception that @serve.batch would hand to every request of the batch
        return self.scorer.score_isolated(requests)

    @api.post("/v1/score", response_model=ScoreResponse,
              responses={500: {"description": "this request could not be scored"}})
    async def score(self, request: ScoreRequest) -> ScoreResponse | JSONResponse:
        result = await self.score_batch(request)
        if isinstance(result, ScoringError):
            return JSONResponse(status_code=500, content={"detail": [{
                "loc": ["body"], "type": "scoring_failed",
                "msg": f"this request could not be scored: {result.reason}"}]})
        return result

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "model_version": self.scorer.loaded.version}

    @api.get("/v1/model", response_model=ModelInfo)
    async def model(self) -> ModelInfo:
        lm = self.scorer.loaded
        return ModelInfo(version=lm.version, kind=lm.spec["kind"], name=lm.spec.get("name", ""),
                         trained_at=lm.spec.get("trained_at"), config=lm.spec["model_config"],
                         metrics=lm.metrics,
                         cold_start=lm.assigner.describe() if lm.assigner else None)


def build(args: dict) -> serve.Application:
    """App builder: ``serve run serve.app:build run_dir=DIR [model=choirrec] [seed=0]
    [max_batch_size=32] [batch_wait_timeout_s=0.005] [num_replicas=1]``."""
    if "run_dir" not in args:
        raise ValueError("serve.app:build needs run_dir=<run directory with a trained model>")
    replicas = int(args.get("num_replicas", 1))
    if replicas < 1:
        raise ValueError(f"num_replicas={replicas}: needs at least 1 replica")
    run_dir = str(args["run_dir"])
    run = RunDir(run_dir if "://" in run_dir else os.path.abspath(run_dir))  # replicas' cwd differs
    seed = int(args["seed"]) if args.get("seed") not in (None, "") else None
    uri = str(args.get("model_uri") or model_uri(run, str(args.get("model", "choirrec")), seed))
    user_config = {"model_uri": uri,
                   "max_batch_size": int(args.get("max_batch_size", 32)),
                   "batch_wait_timeout_s": float(args.get("batch_wait_timeout_s", 0.005))}
    return ChoirRecService.options(user_config=user_config,
                                   num_replicas=replicas).bind(run.uri)
