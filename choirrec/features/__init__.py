"""The feature store: ids -> model inputs, shared by training, evaluation, serving and tuning.

vocab.py     raw ids / attribute values -> 1-based indices (0 = unknown), price buckets
events.py    point-in-time lookups: a sample's events strictly before its timestamp
store.py     FeatureStore and build_feature_store: users, histories, group priors (§4.3)
loader.py    load_feature_store(run), and which features each model kind reads
batches.py   sample columns -> model input tensors (Ray Data's collate_fn)
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "FeatureStore": "store", "build_feature_store": "store",
    "load_feature_store": "loader", "uses_priors": "loader", "uses_negatives": "loader",
    "SAMPLE_COLUMNS": "batches", "collate": "batches",
    "DISCRETE": "vocab", "lookup": "vocab", "attribute_codes": "vocab",
    "item_price_buckets": "vocab",
})
__all__ = __dir__()
