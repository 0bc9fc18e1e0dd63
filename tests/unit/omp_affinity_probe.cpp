// A parallel region and nothing else: with OMP_DISPLAY_AFFINITY=true libgomp
// prints where each of its threads runs, which test_machine_corpus compares
// with topos's plan for the same OMP_PLACES and OMP_PROC_BIND.
#include <omp.h>

int main() {
#pragma omp parallel
    {
        (void)omp_get_thread_num();
    }
    return 0;
}
