"""Every public name of ``conveyor`` has an entry in docs/python-api.md."""

from __future__ import annotations

import re

import pytest

import conveyor
from support import ROOT

API_DOCS = ROOT / "docs" / "python-api.md"
# The first line of the exception tree; its other lines are branches (├── Name).
ROOT = re.compile(r"^(ConveyorError)\b")


def entries(text: str) -> set[str]:
    """The names python-api.md gives an entry to.

    A name has one where a heading names it (in backticks or as a word), where
    a line begins with it in backticks (a paragraph, list item or table row
    that describes it), or where it is a line of the exception tree.
    """
    found: set[str] = set()
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            branch = re.match(r"^[│ ]*[├└]── ([A-Za-z_]\w*)", line) or ROOT.match(line)
            if branch:
                found.add(branch[1])
            continue
        if line.startswith("#"):
            found.update(re.findall(r"[A-Za-z_]\w*", line))
            continue
        lead = re.match(r"^(?:[-*] |\| )?`([A-Za-z_]\w*)[`(]", line)
        if lead:
            found.add(lead[1])
    return found


def test_every_public_name_has_an_entry_in_the_python_api_docs() -> None:
    documented = entries(API_DOCS.read_text(encoding="utf-8"))
    missing = sorted(set(conveyor.__all__) - documented)
    assert missing == [], f"document these in docs/python-api.md: {missing}"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("### `job_list`\n", "job_list"),
        ("## Retry\n", "Retry"),
        ("`Config` is the loaded configuration.\n", "Config"),
        ("| `DEFAULT_QUEUE_NAME` | `'default'` |\n", "DEFAULT_QUEUE_NAME"),
        ("- `task(name)` registers a function\n", "task"),
        ("```\nConveyorError\n├── ConfigError   malformed\n```\n", "ConfigError"),
    ],
)
def test_an_entry_is_a_heading_a_leading_name_or_a_line_of_the_tree(text: str, name: str) -> None:
    assert name in entries(text)


@pytest.mark.parametrize(
    "text",
    [
        "Call `job_list` to list jobs.\n",  # a mention inside a sentence
        "```python\njob_list()\n```\n",  # a use in an example
        "<!-- job_list -->\n",
    ],
)
def test_a_mere_mention_is_not_an_entry(text: str) -> None:
    assert "job_list" not in entries(text)
