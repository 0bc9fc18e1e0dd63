#!/usr/bin/env python3
"""Fails when one qualified name has inline definitions in two files.

Usage: tests/layers/check_odr.py [SOURCE_DIR]

An inline function (or inline variable, constexpr function, function
template, class) may be defined in many translation units, and the linker
keeps one copy without comparing them: the one-definition rule says they are
the same, and nothing checks it. When two files define the same qualified
name differently, a build may use either copy everywhere. topos once had two
`topos::detail::current_cpu()`: the allocator's (read rseq) and the cohort
lock's (a CPU cached for 64 calls).

This reads every C++ file of the library, the programs and the tests (build
folders left out), follows namespaces and class bodies, and collects, at
namespace scope and outside unnamed namespaces:

    functions declared inline or constexpr, and function templates
    inline variables
    class, struct and union definitions

Each is keyed by its qualified name (an out-of-class member definition by its
class, `runtime_access::core` in `topos::detail`). A name defined in two
different files is reported; overloads in two files count too (name them
apart, or put them in one header). Definitions that repeat within one file
(#if branches, overloads) are not compared.

It is a reader of text, not a compiler: macros are not expanded, and a
function defined through a macro is not seen.

Prints one line per name (file:line: what, and the other file:line) and
exits 1 when there is any, 0 otherwise.
"""
import argparse
import re
import sys
from pathlib import Path

SUFFIXES = (".hpp", ".cpp", ".h", ".hpp.in")
FOLDERS = ["include", "os", "topology", "allocators", "scheduler", "ipc", "tools", "bench", "tests", "examples"]
KEYWORDS = {"alignas", "decltype", "noexcept", "requires", "sizeof", "alignof", "static_assert", "if", "while",
            "for", "switch", "return", "throw", "catch", "explicit", "__attribute__", "operator"}
CLASS_HEAD = re.compile(r"\b(class|struct|union)\s+(?:alignas\s*\([^)]*\)\s*|\[\[[^\]]*\]\]\s*)*"
                        r"((?:[A-Za-z_]\w*\s*::\s*)*[A-Za-z_]\w*)\s*(<[^{]*>)?\s*(?:final\b)?\s*(?::(?!:)[^{]*)?$")
ENUM_HEAD = re.compile(r"\benum\b")
NAMESPACE_HEAD = re.compile(r"^(?:inline\s+)?namespace\s*([\w:]*)\s*$")
CALL = re.compile(r"((?:[A-Za-z_]\w*\s*::\s*)*~?[A-Za-z_]\w*|operator\s*(?:\(\)|[^\s(]+))\s*\(")


def strip(text: str) -> str:
    """The text without comments, string and character literals or preprocessor lines, lengths kept per line."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            # A directive, with its continuation lines.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append("  \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "\n":
            out.append(c)
            at_line_start = True
            i += 1
            continue
        if c in " \t":
            out.append(c)
            i += 1
            continue
        at_line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join("\n" if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif c == 'R' and text.startswith('R"', i):
            delim_end = text.find("(", i)
            delim = text[i + 2:delim_end]
            end = text.find(")" + delim + '"', delim_end)
            end = n if end < 0 else end + len(delim) + 2
            out.append('""' + "".join("\n" if ch == "\n" else " " for ch in text[i + 2:end]))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n - 1) - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_block(text: str, open_at: int) -> int:
    """Index just past the brace that closes the one at open_at."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def top_level(head: str) -> str:
    """`head` with what is inside (), <> template argument lists and [] removed."""
    out, depth = [], 0
    for c in head:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0:
            out.append(c)
    return "".join(out)


def function_name(head: str):
    """The name a function definition's head declares, or None."""
    for m in CALL.finditer(head):
        name = re.sub(r"\s+", "", m.group(1))
        if name.split("::")[-1] in KEYWORDS:
            continue
        before = head[:m.start()]
        if before.count("(") != before.count(")"):
            continue  # inside an attribute or alignas
        return name
    return None


