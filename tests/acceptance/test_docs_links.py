"""Links between the pages lead somewhere, the package's own description has none to follow,
and no page shows a path of the machine it was written on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docs_snippets import ROOT, pages

_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*`{3,}[^`]*$")  # an opening or closing fence, not inline code
# A path rooted in a directory of the machine the docs were written on (a checkout, a scratch
# directory, a home): meaningless to a reader. Examples use made-up roots such as /srv or /opt.
_LOCAL_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|root|home)(?:/|\b)")


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line outside fenced code blocks."""
    found, inside = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            inside = not inside
        elif not inside:
            found.append((number, line))
    return found


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings."""
    seen: dict[str, int] = {}
    for _, line in prose(path):
        heading = _HEADING.match(line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading["text"].lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def links(path: Path) -> list[tuple[int, str]]:
    return [
        (number, match["target"]) for number, line in prose(path) for match in _LINK.finditer(line)
    ]


def test_the_anchors_are_githubs() -> None:
    page = ROOT / "docs" / "configuration.md"
    assert "conveyorjobsretries-and-conveyorjobsretry_interval" in anchors(page)
    assert "changing-the-configuration-in-code" in anchors(page)


@pytest.mark.parametrize("page", [path.relative_to(ROOT).as_posix() for path in pages()])
def test_relative_links_lead_to_a_page_and_heading(page: str) -> None:
    source = ROOT / page
    dead = []
    for number, target in links(source):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        name, _, anchor = target.partition("#")
        linked = (source.parent / name).resolve() if name else source
        if not linked.exists():
            dead.append(f"{page}:{number}: {target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            dead.append(f"{page}:{number}: {target} (no such heading)")
    assert dead == []


def test_the_package_description_has_no_relative_link() -> None:
    description = ROOT / "README.pypi.md"
    relative = [t for _, t in links(description) if not t.startswith("https://")]
    assert relative == []
    assert "README.pypi.md" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def local_paths(path: Path) -> list[str]:
    """Every line of ``path`` (code blocks included) naming a local machine path."""
    text = path.read_text(encoding="utf-8")
    return [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if _LOCAL_PATH.search(line)
    ]


def test_the_local_path_check_finds_paths_and_only_paths(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "store sqlite:////tmp/x/conveyor.sqlite3\n"  # 1: inside a URL
        '  File "/home/me/tasks.py", line 3\n'  # 2: in a traceback
        "cd /work && make\n"  # 3: a bare root
        "the /dashboard/workers page, myapp/worker_hooks.py, /srv/demo, ~/tmp\n"  # none
        "GET /api/3/action/worker_list; /rooted; /homework\n",  # none
        encoding="utf-8",
    )
    assert [line.split(":")[1] for line in local_paths(page)] == ["1", "2", "3"]


def test_no_page_names_a_local_machine_path() -> None:
    checked = [*pages(), *sorted((ROOT / "docs").rglob("*.json"))]
    found = [hit for page in checked for hit in local_paths(page)]
    assert found == [], "use a made-up root such as /srv in examples:\n" + "\n".join(found)


def mapped_modules(page: Path) -> list[str]:
    """The paths the first column of ARCHITECTURE.md's module map names (a path without a
    directory is in the directory of its cell's first path; one ending in / is a package)."""
    names, inside = [], False
    for _, line in prose(page):
        if line.startswith("## "):
            inside = line.strip() == "## Module map"
        elif inside and line.startswith("| `"):
            cell = line.split("|")[1]
            tokens = re.findall(r"`([^`]+)`", cell)
            folder = tokens[0].rpartition("/")[0] if "/" in tokens[0].rstrip("/") else ""
            for token in tokens:
                local = "/" not in token.rstrip("/") and folder
                names.append(f"{folder}/{token}" if local else token)
    return names


def test_the_module_map_names_every_module() -> None:
    package = ROOT / "src" / "conveyor"
    mapped = mapped_modules(ROOT / "docs" / "ARCHITECTURE.md")
    assert "backends/sqlite_periodic.py" in mapped  # a name resolved in its cell's directory
    unmapped = [
        module
        for module in (path.relative_to(package).as_posix() for path in package.rglob("*.py"))
        if not any(
            module == name
            or (name.endswith("/") and module.startswith(name))
            or ("*" in name and re.fullmatch(re.escape(name).replace(r"\*", ".*"), module))
            for name in mapped
        )
    ]
    assert unmapped == [], "give these a line in docs/ARCHITECTURE.md's module map"
