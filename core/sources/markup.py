"""Source markup to clean Markdown, at collection time: what findings and summaries carry.

reStructuredText (package READMEs, ``.rst`` files, Sphinx-style docstrings) and the Markdown
dialects of docstrings (mkdocstrings cross-references) become plain Markdown: links
``[text](url)``, inline code in single backticks, literal blocks and doctests fenced as code.
Badges, images, HTML comments and substitution definitions, which read as noise in an answer,
are dropped. Pure functions of the text; idempotent on clean Markdown.
"""

from __future__ import annotations

import re

_RST_LINK = re.compile(r"`([^`<>]+?)\s*<([^`<>\s]+)>`__?")
_RST_ROLE = re.compile(r":(?:py:)?[a-z]+:`~?!?([^`<>]+?)(?:\s*<([^`>]+)>)?`")
_RST_LITERAL = re.compile(r"``([^`\n]+?)``")
_RST_REF = re.compile(r"`([^`\n]+?)`_\b")
_MKDOCS_REF = re.compile(r"\[([^\]\n]+)\]\[[\w.:\-]*\]")
_MD_IMAGE = re.compile(r"\[?!\[[^\]\n]*\]\([^)\n]*\)(?:\]\([^)\n]*\))?")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ADMONITION = re.compile(
    r'^(?:!!!|\?\?\?\+?)[ \t]+(\w[\w-]*)(?:[ \t]+"([^"\n]*)")?[ \t]*\n'  # !!! note "Title"
    r"((?:[ \t]*\n)*(?:(?: {4}|\t).*\n?|[ \t]*\n(?= {4}|\t))*)",  # its indented body, blank lines inside
    re.M,
)
"""An mkdocs admonition (``!!! note "Title"`` over its indented body), as pydantic writes them."""
_DIRECTIVE = re.compile(
    r"^\.\. (?:image|figure|raw|include|toctree|contents|only|meta|\|[^|]+\|)[^\n]*\n(?:[ \t]+[^\n]*\n|\n)*",
    re.M,
)
_CODE_DIRECTIVE = re.compile(r"^\.\. (?:code-block|code|sourcecode|highlight)::\s*(\w*)[^\n]*\n", re.M)
_LINK_TARGET = re.compile(r"^\.\. _([^:\n]+):[ \t]*(\S*)[^\n]*\n?", re.M)
# A docstring's "Usage:" / "For example:" line: the indented block under it is code (numpydoc
# and Google style write examples so), unlike the definition lists under "Args:" or "Returns:".
_EXAMPLE_LABEL = re.compile(
    r"^[^:\n]{0,40}\b(?:examples?|usage|equivalent|e\.g|for instance|code like this|following code)\b"
    r"[^:\n]{0,30}:$",
    re.I,
)
_NAMED_REF = re.compile(r"`([^`\n<>]+)`__?(?![\w])|\b([\w][\w.\-]*[\w])__?(?![\w])")


def link_targets(text: str) -> dict[str, str]:
    """The named hyperlink targets of a reST text (``.. _PyPI: https://pypi.org/``), by lower-cased name."""
    return {m.group(1).strip().lower(): m.group(2) for m in _LINK_TARGET.finditer(text) if m.group(2)}


