"""Helpers shared by test modules (test modules never import each other's)."""

from __future__ import annotations

import json
import subprocess
import sys


def modules_added(imports: str, *, after: str = "", roots: tuple[str, ...] = ()) -> list[str]:
    """The modules that ``imports`` adds to a fresh interpreter that has already run ``after``,
    kept to those whose top-level package (or any dotted part, for ``.name`` roots) is in ``roots``."""
    code = (
        f"import sys, json; {after or 'pass'}; before = set(sys.modules); {imports}; "
        f"roots = {roots!r}; added = set(sys.modules) - before; "
        "print(json.dumps(sorted(m for m in added if m.split('.')[0] in roots "
        "or any(r.startswith('.') and r in m for r in roots))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))
