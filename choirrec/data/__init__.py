"""The data layer: raw logs or the embedded world -> the ``data/`` artifacts (§3, §5.1).

prepare.py              prepare_data(): the stage, for every supported dataset
synthetic.py            the embedded e-commerce world's generative model
synthetic_source.py     the world generated in blocks across Ray tasks
taobao_userbehavior.py  Tianchi UserBehavior.csv through Ray Data
choirrec_tsv.py         the ChoirRec reference plaintext logs
cvr_samples.py          click -> purchase samples, time splits, per-user statistics
user_blocks.py          per-block sample writing and attribute fill rates
summary.py              the figures prepare_data prints and saves
taxonomy.py, personas.py   the embedded world's catalogue and personas
source.py               what every source returns to the stage
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"prepare_data": "prepare"})
__all__ = __dir__()
