/* Fills an array spread over the NUMA nodes in parallel, then sums it.
 * Build: cc parallel_sum.c $(pkg-config --cflags --libs topos) */
#include <topos/topos.h>

#include <stdint.h>
#include <stdio.h>

static void fill(int64_t lo, int64_t hi, void* ctx) {
    double* x = ctx;
    for (int64_t i = lo; i < hi; ++i) {
        x[i] = 0.5 * (double)i;
    }
}

static double sum(int64_t lo, int64_t hi, void* ctx) {
    const double* x = ctx;
    double s = 0;
    for (int64_t i = lo; i < hi; ++i) {
        s += x[i];
    }
    return s;
}

#define CHECK(call)                                                    \
    do {                                                               \
        if ((call) != TOPOS_OK) {                                      \
            fprintf(stderr, "parallel_sum: %s\n", topos_last_error()); \
            return 1;                                                  \
        }                                                              \
    } while (0)

int main(void) {
    const int64_t n = 1 << 22;
    topos_runtime_t* rt = NULL;
    topos_node_array_t* array = NULL;
    void* data = NULL;
    double total = 0;
    int nodes = 0;
    CHECK(topos_runtime_create(NULL, &rt)); /* TOPOS_* / OMP_* variables, else all cores */
    CHECK(topos_node_count(rt, &nodes));
    /* One block of the array per node, its pages on that node. */
    CHECK(topos_node_array_create((size_t)n, sizeof(double), NULL, 0, &array));
    CHECK(topos_node_array_data(array, &data));
    /* Each block's chunks run on the block's node. */
    CHECK(topos_parallel_for_array(rt, array, 0, fill, data));
    CHECK(topos_parallel_reduce_double(rt, 0, n, 0, TOPOS_REDUCE_SUM, sum, data, &total));
    const double expected = 0.5 * (double)n * (double)(n - 1) / 2;
    printf("%d node(s): sum %.1f, expected %.1f\n", nodes, total, expected);
    CHECK(topos_node_array_destroy(array));
    CHECK(topos_runtime_destroy(rt));
    return total == expected ? 0 : 1;
}
