"""The hybrid ranking's corpus-derived prior and the index that carries it."""

from __future__ import annotations

import os
from pathlib import Path

from core.sources import rank, semantic, signals
from core.sources.index import CORPUS_FILES, CorpusIndex, Document, content_hash
from core.sources.text import strip_signature, tokenize


def _prior(titles: list[str], locations: list[str], texts: list[str]) -> dict[str, float]:
    return {t: f.prior for t, f in zip(titles, signals.features(titles, locations, texts), strict=True)}


def test_prior_prefers_a_public_callable_over_overviews_privates_internals_and_changelogs() -> None:
    body = "Do the thing to the data and return the result, with several details explained here."
    titles = [
        "pkg.compress",
        "pkg",
        "pkg.codec._impl.compress",
        "pkg.internal.widgets.mixins.Mixin.compress",
        "pkg 1.0 — A package / Changelog",
    ]
    locations = [
        "pkg.compress",
        "pkg",
        "pkg.codec._impl.compress",
        "pkg.internal.widgets.mixins.Mixin.compress",
        "pypi:pkg#changelog",
    ]
    prior = _prior(titles, locations, [body] * 5)
    public = prior["pkg.compress"]
    assert public > prior["pkg"]  # module overview
    assert public > prior["pkg.codec._impl.compress"]  # private
    assert public > prior["pkg.internal.widgets.mixins.Mixin.compress"]  # deep framework internals
    assert public > prior["pkg 1.0 — A package / Changelog"] + 0.1  # changelog section


def test_a_name_the_corpus_refers_to_as_code_earns_authority() -> None:
    cited = signals.mentions(["Call `shutil.rmtree` here.", "shutil.rmtree(path) removes it.", "Nothing."])
    assert signals.authority("shutil.rmtree", cited) > signals.authority("shutil.copytree", cited) == 0.0


def test_a_rare_query_word_in_the_name_counts_more_than_a_common_one() -> None:
    stems, weights = ["zero", "array"], [rank.idf(1000, 5), rank.idf(1000, 400)]
    assert rank.name_match(stems, "numpy zeros", weights) > rank.name_match(stems, "numpy ndarray", weights)
    assert rank.name_match(stems, "numpy zeros") == rank.name_match(stems, "numpy ndarray") == 0.5


def test_scores_are_on_one_unit_scale_and_one_hit_per_document(tmp_path: Path) -> None:
    long = " ".join(["Parse a date string in ISO format and return a datetime."] * 40)
    docs = [
        Document("datetime.fromisoformat", "datetime.fromisoformat", long + "\n\n" + long),
        Document("json.dumps", "json.dumps", "Serialize an object to a JSON formatted string."),
    ]
    idx = CorpusIndex.build("t", docs)
    hits = idx.search("parse ISO date string", 5)
    assert [h.location for h in hits].count("datetime.fromisoformat") == 1
    assert hits[0].location == "datetime.fromisoformat"
    assert all(0.0 < h.score <= 1.0 for h in hits)
    assert idx.search("zzqx wvvy", 5) == [] and idx.search("the of and", 5) == []


def test_embeddings_and_features_are_saved_beside_bm25_and_load_back(tmp_path: Path) -> None:
    docs = [
        Document("a.gather", "a.gather", "Run awaitables concurrently."),
        Document("b", "b", "Dogs bark."),
    ]
    built = CorpusIndex.build("t", docs)
    built.save(tmp_path)
    assert {"embeddings.npy", "features.json", "chunks.json"} <= {p.name for p in tmp_path.iterdir()}
    loaded = CorpusIndex.load("t", built.version, tmp_path)
    assert loaded is not None
    assert loaded.search("run concurrently", 2) == built.search("run concurrently", 2)


def test_the_version_covers_the_embedding_model_and_the_ranking_code() -> None:
    assert semantic.MODEL_ID.startswith("wordllama==") and f":{semantic.DIM}" in semantic.MODEL_ID
    assert {"rank.py", "signals.py", "semantic.py", "markup.py", "reference.py"} <= set(CORPUS_FILES)
    assert content_hash([Document("t", "l", "x")]) == content_hash([Document("t", "l", "x")])


def test_a_question_word_meets_its_short_form_in_names_and_leads() -> None:
    stems = tokenize("read a CSV file into dictionaries")
    assert rank.name_match(stems, "csv dictreader") > rank.name_match(stems, "csv writer")
    lead = frozenset(tokenize("Serialize obj to a JSON formatted str."))
    assert rank.lead_match(tokenize("serialize an object to a JSON string"), lead) == 1.0


