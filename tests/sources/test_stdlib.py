"""The stdlib source over the real standard library."""

from __future__ import annotations

import pytest

from core.sources.base import Hit, Source
from core.sources.indexed import IndexedSource
from core.sources.reference import default_reference_dir, read_reference


def _locations(hits: list[Hit]) -> list[str]:
    return [h.location for h in hits]


def test_stdlib_is_a_source_with_a_version(stdlib_source: IndexedSource) -> None:
    assert isinstance(stdlib_source, Source)
    assert stdlib_source.name == "stdlib"
    assert stdlib_source.doc_count > 5000
    assert len(stdlib_source.version) == 12 and int(stdlib_source.version, 16) >= 0


def test_submodule_functions_are_indexed_at_their_definition_under_their_public_title(
    stdlib_source: IndexedSource,
) -> None:
    by_location = {c.location: c for c in stdlib_source.index.chunks}
    assert by_location["asyncio.tasks.gather"].title == "asyncio.gather"
    assert by_location["json.dumps"].title == "json.dumps"
    assert "asyncio.taskgroups.TaskGroup" in by_location
    assert any(loc.startswith("pydoc_data.topics.") for loc in by_location)
    # os.path is posixpath: its members go by the public name, wherever they are defined.
    assert by_location["posixpath.join"].title == "os.path.join"
    assert by_location["genericpath.exists"].title == "os.path.exists"


def test_a_module_whose_import_warns_it_is_deprecated_says_so(stdlib_source: IndexedSource) -> None:
    texts = {c.location: c.text for c in stdlib_source.index.chunks if "~" not in c.doc_id}
    assert "Deprecated (import warning): 'cgi' is deprecated" in texts["cgi"]
    assert "Deprecated (import warning)" not in texts["json"]


def test_no_skipped_modules_are_indexed(stdlib_source: IndexedSource) -> None:
    tops = {c.location.split(".", 1)[0] for c in stdlib_source.index.chunks}
    assert not tops & {
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "this",
        "antigravity",
    }


async def test_gzip_question_finds_gzip_compress(stdlib_source: IndexedSource) -> None:
    hits = (await stdlib_source.search("How can I compress bytes with gzip?", 3)).hits
    assert "gzip.compress" in _locations(hits)


async def test_argument_parsing_question_finds_argparse(stdlib_source: IndexedSource) -> None:
    hits = (await stdlib_source.search("parse command line arguments and options", 5)).hits
    assert any(loc.startswith(("argparse", "getopt", "optparse")) for loc in _locations(hits))


async def test_json_question_finds_json_dumps(stdlib_source: IndexedSource) -> None:
    hits = (await stdlib_source.search("serialize a Python object to a JSON formatted string", 3)).hits
    assert any(loc.startswith("json.") for loc in _locations(hits))


@pytest.mark.usefixtures("library_reference")
async def test_concurrent_coroutines_question_finds_gather_or_taskgroup(stdlib_source: IndexedSource) -> None:
    """Docstrings alone never say gather runs things "concurrently"; the reference does."""
    question = "How do I run coroutines concurrently and wait for all of them?"
    hits = (await stdlib_source.search(question, 3)).hits
    assert any("gather" in loc or "TaskGroup" in loc for loc in _locations(hits)), _locations(hits)


async def test_hits_are_best_first_and_plain_data(stdlib_source: IndexedSource) -> None:
    hits = (await stdlib_source.search("temporary directory that is removed automatically", 10)).hits
    assert hits and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert set(hits[0].to_dict()) == {"doc_id", "title", "location", "text", "score"}
    assert len({h.doc_id for h in hits}) == len(hits)


async def test_query_without_known_words_returns_nothing(stdlib_source: IndexedSource) -> None:
    assert (await stdlib_source.search("zzqx wvvy", 5)).hits == []
    assert (await stdlib_source.search("the of and", 5)).hits == []


@pytest.mark.usefixtures("library_reference")
def test_library_reference_is_read_per_documented_name() -> None:
    reference = read_reference(default_reference_dir())
    assert reference["asyncio.gather"].startswith("awaitable asyncio.gather(*aws")
    assert "sequence concurrently" in reference["asyncio.gather"]
    # A class's methods are their own entries, not part of the class text.
    assert "create_task" in reference["asyncio.TaskGroup.create_task"]
    assert "Create a task in this task group" not in reference["asyncio.TaskGroup"]


@pytest.mark.usefixtures("library_reference")
def test_reference_examples_stay_code_blocks() -> None:
    """Sphinx's <pre> examples were flattened into the prose around them."""
    semaphore = read_reference(default_reference_dir())["asyncio.Semaphore"]
    assert "```python\nsem = asyncio.Semaphore(10)\n\n# ... later\nasync with sem:\n" in semaphore
    assert "\x00" not in semaphore


@pytest.mark.usefixtures("library_reference")
def test_reference_text_is_merged_into_the_api_document(stdlib_source: IndexedSource) -> None:
    gather = " ".join(c.text for c in stdlib_source.index.chunks if c.location == "asyncio.tasks.gather")
    assert "Return a future aggregating results" in gather  # docstring
    assert "Run awaitable objects in the aws sequence concurrently" in gather  # reference


def test_a_signature_is_the_same_text_on_every_collection() -> None:
    """A default's repr with its address (``<Unset object at 0x7f...>``) changed the content hash on
    every collection, so every re-collect rebuilt the index."""
    from core.sources import collect

    class Unset:
        pass

    def override(*, name: object = Unset()) -> None: ...

    sig = collect._signature("override", override)
    assert sig.startswith("override(*, name: 'object' = <") and sig.endswith("Unset object>) -> 'None'")


def test_a_signature_does_not_carry_the_install_path_of_a_module_default() -> None:
    """``help(obj=<module 'streamlit' from '/.../site-packages/...'>)``: the same packages installed
    in another checkout or on another worker host must give the same text (one index version)."""
    from core.sources import collect

    def helper(obj: object = collect) -> None: ...

    sig = collect._signature("helper", helper)
    assert "<module 'core.sources.collect'>" in sig and "from '" not in sig


def test_a_builtins_docstring_and_its_library_reference_are_one_document(
    stdlib_source: IndexedSource, library_reference: None
) -> None:
    """``builtins.dict.setdefault`` (the docstring) and ``dict.setdefault`` (the reference) were
    two documents of one API, both in the top three for "a dictionary with a default value"."""
    chunks = stdlib_source.index.chunks
    assert not any(c.title.startswith("builtins.") or c.location.startswith("builtins.") for c in chunks)
    text = "\n\n".join(c.text for c in chunks if c.title == "dict.setdefault")
    assert "Insert key with a value of default" in text and "Library reference" in text
