"""Recommendation quality of multi-stage ranking funnels (pure numpy, no HDL).

The funnel's rules (which candidates a stage keeps) are :mod:`rpaccel.perfmodel.funnel`'s,
shared with the accelerator's golden model.

Metrics over the returned list (:func:`metrics`), averaged over queries:

* ``ndcg@k``, **RecPipe's NDCG**: binary labels, and an ideal list of all ones
  (``DCG = sum_{i<k} y_i / log2(i + 2)``, ``IDCG = sum_{i<k} 1 / log2(i + 2)``; RECPIPE.md
  5.3). It is position-weighted precision and rises with the candidate count;
* ``ndcg_std@k``, standard NDCG: the ideal list from the query's own labels (queries without a
  positive are left out of this mean);
* ``hr@k`` (a positive in the top k), ``recall@k`` (positives in the top k / the query's
  positives, queries with a positive only);
* ``overlap@k``: the fraction of the single-stage last model's top k (on all N candidates) that
  the funnel keeps in its top k.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rpaccel.perfmodel.funnel import funnel
from rpaccel.query import DEFAULT_FILTER

__all__ = ["KS", "funnel", "metrics", "synthetic", "SyntheticParams", "DEFAULT_PARAMS",
           "RECPIPE_NDCG64", "RECPIPE_MULTI_NDCG64", "calibration_residuals", "calibrate",
           "size_class", "pipeline_quality", "DATA_SOURCES", "RECPIPE_ERROR", "error_rate"]

#: The k of every reported metric.
KS = (4, 8, 16, 32, 64)


def metrics(labels: np.ndarray, ranked: np.ndarray, *, reference: np.ndarray | None = None,
            ks: Sequence[int] = KS) -> dict[str, float]:
    """Mean metrics of the ranked lists ``(Q, K)`` (candidate indices, best first) against binary
    ``labels`` ``(Q, N)``; ``reference``: the single-stage top list ``(Q, >= k)`` for
    ``overlap@k``."""
    labels = np.asarray(labels)
    q, n = labels.shape
    ranked = np.asarray(ranked)
    if ranked.shape[0] != q:
        raise ValueError(f"ranked has {ranked.shape[0]} queries, labels {q}")
    for k in ks:
        if not 1 <= k <= ranked.shape[1]:
            raise ValueError(f"k must be in [1, {ranked.shape[1]}] (the ranked list's length), "
                             f"got {k}")
    y = np.take_along_axis(labels, ranked, axis=1).astype(np.float64)
    disc = 1.0 / np.log2(np.arange(ranked.shape[1]) + 2.0)
    ideal = np.cumsum(disc)
    pos = labels.sum(axis=1)
    has = pos > 0
    out: dict[str, float] = {"queries": int(q)}
    for k in ks:
        dcg = y[:, :k] @ disc[:k]
        hits = y[:, :k].sum(axis=1)
        out[f"ndcg@{k}"] = float(np.mean(dcg / ideal[k - 1]))
        if has.any():
            idcg = ideal[np.minimum(pos[has], k) - 1]
            out[f"ndcg_std@{k}"] = float(np.mean(dcg[has] / idcg))
            out[f"recall@{k}"] = float(np.mean(hits[has] / pos[has]))
        out[f"hr@{k}"] = float(np.mean(hits > 0))
        if reference is not None:
            mark = np.zeros((q, n), dtype=bool)
            np.put_along_axis(mark, reference[:, :k], True, axis=1)
            out[f"overlap@{k}"] = float(np.mean(np.take_along_axis(mark, ranked[:, :k],
                                                                   axis=1).sum(axis=1) / k))
    return out


# -- calibrated synthetic data -----------------------------------------------------------------
class SyntheticParams:
    """The generative form of the synthetic data, per candidate:

    * latent relevance ``z ~ N(0, 1)``;
    * label ``y = [z + label_noise * e > threshold]``, ``e ~ N(0, 1)`` (``threshold`` sets the
      positive rate, ``label_noise`` what no model can predict);
    * model m's score ``z + s0 * e0 + sqrt(noise[m]**2 - s0**2) * e_m`` with ``s0`` the smallest
      noise of all models: every model sees the best model's error ``e0`` plus its own
      ``e_m`` (all ``N(0, 1)``), so a cheaper, noisier model knows nothing the best one does not
      (RecPipe's S->L funnel matches RM-large alone, RECPIPE.md 5.4).

    Every draw is seeded; the same seed gives the same latent relevance and labels whatever the
    models, so funnels are compared on the same queries.
    """

    __slots__ = ("threshold", "label_noise", "noise")

    def __init__(self, threshold: float, label_noise: float, noise: dict[str, float]) -> None:
        for name, v in (("threshold", threshold), ("label_noise", label_noise)):
            if not np.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v}")
        if label_noise < 0:
            raise ValueError(f"label_noise must be >= 0, got {label_noise}")
        for m, v in noise.items():
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"noise[{m!r}] must be a number >= 0, got {v}")
        self.threshold, self.label_noise = float(threshold), float(label_noise)
        self.noise = dict(noise)

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "label_noise": self.label_noise,
                "noise": dict(self.noise)}


def synthetic(queries: int, candidates: int, models: Sequence[str], params: SyntheticParams,
              seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Seeded ``(labels (Q, N) int8, [scores (Q, N) float32 per model])``, drawn as
    :class:`SyntheticParams` describes."""
    if queries < 1 or candidates < 1:
        raise ValueError(f"queries and candidates must be >= 1, got {queries} and {candidates}")
    unknown = [m for m in models if m not in params.noise]
    if unknown:
        raise ValueError(f"no noise level for model(s) {unknown}; known: {sorted(params.noise)}")
    rng = np.random.default_rng([seed, 0])
    z = rng.standard_normal((queries, candidates), dtype=np.float32)
    e = rng.standard_normal((queries, candidates), dtype=np.float32)
    labels = ((z + np.float32(params.label_noise) * e) > params.threshold).astype(np.int8)
    s0 = min(params.noise.values())
    shared = z + np.float32(s0) * rng.standard_normal(z.shape, dtype=np.float32)
    scores = []
    for m in models:
        # a model's own error comes from its own stream: the same for a model in any funnel
        r = np.random.default_rng([seed, 1, *m.encode()])
        extra = np.float32(np.sqrt(max(params.noise[m] ** 2 - s0 ** 2, 0.0)))
        scores.append(shared + extra * r.standard_normal(z.shape, dtype=np.float32))
    return labels, scores


# -- calibration against RecPipe's published quality -------------------------------------------
#: RecPipe's single-stage NDCG@64 by candidate count (RECPIPE.md 5.4, from the RecPipe
#: artifact's logs): model -> {candidates: NDCG@64}.
RECPIPE_NDCG64 = {
    "rm-small": {256: 0.5985, 512: 0.7125, 1024: 0.7995, 2048: 0.8675, 4096: 0.9127},
    "rm-med": {256: 0.6039, 512: 0.7192, 1024: 0.8088, 2048: 0.8753, 4096: 0.9222},
    "rm-large": {256: 0.6084, 512: 0.7265, 1024: 0.8162, 2048: 0.8799, 4096: 0.9247},
}
#: RecPipe's multi-stage NDCG@64 (same source): (models, items, NDCG@64).
RECPIPE_MULTI_NDCG64 = (
    (("rm-small", "rm-large"), (4096, 512), 0.9246),
    (("rm-small", "rm-med", "rm-large"), (4096, 512, 128), 0.9251),
)

#: RecPipe's classification error at 4,096 items (RECPIPE.md 5.1): model -> error rate.
RECPIPE_ERROR = {"rm-small": 0.1855, "rm-med": 0.1840, "rm-large": 0.1820}


def error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """Classification error of a model's scores with the best single threshold: the fraction of
    candidates misclassified when the top-t scores are called positive, minimised over t."""
    y = np.asarray(labels).ravel().astype(bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64).ravel(), kind="stable")
    tp = np.cumsum(y[order])
    t = np.arange(1, len(y) + 1)
    err = (t - tp) + (y.sum() - tp)
    return float(min(err.min(), y.sum()) / len(y))


