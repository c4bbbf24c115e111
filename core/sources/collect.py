"""Collect docstrings by importing modules — run as a subprocess so a bad module can't hurt us.

``python -m core.sources.collect stdlib OUT.json`` or
``python -m core.sources.collect packages OUT.json pydantic httpx ...`` writes a JSON list of
``{"title", "location", "text", "keywords"}`` documents to ``OUT.json``. The parent process never
imports the walked modules: importing the whole standard library (or streamlit) runs module code,
may print, open windows or hang. Here stdin is closed, stdout/stderr go to /dev/null, warnings are
silenced, and each import gets an alarm so one module cannot stall the walk.

Only the standard library is imported by this module (it runs before anything else is known safe).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import json
import os
import pkgutil
import re
import signal
import sys
import types
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

# Top-level stdlib names never imported: tests, GUIs, installers, jokes, and modules whose import
# has side effects (this prints, antigravity opens a browser, turtle/tkinter need a display).
STDLIB_SKIP = frozenset(
    "test idlelib tkinter turtle turtledemo ensurepip lib2to3 __main__ antigravity this "
    "pydoc_data xxlimited xxlimited_35 xxsubtype _xxtestfuzz".split()
)
# Submodule name parts never walked (tests, vendored copies, generated code, entry points).
PART_SKIP = frozenset("test tests testing conftest __main__ vendor _vendor proto setup".split())
IMPORT_TIMEOUT_S = 10
MAX_MODULES_PER_PACKAGE = 400

Doc = dict[str, str]


class _ImportTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ImportTimeout


DEPRECATED: dict[str, str] = {}
"""Modules whose import warned that they are deprecated (name -> the warning), as imported."""
_DEPRECATION = re.compile(r"'([\w.]+)' is deprecated|\bthe ([\w.]+) module is deprecated", re.I)
DEPRECATED_LABEL = "Deprecated (import warning):"
"""How a deprecated module's document says so (``core.sources.rank`` ranks its members lower)."""


def _safe_import(name: str) -> types.ModuleType | None:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(IMPORT_TIMEOUT_S)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeprecationWarning)
            mod = importlib.import_module(name)
        # A deprecated module warns once, when first imported: maybe by another module's import.
        for w in caught:
            m = _DEPRECATION.search(str(w.message)) if issubclass(w.category, DeprecationWarning) else None
            if m:
                DEPRECATED.setdefault(m.group(1) or m.group(2), str(w.message))
        return mod
    except BaseException:  # SystemExit, KeyboardInterrupt-like exits of odd modules included
        return None
    finally:
        signal.alarm(0)


def _public_name(name: str) -> bool:
    return all(not p.startswith("_") and p not in PART_SKIP for p in name.split("."))


def walk_modules(roots: Iterable[str], skip: frozenset[str] = frozenset()) -> list[types.ModuleType]:
    """Import each root and its public submodules (depth first), skipping what fails."""
    out: list[types.ModuleType] = []
    for root in roots:
        if root in skip or not _public_name(root):
            continue
        mod = _safe_import(root)
        if mod is None:
            continue
        found = [mod]
        stack = [mod]
        while stack and len(found) < MAX_MODULES_PER_PACKAGE:
            pkg = stack.pop()
            path = getattr(pkg, "__path__", None)
            if not path:
                continue
            for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
                full = f"{pkg.__name__}.{info.name}"
                if not _public_name(info.name):
                    continue
                sub = _safe_import(full)
                if sub is None:
                    continue
                found.append(sub)
                if info.ispkg:
                    stack.append(sub)
        out.extend(found)
    return out


# A default value's repr may carry its address (``<Unset object at 0x7f54...>``): a different text
# on every collection, so the content hash changed and every re-collect rebuilt the index. A
# module's repr carries its install path (``<module 'streamlit' from '/.../site-packages/...'>``):
# the same packages installed elsewhere (another checkout, another worker host) would make another
# index version, so other cache keys, and no shared L2 entries.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>| from '[^']*'>")


def _doc(obj: Any) -> str:
    # The object's own docstring only: inspect.getdoc() would copy inherited docs onto every override.
    # A dataclass's generated docstring is its signature, reprs included: addresses go (_ADDRESS).
    doc = getattr(obj, "__doc__", None)
    return _ADDRESS.sub(">", inspect.cleandoc(doc)) if isinstance(doc, str) else ""


