"""Test helpers: paths, a skip marker for tests that need ../shared, and a small synthetic Russian news
corpus written for these tests (no shared data needed)."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = ROOT / "datasets" / "fixtures"
SEED_PAGE = SHARED / "seeds" / "000_09c61832e4d7c4c4.txt"
RT_CORPUS = SHARED / "datasets" / "rt_tags" / "rt_tags.jsonl.gz"


def needs(path: Path):
    """Skip the test where ``path`` (in the shared data beside the repository) is absent."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is absent (shared data sits beside the repository)")

# Topic -> sentences in the style of a news wire.  Each synthetic article mixes sentences of its topics.
TOPICS = {
    "СПОРТ": ["Футбольный клуб выиграл матч со счётом два один.", "Сборная команда забила гол на последней минуте.",
              "Тренер объявил состав на финал чемпионата.", "Болельщики заполнили стадион перед игрой.",
              "Хоккеисты провели тренировку перед турниром."],
    "ЭКОНОМИКА": ["Центральный банк повысил ключевую ставку.", "Курс рубля снизился на торгах биржи.",
                  "Инфляция замедлилась по данным статистики.", "Цены на нефть выросли после решения ОПЕК.",
                  "Инвесторы ждут отчёта о прибыли компаний."],
    "КОСМОС": ["Ракета стартовала с космодрома Байконур.", "Космонавты вышли в открытый космос с МКС.",
               "Спутник вывели на расчётную орбиту.", "Корпорация Роскосмос готовит новый запуск.",
               "Космический корабль пристыковался к станции."],
    "ПОЛИТИКА": ["Парламент принял закон во втором чтении.", "Президент подписал указ о назначении министра.",
                 "Депутаты обсудили бюджет на заседании.", "Партия объявила кандидата на выборы.",
                 "Правительство ушло в отставку после голосования."],
}
PEOPLE = {"ДМИТРИЙ РОГОЗИН": ("КОСМОС", "Глава Роскосмоса Дмитрий Рогозин заявил о планах."),
          "ЭЛЬВИРА НАБИУЛЛИНА": ("ЭКОНОМИКА", "Эльвира Набиуллина выступила на пресс-конференции банка.")}


def make_corpus(n: int = 160, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """``n`` synthetic articles with one or two topics (and sometimes a person) as their tags."""
    rng = random.Random(seed)
    topics = list(TOPICS)
    texts, tags = [], []
    for _ in range(n):
        chosen = rng.sample(topics, rng.choice([1, 1, 2]))
        sentences = [s for t in chosen for s in rng.sample(TOPICS[t], 3)]
        labels = list(chosen)
        for person, (topic, sentence) in PEOPLE.items():
            if topic in chosen and rng.random() < 0.4:
                sentences.insert(0, sentence)
                labels.append(person)
        texts.append(" ".join(sentences))
        tags.append([t.lower() for t in labels])  # lower case, as the RT corpus gives them
    return texts, tags


# 200 characters, the last two words a tag of the tiny models and of the default one: the name's last letter is
# the last character of the lead signal's window.
NAME_AT_THE_EDGE = ("Ракета стартовала с космодрома Байконур. Спутник вывели на расчётную орбиту. Космический корабль "
                    "пристыковался к станции. Корпорация готовит новый запуск к Луне, сообщил её новый глава "
                    "Дмитрий Рогозин")

# Names a news archive mentions now and then: each is a tag on a few articles only (the long tail), and is
# sometimes mentioned in passing, untagged, at the end of another article.
RARE = {"КАЗАНЬ": "В Казани", "СЕРГЕЙ ЛАВРОВ": "Сергей Лавров", "НОРИЛЬСК": "В Норильске", "ГАЗПРОМ": "Газпром",
        "ВАЛЕНТИНА МАТВИЕНКО": "Валентина Матвиенко", "АРКТИКА": "В Арктике", "АЭРОФЛОТ": "Аэрофлот",
        "ТОМСК": "В Томске", "МАРИЯ ЗАХАРОВА": "Мария Захарова", "ЯМАЛ": "На Ямале", "САХАЛИН": "На Сахалине",
        "АНТОН СИЛУАНОВ": "Антон Силуанов", "ВОРОНЕЖ": "В Воронеже", "РОСАТОМ": "Росатом", "КАМЧАТКА": "На Камчатке",
        "ИРКУТСК": "В Иркутске", "ТВЕРЬ": "В Твери", "АЛЕКСЕЙ МИЛЛЕР": "Алексей Миллер", "ЧУКОТКА": "На Чукотке",
        "БАЙКАЛ": "На Байкале"}
_SURNAME = {"СЕРГЕЙ ЛАВРОВ": "Лавров", "ВАЛЕНТИНА МАТВИЕНКО": "Матвиенко", "МАРИЯ ЗАХАРОВА": "Захарова",
            "АНТОН СИЛУАНОВ": "Силуанов", "АЛЕКСЕЙ МИЛЛЕР": "Миллер"}


def make_long_tail_corpus(n: int = 240, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """:func:`make_corpus` articles of which many are also about one rare name: it opens the title and comes
    back in the text (a person by surname), and the editors tag it; other articles mention a name once, in
    passing, at the end, untagged."""
    rng = random.Random(seed)
    texts, tags = make_corpus(n, seed)
    names = list(RARE)
    for i in range(n):
        roll = rng.random()
        name = rng.choice(names)
        if roll < 0.45:
            again = _SURNAME.get(name, RARE[name].split()[-1])
            texts[i] = f"{RARE[name]} прошло важное событие.\n\n{texts[i]} Об этом сообщил {again}."
            tags[i] = tags[i] + [name.lower()]
        elif roll < 0.65:
            texts[i] = f"{texts[i]} Также {RARE[name].lower()} было спокойно."
    return texts, tags


def in_threads(work, n: int) -> list[BaseException]:
    """Run ``work(k)`` for ``k`` in ``range(n)``, each in a thread of its own, all at once; the exceptions raised."""
    import threading
    errors: list[BaseException] = []

    def run(k):
        try:
            work(k)
        except Exception as exc:  # noqa: BLE001 (returned to the test)
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def rewrite_model(source: Path, target: Path, edit) -> Path:
    """A copy of model file ``source`` at ``target`` with ``edit(contents, metadata)`` applied to its members
    (name -> bytes) and its metadata (the members' digests left out, so that the edit alone is checked)."""
    import json
    import zipfile
    with zipfile.ZipFile(source) as zf:
        contents = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(contents["metadata.json"])
    meta.pop("members")
    edit(contents, meta)
    contents["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
    return target


def npy(array) -> bytes:
    """``array`` as a ``.npy`` member's bytes."""
    import io

    import numpy as np
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def member_array(contents: dict, name: str):
    """The array of member ``NAME.npy`` of ``contents`` (name -> bytes)."""
    import io

    import numpy as np
    return np.load(io.BytesIO(contents[f"{name}.npy"]))
