#!/usr/bin/env python3
"""Fails when a file includes a header from a higher layer.

Usage: tests/layers/check_layers.py [SOURCE_DIR]

The library's layers, lowest first (README.md, "Architecture"):

    include/topos  public headers: the standard library and each other only
    os             system calls, C-library primitives, libnuma
    topology       hwloc, the topology value, places, planner, configuration
    allocators     policies, arenas, the malloc shim
    scheduler      deques, workers, the runtime, task groups, the cohort lock
    ipc            shared segments, the segment heap, process synchronisation
    capi           the C API of <topos/topos.h> over all of the above
    mpi            the optional topos::mpi component (its header topos/mpi.hpp too)

A file may include headers of its own layer and of the layers before it. The
programs built on the library (tools, bench, tests, examples) may include any
of them. Three libraries have one home each: <hwloc.h> is included only by
topology/hwloc_layer.*, libnuma's <numa.h>/<numaif.h> only under os/, and
<mpi.h> only under mpi/ (the core library has no MPI dependency).

Prints one line per violation (file:line: what and why) and exits 1 when
there is any, 0 otherwise.
"""
import re
import sys
from pathlib import Path

LAYERS = ["include/topos", "os", "topology", "allocators", "scheduler", "ipc", "capi", "mpi"]
PROGRAMS = ["tools", "bench", "tests", "examples"]
# Headers of a third-party library and the only layer that may include them.
HOMES = {"hwloc.h": "topology/hwloc_layer", "numa.h": "os/", "numaif.h": "os/", "mpi.h": "mpi/"}
# Public headers that belong to a component above the layers, not to include/topos.
COMPONENT_HEADERS = {"topos/mpi.hpp": "mpi"}
SUFFIXES = {".hpp", ".cpp", ".h", ".c", ".hpp.in"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of_file(rel: str):
    """The layer (index into LAYERS) or program folder a source file belongs to."""
    for i, layer in enumerate(LAYERS):
        if rel.startswith(layer + "/"):
            return i
    for prog in PROGRAMS:
        if rel.startswith(prog + "/"):
            return len(LAYERS)
    return None


def layer_of_header(name: str):
    """The layer a header named in an #include belongs to, or None (std, system)."""
    if name in COMPONENT_HEADERS:
        return LAYERS.index(COMPONENT_HEADERS[name])
    if name.startswith("topos/"):
        return 0
    first = name.split("/", 1)[0]
    if "/" in name and first in LAYERS:
        return LAYERS.index(first)
    return None


def check(root: Path):
    problems = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not any(path.name.endswith(s) for s in SUFFIXES):
            continue
        rel = path.relative_to(root).as_posix()
        if rel.startswith("build/") or "/build/" in rel:
            continue
        mine = layer_of_file(rel)
        if mine is None:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(2)
            home = HOMES.get(name)
            if home is not None and not rel.startswith(home) and mine < len(LAYERS):
                problems.append(f"{rel}:{number}: includes <{name}>, which only {home}* may include")
                continue
            theirs = layer_of_header(name)
            if theirs is None or mine == len(LAYERS):
                continue
            if theirs > mine:
                problems.append(
                    f"{rel}:{number}: {LAYERS[mine]}/ includes {name} from the higher layer {LAYERS[theirs]}/")
    return problems


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help") else 2
    root = Path(sys.argv[1] if len(sys.argv) == 2 else Path(__file__).resolve().parents[2])
    if not (root / "os").is_dir():
        print(f"check_layers: {root} is not a topos source tree (no os/ folder)", file=sys.stderr)
        return 2
    problems = check(root)
    for p in problems:
        print(p)
    print(f"check_layers: {len(problems)} include(s) against the layer order")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
