"""Groups for users the system has never seen (§4.2.2 applied online).

A profile text in the request — or, failing that, one rendered from the attributes in the
request by the template renderer, with the interests the run's profiles inferred for
attribute-only users (the interest prior saved next to the profiles) — is embedded with the
run's embedder and encoded with the saved RQ-KMeans codebooks, exactly as the offline users
were. If the run's embedder cannot
embed text (the behavioural embedder needs a purchase history) or nothing is supplied, the
population prior is used. Never raises for a missing hint: that is a normal cold start.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import numpy as np
import pyarrow.fs as pafs

from choirrec.grouping.rq_kmeans import RQKMeans
from choirrec.profiles.interest_prior import INTEREST_PRIOR_FILE, InterestPrior
from choirrec.profiles.template import render
from choirrec.run_dir import RunDir

log = logging.getLogger(__name__)
ATTRIBUTE_FIELDS = ("gender", "age_band", "occupation", "city_tier", "consumption_level")
# (embedder, model) pairs a replica can run on the CPU: MiniLM through sentence-transformers,
# and vLLM's MiniLM — the same weights (cosine >= 0.9999 per user against sentence-transformers,
# tests/test_vllm_ray.py), so cold-start users land where offline users with that text did
def text_embedder_support(embedder: str, model: str) -> tuple[bool, str]:
    """(can a replica embed a cold-start profile exactly as the run did, why not)."""
    if embedder == "minilm" or (embedder, model) == ("vllm", "minilm"):
        return True, ""
    if embedder == "behavioral":
        return False, ("the run's behavioural embedder needs a purchase history; unknown users "
                       "get the population prior")
    if embedder == "vllm":
        return False, (f"the run embedded profiles with vLLM model {model or '?'}, which a "
                       "scoring replica does not load; unknown users get the population prior "
                       "(embed with profiles.vllm.embed_model: minilm to score them by profile)")
    return False, f"unknown embedder {embedder!r}; unknown users get the population prior"


def rq_encode(codebooks: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Greedy residual encoding (eqs. 2-3) with saved codebooks: (n, d) -> (n, M) codes."""
    rq = RQKMeans(n_stages=codebooks.shape[0], n_clusters=codebooks.shape[1])
    rq.codebooks_ = codebooks
    return rq.encode(x).astype(np.int64)


def profile_from_attributes(attrs: dict, prior: InterestPrior | None = None,
                            infer_interests: int = 0) -> str:
    """The template profile of a user known only by attributes (no purchases, no searches),
    rendered as the offline stage rendered such users (same prior, same number of slots)."""
    attrs = {k: v for k, v in attrs.items() if v is not None}
    facts = {"attributes": attrs, "purchases": [], "searches": [], "n_purchases": 0}
    if prior is not None:
        facts["inferred"] = prior.fill(attrs, [], infer_interests)
    return render(facts)


def load_interest_prior(run: RunDir) -> tuple[InterestPrior | None, int]:
    """The run's interest prior and slot count, or (None, 0) for runs written without one."""
    m = run.manifest("profiles") or {}
    n = int(m.get("infer_interests", 0) or 0)
    path = run.path("profiles", INTEREST_PRIOR_FILE)
    if n <= 0 or run.fs.get_file_info(path).type != pafs.FileType.File:
        return None, 0
    with run.fs.open_input_stream(path) as f:
        return InterestPrior.from_bytes(f.read()), n


class GroupAssigner:
    """Profile/attributes -> group codes with the run's embedder and codebooks."""

    def __init__(self, run: RunDir, embed: Callable[[list[str]], np.ndarray] | None = None):
        with run.fs.open_input_stream(run.path("groups", "codebooks.npy")) as f:
            self.codebooks = np.load(io.BytesIO(f.read()))
        emb_m = run.manifest("embeddings") or {}
        self.embedder = str(emb_m.get("embedder", ""))
        self.embed_model = str(emb_m.get("model", "") or "")
        supported, self.unsupported_reason = text_embedder_support(self.embedder,
                                                                   self.embed_model)
        self._embed = embed  # injected in tests; else loaded on first use
        self._injected = embed is not None
        if embed is None and not supported:
            log.warning("cold start: %s", self.unsupported_reason)
        self.prior, self.infer_interests = load_interest_prior(run)

    @property
    def can_embed_text(self) -> bool:
        return self._injected or not self.unsupported_reason

    def describe(self) -> dict:
        """What ``/v1/model`` reports about cold-start group assignment."""
        return {"embedder": self.embedder, "model": self.embed_model,
                "embeds_profiles": self.can_embed_text,
                **({"reason": self.unsupported_reason} if not self.can_embed_text else {})}

    def _embedder(self) -> Callable[[list[str]], np.ndarray]:
        if self._embed is None:
            from choirrec.profiles.embedders import MiniLMEmbedder

            self._embed = MiniLMEmbedder(batch_size=16, n_threads=1)
        return self._embed

    def warm(self) -> None:
        """Load the embedder now (a replica's start-up), not on the first cold request."""
        if self.can_embed_text:
            self._embedder()

    def codes(self, profile: str | None, attrs: dict
              ) -> tuple[np.ndarray | None, str, str | None]:
        """(codes or None, source, note): source is profile | attributes | population; the
        note says why hints that were given could not be used (else None)."""
        attrs = {k: v for k, v in attrs.items() if k in ATTRIBUTE_FIELDS and v is not None}
        if not (profile or attrs):
            return None, "population", None
        if not self.can_embed_text:
            return None, "population", self.unsupported_reason
        text, source = (profile, "profile") if profile else (
            profile_from_attributes(attrs, self.prior, self.infer_interests), "attributes")
        x = self._embedder()([text])
        if x.shape[1] != self.codebooks.shape[2]:
            log.warning("embedder gives %d dims, codebooks expect %d: population prior",
                        x.shape[1], self.codebooks.shape[2])
            return None, "population", None
        return rq_encode(self.codebooks, x)[0], source, None
