"""Hierarchical semantic groups (§4.2.2-2): RQ-KMeans, single-process and over Ray actors.

kmeans.py        the shared Lloyd pieces: k-means++ seeding, assignment, re-seeding
rq_kmeans.py     RQKMeans, the single-process reference (fit / encode / decode / save / load)
distributed.py   the same algorithm with embeddings sharded across Ray actors
report.py        group quality: distortion, sizes, attribute consistency, persona agreement
stage.py         the build_groups stage (groups/ in the run directory)
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "RQKMeans": "rq_kmeans", "RQKMeansConfig": "rq_kmeans",
    "DistributedRQKMeans": "distributed", "build_groups": "stage",
})
__all__ = __dir__()
