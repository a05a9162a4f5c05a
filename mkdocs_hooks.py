"""mkdocs hook: add the reference pages generated from the code (iopcore.app.reference)."""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files


def on_files(files: Files, config: Any) -> Files:
    from iopcore.app.reference import pages

    for name, content in pages().items():
        files.append(File.generated(config, name, content=content))
    return files
