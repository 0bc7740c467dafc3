"""Broader tags resolved once: propagation gives every tag the largest probability below it in a few array
operations, with the same probabilities and the same narrower tags as a relaxation over every link until
nothing changes (the former algorithm, kept here as the reference)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger import Concept, Vocabulary, default_model
from tagger.hierarchy import Hierarchy


def relaxed(broader: dict, P: np.ndarray, source: np.ndarray) -> None:
    """The reference: sweeps over every (column, broader column) link in order until nothing changes."""
    for _ in range(len(broader) + 1):
        changed = False
        for col, parents in broader.items():
            for b in parents:
                up = P[:, col] > P[:, b]
                if up.any():
                    P[up, b], source[up, b], changed = P[up, col], col, True
        if not changed:
            break


@st.composite
def hierarchies(draw):
    n = draw(st.integers(1, 16))
    links = {}
    for child in draw(st.permutations(range(n))):
        parents = draw(st.lists(st.integers(0, n - 1).filter(lambda p: p != child), max_size=3, unique=True))
        if parents:
            links[child] = parents
    values = st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.9, 1.0]) | st.floats(0, 1)
    P = np.array(draw(st.lists(st.lists(values, min_size=n + 2, max_size=n + 2), min_size=1, max_size=4)))
    columns = np.array(draw(st.permutations(range(n + 2)))[:n])
    return n, links, P, columns


@settings(max_examples=300, deadline=None)
@given(hierarchies())
def test_propagation_gives_the_relaxations_probabilities_and_narrower_tags(case):
    n, links, P, columns = case  # links in the order the relaxation visits them; cycles included
    child = [c for c, ps in links.items() for _ in ps]
    parent = [p for ps in links.values() for p in ps]
    propagate = Hierarchy(np.array(child, dtype=np.int64), np.array(parent, dtype=np.int64), n).on_columns(columns)
    expected, expected_source = P.copy(), np.full(P.shape, -1)
    relaxed({int(columns[c]): [int(columns[p]) for p in ps] for c, ps in links.items()}, expected, expected_source)
    got, source = P.copy(), np.full(P.shape, -1)
    propagate(got, source)
    assert (got == expected).all() and (source == expected_source).all()
    fast = P.copy()
    propagate(fast)
    assert (fast == expected).all()


def chain(n: int) -> Vocabulary:
    return Vocabulary([Concept(f"УРОВЕНЬ {i}", broader=(f"УРОВЕНЬ {i - 1}",) if i else ()) for i in range(n)])


def test_a_deep_chain_is_a_few_operations_a_call_and_explains_its_narrower_tags():
    vocabulary = chain(3_000)  # the campaign's chain: every call swept it until nothing changed
    assert vocabulary.hierarchy.depth == 3_000 and vocabulary.hierarchy.cost <= 13  # one level, 12 jumps
    site = default_model().with_vocabulary(vocabulary, only=True)
    text = "Новость об Уровень 2999 и ещё раз Уровень 2999."
    scores = dict(site.score_tags(text, top_k=3_000))
    assert len(set(scores.values())) == 1 and len(scores) == 3_000  # every broader tag gets the deepest one's
    _, _, evidence = site.scorer.probabilities([text], details=True)  # what explanations show
    column = {t: j for j, t in enumerate(site.tags)}
    by = [site.tags[j] if j >= 0 else None for j in evidence.narrower[0, [column[f"УРОВЕНЬ {i}"] for i in range(3_000)]]]
    assert by == [f"УРОВЕНЬ {i + 1}" for i in range(2_999)] + [None]


def test_a_wide_hierarchy_is_one_operation_and_cycles_share_their_largest_probability():
    wide = Vocabulary([Concept(f"ТЕМА {i}", broader=(f"РУБРИКА {i % 100}",)) for i in range(10_000)])
    assert wide.hierarchy.cost == 1 and wide.hierarchy.depth == 2
    cycle = Vocabulary([Concept("США", broader=("АМЕРИКА",)), Concept("АМЕРИКА", broader=("США",))])
    site = default_model().with_vocabulary(cycle)
    scores = dict(site.score_tags("Президент США Дональд Трамп заявил", top_k=len(site.tags)))
    assert scores["АМЕРИКА"] == scores["США"] > 0.5
