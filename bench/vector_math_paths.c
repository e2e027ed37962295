// Times each dispatch path of Ember's vector math (Sources/CEmberVectorMath) on 1M floats in
// one thread: CPU time, median of 15 calls, and the speed-up over the x86-64 baseline. Uses
// the objects of a release build:
//
//   swift build -c release --product ember
//   B=.build/release/CEmberVectorMath.build
//   clang -O2 -I Sources/CEmberVectorMath/include bench/vector_math_paths.c $B/*.o -lpthread -o /tmp/vmp && /tmp/vmp
#include "CEmberVectorMath.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(void) {
    enum { N = 1 << 20, REPS = 15 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    srand(0);
    for (int i = 0; i < N; i++) x[i] = (rand() / (float)RAND_MAX - 0.5f) * 8;
    const char *fn[] = {"exp", "tanh", "sigmoid", "erf", "gelu"};
    EmberVectorFunction f[] = {EmberVectorExp, EmberVectorTanh, EmberVectorSigmoid, EmberVectorErf, EmberVectorGelu};
    for (int k = 0; k < 5; k++) {
        printf("%-8s", fn[k]);
        double base = 0;
        for (int p = 0; p < EMBER_CPU_PATH_COUNT; p++) {
            if (!ember_cpu_path_supported(p)) continue;
            double t[REPS];
            for (int r = 0; r < REPS; r++) { double s = now(); ember_vector_math_on(p, f[k], x, y, N); t[r] = now() - s; }
            qsort(t, REPS, sizeof *t, cmp);
            double ns = t[REPS / 2] / N * 1e9;
            if (p == 0) base = ns;
            printf("  %s %.3f ns/elem (%.2fx)", ember_cpu_path_name(p), ns, base / ns);
        }
        printf("\n");
    }
    return 0;
}
