"""Workloads: which questions a load run asks, and how often each one comes up.

A ``Workload`` is a pool of distinct questions plus a popularity ``Mix`` (uniform, or Zipf with
exponent ``s`` over the first ``n`` questions) and a seed. Its ``sampler()`` replays exactly the
same question sequence every time for the same pool, mix and seed (numpy ``Generator``, drawn in
fixed-size blocks so the sequence does not depend on how callers consume it).

The built-in pool is generated from the default corpora themselves: one question per documented
public name of the ``stdlib`` and ``packages`` indexes, phrased from the first sentence of its
docstring ("How do I use base64.b16encode to encode the bytes-like object s using Base16 ...?"),
so every question has an answer in the corpus. It is deterministic given the corpus versions and
cached under ``<data_dir>/workloads/``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import xxhash
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidInput
from core.models import QUESTION_MAX, QUESTION_MIN

BLOCK = 1024
"""Questions drawn per generator call; fixed so the sequence is independent of consumption."""
POOL_VERSION = 1
"""Bump when question generation changes (invalidates cached pools)."""
MAX_BAD_LINES_SHOWN = 20

_VERBS = frozenset(
    """return create encode decode convert get set compute read write parse build make open close send
    receive check test find remove add update format run start stop wait load save register call copy
    split join generate validate serialize deserialize apply construct initialize iterate compare search
    replace wrap calculate determine extract print execute schedule cancel accept connect bind fetch insert
    delete sort count match compile escape quote unquote translate normalize resolve append clear reset
    dump dumps load loads release acquire emit handle process shut submit map filter reduce raise yield
    decorate install configure define declare represent provide implement store lock unlock flush render
    hash sign verify encrypt decrypt compress decompress pack unpack mark retry install list
    display""".split()
)
_TEMPLATES = (
    "What does {name} do?",
    "What is {name} used for in Python?",
    "When should I use {name}?",
    "How does {name} work?",
)
_MODULE_TEMPLATES = (
    "What is the {name} module for?",
    "What does the {name} module provide?",
)
_SIGNATURE = re.compile(r"^[\w.]+\s*\(.*\)\s*(->.*)?$", re.S)
_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*$")


class Mix(BaseModel):
    """A popularity mix over the first ``n`` questions of a pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["uniform", "zipf"] = "zipf"
    s: float = Field(1.1, gt=0, le=10)
    """Zipf exponent: question of rank k is asked with probability proportional to 1/k^s."""
    n: int | None = Field(None, ge=1)
    """Distinct questions in play (None = the whole pool)."""

    @property
    def spec(self) -> str:
        n = "" if self.n is None else f":{self.n}"
        return f"zipf:{self.s:g}{n}" if self.kind == "zipf" else f"uniform{n}"


def parse_mix(spec: str) -> Mix:
    """Parse ``zipf:S[:N]`` or ``uniform[:N]``.

    >>> parse_mix("zipf:1.1:1000")
    Mix(kind='zipf', s=1.1, n=1000)
    >>> parse_mix("uniform:500").n
    500
    """
    parts = [p.strip() for p in spec.strip().lower().split(":")]
    kind = parts[0]

    def bad(msg: str) -> InvalidInput:
        return InvalidInput(
            [{"field": "mix", "message": f"{msg} (got {spec!r}; e.g. zipf:1.1:1000 or uniform:500)"}]
        )

    try:
        if kind == "uniform" and len(parts) <= 2:
            return Mix(kind="uniform", n=int(parts[1]) if len(parts) == 2 else None)
        if kind == "zipf" and 2 <= len(parts) <= 3:
            return Mix(kind="zipf", s=float(parts[1]), n=int(parts[2]) if len(parts) == 3 else None)
    except ValueError as exc:
        if "validation error" in str(exc):
            raise bad("exponent must be in (0, 10] and n >= 1") from None
        raise bad("numbers expected after the kind") from None
    raise bad("expected zipf:S[:N] or uniform[:N]")


class QuestionSampler:
    """Draws questions of a workload in a fixed, seeded order. Not thread-safe (one per runner)."""

    def __init__(self, questions: Sequence[str], probabilities: np.ndarray | None, seed: int) -> None:
        self._questions = questions
        self._p = probabilities
        self._rng = np.random.default_rng(seed)
        self._block: np.ndarray = np.empty(0, dtype=np.int64)
        self._i = 0
        self.drawn = 0

    def next_index(self) -> int:
        if self._i >= len(self._block):
            n = len(self._questions)
            self._block = (
                self._rng.choice(n, size=BLOCK, p=self._p)
                if self._p is not None
                else self._rng.integers(0, n, BLOCK)
            )
            self._i = 0
        idx = int(self._block[self._i])
        self._i += 1
        self.drawn += 1
        return idx

    def next(self) -> str:
        """The next question of the sequence."""
        return self._questions[self.next_index()]

    def take(self, count: int) -> list[str]:
        return [self.next() for _ in range(count)]


