"""A vocabulary's broader tags resolved once, so that giving broader tags their narrower tags' probability is a
few array operations a call, however deep or wide the hierarchy.

A tag's probability after propagation is the largest of its own and those of every tag below it (its narrower
tags, theirs, and so on); tags on a cycle of broader links share the largest of theirs.  :class:`Hierarchy`
computes that with a plan made once:

- tags on a cycle are one *unit* (strongly connected components), held by one of them while propagating;
- each unit gets a *level*: 0 for a unit with no narrower unit; otherwise the largest level of its narrower units
  if only one of them has it, one more if several do (Horton–Strahler order: at most log2 of the units for a
  tree, at most the depth in any case).  A unit's narrower units of lower levels are final before its own level
  is computed (one gathered maximum per level); the one of its own level, if any, is its *heavy* child, and the
  heavy children of a level form chains resolved by pointer jumping (log2 of the longest chain steps);
- the numbers of levels and of jumps are what a call costs beyond one pass over the hierarchy's columns: a chain
  of 3,000 tags is one level of 12 jumps.

Which narrower tag raised each broader one (what explanations show) is the one the former relaxation — sweeps over
every (tag, broader tag) link in the vocabulary's order until nothing changes — would have recorded: the
first link, in sweep order, that met a narrower tag already holding the final value (:meth:`Hierarchy.sources`).
"""
from __future__ import annotations

import heapq

import numpy as np

from .ragged import ranks

__all__ = ["Hierarchy", "HierarchyTooDeep"]


class HierarchyTooDeep(ValueError):
    """The hierarchy is deeper than allowed: ``node`` (an index) is the broadest end of a chain of ``depth``."""

    def __init__(self, node: int, depth: int, limit: int):
        super().__init__(f"broader tags {depth:,} deep; at most {limit:,}")
        self.node, self.depth, self.limit = node, depth, limit


