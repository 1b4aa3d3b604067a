"""Source trees: every source file is one document, tagged with its programming language.

Read like text_dir (recursive, hidden files and folders skipped, strict UTF-8, binary and empty
files dead-lettered). The language comes from the file name (LANGUAGE_BY_FILENAME, e.g.
'Makefile') or its extension (LANGUAGE_BY_EXTENSION, matched case-insensitively). The table covers
the languages of PaLM's GitHub mixture (Java, HTML, JavaScript, Python, PHP, C#, XML, C++, C, ...)
plus the markup and config formats that live in repositories and teach structure (Markdown, JSON,
YAML, TOML). Files with an unknown extension are skipped at planning, not dead-lettered: a
repository's images, lock files and data are not malformed input. `source.extensions`, when
given, is the list of extensions read; one missing from the table is read too, its language
being the extension without the dot.

meta      path, language
"""

from __future__ import annotations

from typing import Iterator

from pipeline.document import DeadLetter, Document
from pipeline.readers import files
from pipeline.readers.base import ReadUnit
from pipeline.readers.text_dir import read_whole_file
from pipeline.spec import SourceSpec

LANGUAGE_BY_EXTENSION: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp", ".h++": "cpp",
    ".cs": "csharp",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell",
    ".sql": "sql",
    ".html": "html", ".htm": "html",
    ".css": "css", ".scss": "scss", ".less": "less",
    ".xml": "xml",
    ".md": "markdown", ".markdown": "markdown",
    ".json": "json",
    ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml",
    ".lua": "lua",
    ".pl": "perl", ".pm": "perl",
    ".r": "r",
    ".jl": "julia",
    ".hs": "haskell",
    ".ml": "ocaml", ".mli": "ocaml",
    ".ex": "elixir", ".exs": "elixir",
    ".erl": "erlang",
    ".clj": "clojure",
    ".dart": "dart",
    ".m": "objective-c", ".mm": "objective-c",
    ".f90": "fortran", ".f95": "fortran", ".f03": "fortran",
    ".ps1": "powershell",
    ".tex": "tex",
    ".proto": "protobuf",
    ".vue": "vue",
}
LANGUAGE_BY_FILENAME: dict[str, str] = {
    "Makefile": "makefile", "GNUmakefile": "makefile", "makefile": "makefile",
    "Dockerfile": "dockerfile",
    "CMakeLists.txt": "cmake",
}


def language_of(display: str, extensions: tuple[str, ...] = ()) -> str | None:
    """The language of a file from its name, or None when it is not read as code."""
    name = display.rsplit("/", 1)[-1]
    if name in LANGUAGE_BY_FILENAME:
        return LANGUAGE_BY_FILENAME[name]
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot > 0 else ""
    if ext in LANGUAGE_BY_EXTENSION:
        return LANGUAGE_BY_EXTENSION[ext]
    lower = name.lower()
    for listed in extensions:
        if lower.endswith(listed.lower()):
            return listed.lower().lstrip(".") or None
    return None


def plan(source: SourceSpec):
    return files.plan_files(
        source, folders=True, keep=lambda display: language_of(display, source.extensions)
        is not None, keep_rule="only files of a known programming language")


def read(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    # Planning kept only files with a language; 'unknown' covers a unit planned elsewhere.
    language = language_of(unit.display, source.extensions) or "unknown"
    yield read_whole_file(unit, source, {"path": unit.display, "language": language})
