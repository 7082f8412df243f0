"""Batched online scoring: many requests -> one feature join -> one model call.

``Scorer.score`` is what the Serve deployment calls with a ``@serve.batch`` list of requests;
it is plain Python/torch, so its scores can be checked against the offline model directly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from choirrec.features.loader import uses_negatives
from choirrec.models.bundle import feature_run_dir, read_bundle
from choirrec.run_dir import RunDir
from choirrec.schema import USER_ATTRIBUTES
from choirrec.serving.cold_start import ATTRIBUTE_FIELDS, GroupAssigner
from choirrec.serving.lookup import FeatureLookup, GroupRow, RunDirLookup
from choirrec.serving.schemas import ScoreRequest, ScoreResponse

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: torch.nn.Module
    spec: dict
    version: str
    lookup: FeatureLookup
    assigner: GroupAssigner | None
    metrics: dict


def model_uri(run: RunDir, name: str = "choirrec", seed: int | None = None) -> str:
    """``models/<name>/seed_<s>`` inside the run (lowest committed seed by default)."""
    if seed is None:
        from choirrec.models.bundle import trained_models

        seeds = trained_models(run).get(name)
        if not seeds:
            raise FileNotFoundError(f"{run.uri}: no trained model '{name}'. Fix: python -m "
                                    f"pipelines.train --run-dir {run.uri} --model {name}")
        seed = min(seeds)
    return f"models/{name}/seed_{seed}"


def load_model(run: RunDir, uri: str, lookup: FeatureLookup | None = None,
               assigner: GroupAssigner | None = None) -> LoadedModel:
    """Load ``uri`` (relative to the run: ``models/<name>/seed_<s>``) with its features."""
    m = run.require(uri, f"train it first (python -m pipelines.train --run-dir {run.uri})")
    model, spec = read_bundle(run.fs, run.path(uri))
    frun = feature_run_dir(run, spec)
    uses_priors = bool(spec.get("uses_priors", True))
    if lookup is None:  # the Cold-Transformer baseline also reads clicked-not-bought items
        lookup = RunDirLookup(frun, int(spec["train_config"]["hist_len"]), uses_priors,
                              with_negatives=uses_negatives(spec["kind"]))
    if assigner is None and uses_priors and frun.manifest("groups") is not None:
        assigner = GroupAssigner(frun)
        assigner.warm()
    metrics = {}
    name = spec.get("name", uri.split("/")[1])
    if run.manifest(f"eval/{name}") is not None:
        full = run.read_json("eval", name, "metrics.json")
        metrics = {k: v for k, v in full.items() if isinstance(v, (int, float, str))}
    version = f"{name}/seed_{spec.get('seed')}@{m['fingerprint'][:12]}"
    return LoadedModel(model, spec, version, lookup, assigner if uses_priors else None, metrics)


@dataclass(frozen=True)
class ScoringError:
    """A request of a batch that could not be scored; the batch's other requests were."""

    reason: str


class Scorer:
    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self._reasons_logged: set[str] = set()

    def score_isolated(self, requests: list[ScoreRequest], now: int | None = None
                       ) -> list[ScoreResponse | ScoringError]:
        """Score a batch; if it fails, score its requests one by one, so a request that cannot
        be scored fails alone instead of failing every request batched with it."""
        try:
            return self.score(requests, now)
        except Exception as err:  # noqa: BLE001 - any failure is isolated to its request
            if len(requests) == 1:
                return [self._failed(err)]
        out: list[ScoreResponse | ScoringError] = []
        for req in requests:
            try:
                out.append(self.score([req], now)[0])
            except Exception as err:  # noqa: BLE001
                out.append(self._failed(err))
        return out

    def _failed(self, err: Exception) -> ScoringError:
        reason = f"{type(err).__name__}: {err}"[:300]
        if reason not in self._reasons_logged and len(self._reasons_logged) < 100:
            self._reasons_logged.add(reason)  # each distinct reason is logged once
            log.warning("a request could not be scored (%s); it alone was failed",
                        reason, exc_info=err)
        return ScoringError(reason)

    def _cold(self, req: ScoreRequest, b: dict[str, np.ndarray]
              ) -> tuple[GroupRow, str, str | None]:
        """Fill an unknown user's attributes, group features and fill rate in ``b``."""
        lk = self.loaded.lookup
        hints = req.user.model_dump() if req.user else {}
        attrs = {k: hints.get(k) for k in ATTRIBUTE_FIELDS}
        own = lk.attribute_codes(attrs)
        codes, source, note = (None, "population", None)
        if self.loaded.assigner is not None:
            codes, source, note = self.loaded.assigner.codes(hints.get("profile"), attrs)
        group = lk.population_group() if codes is None else lk.group_for_codes(codes)
        if self.loaded.assigner is not None:  # attribute completion, as in training
            own = np.where(own == 0, group.attrs, own)
        b["user_attrs"][:] = own
        fill = sum(v is not None for v in attrs.values()) / len(USER_ATTRIBUTES)
        b["activity"][:, 2] = b["activity_static"][:, 2] = fill
        b["group_codes"][:] = group.codes
        b["group_attrs"][:] = group.attrs
        b["group_seq_items"][:] = group.seq_items
        b["group_seq_cats"][:] = group.seq_cats
        return group, source, note

    def score(self, requests: list[ScoreRequest], now: int | None = None
              ) -> list[ScoreResponse]:
        lm = self.loaded  # one reference for the whole batch: a concurrent swap is atomic
        now = int(time.time()) if now is None else now
        parts, meta = [], []
        for req in requests:
            ts = req.context.ts if req.context and req.context.ts is not None else now
            items = np.array([c.item_id for c in req.candidates], np.int64)
            cats = np.array([c.category_id for c in req.candidates], np.int64)
            b = lm.lookup.batch(req.user_id, items, cats, ts)
            if lm.lookup.is_known(req.user_id):
                meta.append((b["group_codes"][0].tolist(), "known", False, None))
            else:
                group, source, note = self._cold(req, b)
                meta.append((group.codes.tolist(), source, True, note))
            parts.append(b)
        batch = {k: torch.from_numpy(np.ascontiguousarray(np.concatenate([p[k] for p in parts])))
                 for k in parts[0]}
        with torch.no_grad():
            scores = torch.sigmoid(lm.model(batch)["logit"]).numpy().astype(np.float64)
        out, start = [], 0
        for req, (group, source, cold, note) in zip(requests, meta, strict=True):
            n = len(req.candidates)
            out.append(ScoreResponse(scores=scores[start:start + n].tolist(),
                                     model_version=lm.version, group=[int(g) for g in group],
                                     group_source=source, cold_start=cold, group_note=note))
            start += n
        return out
