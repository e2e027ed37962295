#include "CEmberSupport.h"

// libgomp's entry points (the ABI GCC's `#pragma omp parallel` compiles to). oneDNN runs on
// this same OpenMP pool; running Swift kernels on it too keeps the two from competing for
// cores (OpenMP workers spin between regions, and a second pool would be starved by them).
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

// ThreadSanitizer cannot see libgomp's fork and join (libgomp is not instrumented), so every
// value a worker writes and the caller reads after the region would be reported as a race.
// Under TSan these state the happens-before edges that GOMP_parallel provides; in other builds
// the weak symbols are null and nothing is called.
extern void __tsan_acquire(void *address) __attribute__((weak));
extern void __tsan_release(void *address) __attribute__((weak));

typedef struct {
    EmberChunkFunction function;
    void *context;
    long chunks;
} EmberJob;

static void run_chunks(void *data) {
    const EmberJob *job = data;
    if (__tsan_acquire) __tsan_acquire((void *)&job->function);  // the fork
    long step = omp_get_num_threads();
    for (long chunk = omp_get_thread_num(); chunk < job->chunks; chunk += step) {
        job->function(job->context, chunk);
    }
    if (__tsan_release) __tsan_release((void *)&job->chunks);  // the join
}

void ember_parallel_for(long chunks, EmberChunkFunction function, void *context) {
    EmberJob job = {function, context, chunks};
    if (__tsan_release) __tsan_release(&job.function);
    GOMP_parallel(run_chunks, &job, (unsigned)chunks, 0);
    if (__tsan_acquire) __tsan_acquire(&job.chunks);
}
