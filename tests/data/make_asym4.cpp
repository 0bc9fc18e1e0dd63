// Generates tests/data/asym4.xml: a 2-package, 4-node machine whose NUMA
// latency matrix is deliberately asymmetric (d(i,j) != d(j,i) for some pairs),
// as some multi-die parts report. Kept so the fixture can be regenerated:
//   g++ -std=c++20 make_asym4.cpp -lhwloc -o /tmp/make_asym4 && /tmp/make_asym4 asym4.xml
#include <hwloc.h>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_asym4 OUT.xml\n");
        return 2;
    }
    hwloc_topology_t t;
    hwloc_topology_init(&t);
    hwloc_topology_set_synthetic(t, "pack:2 numa:2 l3:1 core:2 pu:2");
    hwloc_topology_load(t);
    hwloc_obj_t nodes[4];
    for (unsigned i = 0; i < 4; ++i) {
        nodes[i] = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, i);
    }
    // Row i = from node i. Asymmetric pairs: (0,1)=11 vs (1,0)=13, (0,3)=32 vs (3,0)=28.
    hwloc_uint64_t values[16] = {
        10, 11, 21, 32,
        13, 10, 31, 21,
        21, 31, 10, 12,
        28, 21, 12, 10,
    };
    auto h = hwloc_distances_add_create(t, "NUMALatency",
                                        HWLOC_DISTANCES_KIND_FROM_USER | HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0);
    if (h == nullptr || hwloc_distances_add_values(t, h, 4, nodes, values, 0) != 0 ||
        hwloc_distances_add_commit(t, h, 0) != 0) {
        std::fprintf(stderr, "adding distances failed\n");
        return 1;
    }
    if (hwloc_topology_export_xml(t, argv[1], 0) != 0) {
        std::fprintf(stderr, "export failed\n");
        return 1;
    }
    hwloc_topology_destroy(t);
    return 0;
}
