"""Gin mistakes explained where they are: which binding, in which file and on which line.

gin reports a syntax error in a `--gin_bindings` value as "(line 13)" of the bindings joined
together, and a value of the wrong type (BATCH_SIZE = 'eight') only when some constructor chokes
on it, as a raw TypeError. Here a syntax error is traced to its flag or file line, and t5x's
run-config macros are type-checked (and counts checked to be positive) right after parsing,
before anything runs.
"""

from __future__ import annotations

import os
import re
import tokenize

import gin

# t5x's run-config macros and the Python types their values must have (None where allowed).
MACRO_TYPES = {
    "TRAIN_STEPS": (int,), "BATCH_SIZE": (int,), "RANDOM_SEED": (int, type(None)),
    "USE_CACHED_TASKS": (bool,), "SHUFFLE_TRAIN_EXAMPLES": (bool,), "USE_HARDWARE_RNG": (bool,),
    "MODEL_DIR": (str,), "MIXTURE_OR_TASK_NAME": (str,),
    "MIXTURE_OR_TASK_MODULE": (str, type(None)),
    "TASK_FEATURE_LENGTHS": (dict, type(None)), "INITIAL_CHECKPOINT_PATH": (str, type(None)),
    "CHECKPOINT_PATH": (str,), "EVAL_OUTPUT_DIR": (str,), "MIXTURE_OR_TASK_SPLIT": (str,),
}
# Macros whose value must also be positive (a count), checked with the types.
POSITIVE = ("TRAIN_STEPS", "BATCH_SIZE")
_INCLUDE = re.compile(r"\s*include\s+['\"](.+)['\"]")


def _binding_name(text: str) -> str:
    return text.split("=", 1)[0].strip() or text.strip()


def _flag(index: int, binding: str) -> str:
    return f"--gin_bindings #{index + 1} {binding!r} (or --gin.{_binding_name(binding)}=...)"


def _bad_binding(bindings: list[str]) -> tuple[int, Exception] | None:
    """The first binding that does not parse on its own, with its error."""
    for index, binding in enumerate(bindings):
        try:
            with gin.unlock_config():
                gin.parse_config(binding, skip_unknown=True)
        except (SyntaxError, tokenize.TokenError) as e:
            return index, e
        except Exception:  # noqa: BLE001 - other errors are reported by the full parse
            continue
    return None


def explain_syntax_error(error: Exception, bindings: list[str]) -> str | None:
    """'<binding> in <file>:<line>: <what>' for a gin syntax error, or None if not one."""
    if not isinstance(error, (SyntaxError, tokenize.TokenError)):
        return None
    location = error.args[1] if len(error.args) > 1 else None
    filename = getattr(location, "filename", None)
    what = error.args[0] if error.args else str(error)
    if filename:
        line = (getattr(location, "line_content", "") or "").strip()
        return (f"gin syntax error in binding `{line}` ({_binding_name(line)}) at "
                f"{filename}:{location.line_num}: {what}")
    found = _bad_binding(bindings)
    if found is None:
        return None
    index, inner = found
    what = inner.args[0] if inner.args else str(inner)
    return f"gin syntax error in {_flag(index, bindings[index])}: {what}"


def _included(path: str, seen: set, resolve) -> list[tuple[str, int, str]]:
    """(file, line number, text) of `path` with its includes expanded in place."""
    if path in seen or not os.path.exists(path):
        return []
    seen.add(path)
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            match = _INCLUDE.match(line)
            if match and (inc := resolve(match.group(1), os.path.dirname(path))):
                out += _included(inc, seen, resolve)
            out.append((path, number, line))
    return out


def where_bound(name: str, files: list[str], bindings: list[str], resolve) -> str:
    """Where the value of macro `name` that gin uses was bound (the last binding wins)."""
    pattern = re.compile(rf"\s*{re.escape(name)}\s*=")
    for index in reversed(range(len(bindings))):
        if pattern.match(bindings[index]):
            return _flag(index, bindings[index])
    lines = [entry for top in files for entry in _included(top, set(), resolve)]
    for path, number, text in reversed(lines):
        if pattern.match(text):
            return f"{path}:{number} `{text.strip()}`"
    return "a gin file"


def macro_type_errors(files: list[str], bindings: list[str], resolve) -> list[str]:
    """Messages for t5x run-config macros bound to a value of the wrong type."""
    errors = []
    for name, types in MACRO_TYPES.items():
        try:
            value = gin.query_parameter(f"%{name}")
        except ValueError:
            continue  # not bound in this config
        if type(value).__module__.startswith("gin"):
            continue  # a reference (@fn() or %MACRO), resolved later
        ok = isinstance(value, types) and not (bool not in types and isinstance(value, bool))
        if not ok:
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            errors.append(f"{name} = {value!r} is a {type(value).__name__}, {wanted} expected "
                          f"(bound at {where_bound(name, files, bindings, resolve)})")
        elif name in POSITIVE and value <= 0:
            errors.append(f"{name} = {value!r} must be positive "
                          f"(bound at {where_bound(name, files, bindings, resolve)})")
    return errors


def plain_message(error: Exception) -> str:
    """The error's message without the "In call to configurable ..." lines gin appends (they
    name the entry point, which the user already knows)."""
    return str(error).split("\n  In call to configurable")[0]