#: The generator's parameters fitted to RecPipe's table by ``rpaccel quality calibrate`` (its
#: defaults: 400 queries, seed 7, 150 Nelder-Mead evaluations; every one of the 20 points within
#: 0.0097 at the fit, and within 0.01 on fresh queries).
DEFAULT_PARAMS = SyntheticParams(threshold=1.0068044373260152, label_noise=0.8261226562239918,
                                 noise={"rm-small": 0.5215568552511942,
                                        "rm-med": 0.4856135682952229,
                                        "rm-large": 0.46062571253860346})


def calibration_residuals(params: SyntheticParams, queries: int = 400,
                          seed: int = 7) -> list[dict]:
    """Ours minus RecPipe's at every published point, on ``queries`` synthetic queries: NDCG@64
    single-stage (the first n of 4,096 candidates of each query) and multi-stage, and each
    model's classification error at 4,096 candidates (:func:`error_rate`)."""
    models = list(RECPIPE_NDCG64)
    labels, scores = synthetic(queries, 4096, models, params, seed)
    out = []
    for mi, m in enumerate(models):
        for n, want in RECPIPE_NDCG64[m].items():
            got = metrics(labels[:, :n], funnel([scores[mi][:, :n]], [n]), ks=(64,))["ndcg@64"]
            out.append({"pipeline": m, "items": [n], "recpipe": want, "ours": got,
                        "residual": got - want})
    for ms, items, want in RECPIPE_MULTI_NDCG64:
        r = funnel([scores[models.index(m)] for m in ms], items)
        got = metrics(labels, r, ks=(64,))["ndcg@64"]
        out.append({"pipeline": "->".join(ms), "items": list(items), "recpipe": want,
                    "ours": got, "residual": got - want})
    for mi, m in enumerate(models):
        got = error_rate(labels, scores[mi])
        out.append({"pipeline": f"{m} error rate", "items": [4096], "recpipe": RECPIPE_ERROR[m],
                    "ours": got, "residual": got - RECPIPE_ERROR[m]})
    return out


