"""What every data source returns to the prepare stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from choirrec.data.cvr_samples import TimeSplit


@dataclass
class SourceOutput:
    """Per-user statistics (one row per user in ``users``) plus dataset metadata.

    ``stats`` columns: user_id, n_buy, n_click, n_<behavior>_all, n_samples_<split>,
    n_pos_<split>, attr_fill_rate (see :func:`choirrec.data.cvr_samples.per_user_stats`).
    """

    stats: pa.Table
    split: TimeSplit
    ts_range: tuple[int, int]
    n_queries: int
    notes: dict = field(default_factory=dict)  # e.g. dropped malformed lines, leakage removed
