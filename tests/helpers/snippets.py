"""Code blocks marked ``<!-- PREFIX:NAME -->`` in a Markdown file: what the guides' tests run."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path


def marked_blocks(path: Path, prefix: str) -> dict[str, str]:
    """``{NAME: the block's text, dedented}`` for each block that follows its marker."""
    pattern = re.compile(
        rf"^(?P<indent>[ ]*)<!-- {re.escape(prefix)}:(?P<name>[a-z0-9-]+) -->\n"
        r"(?P=indent)```[a-z]*\n(?P<body>.*?)^(?P=indent)```$",
        re.MULTILINE | re.DOTALL,
    )
    found: dict[str, str] = {}
    for match in pattern.finditer(path.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"two blocks marked {prefix}:{match['name']} in {path.name}"
        found[match["name"]] = textwrap.dedent(match["body"])
    return found
