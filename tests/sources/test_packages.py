"""The packages source: installed distributions' READMEs and package docstrings."""

from __future__ import annotations

from core.sources.indexed import IndexedSource


async def test_pydantic_validation_question_finds_pydantic_docs(packages_source: IndexedSource) -> None:
    query = "validate data against a model and report validation errors"
    hits = (await packages_source.search(query, 5)).hits
    assert hits
    assert sum(h.location.startswith(("pydantic", "pypi:pydantic")) for h in hits) >= 3, [
        h.location for h in hits
    ]


async def test_readmes_are_located_on_pypi(packages_source: IndexedSource) -> None:
    locations = {c.location.split("#", 1)[0] for c in packages_source.index.chunks}
    assert {"pypi:pydantic", "pypi:httpx", "pypi:redis"} <= locations
    hits = (await packages_source.search("retry with exponential backoff", 5)).hits
    assert any("tenacity" in h.location for h in hits)


async def test_package_docstrings_have_public_titles(packages_source: IndexedSource) -> None:
    titles = {c.location: c.title for c in packages_source.index.chunks}
    assert titles["pydantic.main.BaseModel"] == "pydantic.BaseModel"
    assert "cachetools.TTLCache" in titles.values()


def test_researchops_own_readme_is_not_indexed() -> None:
    """The project's own README quotes demo questions; the product must not cite itself."""
    from core.sources.collect import collect_readmes

    locations = {d["location"] for d in collect_readmes()}
    assert "pypi:researchops" not in locations
    assert "pypi:pydantic" in locations


def test_collecting_twice_gives_the_same_corpus_version() -> None:
    """Same installation, same documents in the same order: a re-collect (any installed package
    changed the fingerprint) finds the index current instead of rebuilding it. Addresses in reprs
    and hash-seeded walk order both made every collection differ."""
    from core.sources.index import content_hash
    from core.sources.packages import collect_documents

    first, second = collect_documents(["pydantic_ai"]), collect_documents(["pydantic_ai"])
    assert len(first) > 100 and content_hash(first) == content_hash(second)
