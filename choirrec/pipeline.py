"""Every stage in order on one run directory: prepare → profiles → embeddings → groups →
priors → train (each model) → evaluate.

Each stage is fingerprinted and skips itself when its output is current, so rerunning the
pipeline after a change recomputes exactly what the change touched, and an interrupted run
resumes at the first unfinished stage. This module only sequences the library's stage
functions and reports one line per stage (time, rows, key figure); ``pipelines.run_all`` is
its CLI and ``pipelines.compare`` runs it once per rolling test day.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from choirrec.config import Config
from choirrec.run_dir import RunDir

log = logging.getLogger(__name__)


@dataclass
class StageResult:
    stage: str
    status: str  # ran | current
    seconds: float
    rows: int | None
    figure: str  # the stage's key figure, human-readable


def _created(run: RunDir, stages: Sequence[str]) -> list[float | None]:
    return [(run.manifest(s) or {}).get("created_at") for s in stages]


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "n/a" if x is None else format(x, spec)


def _data(cfg: Config, run: RunDir) -> tuple[int | None, str]:
    from choirrec.data.prepare import prepare_data

    s = prepare_data(cfg.data, run)
    rows = sum(v["rows"] for v in s["samples"].values())
    test = s["samples"].get("test", {})
    return rows, (f"{s['users']} users; test day {test.get('rows', 0)} samples, "
                  f"{test.get('gauc_users', 'n/a')} GAUC users "
                  f"({test.get('gauc_users_low', 'n/a')} low-activity)")


def _profiles(cfg: Config, run: RunDir) -> tuple[int | None, str]:
    from choirrec.profiles.stage import build_profiles

    m = build_profiles(cfg.profiles, run)
    return m.get("users"), f"backend {m.get('backend')}"


def _embeddings(cfg: Config, run: RunDir) -> tuple[int | None, str]:
    from choirrec.profiles.embed_stage import embed_profiles

    m = embed_profiles(cfg.embed, run, vllm_cfg=cfg.profiles.vllm)
    return m.get("users"), f"{m.get('embedder')} ({m.get('dims', 'n/a')}-d)"


def _groups(cfg: Config, run: RunDir) -> tuple[int | None, str]:
    from choirrec.grouping.stage import build_groups

    m = build_groups(cfg.groups, run)
    return m.get("users"), f"M={m.get('n_stages')} x K={m.get('n_clusters')}"


def _priors(cfg: Config, run: RunDir) -> tuple[int | None, str]:
    from choirrec.priors import build_priors

    m = build_priors(cfg.priors, run)
    eff = m.get("users_by_effective_level", {})
    return m.get("groups_with_sequences"), "users by group level " + "/".join(
        str(v) for _, v in sorted(eff.items()))


def _train(model: str) -> Callable[[Config, RunDir], tuple[int | None, str]]:
    def run_stage(cfg: Config, run: RunDir) -> tuple[int | None, str]:
        from choirrec.training.stage import train_model

        out = train_model(cfg, run, model=model, ablation=None)
        g = [m.get("valid_gauc_low") for m in out.values()]
        g = [x for x in g if x is not None]
        return len(out), (f"{len(out)} seed(s); valid GAUC low "
                          f"{_fmt(sum(g) / len(g) if g else None)}")
    return run_stage


def _evaluate(cfg: Config, run: RunDir) -> tuple[int | None, str]:
    from choirrec.evaluation.stage import evaluate

    res = evaluate(cfg, run)
    parts = [f"{n} GAUC {_fmt(m.get('gauc'))} (low {_fmt(m.get('gauc_low'))})"
             for n, m in res.items()]
    first = next(iter(res.values()), {})
    return first.get("n_users_gauc"), "; ".join(parts)


def stage_plan(cfg: Config, models: Sequence[str]) -> list[tuple[str, list[str], Callable]]:
    """(label, stage directories it owns, function) for each step, in order."""
    seeds = list(cfg.train.seeds)
    plan = [("prepare", ["data"], _data), ("profiles", ["profiles"], _profiles),
            ("embeddings", ["embeddings"], _embeddings), ("groups", ["groups"], _groups),
            ("priors", ["priors"], _priors)]
    plan += [(f"train {m}", [f"models/{m}/seed_{s}" for s in seeds], _train(m)) for m in models]
    plan.append(("evaluate", [f"eval/{m}" for m in models], _evaluate))
    return plan


def run_pipeline(cfg: Config, run: RunDir, models: Sequence[str] = ("base", "choirrec"),
                 progress: Callable[[StageResult], None] | None = None) -> list[StageResult]:
    """Run (or skip, where current) every stage; return one result per stage."""
    import dataclasses

    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, models=tuple(models)))
    results = []
    for label, dirs, fn in stage_plan(cfg, models):
        before = _created(run, dirs)
        t = time.perf_counter()
        rows, figure = fn(cfg, run)
        after = _created(run, dirs)
        status = "current" if before == after and None not in before else "ran"
        r = StageResult(label, status, round(time.perf_counter() - t, 1), rows, figure)
        results.append(r)
        if progress:
            progress(r)
    return results


def format_stage_line(r: StageResult) -> str:
    rows = "" if r.rows is None else f"{r.rows:>9,}"
    return f"[{r.stage:<14}] {r.status:<7} {r.seconds:>7.1f} s {rows:>9}  {r.figure}"


def format_results(results: Sequence[StageResult]) -> str:
    head = f"{'stage':<16} {'status':<7} {'seconds':>9} {'rows':>9}  key figure"
    lines = [head, "-" * len(head)]
    for r in results:
        rows = "" if r.rows is None else f"{r.rows:,}"
        lines.append(f"{r.stage:<16} {r.status:<7} {r.seconds:>9.1f} {rows:>9}  {r.figure}")
    lines.append(f"{'total':<16} {'':<7} {sum(r.seconds for r in results):>9.1f}")
    return "\n".join(lines)
