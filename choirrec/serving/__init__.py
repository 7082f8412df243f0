"""Online scoring, framework-free: request models, feature lookup, cold-start groups, scorer.

schemas.py      pydantic request/response models with the documented limits
lookup.py       FeatureLookup interface + RunDirLookup (Arrow tables of a run, in memory)
cold_start.py   unknown users: profile text / attributes -> embedder -> RQ codes -> group
scorer.py       batched scoring of many requests in one model call (used by serve/app.py)
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Scorer": "scorer", "load_model": "scorer", "FeatureLookup": "lookup",
    "RunDirLookup": "lookup", "GroupAssigner": "cold_start", "ScoreRequest": "schemas",
    "ScoreResponse": "schemas",
})
__all__ = __dir__()
