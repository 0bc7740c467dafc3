"""A gradient-boosted ensemble of decision trees as plain arrays, evaluated in NumPy.

The second stage (:mod:`tagger.rerank`) scores candidate tags with trees learned by scikit-learn's
``HistGradientBoostingClassifier`` (:mod:`tagger.learning.rerank` exports them); tagging never imports
scikit-learn, so the trees are kept as arrays and walked here, every (row, tree) pair one level at a time:

    node = root of each tree;  repeat depth times:  node = left[node] + (x[feature[node]] > threshold[node])

Nodes are numbered so that a node's right child follows its left one, and a leaf's "left child" is itself (its
threshold is +inf), so rows that reach a leaf early stay there.  The raw score is the ensemble's baseline plus
each tree's leaf value, added in tree order as scikit-learn adds them: the same float64 sum, bit for bit, for
finite inputs (features are never NaN here).

Every node also keeps ``value``: a leaf's own value, an inner node's the mean of the leaf values of the training
rows that reached it (weighted by their counts).  The difference between a node and the child a row goes to is what
that split added to the row's score, credited to the split's feature (Saabas' attribution): summed over the trees,
a row's score is the baseline, the roots' values and each feature's contribution, which :mod:`tagger.explain` shows.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Trees", "CHUNK_ROWS"]

#: Rows evaluated together (their node arrays stay in the cache: rows x trees int32).
CHUNK_ROWS = 2048


class Trees:
    """``n_trees`` trees over ``n_features`` features: per node ``feature`` (int), ``threshold`` (float64; +inf at
    a leaf), ``left`` (the left child, the right one being ``left + 1``; a leaf's own number) and ``value``
    (float64, see the module notes); ``roots``: each tree's first node; ``depth``: the longest path from a root
    to a leaf; ``baseline``: the score before any tree."""

    def __init__(self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, value: np.ndarray,
                 roots: np.ndarray, depth: int, baseline: float, n_features: int):
        self.feature = np.asarray(feature, dtype=np.intp)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.intp)
        self.value = np.asarray(value, dtype=np.float64)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.depth, self.baseline, self.n_features = int(depth), float(baseline), int(n_features)
        n = len(self.feature)
        if not (len(self.threshold) == len(self.left) == len(self.value) == n) or not len(self.roots):
            raise ValueError("tree arrays differ in length, or there is no tree")
        if n and (self.feature.min() < 0 or self.feature.max() >= self.n_features):
            raise ValueError("a tree splits on a feature it does not have")
        leaf = self.left == np.arange(n)
        inner = ~leaf
        if (self.roots < 0).any() or (self.roots >= n).any() or (self.left < 0).any() \
                or (self.left[inner] + 1 >= n).any() or (self.left[inner] <= np.flatnonzero(inner)).any():
            raise ValueError("a tree's children are not after their parent, within the nodes")
        if not np.isinf(self.threshold[leaf]).all() or np.isnan(self.threshold).any():
            raise ValueError("a leaf with a threshold, or a NaN threshold")
        # every path ends within depth steps (a node's children are later nodes: the walk ends)
        level = self.roots
        for _ in range(self.depth):
            level = self.left[level[~leaf[level]]]
            level = np.concatenate([level, level + 1])
        if not leaf[level].all():
            raise ValueError(f"a tree is deeper than {self.depth}")

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def leaves(self, F: np.ndarray) -> np.ndarray:
        """The leaf each row of features ``F`` (rows x n_features, finite) reaches in each tree: rows x trees."""
        F = np.asarray(F, dtype=np.float64)
        out = np.empty((len(F), self.n_trees), dtype=np.intp)
        left, threshold = self.left, self.threshold
        for start in range(0, len(F), CHUNK_ROWS):
            columns = np.ascontiguousarray(F[start:start + CHUNK_ROWS].T)  # feature by feature: x[f, row]
            n = columns.shape[1]
            flat, offset, row = columns.ravel(), self.feature * n, np.arange(n)[:, None]
            node = np.broadcast_to(self.roots, (n, self.n_trees))
            for _ in range(self.depth):  # (take: the indices are in range, so no checks or index conversion)
                node = left.take(node) + (flat.take(offset.take(node) + row) > threshold.take(node))
            out[start:start + n] = node
        return out

    def raw(self, F: np.ndarray) -> np.ndarray:
        """The ensemble's raw score (log-odds) of each row of ``F``: the baseline plus the trees' leaf values, added
        in tree order (scikit-learn's ``_raw_predict``, the same float64 sum)."""
        values = self.value.take(self.leaves(F).T)  # (trees x rows: each tree's values one contiguous row)
        score = np.full(len(F), self.baseline)
        for tree_values in values:  # (one tree after another, as scikit-learn adds them)
            score += tree_values
        return score

    def contributions(self, f: np.ndarray) -> tuple[float, np.ndarray]:
        """One row ``f``'s score taken apart: the baseline plus the trees' root values, and what each feature's
        splits added (n_features); their sum is the row's raw score (to rounding)."""
        f = np.asarray(f, dtype=np.float64)
        node = self.roots.copy()
        added = np.zeros(self.n_features)
        for _ in range(self.depth):
            child = self.left[node] + (f[self.feature[node]] > self.threshold[node])
            moved = child != node
            np.add.at(added, self.feature[node[moved]], self.value[child[moved]] - self.value[node[moved]])
            node = child
        return self.baseline + float(self.value[self.roots].sum()), added