def definitions(text: str):
    """(qualified name, kind, offset) of every ODR-relevant definition in one file."""
    found = []
    scopes = []  # (kind, name): kind is namespace, anon, class, extern
    head_start = 0
    i, n = 0, len(text)

    def qualified(name):
        parts = [s[1] for s in scopes if s[0] in ("namespace", "class") and s[1]]
        return "::".join(parts + [name])

    def in_unnamed():
        return any(s[0] == "anon" for s in scopes)

    def at_namespace_scope():
        return all(s[0] in ("namespace", "anon", "extern") for s in scopes)

    while i < n:
        c = text[i]
        if c == ";":
            stmt = " ".join(text[head_start:i].split())
            if at_namespace_scope() and not in_unnamed() and re.search(r"\binline\b", stmt) and "(" not in \
                    top_level(stmt.split("=")[0]) and not stmt.startswith(("using", "typedef")):
                m = re.search(r"([A-Za-z_]\w*)\s*(?:=.*)?$", stmt.split("=")[0].strip())
                if m:
                    found.append((qualified(m.group(1)), "inline variable", head_start))
            head_start = i + 1
        elif c == "{":
            head = " ".join(text[head_start:i].split())
            ns = NAMESPACE_HEAD.match(head)
            if ns:
                name = ns.group(1)
                scopes.append(("namespace", name) if name else ("anon", ""))
                head_start = i + 1
            elif re.fullmatch(r'extern\s*"\s*"', head):
                scopes.append(("extern", ""))
                head_start = i + 1
            elif "=" in top_level(head) or head.endswith(("return", ",")) or head == "":
                i = skip_block(text, i)  # an initialiser: part of the statement
                continue
            elif ENUM_HEAD.search(head):
                i = skip_block(text, i)
                continue
            elif CLASS_HEAD.search(top_level_keep_angles(head)) and "(" not in top_level(head).split(":")[0]:
                m = CLASS_HEAD.search(top_level_keep_angles(head))
                name = re.sub(r"\s+", "", m.group(2)) + (re.sub(r"\s+", "", m.group(3)) if m.group(3) else "")
                if at_namespace_scope() and not in_unnamed():
                    found.append((qualified(name), m.group(1), head_start))
                scopes.append(("class", name))
                head_start = i + 1
            else:
                name = function_name(head)
                if name and at_namespace_scope() and not in_unnamed() and not re.search(r"\bstatic\b", head):
                    is_inline = re.search(r"\b(inline|constexpr|consteval)\b", head) or head.startswith("template")
                    if is_inline:
                        found.append((qualified(name), "inline function", head_start))
                i = skip_block(text, i)
                head_start = i
                continue
        elif c == "}":
            if scopes:
                scopes.pop()
            head_start = i + 1
        i += 1
    return found


def top_level_keep_angles(head: str) -> str:
    """`head` with the insides of () and [] removed (template arguments kept)."""
    out, depth = [], 0
    for c in head:
        if c in "([":
            depth += 1
            if depth == 1:
                out.append(c)
        elif c in ")]":
            depth -= 1
            if depth == 0:
                out.append(c)
        elif depth == 0:
            out.append(c)
    return "".join(out)


def check(root: Path):
    where = {}  # name -> [(rel, line, kind)]
    for folder in FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if not path.is_file() or not path.name.endswith(SUFFIXES):
                continue
            rel = path.relative_to(root).as_posix()
            if "/build/" in "/" + rel or "/numa-vm/" in rel:
                continue
            raw = path.read_text(errors="replace")
            text = strip(raw)
            for name, kind, offset in definitions(text):
                while offset < len(text) and text[offset] in " \t\n":
                    offset += 1
                line = text.count("\n", 0, offset) + 1
                where.setdefault(name, []).append((rel, line, kind))
    problems = []
    for name in sorted(where):
        places = where[name]
        files = sorted({p[0] for p in places})
        if len(files) < 2:
            continue
        first = places[0]
        for other in places[1:]:
            if other[0] != first[0]:
                problems.append(f"{other[0]}:{other[1]}: {other[2]} {name} is also defined at {first[0]}:{first[1]}")
                break
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     epilog="Exits 1 when a name is defined in two files, 2 on bad usage.")
    parser.add_argument("source_dir", nargs="?", type=Path, default=Path(__file__).resolve().parents[2],
                        help="the topos source tree (default: the one this script is in)")
    root = parser.parse_args().source_dir
    if not (root / "include" / "topos").is_dir():
        parser.error(f"{root} is not a topos source tree (no include/topos/ folder)")
    problems = check(root)
    print("\n".join(problems + [f"check_odr: {len(problems)} name(s) defined in more than one file"]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
