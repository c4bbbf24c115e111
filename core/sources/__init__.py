"""Retrieval sources: the Source protocol, a BM25 corpus index and the stdlib/packages/docs sources.

Kept import-light on purpose: ``core.sources.collect`` runs as a subprocess and imports this package.
Import what you need from the submodules (``base``, ``registry``, ``resilient``).
"""