def test_a_signature_with_nested_brackets_is_not_the_lead() -> None:
    text = "select(options: 'Sequence[T]' = (), fmt: 'Callable[[Any], str]' = str) -> 'T'\n\nPick an option."
    assert strip_signature(text) == "Pick an option."
    assert signals.lead_text(text) == "Pick an option."
    # A chunk cut from inside a signature longer than a chunk has no opening at all.
    assert strip_signature("f(a: Annotated[int, Doc('one\n\ntwo')], b: Annotated[str, Doc('three") == ""


def test_a_later_chunk_ranks_below_the_opening_of_the_same_document() -> None:
    titles, locations = ["pkg.slider", "pkg.slider"], ["pkg.slider", "pkg.slider"]
    texts = ["Display a slider widget to pick a number from a range.", "label : str A short label for it."]
    first, later = (f.prior for f in signals.features(titles, locations, texts))
    assert later < first


def test_members_of_a_deprecated_module_rank_below_the_same_text_elsewhere() -> None:
    body = "Escape the characters of a string for safe use in markup, with details explained here."
    titles = ["old", "old.escape", "new", "new.escape"]
    texts = ["Old helpers.\n\nDeprecated (import warning): 'old' is deprecated", body, "New helpers.", body]
    prior = _prior(titles, titles, texts)
    assert prior["old.escape"] < prior["new.escape"]


def test_a_later_chunk_its_siblings_share_ranks_below_one_of_its_own() -> None:
    shared = "label : str A short label explaining to the user what this widget is for, shown above it."
    titles = ["pkg.slider", "pkg.slider", "pkg.toggle", "pkg.toggle", "pkg.gather", "pkg.gather"]
    texts = [
        "Display a slider widget to pick a number from a range of numbers the app defines.",
        shared,
        "Display a toggle widget that switches a setting of the app on and off when clicked.",
        shared,
        "Run the awaitable objects of the sequence concurrently and return all of their results.",
        "If return_exceptions is true, exceptions are treated the same as successful results and kept.",
    ]
    prior = [f.prior for f in signals.features(titles, titles, texts)]
    assert signals.boilerplate(titles, texts) == {1, 3}
    assert prior[1] < prior[5] < prior[4]  # shared boilerplate < a later chunk of its own < the opening


def test_a_namespace_the_question_names_lifts_its_members_by_how_distinctive_the_name_is() -> None:
    titles = ["tenacity.stop_after_attempt", "tenacity.retry", "other.RetryTransport", "random.choice"]
    locations = titles
    df = {"tenac": 3, "random": 40}.get  # 'tenacity' is mostly its own; 'random' is everywhere
    ns = signals.namespaces(titles, locations, lambda s: df(s) or 0)
    cand = rank.np.arange(4)
    lifted = rank.namespace_match(cand, tokenize("stop after attempts with tenacity"), ns)
    assert lifted[0] > 0 and lifted[1] > 0 and lifted[2] < 0 and lifted[3] < 0
    # 'random' names the random module too weakly to move anything.
    assert not rank.namespace_match(cand, tokenize("a random choice"), ns).any()


def test_an_old_api_kept_beside_its_successor_ranks_below_it() -> None:
    body = "Validate data against the model and return the instance, with details explained here."
    titles = ["pkg.main.validate", "pkg.v1.main.validate"]
    prior = _prior(titles, titles, [body, body])
    assert prior["pkg.v1.main.validate"] < prior["pkg.main.validate"]


def test_what_other_documents_say_about_an_api_counts_for_it() -> None:
    """Anchor text: the sentences that mention ``atexit.register`` say when it runs."""
    titles = ["atexit.register", "code.run_code", "guide"]
    texts = [
        "Register func as a function to be executed at termination, with details explained here.",
        "Run the code object given, with the globals and locals given, with details explained here.",
        "Cleanup code that must run when the interpreter exits belongs in atexit.register(fn).",
    ]
    feats = signals.features(titles, titles, texts)
    described = [frozenset(f.anchor) for f in feats]
    assert {"interpret", "exit"} <= described[0] and not described[1]
    query = rank.Query(tokenize("run code interpreter exits"))
    chunks = rank.Chunks.of(feats[:2])
    scores = rank.score(rank.np.arange(2), None, rank.np.zeros(2), chunks, query)
    plain = rank.Chunks(chunks.prior * 0, chunks.names, chunks.leads)
    without = rank.score(rank.np.arange(2), None, rank.np.zeros(2), plain, query)
    assert scores[0] - without[0] > scores[1] - without[1]


