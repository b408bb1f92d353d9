"""Repeated blocks in a Python tree: six or more lines that appear twice, as the same lines or
the same shape with other names.

Each logical line is reduced to its shape: names become ``N``, strings ``S``, numbers ``0``;
docstrings, comments, blank lines and import lines are left out.  Every window of ``--lines``
consecutive shapes that occurs in two places is a repeat; overlapping windows of the same two
places are merged into one pair.  Prints the pairs and their count (``--count`` only the count).

    python scripts/duplicates.py opencass [--lines 6] [--count]
"""

from __future__ import annotations

import argparse
import io
import keyword
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

Line = tuple[str, int, str]  # file, line number, shape


def shapes(path: Path) -> list[Line]:
    """The shaped logical lines of a module."""
    out: list[Line] = []
    text = path.read_text(encoding="utf-8")
    current: list[str] = []
    start = 0
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        kind = tok.type
        if kind in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            continue
        if kind == tokenize.NEWLINE:
            shape = " ".join(current)
            docstring = current == ["S"]
            if current and not docstring and current[0] not in ("import", "from"):
                out.append((str(path), start, shape))
            current = []
            continue
        if not current:
            start = tok.start[0]
        if kind == tokenize.NAME and not _keyword(tok.string):
            current.append("N")
        elif kind == tokenize.STRING:
            if not (current and current[-1] == "S"):  # implicit concatenation: one string
                current.append("S")
        elif kind == tokenize.NUMBER:
            current.append("0")
        elif kind != tokenize.ENDMARKER:
            current.append(tok.string)
    return out


_KEYWORDS = frozenset(keyword.kwlist)


def _keyword(word: str) -> bool:
    return word in _KEYWORDS


def _doing(shape: str) -> bool:
    """Whether a line does something: a call or a control statement, not a declaration."""
    first = shape.split(" ", 1)[0]
    if first in ("@", "class", "def", "async"):
        return False
    return "(" in shape or first in ("if", "elif", "for", "while", "with", "return", "yield")


def repeats(root: Path, size: int = 6) -> list[tuple[str, int, str, int, int]]:
    """(file A, line A, file B, line B, lines) of every repeated block, merged."""
    files = {p: shapes(p) for p in sorted(root.rglob("*.py"))}
    seen: dict[tuple[str, ...], list[tuple[Path, int]]] = defaultdict(list)
    for path, lines in files.items():
        for i in range(len(lines) - size + 1):
            key = tuple(s for _, _, s in lines[i : i + size])
            if len(set(key)) < 2 or sum(_doing(s) for s in key) < 2:
                continue  # declarations (fields, enum members, decorators), or like lines
            seen[key].append((path, i))
    hits: dict[tuple[Path, Path], list[tuple[int, int]]] = defaultdict(list)
    for places in seen.values():
        for a in range(len(places)):
            for b in range(a + 1, len(places)):
                (pa, ia), (pb, ib) = places[a], places[b]
                if pa == pb and abs(ia - ib) < size:
                    continue  # a run repeating itself within one window
                hits[(pa, pb)].append((ia, ib))
    found = []
    for (pa, pb), starts in hits.items():
        # windows overlapping in both places are one repeated block
        clusters: list[list[int]] = []  # [a_first, a_last, b_first, b_last]
        for ia, ib in sorted(starts):
            for c in clusters:
                if ia <= c[1] + size - 1 and c[2] - size + 1 <= ib <= c[3] + size - 1:
                    c[1], c[2], c[3] = max(c[1], ia), min(c[2], ib), max(c[3], ib)
                    break
            else:
                clusters.append([ia, ia, ib, ib])
        for a0, a1, b0, _b1 in clusters:
            lines_a = files[pa]
            found.append((str(pa), lines_a[a0][1], str(pb), files[pb][b0][1], a1 - a0 + size))
    return sorted(found)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--lines", type=int, default=6)
    parser.add_argument("--count", action="store_true")
    args = parser.parse_args(argv)
    found = repeats(args.root, args.lines)
    if not args.count:
        for a, la, b, lb, n in found:
            print(f"{n:3d} lines  {a}:{la}  {b}:{lb}")
    print(len(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
