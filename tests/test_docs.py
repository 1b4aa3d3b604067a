"""The documentation stays readable and points only at what exists in the repository.

* BUILD.md and every docs/*.md page are under 450 lines;
* README.md shows exactly two commands, `make demo` and `make test`;
* every relative link resolves to a file or folder inside the repository;
* every repository path a page names in backticks (`pipeline/spec.py`, `gin/models/palm_*.gin`,
  `launch/recipes/tpu_v4_pod.sh NAME ...`) exists (globs must match something);
* every `*.md` file a page names exists in the repository (no notes kept elsewhere);
* every `see X.md, "Heading"` in a spec, gin file or module names a heading that exists.
"""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_LINES = 450
TOP_LEVEL_DIRS = ("pipeline", "tasks", "launch", "model", "gin", "tests", "benchmarks", "docs")
TOP_LEVEL_FILES = ("BUILD.md", "README.md", "Makefile", "requirements.txt", "setup.py",
                   "pyproject.toml")
# Paths the tools create at run time (not in the repository), which pages may name.
GENERATED = ("benchmarks/work",)

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
MD_NAME = re.compile(r"(?<![\w/.-])((?:\.\./|[\w-]+/)*[\w.-]+\.md)\b")


def pages() -> list[pathlib.Path]:
    return [ROOT / "BUILD.md", *sorted((ROOT / "docs").glob("*.md"))]


def _inside_repo(path: pathlib.Path) -> bool:
    return path.resolve() == ROOT or ROOT in path.resolve().parents


def broken_links(page: pathlib.Path, text: str) -> list[str]:
    out = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        path = (page.parent / target.split("#")[0]).resolve()
        if not _inside_repo(path):
            out.append(f"{target} (outside the repository)")
        elif not path.exists():
            out.append(f"{target} (no such file)")
    return out


def _repo_path(snippet: str) -> str | None:
    """The repository path a backticked snippet starts with, if it names one."""
    token = snippet.strip().split()[0].rstrip(":,;.)") if snippet.strip() else ""
    if token in TOP_LEVEL_FILES:
        return token
    if "/" in token and token.split("/")[0] in TOP_LEVEL_DIRS:
        return token
    return None


def missing_paths(text: str) -> list[str]:
    out = []
    for snippet in CODE.findall(text):
        path = _repo_path(snippet)
        if path is None or path.startswith(GENERATED) or re.search(r"[<>…]|\.\.\.", path):
            continue
        if any(ch in path for ch in "*?["):
            if not list(ROOT.glob(path)):
                out.append(f"{path} (matches nothing)")
        elif not (ROOT / path).exists():
            out.append(path)
    return out


def missing_md_files(page: pathlib.Path, text: str) -> list[str]:
    known = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    out = []
    for name in MD_NAME.findall(text):
        here, at_root = (page.parent / name).resolve(), (ROOT / name).resolve()
        if name.startswith("../") and not _inside_repo(here):
            out.append(f"{name} (outside the repository)")
        elif not (here.exists() or at_root.exists() or pathlib.Path(name).name in known):
            out.append(name)
    return out


def problems(page: pathlib.Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    found = []
    lines = text.count("\n")
    if lines >= MAX_LINES:
        found.append(f"{lines} lines (limit {MAX_LINES}): split it by reader")
    found += [f"link {x}" for x in broken_links(page, text)]
    found += [f"path `{x}` does not exist" for x in missing_paths(text)]
    found += [f"names {x}, which is not in the repository" for x in missing_md_files(page, text)]
    return found


def test_the_checks_catch_what_they_are_for(tmp_path):
    page = ROOT / "docs" / "example.md"  # never written: the checks read the text given
    text = ("See [the guide](../../elsewhere/guide.md), [build](../BUILD.md), `pipeline/nope.py`,"
            " `gin/models/palm_*.gin`, `gin/models/nothing_*.gin`, `launch/recipes/gpu_slurm.sbatch"
            " MODEL_DIR <flags>`, `benchmarks/work/venv` and the notes in PLANS.md.")
    assert broken_links(page, text) == ["../../elsewhere/guide.md (outside the repository)"]
    assert missing_paths(text) == ["pipeline/nope.py", "gin/models/nothing_*.gin (matches nothing)"]
    assert "PLANS.md" in missing_md_files(page, text)
    long_page = tmp_path / "long.md"
    long_page.write_text("line\n" * MAX_LINES)
    assert problems(long_page) == [f"{MAX_LINES} lines (limit {MAX_LINES}): split it by reader"]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_is_short_and_points_only_at_what_exists(page):
    found = problems(page)
    assert not found, f"{page.relative_to(ROOT)}:\n  " + "\n  ".join(found)


def test_docs_index_lists_every_page():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    listed = set(LINK.findall(index))
    for page in (ROOT / "docs").glob("*.md"):
        if page.name != "README.md":
            assert page.name in listed, f"docs/README.md does not list {page.name}"


def test_readme_shows_exactly_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert [b.strip() for b in blocks] == ["make demo", "make test"]
    assert not broken_links(ROOT / "README.md", readme)
    assert not missing_md_files(ROOT / "README.md", readme)


SECTION_REF = re.compile(r"([\w./-]+\.md),?\s+(?:section\s+)?\"([^\"]+)\"")
HEADING = re.compile(r"^#+\s+(?:\d+\.\s+)?(.+?)\s*$", re.M)


def missing_sections(text: str) -> list[str]:
    """`see X.md, "Heading"` references (in comments too) whose page or heading is missing."""
    flat = re.sub(r"\s*\n\s*#\s*", " ", text)  # a comment continued on the next line
    out = []
    for name, title in SECTION_REF.findall(flat):
        page = ROOT / name
        if not page.is_file():
            out.append(f"{name} (no such page)")
            continue
        headings = [h.strip("`") for h in HEADING.findall(page.read_text(encoding="utf-8"))]
        if not any(title.lower() in h.lower() for h in headings):
            out.append(f'{name}, "{title}" (no such heading)')
    return out


def test_section_references_name_headings_that_exist():
    assert missing_sections('# see BUILD.md, "seqio Tasks"') == [
        'BUILD.md, "seqio Tasks" (no such heading)']
    assert missing_sections('# see docs/training.md,\n# "nowhere"') == [
        'docs/training.md, "nowhere" (no such heading)']
    files = [*ROOT.glob("tasks/specs/*.yaml"), *ROOT.glob("gin/**/*.gin"),
             *ROOT.glob("launch/**/*.py"), *ROOT.glob("tasks/**/*.py"),
             *ROOT.glob("pipeline/**/*.py")]
    found = [f"{p.relative_to(ROOT)}: {m}" for p in files
             for m in missing_sections(p.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)


def test_the_demo_vocabulary_size_is_one_number_everywhere():
    """Every command on the demo's 4,000-piece tokenizer gives the model the same vocab_size, the
    one `make demo` uses (the pieces rounded up to a multiple of 128), and docs/training.md says
    why it is larger than the tokenizer."""
    from launch import demo

    expected = -(-4000 // 128) * 128
    assert "--vocab_size\", type=int, default=4000" in pathlib.Path(demo.__file__).read_text()
    sizes = {}
    for page in pages():
        for size in re.findall(r"PalmConfig\.vocab_size=(\d+)", page.read_text(encoding="utf-8")):
            if int(size) < 10_000:  # the demo's; production pages name 32k and 256k
                sizes.setdefault(int(size), []).append(page.name)
    assert set(sizes) == {expected}, sizes
    assert "multiple of 128" in (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
