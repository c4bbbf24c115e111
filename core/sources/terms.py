"""Query words as API names spell them: the common programming abbreviations of English words.

A question says "dictionary", "directory", "string", "arguments"; the names and first sentences
it should meet say ``DictReader``, ``listdir``, "``str``", ``argparse``. This is spelling, like
stemming: general English-to-code shorthand, not a list of APIs. Each group is one word and its
short forms; a query stem of any of them also matches the others (inside a name, as in
``defaultdict``; or as a lead-sentence stem).
"""

from __future__ import annotations

from functools import lru_cache

from core.sources.text import tokenize

_GROUPS = (
    "dictionary dict",
    "directory dir",
    "string str",
    "integer int",
    "argument arg args",
    "environment env environ",
    "number num",
    "temporary temp tmp",
    "function func",
    "object obj",
    "length len",
    "maximum max",
    "minimum min",
    "separator sep",
    "exception exc",
    "message msg",
    "error err",
    "configuration config cfg conf",
    "process proc",
    "attribute attr",
    "parameter param",
    "library lib",
    "package pkg",
    "information info",
    "iterator iter",
    "iterate iter",
    "initialize init",
    "execute exec",
    "evaluate eval",
    "random rand",
    "character char",
    "boolean bool",
    "sequence seq",
    "expression expr",
    "reference ref",
    "command cmd",
    "address addr",
    "previous prev",
    "source src",
    "destination dst dest",
    "document doc",
    "buffer buf",
    "format fmt",
    "utility util",
    "context ctx",
    "request req",
    "response resp",
    "statistics stats",
    "absolute abs",
    "synchronous sync",
    "asynchronous async",
    "descriptor desc",
    "enumeration enum",
    "hexadecimal hex",
    "remove rm",
    "make mk",
    "compare cmp",
    "database db",
    "application app",
    "variable var",
    "password passwd",
    "concatenate concat",
)


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[str, ...]]:
    """Stem -> the other stems of its group (a short form may be in several groups)."""
    out: dict[str, set[str]] = {}
    for group in _GROUPS:
        stems = [s for w in group.split() for s in tokenize(w)[:1]]
        for s in stems:
            out.setdefault(s, set()).update(x for x in stems if x != s)
    return {s: tuple(sorted(alts)) for s, alts in out.items()}


def alternatives(stem: str) -> tuple[str, ...]:
    """The other spellings of a query stem (none for most words).

    >>> alternatives(tokenize("dictionaries")[0])
    ('dict',)
    """
    return _table().get(stem, ())
