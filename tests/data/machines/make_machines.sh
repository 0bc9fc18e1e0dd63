#!/bin/sh
# Regenerates the hwloc XML exports in this folder from hwloc's own test
# dumps (see README.md). Needs the hwloc 2.9 source tree and its lstopo.
#   tests/data/machines/make_machines.sh /path/to/hwloc-2.9.0
set -eu
src=${1:?usage: make_machines.sh HWLOC_SOURCE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
strip() { grep -v '<info name=' ; }

# Linux sysfs dumps: lstopo reads them as the linux backend would /sys.
for t in "$src"/tests/hwloc/linux/*.tar.bz2; do
    name=$(basename "$t" .tar.bz2)
    dir=$(tar tjf "$t" | head -1 | cut -d/ -f1)
    (cd "$work" && tar xjf "$t")
    (
        [ -f "${t%.tar.bz2}.env" ] && . "${t%.tar.bz2}.env"
        HWLOC_COMPONENTS=linux,stop HWLOC_FSROOT="$work/$dir" HWLOC_DUMPED_HWDATA_DIR=/var/run/hwloc \
            lstopo-no-graphics --no-io --of xml - 2>/dev/null
    ) | strip > "$here/linux-$name.xml"
done
# x86 CPUID dumps.
for t in "$src"/tests/hwloc/x86/*.tar.bz2; do
    name=$(basename "$t" .tar.bz2)
    dir=$(tar tjf "$t" | head -1 | cut -d/ -f1)
    (cd "$work" && tar xjf "$t")
    HWLOC_THISSYSTEM=0 HWLOC_X86_TOPOEXT_NUMANODES=1 \
        lstopo-no-graphics -i "$work/$dir" --if cpuid --no-io --of xml - 2>/dev/null | strip > "$here/x86-$name.xml"
done
# XML exports kept as they are (format 1.x and 2.x).
for f in 192em64t-24n8c2t.xml 192em64t-12gr2n8c2t.xml 8intel64-4n2t-memattrs.xml fakecpukinds.xml \
         64intel64-fakeKNL-SNC4-hybrid.xml 8intel64-fakeKNL-A2A-hybrid.rootattachednumas.xml \
         16amd64-4distances.xml fakeheterodistances.xml 28intel64-2p2g7c-CoDgroups.v1.xml \
         8em64t-2p2ca2co-nonodesets.v1.xml 8ia64-2n2s2c+1n.v1.xml 2intel64-1n2c-numaroot.v1.xml; do
    out=xml-$(echo "${f%.xml}" | tr . -).xml
    strip < "$src/tests/hwloc/xml/$f" > "$here/$out"
done
