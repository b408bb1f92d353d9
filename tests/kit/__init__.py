"""Helpers the tests share (imported as ``tests.kit.…``; test modules never import each other)."""

from __future__ import annotations

from pathlib import Path

#: the repository's root, and the third-party and golden files the tests read
REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
