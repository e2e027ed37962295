#include "paths.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*Entry)(EmberVectorFunction, const float *, float *, long);

static const Entry entries[EMBER_CPU_PATH_COUNT] = {
    ember_vector_math_baseline,
    ember_vector_math_avx2,
    ember_vector_math_avx512,
};

static const EmberLoops *const loops[EMBER_CPU_PATH_COUNT] = {
    &ember_loops_baseline,
    &ember_loops_avx2,
    &ember_loops_avx512,
};

static const char *const names[EMBER_CPU_PATH_COUNT] = {"baseline", "avx2", "avx512"};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EmberCPUPath chosen = EmberCPUPathBaseline;
static char warning[256];

int ember_cpu_path_supported(EmberCPUPath path) {
    // The runtime's checks include the OS's support (XGETBV): a CPU with AVX-512 under an
    // OS that does not save the wide registers reports no AVX-512.
    __builtin_cpu_init();
    switch (path) {
    case EmberCPUPathBaseline: return 1;
    case EmberCPUPathAVX2: return __builtin_cpu_supports("avx2");
    case EmberCPUPathAVX512: return __builtin_cpu_supports("avx512f");
    default: return 0;
    }
}

const char *ember_cpu_path_name(EmberCPUPath path) {
    return path >= 0 && path < EMBER_CPU_PATH_COUNT ? names[path] : "unknown";
}

static void choose(void) {
    EmberCPUPath widest = EmberCPUPathBaseline;
    for (int path = EMBER_CPU_PATH_COUNT - 1; path > EmberCPUPathBaseline; path--) {
        if (ember_cpu_path_supported(path)) {
            widest = path;
            break;
        }
    }
    chosen = widest;
    const char *request = getenv("EMBER_CPU_DISPATCH");
    if (request == NULL || request[0] == 0 || strcmp(request, "auto") == 0) return;
    int named = -1;
    for (int path = 0; path < EMBER_CPU_PATH_COUNT; path++) {
        if (strcmp(request, names[path]) == 0) named = path;
    }
    if (named < 0) {
        snprintf(warning, sizeof warning, "EMBER_CPU_DISPATCH=%.64s is not one of auto, baseline, avx2, avx512; using %s",
                 request, names[widest]);
    } else if (!ember_cpu_path_supported(named)) {
        snprintf(warning, sizeof warning, "EMBER_CPU_DISPATCH=%s: this CPU does not support %s; using %s",
                 request, names[named], names[widest]);
    } else {
        chosen = named;
    }
    if (warning[0] != 0) fprintf(stderr, "warning: %s\n", warning);
}

EmberCPUPath ember_cpu_path(void) {
    pthread_once(&once, choose);
    return chosen;
}

const char *ember_cpu_dispatch_warning(void) {
    pthread_once(&once, choose);
    return warning[0] != 0 ? warning : NULL;
}

void ember_vector_math(EmberVectorFunction function, const float *x, float *y, long n) {
    entries[ember_cpu_path()](function, x, y, n);
}

void ember_vector_binary(EmberBinaryFunction function, const float *a, long a_step, const float *b, long b_step, float *o,
                         long n) {
    loops[ember_cpu_path()]->binary(function, a, a_step, b, b_step, o, n);
}

void ember_vector_select32(const uint8_t *flags, const uint32_t *a, long a_step, const uint32_t *b, long b_step,
                           uint32_t *o, long n) {
    loops[ember_cpu_path()]->select32(flags, a, a_step, b, b_step, o, n);
}

void ember_vector_update(EmberUpdateFunction function, float *t, const float *x, const float *y, float a, float b,
                         float c, float e, long n) {
    loops[ember_cpu_path()]->update(function, t, x, y, a, b, c, e, n);
}

void ember_batch_norm_forward(const float *x, const float *weight, const float *bias, float *y, float *mean,
                              float *variance, long n, long c, long s, long first_channel, long end_channel,
                              double epsilon) {
    loops[ember_cpu_path()]->batch_norm_forward(x, weight, bias, y, mean, variance, n, c, s, first_channel, end_channel,
                                                epsilon);
}

void ember_batch_norm_backward(const float *x, const float *grad_y, const float *mean, const float *variance,
                               const float *weight, float *grad_x, float *grad_weight, float *grad_bias, long n, long c,
                               long s, long first_channel, long end_channel, double epsilon) {
    loops[ember_cpu_path()]->batch_norm_backward(x, grad_y, mean, variance, weight, grad_x, grad_weight, grad_bias, n, c,
                                                 s, first_channel, end_channel, epsilon);
}

static void require_supported(EmberCPUPath path, const char *function) {
    if (path < 0 || path >= EMBER_CPU_PATH_COUNT || !ember_cpu_path_supported(path)) {
        fprintf(stderr, "%s: path %d is not supported by this CPU\n", function, (int)path);
        abort();
    }
}

const EmberLoops *ember_loops_on(EmberCPUPath path) {
    require_supported(path, "ember_loops_on");
    return loops[path];
}

void ember_vector_math_on(EmberCPUPath path, EmberVectorFunction function, const float *x, float *y, long n) {
    require_supported(path, "ember_vector_math_on");
    entries[path](function, x, y, n);
}