def _named_refs(text: str, targets: dict[str, str]) -> str:
    def link(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        url = targets.get(name.strip().lower())
        if url:
            return f"[{name.strip()}]({url})"
        return name if m.group(1) else m.group(0)

    return _NAMED_REF.sub(link, text)


_CODE_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\(.*\)|[A-Za-z_][\w.]* = \S.*|\s+#.*)\s*(?:#.*)?$")
"""A line that is a call, an assignment or a comment under one (not prose)."""


def _indented_blocks(text: str) -> str:
    """Fence the literal blocks that follow ``::``, a code directive or an example label
    ("Usage:", "For example:"), and doctest runs.

    >>> _indented_blocks("Usage:\\n\\n    done, pending = await asyncio.wait(fs)\\n\\nNote.")
    'Usage:\\n\\n```python\\ndone, pending = await asyncio.wait(fs)\\n```\\n\\nNote.'
    >>> _indented_blocks("**Usage**:\\n\\nTimeout(5.0)  # 5s on all\\nTimeout(None)  # none")
    '**Usage**:\\n\\n```python\\nTimeout(5.0)  # 5s on all\\nTimeout(None)  # none\\n```'
    """
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    fenced = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.lstrip().startswith(">>> "):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i].strip() if lines[i].lstrip().startswith((">>>", "...")) else lines[i])
                i += 1
            out += ["```python", *block, "```"]
            continue
        lang = None
        directive = _CODE_DIRECTIVE.match(line + "\n")
        if not fenced and directive:
            lang = directive.group(1) or "python"
            line = ""
        elif not fenced and line.rstrip().endswith("::") and not line.strip().startswith(".."):
            lang = ""
            line = line.rstrip()[:-1] if line.strip() != "::" else ""
        elif not fenced and _EXAMPLE_LABEL.match(line.strip()):
            lang = "python"
        if lang is None:
            out.append(line)
            i += 1
            continue
        if line:
            out.append(line)
        i += 1
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        base = len(lines[j]) - len(lines[j].lstrip()) if j < len(lines) else 0
        if base == 0:
            end = j
            while end < len(lines) and lines[end].strip():
                end += 1
            # An example label over unindented lines that are all code ("**Usage**:" then
            # "Timeout(5.0)  # 5s timeout on all operations."): that paragraph is the example.
            if lang == "python" and end > j and all(_CODE_LINE.match(ln) for ln in lines[j:end]):
                out += ["", "```python", *lines[j:end], "```"]
                i = end
            continue
        block = []
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) >= base):
            block.append(lines[j][base:])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        out += ["", f"```{lang}", *block, "```", ""]
        i = j
    return "\n".join(out)


def rst_to_markdown(text: str, targets: dict[str, str] | None = None) -> str:
    """reStructuredText markup as Markdown; ``targets`` resolves named references (``PyPI_``),
    default: the targets defined in ``text`` itself.

    >>> rst_to_markdown("See `the docs <https://x.org>`_ and :func:`asyncio.gather`; use ``x=1``.")
    'See [the docs](https://x.org) and `asyncio.gather`; use `x=1`.'
    >>> rst_to_markdown("Get it from PyPI_.", {"pypi": "https://pypi.org/"})
    'Get it from [PyPI](https://pypi.org/).'
    """
    targets = link_targets(text) if targets is None else targets
    text = _DIRECTIVE.sub("", text)
    text = _LINK_TARGET.sub("", text)
    text = _indented_blocks(text)
    text = _RST_LINK.sub(lambda m: f"[{m.group(1).strip()}]({m.group(2)})", text)
    text = _RST_ROLE.sub(lambda m: f"`{m.group(1).strip()}`", text)
    text = _RST_LITERAL.sub(r"`\1`", text)
    return _named_refs(text, targets) if targets else _RST_REF.sub(r"\1", text)


def clean_markdown(text: str) -> str:
    """Markdown without badges, images, HTML comments or mkdocstrings references; admonitions
    (``!!! note``) as quotes.

    >>> clean_markdown("[![ci](https://b/x.svg)](https://ci) Use [`Agent`][pydantic_ai.Agent].")
    'Use `Agent`.'
    >>> clean_markdown('!!! abstract "Usage Documentation"\\n    [Guide](x.md)\\n\\nDump it.')
    '> **Usage Documentation:** [Guide](x.md)\\n\\nDump it.'
    """
    text = _HTML_COMMENT.sub("", text)
    text = _ADMONITION.sub(_quote, text)
    text = _MD_IMAGE.sub("", text)
    text = _MKDOCS_REF.sub(r"\1", text)
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _quote(m: re.Match[str]) -> str:
    """An admonition as a Markdown quote: ``> **Title:**`` over its body (Markdown renders the
    quote; a reader tells the aside from the text around it)."""
    title = m.group(2) or m.group(1).capitalize()
    body = [ln[4:] if ln.startswith("    ") else ln.lstrip("\t") for ln in m.group(3).strip("\n").split("\n")]
    if len(body) == 1 or ("```" not in m.group(3) and all(ln.strip() for ln in body)):
        return f"> **{title}:** {' '.join(ln.strip() for ln in body)}\n"
    return "\n".join([f"> **{title}:**", *(f"> {ln}".rstrip() for ln in body)]) + "\n"


def docstring_to_markdown(text: str) -> str:
    """A docstring (plain, reST-flavoured or Markdown) as Markdown: inline markup converted,
    doctests and ``::`` blocks fenced.

    >>> docstring_to_markdown("Add ``1``.\\n\\n>>> add(1)\\n2")
    'Add `1`.\\n\\n```python\\n>>> add(1)\\n2\\n```'
    """
    return clean_markdown(rst_to_markdown(text))