class Workload:
    """A question pool, a mix and a seed.

    >>> w = Workload(["What does abc do?", "What does base64 do?"], parse_mix("uniform"), seed=7)
    >>> w.sampler().take(3) == w.sampler().take(3)
    True
    """

    def __init__(self, pool: Sequence[str], mix: Mix, seed: int = 0, *, name: str = "custom") -> None:
        n = len(pool) if mix.n is None else mix.n
        if n > len(pool):
            raise InvalidInput(
                [
                    {
                        "field": "mix",
                        "message": f"asks for {n} distinct questions but the workload has only {len(pool)}",
                    }
                ]
            )
        if n == 0:
            raise InvalidInput([{"field": "questions", "message": "the workload has no questions"}])
        self.questions: list[str] = list(pool[:n])
        self.mix, self.seed, self.name = mix, seed, name
        self.probabilities: np.ndarray | None = None
        if mix.kind == "zipf":
            weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** mix.s
            self.probabilities = weights / weights.sum()

    def sampler(self, seed_offset: int = 0) -> QuestionSampler:
        """A fresh sampler; the same ``seed_offset`` always yields the same sequence."""
        return QuestionSampler(self.questions, self.probabilities, self.seed + seed_offset)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "mix": self.mix.spec, "distinct": len(self.questions), "seed": self.seed}

    def shares(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Split the pool into ``count`` disjoint parts of near-equal request share: (owner of each
        question, share of requests of each part). Greedy, most popular first, deterministic."""
        n = len(self.questions)
        p = self.probabilities if self.probabilities is not None else np.full(n, 1.0 / n)
        owner = np.empty(n, dtype=np.int64)
        mass = np.zeros(count)
        for i in range(n):
            k = int(np.argmin(mass))
            owner[i] = k
            mass[k] += p[i]
        return owner, mass

    def part(self, index: int, count: int) -> Workload:
        """Part ``index`` of ``shares(count)``: its questions, with their probabilities renormalised.

        >>> w = Workload([f"What does module{i} do?" for i in range(10)], parse_mix("zipf:1.1"))
        >>> sorted(w.part(0, 2).questions + w.part(1, 2).questions) == sorted(w.questions)
        True
        """
        owner, mass = self.shares(count)
        mine = owner == index
        if not mine.any():
            raise InvalidInput(
                [{"field": "processes", "message": f"more processes than the {len(owner)} questions"}]
            )
        part = Workload.__new__(Workload)
        part.questions = [q for q, m in zip(self.questions, mine, strict=True) if m]
        part.mix, part.seed, part.name = self.mix, self.seed, self.name
        part.probabilities = (
            None if self.probabilities is None else self.probabilities[mine] / float(mass[index])
        )
        return part


def split_by_share(total: int, shares: np.ndarray) -> list[int]:
    """``total`` split in proportion to ``shares`` (largest remainder: the parts add up to ``total``).

    >>> split_by_share(10, np.array([0.56, 0.44]))
    [6, 4]
    """
    raw = np.asarray(shares, dtype=np.float64) / float(np.sum(shares)) * total
    out = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - out))[: total - int(out.sum())]:
        out[k] += 1
    while total >= len(out) and (out == 0).any():  # every part gets at least one, if there are enough
        out[int(np.argmax(out))] -= 1
        out[int(np.argmin(out))] += 1
    return [int(x) for x in out]


# ---- user question files --------------------------------------------------------------------------
def parse_questions(text: str, *, csv_format: bool | None = None) -> list[str]:
    """Questions from a file's text: one per line, or CSV with a ``question`` column.

    Blank lines and ``#`` comments are skipped; duplicates are kept once (first occurrence).
    Raises ``InvalidInput`` listing the line numbers of questions outside 10-500 characters.

    >>> parse_questions("How do I gather coroutines?\\n\\n# note\\nWhat does functools.wraps do?")
    ['How do I gather coroutines?', 'What does functools.wraps do?']
    """
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    if csv_format is None:
        csv_format = "question" in [c.strip().lower() for c in next(csv.reader([first]), [])]
    rows: list[tuple[int, str]] = []
    if csv_format:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}
        if "question" not in fields:
            raise InvalidInput([{"field": "questions", "message": "CSV file has no 'question' column"}])
        for row in reader:
            rows.append((reader.line_num, (row.get(fields["question"]) or "").strip()))
        rows = [(n, q) for n, q in rows if q]
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            q = line.strip()
            if q and not q.startswith("#"):
                rows.append((n, q))
    bad = [n for n, q in rows if not QUESTION_MIN <= len(q) <= QUESTION_MAX]
    if bad:
        shown = ", ".join(map(str, bad[:MAX_BAD_LINES_SHOWN])) + (
            " ..." if len(bad) > MAX_BAD_LINES_SHOWN else ""
        )
        raise InvalidInput(
            [
                {
                    "field": "questions",
                    "message": f"{len(bad)} question(s) not {QUESTION_MIN}-{QUESTION_MAX} characters, "
                    f"at line(s) {shown}",
                }
            ]
        )
    if not rows:
        raise InvalidInput([{"field": "questions", "message": "the file holds no questions"}])
    return list(dict.fromkeys(q for _, q in rows))


def load_question_file(path: Path) -> list[str]:
    """Read and validate a question file (blocking; ``.csv`` files are read as CSV)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput([{"field": "questions", "message": f"cannot read {path}: {exc}"}]) from None
    return parse_questions(text, csv_format=True if path.suffix.lower() == ".csv" else None)


# ---- the built-in pool, generated from the corpus ---------------------------------------------------
def first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence of a docstring chunk, skipping a leading signature line.

    >>> first_sentence("b16encode(s)\\n\\nEncode the bytes-like object s using Base16. More.")
    'Encode the bytes-like object s using Base16'
    """
    paras = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    if paras and _SIGNATURE.match(paras[0].replace("\n", " ")):
        paras = paras[1:]
    if not paras:
        return ""
    flat = " ".join(paras[0].split())
    m = re.search(r"(?<=[a-z0-9)\]`'\"])[.!?](\s|$)", flat)
    sentence = flat[: m.start()] if m else flat
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0]
    return sentence.strip().rstrip(".:;,")


def question_for(name: str, sentence: str, *, is_module: bool) -> str | None:
    """One natural question about ``name`` phrased from its first docstring sentence."""
    pick = xxhash.xxh3_64_intdigest(name.encode())
    if is_module:
        return _MODULE_TEMPLATES[pick % len(_MODULE_TEMPLATES)].format(name=name)
    words = sentence.split(" ", 1)
    verb = words[0].lower()
    base = verb[:-1] if verb.endswith("s") and not verb.endswith("ss") and verb[:-1] in _VERBS else verb
    if base in _VERBS and len(words) == 2 and pick % 3 != 0:
        rest = words[1].strip()
        return f"How do I use {name} to {base} {rest}?"
    return _TEMPLATES[pick % len(_TEMPLATES)].format(name=name)


def generate_questions(chunk_sets: Iterable[Iterable[Any]]) -> list[str]:
    """Questions from corpus chunks (objects with ``doc_id``, ``title``, ``location``, ``text``).

    Only first chunks of documented public dotted names are used; the result is sorted by name,
    then shuffled with a fixed seed so any prefix mixes modules and packages.
    """
    found: dict[str, str] = {}
    for chunks in chunk_sets:
        for c in chunks:
            if c.doc_id != c.location or not _DOTTED.match(c.title) or c.title != c.location:
                continue
            sentence = first_sentence(c.text)
            if len(sentence) < 12:
                continue
            q = question_for(c.title, sentence, is_module="." not in c.title)
            if q and QUESTION_MIN <= len(q) <= QUESTION_MAX:
                found.setdefault(c.title, q)
    ordered = [found[k] for k in sorted(found)]
    unique = list(dict.fromkeys(ordered))
    order = np.random.default_rng(20_240_601).permutation(len(unique))
    return [unique[int(i)] for i in order]


def corpus_pool(
    sources: Mapping[str, Any], data_dir: Path, names: Sequence[str] = ("stdlib", "packages")
) -> list[str]:
    """The built-in question pool for these sources (``IndexedSource``-like: ``.index.chunks``,
    ``.version``), cached in ``<data_dir>/workloads/``. Blocking: call through ``asyncio.to_thread``.

    >>> # pool = corpus_pool(engine.c.sources, settings.data_dir)
    """
    # sources may be wrapped (ResilientSource keeps the IndexedSource as ``inner``)
    unwrapped = {n: getattr(s, "inner", s) for n, s in sources.items()}
    present = [n for n in names if n in unwrapped and hasattr(unwrapped[n], "index")]
    if not present:
        raise InvalidInput(
            [{"field": "workload", "message": f"none of the sources {list(names)} is available"}]
        )
    key = xxhash.xxh3_64(
        (f"{POOL_VERSION}|" + "|".join(f"{n}={unwrapped[n].version}" for n in present)).encode()
    ).hexdigest()[:12]
    path = data_dir / "workloads" / f"corpus-{key}.json"
    try:
        return list(orjson.loads(path.read_bytes()))
    except (OSError, ValueError):
        pass
    pool = generate_questions(unwrapped[n].index.chunks for n in present)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(pool))
    tmp.replace(path)
    return pool


def open_corpus_pool(data_dir: Path, index_dir: Path | None = None) -> list[str]:
    """The built-in pool without an engine: opens the stdlib and packages indexes from ``index_dir``
    (default ``data_dir``), building them if needed (blocking)."""
    from core.sources.packages import open_packages_sync
    from core.sources.stdlib import open_stdlib_sync

    where = index_dir or data_dir
    sources = {"stdlib": open_stdlib_sync(where), "packages": open_packages_sync(where)}
    return corpus_pool(sources, data_dir)