def calibrate(queries: int = 400, seed: int = 7, max_evals: int = 150,
              start: SyntheticParams | None = None, progress=None) -> tuple[SyntheticParams,
                                                                            list[dict]]:
    """Fit the generator's five parameters (threshold, label noise, one noise per model) so that
    RecPipe's published points are reproduced: least squares over the 20 points of
    :func:`calibration_residuals`, Nelder-Mead
    (scipy) on common random numbers (one seed for every evaluation). ``progress(i)`` is called
    after each evaluation. Returns the fitted parameters and their residuals."""
    from scipy.optimize import minimize

    if queries < 1 or max_evals < 1:
        raise ValueError(f"queries and max_evals must be >= 1, got {queries} and {max_evals}")
    p0 = start or SyntheticParams(0.7, 0.8, {"rm-small": 0.6, "rm-med": 0.5, "rm-large": 0.45})
    names = list(RECPIPE_NDCG64)

    def params(x):
        return SyntheticParams(float(x[0]), abs(float(x[1])),
                               {m: abs(float(v)) for m, v in zip(names, x[2:])})

    def loss(x):
        r = calibration_residuals(params(x), queries, seed)
        if progress:
            progress(1)
        return sum(e["residual"] ** 2 for e in r)

    x0 = [p0.threshold, p0.label_noise, *(p0.noise[m] for m in names)]
    res = minimize(loss, x0, method="Nelder-Mead",
                   options={"maxfev": max_evals, "xatol": 1e-3, "fatol": 1e-7})
    fitted = params(res.x)
    return fitted, calibration_residuals(fitted, queries, seed)


# -- pipelines -----------------------------------------------------------------------------------
_CLASSES = ("rm-small", "rm-med", "rm-large")


def size_class(model: str) -> str:
    """The RecPipe model whose quality a catalog model (or model file) stands for: RM-small,
    RM-med and RM-large themselves; any other model the one nearest in MACs per item on a log
    scale (so NCF, 147k MACs, counts as RM-large, DIN, 42k, as RM-med)."""
    from rpaccel.models import get_model

    if model in _CLASSES:
        return model
    macs = get_model(model).macs_per_item
    ref = {c: get_model(c).macs_per_item for c in _CLASSES}
    return min(_CLASSES, key=lambda c: abs(np.log(macs) - np.log(ref[c])))


DATA_SOURCES = ("synthetic", "movielens")


#: Bins of the histogram filter (RecPipe's ``sortvals``: 16).
HIST_BINS = 16


