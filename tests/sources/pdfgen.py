"""A tiny PDF writer (Helvetica text pages) so the PDF reader is tested on real PDF files.

Used by the tests, and once to produce ``samples/docs/postgresql/VACUUM.pdf`` from the
PostgreSQL ``VACUUM(7)`` manual page text::

    .venv/bin/python -m tests.sources.pdfgen samples/docs/postgresql/VACUUM.txt \
        samples/docs/postgresql/VACUUM.pdf "VACUUM - garbage-collect and analyze a PostgreSQL database"
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

LINES_PER_PAGE = 56


def _escape(line: str) -> bytes:
    raw = line.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def write_pdf(text: str, path: Path, title: str = "") -> int:
    """Write ``text`` as a US-Letter PDF (10 pt Helvetica); returns the number of pages."""
    lines: list[str] = []
    for para in text.splitlines():
        lines.extend(textwrap.wrap(para.expandtabs(), 95) or [""])
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)] or [[]]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # pages tree, filled below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + _escape(title) + b") /Producer (researchops tests.sources.pdfgen) >>",
    ]
    kids = []
    for page in pages:
        stream = (
            b"BT /F1 10 Tf 13 TL 50 750 Td "
            + b" ".join(b"(" + _escape(ln) + b") Tj T*" for ln in page)
            + b" ET"
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_no = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content_no
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return len(pages)


if __name__ == "__main__":
    src, dst, *rest = sys.argv[1:]
    n = write_pdf(Path(src).read_text(encoding="utf-8"), Path(dst), rest[0] if rest else "")
    print(f"{dst}: {n} pages")
