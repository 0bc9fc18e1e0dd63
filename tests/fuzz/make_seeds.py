#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/ from the bad-input tables of
tests/unit and the XML of tests/data. Run from the repository root; it only
adds files (seed-*), so regressions already in a corpus stay. Usage:
    tests/fuzz/make_seeds.py
"""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def literals(path):
    out = []
    for m in LITERAL.finditer(path.read_text()):
        out.append(re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t", "0": "\0"}.get(e.group(1), e.group(1)), m.group(1)))
    return out


def write(kind, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def places():
    texts = set()
    for f in ["test_places.cpp", "test_placement.cpp", "test_config.cpp", "test_cli.cpp"]:
        for s in literals(UNIT / f):
            if len(s) <= 64 and re.fullmatch(r"[ \t0-9a-zA-Z_{}:,!()\-]*", s) and re.search(r"[{}:,!()0-9]|^[a-z_]+$", s):
                texts.add(s)
    for i, t in enumerate(sorted(texts)):
        # machine, bind (5: unset), threads (0: unset), then the text
        write("places", bytes([i % 7, i % 6, (0, 0, 3, 17, 255)[i % 5]]) + t.encode())


def synthetic():
    texts = {"", " ", "pack:x core:2", "socketz:2 pu:2", "pack:0 pu:2", "nonsense"}
    for f in UNIT.glob("*.cpp"):
        for s in literals(f):
            if s.startswith("synthetic:"):
                texts.add(s[len("synthetic:"):])
            elif re.search(r"\b(pu|core|pack|numa):\d", s) and len(s) < 120:
                texts.add(s)
    for t in sorted(texts):
        write("synthetic", t)


def xml():
    # pus-without-os-index.xml makes hwloc allocate 2.5 GB and take seconds:
    # too slow for a fuzzer's seed (tests/unit loads it).
    files = sorted(f for f in (ROOT / "tests" / "data").glob("*.xml") if f.name != "pus-without-os-index.xml")
    machines = sorted((ROOT / "tests" / "data" / "machines").glob("*.xml"), key=lambda p: p.stat().st_size)
    for f in files + machines[:6]:
        write("xml", f.read_bytes())


def cli():
    two = "synthetic:pack:2 numa:2 core:4 pu:2"
    src = (UNIT / "test_cli.cpp").read_text().replace("k_two_by_two", '"' + two + '"')
    lines = set()
    for m in re.finditer(r"(?:run_cli|run_json)\(\{([^{}]*)\}|\{\{((?:\"[^\"]*\"\s*,?\s*)+)\}", src):
        words = LITERAL.findall(m.group(1) if m.group(1) is not None else m.group(2))
        if words:
            lines.add("\0".join(w.replace("\\n", "\n") for w in words))
    lines |= {"", "--help", "--version", "info\0--help", "places\0--help", "bench\0--help", "shm\0list",
              "shm\0rm\0/x", "run\0--\0true", "tune\0--help", "bench\0latency\0--size\0x",
              "info\0--topology\0tests/data/asym4.xml", "places\0--topology\0tests/data/asym4.xml\0--places\0numa_domains"}
    for line in sorted(lines):
        write("cli", line)


if __name__ == "__main__":
    places()
    synthetic()
    xml()
    cli()
