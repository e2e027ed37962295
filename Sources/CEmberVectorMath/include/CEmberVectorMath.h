#ifndef EMBER_VECTOR_MATH_H
#define EMBER_VECTOR_MATH_H

// Float32 transcendental functions over arrays, compiled once per instruction set and chosen
// at run time (as oneDNN and PyTorch do), so one binary runs on any x86-64 CPU and uses
// AVX-512 where the CPU has it. Every path does the same IEEE operations in the same order
// (no fused multiply-add), so all paths give bit-identical results.

typedef enum __attribute__((enum_extensibility(closed))) {
    EmberVectorExp,
    EmberVectorTanh,
    EmberVectorSigmoid,
    EmberVectorErf,
    EmberVectorGelu,  // x Phi(x), the exact (erf) form
} EmberVectorFunction;

typedef enum __attribute__((enum_extensibility(closed))) {
    EmberCPUPathBaseline,  // x86-64 (SSE2): runs everywhere
    EmberCPUPathAVX2,
    EmberCPUPathAVX512,    // AVX-512F
} EmberCPUPath;
#define EMBER_CPU_PATH_COUNT 3

// y[i] = f(x[i]) for i in 0..<n on the chosen path. x and y may be the same array.
void ember_vector_math(EmberVectorFunction function, const float *_Nonnull x, float *_Nonnull y, long n);

// The same on a given path, which must be supported (for tests that compare the paths).
void ember_vector_math_on(EmberCPUPath path, EmberVectorFunction function,
                          const float *_Nonnull x, float *_Nonnull y, long n);

// The path ember_vector_math takes: the widest one this CPU and operating system support,
// or the one the environment variable EMBER_CPU_DISPATCH names (auto, baseline, avx2,
// avx512). Chosen once, at the first call of any function here.
EmberCPUPath ember_cpu_path(void);

// Whether this CPU (and the OS, which must save the wider registers) can run a path.
int ember_cpu_path_supported(EmberCPUPath path);

// "baseline", "avx2" or "avx512".
const char *_Nonnull ember_cpu_path_name(EmberCPUPath path);

// Why EMBER_CPU_DISPATCH was not followed (an unknown value, or a path this CPU lacks),
// in one line; NULL when it was followed or is unset. Also printed to stderr once.
const char *_Nullable ember_cpu_dispatch_warning(void);

#endif