def _signature(name: str, obj: Any) -> str:
    try:
        return _ADDRESS.sub(">", f"{name}{inspect.signature(obj)}")
    except (TypeError, ValueError, RecursionError):
        return ""
    except Exception:
        return ""


def _is_api(obj: Any) -> bool:
    return inspect.isclass(obj) or inspect.isroutine(obj)


def _members(mod: types.ModuleType) -> Iterator[tuple[str, Any]]:
    exported = getattr(mod, "__all__", None)
    names = list(exported) if isinstance(exported, (list, tuple)) else []
    # Plus public globals: some packages star-import without listing (asyncio.TaskGroup in 3.11).
    names += [n for n in list(vars(mod)) if n not in names]
    for n in names:
        if not isinstance(n, str) or n.startswith("_"):
            continue
        try:
            yield n, getattr(mod, n)  # getattr, not vars(): lazy package exports (pydantic) resolve here
        except BaseException:
            continue


def _rank(alias: str, owner: str, public: frozenset[str] = frozenset()) -> tuple[bool, bool, int, int, str]:
    # A module's documented public name comes first (os.path.exists, not genericpath.exists);
    # then a name in the defining module or one of its parent packages (asyncio.gather for
    # asyncio.tasks.gather) over a shorter one that merely imports it elsewhere.
    parent = alias.rsplit(".", 1)[0]
    in_family = owner == parent or owner.startswith(parent + ".")
    return (parent not in public, not in_family, alias.count("."), len(alias), alias)


def public_module_names(walked: set[str]) -> dict[str, str]:
    """Modules imported under a public name of a walked package that is not their own
    (``os.path`` is ``posixpath``): module name -> that public name, which its members go by."""
    out: dict[str, str] = {}
    for key, mod in list(sys.modules.items()):
        name = getattr(mod, "__name__", key)
        if isinstance(mod, types.ModuleType) and key != name and _public_name(key) and "." in key:
            if key.split(".", 1)[0] in walked:
                out.setdefault(name, key)
    return out


def collect_docstrings(modules: list[types.ModuleType]) -> list[Doc]:
    """Docstring documents of the modules, their public classes and functions, and class members.

    Each object is indexed once, at the module that defines it (``asyncio.tasks.gather``), titled
    by its shortest public alias (``asyncio.gather``).
    """
    walked = {m.__name__ for m in modules}
    public = public_module_names(walked)
    bases = frozenset(public.values())
    aliases: dict[int, list[str]] = {}
    objects: dict[int, Any] = {}
    home: dict[int, str] = {}
    docs: list[Doc] = []
    for mod in modules:
        mdoc = _doc(mod)
        if mdoc and mod.__name__ in DEPRECATED:
            mdoc += f"\n\n{DEPRECATED_LABEL} {DEPRECATED[mod.__name__]}"
        base = public.get(mod.__name__, mod.__name__)
        if mdoc:
            docs.append({"title": base, "location": mod.__name__, "text": mdoc, "keywords": ""})
        for n, obj in _members(mod):
            if not _is_api(obj):
                continue
            key = id(obj)
            objects[key] = obj
            dotted = f"{base}.{n}"
            aliases.setdefault(key, []).append(dotted)
            owner = getattr(obj, "__module__", None)
            qual = getattr(obj, "__qualname__", n)
            if owner in walked and isinstance(qual, str) and "<" not in qual:
                home[key] = f"{owner}.{qual}"
    for key, obj in objects.items():
        owner = getattr(obj, "__module__", None) or ""
        title = min(aliases[key], key=lambda a, o=owner: _rank(a, o, bases))  # type: ignore[misc]
        location = home.get(key, title)
        doc = _doc(obj)
        short = title.rsplit(".", 1)[-1]
        sig = "" if inspect.isclass(obj) else _signature(short, obj)
        module_line = ""
        owner_mod = sys.modules.get(getattr(obj, "__module__", "") or "")
        if owner_mod is not None:
            module_line = _doc(owner_mod).split("\n", 1)[0]
        if doc:
            text = f"{sig}\n\n{doc}" if sig else doc
            docs.append({"title": title, "location": location, "text": text, "keywords": module_line})
        if inspect.isclass(obj):
            docs.extend(_class_members(obj, title, location, module_line))
    return docs


