#include "CEmberSupport.h"

// libgomp's entry points (the ABI GCC's `#pragma omp parallel` compiles to). oneDNN runs on
// this same OpenMP pool; running Swift kernels on it too keeps the two from competing for
// cores (OpenMP workers spin between regions, and a second pool would be starved by them).
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

typedef struct {
    EmberChunkFunction function;
    void *context;
    long chunks;
} EmberJob;

static void run_chunks(void *data) {
    const EmberJob *job = data;
    long step = omp_get_num_threads();
    for (long chunk = omp_get_thread_num(); chunk < job->chunks; chunk += step) {
        job->function(job->context, chunk);
    }
}

void ember_parallel_for(long chunks, EmberChunkFunction function, void *context) {
    EmberJob job = {function, context, chunks};
    GOMP_parallel(run_chunks, &job, (unsigned)chunks, 0);
}