def histogram_funnel(scores: Sequence[np.ndarray], items: Sequence[int], *, k_out: int = 64,
                     bins: int = HIST_BINS) -> tuple[np.ndarray, list[float]]:
    """The funnel with RecPipe's approximate filter between stages
    (:func:`rpaccel.perfmodel.histk.histk_select`): stage s keeps every candidate in the score
    bins at or above the bin where the count from the top first reaches ``items[s+1]`` (at least
    that many), and the next stage ranks all of them. The bins split the stage's score range
    over the whole data set (``bins`` equal bins between its minimum and maximum), as the
    hardware bins a fixed-point score's top bits. The last stage ranks exactly. Returns the
    final lists ``(Q, k_out)`` and the mean number of candidates each later stage received."""
    from rpaccel.perfmodel.histk import histk_select

    items = [int(x) for x in items]
    q, n = np.shape(scores[0])
    if items[0] != n:
        raise ValueError(f"items[0] must be the candidate count {n}, got {items[0]}")
    for s in range(1, len(items)):
        if not 1 <= items[s] <= items[s - 1]:
            raise ValueError(f"items[{s}] must be in [1, {items[s - 1]}] (a stage keeps at most "
                             f"what it receives), got {items[s]}")
    if not 1 <= k_out <= items[-1]:
        raise ValueError(f"k_out must be in [1, {items[-1]}], got {k_out}")
    mask = np.ones((q, n), dtype=bool)
    kept = []
    for s in range(len(items) - 1):
        sc = np.asarray(scores[s], dtype=np.float64)
        lo, hi = float(sc.min()), float(sc.max())
        hi = hi if hi > lo else lo + 1.0
        mask = histk_select(sc, items[s + 1], bins, lo, hi, mask=mask)
        kept.append(float(mask.sum(axis=1).mean()))
    last = np.where(mask, np.asarray(scores[-1], dtype=np.float64), -np.inf)
    ranked = funnel([last], [n], k_out=k_out)
    return ranked, kept


def pipeline_quality(models: Sequence[str], items: Sequence[int], *, queries: int = 1000,
                     seed: int = 0, policy: str = DEFAULT_FILTER, sub_batch: int | None = None,
                     data: str = "synthetic", params: SyntheticParams = DEFAULT_PARAMS) -> dict:
    """Metrics of a funnel (one catalog model per stage, ``items[s]`` candidates entering stage
    s), each stage scored by its model's size class (:func:`size_class`); ``overlap@k`` against
    the last stage's model alone on all candidates. ``data``: ``synthetic`` (``queries`` seeded
    queries of ``items[0]`` candidates, calibrated to RecPipe), ``movielens`` (one query per
    MovieLens-100K user, at most ``queries``: :mod:`rpaccel.sched.quality.movielens`), or a .npz or
    .parquet file (:mod:`rpaccel.sched.quality.files`; the stages' own scores, no size classes;
    its first ``queries`` queries)."""
    if queries < 1:
        raise ValueError(f"queries must be an integer >= 1, got {queries}")
    if len(models) != len(items):
        raise ValueError(f"one model per stage: {len(models)} models, {len(items)} item counts")
    n = int(items[0])
    k_out = min(max(KS), int(items[-1]))
    extra: dict = {}
    if data in DATA_SOURCES:
        # the stages' size classes (catalog models stand for RM-small/med/large)
        keys = [size_class(m) for m in models]
        extra["size_classes"] = keys
        names = sorted(set(keys))
        if data == "movielens":
            from rpaccel.sched.quality.movielens import movielens_data

            labels, scores = movielens_data(n, names, queries=queries, seed=seed)
        else:
            labels, scores = synthetic(queries, n, names, params, seed)
    elif data.endswith((".npz", ".parquet")):
        from rpaccel.sched.quality.files import load_quality_file

        keys = list(models)                      # the file's own score per stage model
        names = list(dict.fromkeys(keys))
        labels, scores = load_quality_file(data, names, n)
        labels, scores = labels[:queries], [x[:queries] for x in scores]
    else:
        raise ValueError(f"data must be one of {list(DATA_SOURCES)} or a .npz/.parquet file, "
                         f"got {data!r}")
    by = dict(zip(names, scores))
    if policy == "histogram":
        ranked, kept = histogram_funnel([by[k] for k in keys], items, k_out=k_out)
        extra["histogram_kept"] = kept
    else:
        ranked = funnel([by[k] for k in keys], items, policy=policy, sub_batch=sub_batch,
                        k_out=k_out)
    ref = funnel([by[keys[-1]]], [n], k_out=k_out)
    ks = [k for k in KS if k <= k_out]
    return {**metrics(labels, ranked, reference=ref, ks=ks), "seed": seed, **extra}