def _class_members(cls: type, title: str, location: str, module_line: str) -> Iterator[Doc]:
    try:
        items = list(vars(cls).items())
    except TypeError:
        return
    for n, attr in items:
        if n.startswith("_") and n != "__init__":
            continue
        target = attr
        if isinstance(attr, (classmethod, staticmethod)):
            target = attr.__func__
        elif isinstance(attr, property):
            target = attr.fget
        if not (inspect.isroutine(target) or isinstance(attr, property)):
            continue
        doc = _doc(target) if target is not None else ""
        if not doc:
            continue
        sig = _signature(n, target) if inspect.isroutine(target) else ""
        text = f"{sig}\n\n{doc}" if sig else doc
        yield {
            "title": f"{title}.{n}",
            "location": f"{location}.{n}",
            "text": text,
            "keywords": f"{title.rsplit('.', 1)[-1]} {module_line}",
        }


def collect_topics() -> list[Doc]:
    """The language-reference topics of ``pydoc_data.topics`` (``help('async')`` text)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return []
    return [
        {
            "title": f"Python reference: {name}",
            "location": f"pydoc_data.topics.{name}",
            "text": text,
            "keywords": name,
        }
        for name, text in sorted(topics.items())
    ]


def stdlib_roots() -> list[str]:
    return sorted(n for n in sys.stdlib_module_names if n not in STDLIB_SKIP and not n.startswith("_"))


# Our own README quotes demo questions verbatim; indexing it would make the product cite itself.
OWN_DISTRIBUTIONS = frozenset({"researchops"})


def collect_readmes() -> list[Doc]:
    """The long description (README) of every installed distribution, from its METADATA."""
    docs: list[Doc] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        meta: Any = dist.metadata  # an email.message.Message at runtime (.get, .get_payload)
        name = meta.get("Name") or ""
        norm = name.lower().replace("_", "-")
        if not name or norm in seen or norm in OWN_DISTRIBUTIONS:
            continue
        seen.add(norm)
        body = meta.get_payload() or meta.get("Description") or ""
        if not isinstance(body, str) or len(body.split()) < 20:
            continue
        summary = meta.get("Summary") or ""
        docs.append(
            {
                "title": f"{name} {meta.get('Version', '')} — {summary}".strip(),
                "location": f"pypi:{norm}",
                "text": body,
                "keywords": f"{name} {summary}",
                "format": "rst" if "rst" in (meta.get("Description-Content-Type") or "x-rst") else "md",
            }
        )
    return docs


def main(argv: list[str]) -> int:
    kind, out = argv[0], argv[1]
    warnings.simplefilter("ignore")
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        if kind == "stdlib":
            docs = collect_docstrings(walk_modules(stdlib_roots(), STDLIB_SKIP)) + collect_topics()
        elif kind == "packages":
            docs = collect_readmes() + collect_docstrings(walk_modules(argv[2:]))
        else:
            raise SystemExit(f"unknown corpus {kind!r}")
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(docs, fh)
    return 0


def run_collector(kind: str, args: list[str], timeout_s: float = 300.0) -> list[Doc]:
    """Run this module in a fresh interpreter and return what it collected (blocking).

    Raises ``RuntimeError`` with the reason when the subprocess fails or times out.
    """
    import subprocess
    import tempfile
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        # A fixed string hash: modules and members are walked in the same order every time, so the
        # same installation collects the same documents and hashes to the same corpus version.
        "PYTHONHASHSEED": "0",
    }
    with tempfile.TemporaryDirectory(prefix="researchops-collect-") as tmp:
        out = os.path.join(tmp, "docs.json")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "core.sources.collect", kind, out, *args],
                cwd=tmp,  # modules that write files on import write them here
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{kind} collector did not finish within {timeout_s:.0f}s") from exc
        if proc.returncode != 0 or not os.path.exists(out):
            tail = proc.stderr.decode(errors="replace")[-500:]
            raise RuntimeError(f"{kind} collector exited with {proc.returncode}: {tail}")
        with open(out, encoding="utf-8") as fh:
            docs: list[Doc] = json.load(fh)
    return docs


if __name__ == "__main__":
    # Some modules start threads at import; exit hard once the output is written.
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
