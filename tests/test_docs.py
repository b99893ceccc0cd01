"""The documentation stands alone in a fresh clone: it cites no document a reader of the repository cannot
open, and every file it names or links is in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])
# A fresh clone has the tracked files only (not .venv, node_modules or a local database).
TRACKED = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split())
TOP_LEVEL = {path.split("/")[0] for path in TRACKED if "/" in path}
# What the project was built from lives outside the repository: its design notes ("the seed"), its issue
# tracker, the house style and the engineers' brief, and the machine it was built on.
OUTSIDE = re.compile(
    r"/work/|/home/|\.\./shared|file://|\bthe seed\b|\bseed's\b|\bissue #\d+|\bthe issue\b|STYLE\.md|\bbrief\b", re.I
)
# Paths a reader creates or a command writes, named on purpose.
CREATED = {"docker/.env", "bench/results/"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_PATH = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+/?)`")


def _in_clone(path: Path) -> bool:
    resolved = path.resolve()
    if not resolved.is_relative_to(ROOT):
        return False
    relative = resolved.relative_to(ROOT).as_posix()
    return relative in TRACKED or any(name.startswith(relative + "/") for name in TRACKED)


def _ids(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids)
def test_it_cites_nothing_outside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")

    assert [match.group(0) for match in OUTSIDE.finditer(text)] == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids)
def test_every_relative_link_leads_to_a_file_of_the_clone(document: Path) -> None:
    targets = [link.split("#")[0] for link in LINK.findall(document.read_text(encoding="utf-8"))]
    local = [target for target in targets if target and not re.match(r"^[a-z]+:", target)]

    assert [target for target in local if not _in_clone(document.parent / target)] == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids)
def test_every_repository_path_it_names_exists_in_the_clone(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    named = [path for path in CODE_PATH.findall(text) if path.split("/")[0] in TOP_LEVEL and path not in CREATED]

    assert [path for path in named if not _in_clone(ROOT / path)] == []
