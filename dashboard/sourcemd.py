"""Source text as Markdown for the pages: findings' snippets, answer summaries with linked citations.

Source text is Markdown (README sections) or docstrings (often reST). Rendering it keeps links and
code blocks; these functions fix the characters and constructs that would otherwise mis-render.

    st.markdown(sourcemd.linked_summary(result.summary, len(result.findings)))
"""

from __future__ import annotations

import re

_CITE = re.compile(r"\[(\d+)\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}<>#|~$])")
_FENCE = re.compile(r"^\s*(```|~~~)")
_REST_ROLE = re.compile(
    r":(?:py:)?(?:func|meth|class|mod|attr|data|exc|obj|const|term|ref|doc|pep|rfc):`~?([^`]+)`"
)
_REST_LITERAL = re.compile(r"``([^`]+)``")
_ADMONITIONS = "note|warning|tip|important|seealso|deprecated|versionadded|versionchanged"
_REST_DIRECTIVE = re.compile(rf"^\s*\.\.\s+({_ADMONITIONS})::\s*(.*)$", re.I)
_REST_CODE = re.compile(r"^\s*\.\.\s+(code-block|code|sourcecode)::\s*(\w*)\s*$", re.I)
_REST_OTHER = re.compile(r"^\s*\.\.\s+[\w:-]+::.*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_INLINE_SPECIAL = re.compile(r"(\$|~|<|>)")
_DUNDER = re.compile(r"_{2,}")
_SUMMARY_FENCE = re.compile(r"^(```[\w+-]*\n.*?\n```)[ \t]*$", re.M | re.S)


def finding_anchor(n: int) -> str:
    """The HTML anchor of finding ``n`` (1-based)."""
    return f"finding-{n}"


def escape_md(text: str) -> str:
    """Escape Markdown so source text (docstrings, ``__dunder__`` names) shows literally."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _inline(text: str) -> str:
    """One line of prose: reST roles -> code spans; images -> links (no fetch from the page);
    relative links -> their text; ``$``, ``~``, ``__``, ``<``/``>`` escaped outside code spans."""
    text = _REST_ROLE.sub(r"`\1`", _REST_LITERAL.sub(r"`\1`", text))
    text = _IMAGE.sub(lambda m: f"[image: {m.group(1) or 'link'}]({m.group(2)})", text)
    text = _LINK.sub(lambda m: m.group(0) if m.group(2).startswith(("http://", "https://")) else m.group(1),
                     text)  # fmt: skip
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(text):
        out += [_escape_prose(text[pos : m.start()]), m.group(0)]
        pos = m.end()
    out.append(_escape_prose(text[pos:]))
    return "".join(out)


def _escape_prose(text: str) -> str:
    text = _DUNDER.sub(lambda m: "\\_" * len(m.group(0)), text)  # __init__ is a name, not bold
    return _INLINE_SPECIAL.sub(r"\\\1", text)


def source_markdown(text: str) -> str:
    r"""Source text (a finding's snippet) as Markdown that renders as the source meant it.

    Fenced code stays; a reST literal block (a paragraph ending in ``::``, or ``.. code-block::``)
    becomes a fenced block, and so does a line ending in ``:`` followed by more-indented lines
    (a docstring's example); admonitions become a bold label; other directives are dropped; a
    leading ``#`` is a comment or heading in plain text, so it stays literal.

    >>> source_markdown("Use :func:`gather`::\n\n    await gather(a, b)\n")
    'Use `gather`:\n\n```\nawait gather(a, b)\n```'
    """
    lines, out = text.replace("\r\n", "\n").split("\n"), list[str]()
    fence: str | None = None
    block: tuple[int, int] | None = None  # inside an indented code block: (continue-at indent, dedent)
    want_literal, lang = False, ""

    def close_block() -> None:
        while out and not out[-1]:
            out.pop()
        out.extend(["```", ""])

    for i, line in enumerate(lines):
        if fence is not None:
            out.append(line)
            if _FENCE.match(line) and line.strip().startswith(fence):
                fence = None
            continue
        if m := _FENCE.match(line):
            fence = m.group(1)
            out.append(line.strip())
            continue
        indent = len(line) - len(line.lstrip())
        if block is not None:
            if not line.strip() or indent >= block[0]:
                out.append(line[block[1] :] if line.strip() else "")
                continue
            close_block()
            block = None
        if want_literal and line.strip():
            want_literal = False
            if indent > 0:
                out += [f"```{lang}", line[indent:]]
                block = (indent, indent)
                continue
        if m := _REST_CODE.match(line):
            want_literal, lang = True, m.group(2)
            continue
        if m := _REST_DIRECTIVE.match(line):
            out.append(f"**{m.group(1).capitalize()}:** {_inline(m.group(2))}".rstrip())
            continue
        if _REST_OTHER.match(line):
            continue
        if line.rstrip().endswith("::"):
            body = line.rstrip()[:-2].rstrip()
            want_literal, lang = True, ""
            if body:
                out.append(_inline(body) + ":")
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        nxt_indent = len(nxt) - len(nxt.lstrip())
        if line.rstrip().endswith(":") and nxt.strip() and nxt_indent > indent:
            out += ["", "```", line[indent:]]  # `for x in y:` then its indented body: code
            block = (nxt_indent, indent)
            continue
        stripped = line.lstrip()
        if stripped.startswith("#"):
            line = line[:indent] + "\\" + stripped
        out.append(_inline(line) if indent < 4 else line)
    if block is not None:
        close_block()
    if fence is not None:
        out.append(fence)  # close a fence the snippet cut off
    return "\n".join(out).strip()


def linked_summary(summary: str, n_findings: int) -> str:
    r"""The summary as Markdown (source markup rendered) with each valid ``[n]`` linking to its finding.

    Prose is joined into paragraphs; a fenced code example stays a block, verbatim.

    >>> "](#finding-1)" in linked_summary("Use gather [1].", 1)
    True
    >>> linked_summary("Use it [1]. For example:\n\n```python\nf(xs[1])\n```\nDone [1].", 1).split("\n")[2:5]
    ['```python', 'f(xs[1])', '```']
    """

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return f"[\\[{n}\\]](#{finding_anchor(n)})" if 1 <= n <= n_findings else m.group(0)

    out: list[str] = []
    for k, part in enumerate(_SUMMARY_FENCE.split(summary)):
        if k % 2:  # a fenced block: code, not prose with citations
            out.append(f"\n{part.strip()}\n")
        elif prose := " ".join(part.split()):
            out.append(_CITE.sub(link, _inline(prose)))
    return "\n".join(out)
