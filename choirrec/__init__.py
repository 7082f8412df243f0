"""choirrec — ChoirRec (arXiv 2510.09393) on Ray.

LLM-written semantic user profiles -> embeddings -> RQ-KMeans semantic groups -> group priors
-> a dual-channel CVR model that lifts low-activity users. See README.md and docs/.
"""

__version__ = "0.1.0"