def test_a_constant_ranks_below_the_callable_that_acts_on_it() -> None:
    """ "handle a signal like SIGTERM": the constant's doc matches the question's words best, but
    what to call is ``signal.signal``; data documented by its bare name ranks lower."""
    docs = [
        Document("sig.SIGTERM", "sig.SIGTERM", "sig.SIGTERM\n\nTermination signal SIGTERM."),
        Document("sig.signal", "sig.signal", "signal(signalnum, handler)\n\nSet the handler for a signal."),
        Document("sig.other", "sig.other", "other(x)\n\nSomething else entirely."),
    ]
    feats = signals.features([d.title for d in docs], [d.location for d in docs], [d.text for d in docs])
    assert [f.data for f in feats] == [True, False, False]
    idx = CorpusIndex.build("t", docs)
    assert idx.search("handle signal SIGTERM", 2)[0].title == "sig.signal"


def test_an_api_named_for_the_question_is_a_candidate_though_its_text_says_it_otherwise() -> None:
    """ "log messages to a file": ``logging.FileHandler`` says "writes records to disk", so
    neither BM25 (40 texts say the question's words) nor the embedding lists it; its name does."""
    decoys = [
        Document(f"m.note{i}", f"m.note{i}", f"Log messages in a file {i} times, with log and file notes.")
        for i in range(40)
    ]
    others = [Document(f"m.other{i}", f"m.other{i}", f"Other text number {i}.") for i in range(60)]
    handler = Document(
        "logging.FileHandler", "logging.FileHandler", "A handler class which writes records to disk."
    )
    idx = CorpusIndex.build("t", [*decoys, *others, handler])
    saved = rank.NAME_CANDIDATES
    try:
        rank.NAME_CANDIDATES = 0
        assert "logging.FileHandler" not in [h.title for h in idx.search("log messages file", 50)]
    finally:
        rank.NAME_CANDIDATES = saved
    assert "logging.FileHandler" in [h.title for h in idx.search("log messages file", 50)]


def test_siblings_named_alike_are_told_apart_by_the_word_that_differs() -> None:
    """``DictReader`` / ``DictWriter`` differ in one word; a run-together name starting with a
    word the corpus's names often start with (``get_``) splits there: ``gethostname``."""
    gets = [f"net.{v}_{w}" for v in ("get", "set") for w in ("a", "b", "c", "d", "e")]
    titles = ["csv.DictReader", "csv.DictWriter", "net.gethostname", "net.sethostname", *gets]
    found = signals.siblings(titles, titles)
    assert found["csv.DictReader"] == ("reader", "writer")
    assert found["net.gethostname"] == ("get", "set")
    assert found["net.sethostname"] == ("set", "get")


def test_a_question_saying_a_siblings_action_ranks_that_sibling_first() -> None:
    """ "get the hostname" puts ``gethostname`` above ``sethostname``, although the setter's
    text matches the question as well (and comes first); "get" is a stop word for BM25."""
    gets = [
        Document(f"net.{v}_{w}", f"net.{v}_{w}", f"Change the {w} value.")
        for v in ("get", "set")
        for w in "abcde"
    ]
    docs = [
        Document("net.sethostname", "net.sethostname", "Set the hostname of the machine."),
        Document("net.gethostname", "net.gethostname", "Return the hostname of the machine."),
        *gets,
    ]
    idx = CorpusIndex.build("t", docs)
    assert idx.search("get hostname machine", 2)[0].title == "net.gethostname"
    assert idx.search("set hostname machine", 2)[0].title == "net.sethostname"


def test_anchor_text_is_the_same_whatever_the_string_hash_seed() -> None:
    """Two builds of one corpus give one index: the anchor stems that tie on count are picked by
    the stem, not by set order (which follows ``PYTHONHASHSEED``)."""
    import subprocess
    import sys

    code = (
        "from core.sources import signals\n"
        "words = ' '.join(f'word{i}' for i in range(40))\n"
        "print(signals.anchors(['m.to_thread', 'm.x'], ['x', f'Use to_thread() with {words}.']))\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(outs) == 1
    assert "word0" in outs.pop()  # ties go to the smallest stems