def _csr(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``values`` grouped by ``keys`` (stable): row pointers and values."""
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, values[order]


class Hierarchy:
    """Broader links ``child -> parent`` between nodes ``0 .. n-1`` (in the order the old relaxation visited
    them: by child in its first appearance, each child's parents in order), resolved for :meth:`propagate`.

    ``max_depth``: a chain of more nodes (cycles counted as one node) raises :class:`HierarchyTooDeep`."""

    def __init__(self, child: np.ndarray, parent: np.ndarray, n: int, max_depth: int | None = None):
        child = np.asarray(child, dtype=np.int64)
        parent = np.asarray(parent, dtype=np.int64)
        keep = child != parent
        self.child, self.parent, self.n = child[keep], parent[keep], int(n)
        unit = np.arange(self.n, dtype=np.int64)
        self.depth, level, heavy, complete = self._levels(self.child, self.parent, self.n, max_depth)
        if not complete:  # a cycle: its nodes become one unit (no chain can reach past it otherwise)
            unit = self._components()
        n_units = int(unit.max()) + 1 if self.n else 0
        uc, up = unit[self.child], unit[self.parent]
        if not complete:  # the links between units, each once
            code = np.unique(uc[uc != up] * n_units + up[uc != up])
            uc, up = code // n_units, code % n_units
            try:
                self.depth, level, heavy, _ = self._levels(uc, up, n_units, max_depth)
            except HierarchyTooDeep as exc:  # (named by the unit's first node)
                raise HierarchyTooDeep(int(np.flatnonzero(unit == exc.node)[0]), exc.depth, exc.limit) from None
        self.unit = unit
        _, rep = np.unique(unit, return_index=True)  # each unit's first node holds its value while propagating
        self.rep = rep
        sizes = np.bincount(unit, minlength=n_units)
        members = np.flatnonzero(sizes[unit] > 1)  # the nodes on cycles, by unit
        self.members = members[np.argsort(unit[members], kind="stable")]
        self._plan(uc, up, level, heavy, rep, n_units)

    # ------------------------------------------------------------------------------------------ load time
    def _components(self) -> np.ndarray:
        """Each node's strongly connected component (the nodes of a cycle share one), numbered in the order of
        their first node (scipy is imported for vocabularies with a cycle only)."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components
        n = self.n
        graph = csr_matrix((np.ones(len(self.child)), (self.child, self.parent)), shape=(n, n))
        _, labels = connected_components(graph, directed=True, connection="strong")
        _, first = np.unique(labels, return_index=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return rank[labels]

    @staticmethod
    def _levels(uc: np.ndarray, up: np.ndarray, n_units: int, max_depth: int | None):
        """Depth (units on the longest chain), each unit's level and heavy child (see the module docs), by peeling
        the units with no narrower unit left, one round a depth."""
        level = np.zeros(n_units, dtype=np.int64)
        heavy = np.full(n_units, -1, dtype=np.int64)
        if not len(uc):
            return (1 if n_units else 0), level, heavy, True
        c_ptr, c_parents = _csr(uc, up, n_units)    # each unit's broader units
        p_ptr, p_children = _csr(up, uc, n_units)   # each unit's narrower units
        waiting = np.diff(p_ptr).copy()
        frontier = np.flatnonzero(waiting == 0)
        depth, peeled = 0, 0
        while len(frontier):
            peeled += len(frontier)
            depth += 1
            if max_depth is not None and depth > max_depth:
                raise HierarchyTooDeep(int(frontier[0]), depth, max_depth)
            inner = frontier[p_ptr[frontier + 1] > p_ptr[frontier]]
            if len(inner):  # level from the narrower units' levels (all final: peeled earlier)
                counts = p_ptr[inner + 1] - p_ptr[inner]
                kids = p_children[np.repeat(p_ptr[inner], counts) + ranks(counts)]
                starts = np.cumsum(counts) - counts
                top = np.maximum.reduceat(level[kids], starts)
                at_top = level[kids] == np.repeat(top, counts)
                ties = np.add.reduceat(at_top.astype(np.int64), starts)
                level[inner] = np.where(ties > 1, top + 1, top)
                single = ties == 1
                top_kids = np.flatnonzero(at_top)  # (one per parent where single)
                owner = np.repeat(np.arange(len(inner)), counts)[top_kids]
                mine = single[owner]
                heavy[inner[owner[mine]]] = kids[top_kids[mine]]
            counts = c_ptr[frontier + 1] - c_ptr[frontier]
            parents = c_parents[np.repeat(c_ptr[frontier], counts) + ranks(counts)]
            np.subtract.at(waiting, parents, 1)
            touched = np.unique(parents)
            frontier = touched[waiting[touched] == 0]
        return depth, level, heavy, peeled == n_units

    def _plan(self, uc, up, level, heavy, rep, n_units) -> None:
        """The operations of a call, as arrays of columns: for each level, the light links (narrower unit of a
        lower level -> unit) grouped by unit, and the pointer-jumping steps of its heavy chains."""
        self.steps: list[tuple] = []
        light = heavy[up] != uc
        lc, lp = uc[light], up[light]
        order = np.lexsort((lp, level[lp]))
        lc, lp = lc[order], lp[order]
        levels = np.arange(int(level.max(initial=0)) + 2)
        by_level = np.searchsorted(level[lp], levels)
        chained = np.flatnonzero(heavy >= 0)
        chained = chained[np.argsort(level[chained], kind="stable")]
        chain_at = np.searchsorted(level[chained], levels)
        jump = heavy.copy()  # (a heavy child is of its parent's level: pointers stay within a level)
        for lv in range(len(by_level) - 1):
            a, b = by_level[lv], by_level[lv + 1]
            if b > a:
                parents, starts = np.unique(lp[a:b], return_index=True)
                self.steps.append(("light", rep[lc[a:b]], starts, rep[parents]))
            nodes = chained[chain_at[lv]:chain_at[lv + 1]]
            if not len(nodes):
                continue
            active = nodes
            while len(active):
                target = jump[active]
                self.steps.append(("jump", rep[active], rep[target]))
                nxt = jump[target]
                jump[active] = nxt
                active = active[nxt >= 0]

    # ------------------------------------------------------------------------------------------ per call
    @property
    def cost(self) -> int:
        """Array operations a call takes (levels with links and jumps)."""
        return len(self.steps)

    def on_columns(self, columns: np.ndarray) -> "Propagation":
        """This hierarchy acting on the columns of a probability matrix: node ``i`` is column ``columns[i]``."""
        return Propagation(self, np.asarray(columns, dtype=np.int64))

    def sources(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """For one text's values per node ``before`` and ``after`` propagation: the child that raised each node
        (-1 where none did), as the relaxation over the links in order would have recorded it.

        A node reaches its final value at the first visit, in sweep order, of a link from a child already holding
        that value; the visit times are those of the link's position in every sweep, so this is a shortest-path
        problem over the nodes that rose (Dijkstra, with each link's next visit after its child settled)."""
        n_links = len(self.child)
        out = np.full(self.n, -1, dtype=np.int64)
        raised = after > before
        if not raised.any():
            return out
        if not hasattr(self, "_links"):
            pos = np.arange(n_links)
            self._links = (_csr(self.child, np.stack([self.parent, pos], axis=1), self.n),
                           _csr(self.parent, np.stack([self.child, pos], axis=1), self.n))
        (up_ptr, up), (down_ptr, down) = self._links
        settled = ~raised
        heap = []
        for b in np.flatnonzero(raised).tolist():
            value = after[b]
            for c, pos in down[down_ptr[b]:down_ptr[b + 1]].tolist():
                if settled[c] and after[c] == value:
                    heap.append((pos, b, c))
        heapq.heapify(heap)
        while heap:
            t, b, c = heapq.heappop(heap)
            if settled[b]:
                continue
            settled[b], out[b] = True, c
            value, sweep, at = after[b], t // n_links, t % n_links
            for p, pos in up[up_ptr[b]:up_ptr[b + 1]].tolist():
                if not settled[p] and after[p] == value:
                    heapq.heappush(heap, ((sweep if pos > at else sweep + 1) * n_links + pos, p, b))
        return out


class Propagation:
    """A :class:`Hierarchy`'s plan in a matrix's columns (see :meth:`Hierarchy.on_columns`)."""

    def __init__(self, hierarchy: Hierarchy, columns: np.ndarray):
        self.hierarchy, self.columns = hierarchy, columns
        h = hierarchy
        self.steps = []
        for step in h.steps:
            if step[0] == "light":  # narrower nodes (grouped by broader node at starts), broader nodes
                self.steps.append(("light", columns[step[1]], step[2], columns[step[3]]))
            else:  # nodes, the node each one's value is taken from
                self.steps.append(("jump", columns[step[1]], columns[step[2]]))
        self.members = columns[h.members]
        if len(h.members):
            units, starts = np.unique(h.unit[h.members], return_index=True)
            self.cycle_starts, self.cycle_reps = starts, columns[h.rep[units]]
            self.member_reps = columns[h.rep[h.unit[h.members]]]

    def __call__(self, P: np.ndarray, source: np.ndarray | None = None) -> None:
        """Give every column of the hierarchy the largest probability of those below it (and its own), in place
        (``P``: texts x columns); ``source`` (same shape, optional) gets the column that raised each entry, -1
        elsewhere (see :meth:`Hierarchy.sources`)."""
        before = P[:, self.columns] if source is not None else None
        if len(self.members):  # a cycle's columns: their largest value, held by its first one
            P[:, self.cycle_reps] = np.maximum.reduceat(P[:, self.members], self.cycle_starts, axis=1)
        for kind, *arrays in self.steps:
            if kind == "light":
                kids, starts, parents = arrays
                P[:, parents] = np.maximum(P[:, parents], np.maximum.reduceat(P[:, kids], starts, axis=1))
            else:
                nodes, target = arrays
                P[:, nodes] = np.maximum(P[:, nodes], P[:, target])
        if len(self.members):
            P[:, self.members] = P[:, self.member_reps]
        if source is not None:
            after = P[:, self.columns]
            for i in range(len(P)):
                by = self.hierarchy.sources(before[i], after[i])
                raised = by >= 0
                source[i, self.columns[raised]] = self.columns[by[raised]]
