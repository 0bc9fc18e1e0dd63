/* bench/bench_capi_for.c - topos_parallel_for from C against OpenMP's
 * `parallel for` on the same loop: 10^7 cheap iterations (y[i] = a*x[i] + y[i]).
 *
 * One source, two programs (bench/capi.cmake): topos_bench_capi_for calls
 * topos_parallel_for with automatic grain on a runtime of THREADS workers;
 * topos_bench_capi_for_omp (built with -DBENCH_OPENMP) runs
 * `#pragma omp parallel for schedule(static) num_threads(THREADS)`.
 * Each program times REPS loops after WARMUP and prints the median and the
 * minimum in ms. bench/capi_for_compare.sh runs the two alternately and
 * prints the ratio of medians.
 * Usage: topos_bench_capi_for[_omp] [THREADS=2] [N=10000000] [REPS=50] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef BENCH_OPENMP
#include <omp.h>
#define VARIANT "openmp"
#else
#include <topos/topos.h>
#define VARIANT "topos"
#endif

enum { WARMUP = 5 };

struct triad {
    double a;
    const double* x;
    double* y;
};

static void triad_chunk(int64_t lo, int64_t hi, void* ctx) {
    const struct triad* t = (const struct triad*)ctx;
    const double a = t->a;
    const double* restrict x = t->x;
    double* restrict y = t->y;
    for (int64_t i = lo; i < hi; ++i) {
        y[i] = a * x[i] + y[i];
    }
}

static void init_chunk(int64_t lo, int64_t hi, void* ctx) {
    const struct triad* t = (const struct triad*)ctx;
    double* x = (double*)t->x;
    for (int64_t i = lo; i < hi; ++i) {
        x[i] = (double)(i % 1000) * 0.001;
        t->y[i] = 1.0;
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int by_value(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 2;
    const int64_t n = argc > 2 ? atoll(argv[2]) : 10000000;
    const int reps = argc > 3 ? atoi(argv[3]) : 50;
    if (threads < 1 || n < 1 || reps < 1) {
        fprintf(stderr, "usage: %s [THREADS>=1] [N>=1] [REPS>=1]\n", argv[0]);
        return 2;
    }
    struct triad t = {0.5, malloc((size_t)n * sizeof(double)), malloc((size_t)n * sizeof(double))};
    double* times = malloc((size_t)reps * sizeof(double));
    if (t.x == NULL || t.y == NULL || times == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
#ifdef BENCH_OPENMP
    /* First touch by the thread that will use each half, as for topos. */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; ++i) {
        ((double*)t.x)[i] = (double)(i % 1000) * 0.001;
        t.y[i] = 1.0;
    }
    for (int r = -WARMUP; r < reps; ++r) {
        const double start = now_ms();
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t i = 0; i < n; ++i) {
            t.y[i] = t.a * t.x[i] + t.y[i];
        }
        if (r >= 0) {
            times[r] = now_ms() - start;
        }
    }
#else
    topos_runtime_options o;
    topos_runtime_options_init(&o);
    o.threads = threads;
    topos_runtime_t* rt = NULL;
    if (topos_runtime_create(&o, &rt) != TOPOS_OK) {
        fprintf(stderr, "%s\n", topos_last_error());
        return 1;
    }
    topos_parallel_for(rt, 0, n, 0, init_chunk, &t);
    for (int r = -WARMUP; r < reps; ++r) {
        const double start = now_ms();
        if (topos_parallel_for(rt, 0, n, 0, triad_chunk, &t) != TOPOS_OK) {
            fprintf(stderr, "%s\n", topos_last_error());
            return 1;
        }
        if (r >= 0) {
            times[r] = now_ms() - start;
        }
    }
    topos_runtime_destroy(rt);
#endif
    (void)init_chunk; /* each variant uses one of the two forms */
    (void)triad_chunk;
    qsort(times, (size_t)reps, sizeof(double), by_value);
    double check = 0;
    for (int64_t i = 0; i < n; i += 4099) {
        check += t.y[i];
    }
    printf("%s threads=%d n=%lld reps=%d median_ms=%.3f min_ms=%.3f check=%.6g\n", VARIANT, threads, (long long)n, reps,
           times[reps / 2], times[0], check);
    free(times);
    free(t.y);
    free((double*)t.x);
    return 0;
}
