#ifndef EMBER_VECTOR_MATH_H
#define EMBER_VECTOR_MATH_H

// Float32 kernels over arrays (transcendental functions, and the elementwise, optimizer and
// batch-norm loops Ember spends its time in), compiled once per instruction set and chosen
// at run time (as oneDNN and PyTorch do), so one binary runs on any x86-64 CPU and uses
// AVX-512 where the CPU has it. Every path does the same IEEE operations in the same order
// (no fused multiply-add), so all paths give bit-identical results.

#include <stdint.h>

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

typedef enum __attribute__((enum_extensibility(closed))) {
    EmberBinaryAdd,
    EmberBinarySub,
    EmberBinaryMul,
    EmberBinaryDiv,
    EmberBinaryMaximum,  // NaN propagates from either side
    EmberBinaryMinimum,
} EmberBinaryFunction;

// o[i] = f(a[i * aStep], b[i * bStep]) for i in 0..<n; each step is 0 (one value for the
// whole row) or 1 (a dense row). o may be a or b.
void ember_vector_binary(EmberBinaryFunction function, const float *_Nonnull a, long aStep, const float *_Nonnull b,
                         long bStep, float *_Nonnull o, long n);

// o[i] = flags[i] != 0 ? a[i * aStep] : b[i * bStep] for 32-bit elements of any type; steps
// as above.
void ember_vector_select32(const uint8_t *_Nonnull flags, const uint32_t *_Nonnull a, long aStep,
                           const uint32_t *_Nonnull b, long bStep, uint32_t *_Nonnull o, long n);

typedef enum __attribute__((enum_extensibility(closed))) {
    EmberUpdateScaleAndAdd,           // t = a t + b x
    EmberUpdateScaleAndAddProduct,    // t = a t + b x y
    EmberUpdateAddRatioToSquareRoot,  // t = t + b x / (sqrt(y) c + e)
} EmberUpdateFunction;

// An optimizer's in-place update of t[0..<n] (y is read only by the forms that use it).
void ember_vector_update(EmberUpdateFunction function, float *_Nonnull t, const float *_Nonnull x,
                         const float *_Nonnull y, float a, float b, float c, float e, long n);

// Training-mode batch normalization of channels firstChannel..<endChannel of x viewed as
// [n, c, s]: y, and each channel's mean and biased variance.
void ember_batch_norm_forward(const float *_Nonnull x, const float *_Nonnull weight, const float *_Nonnull bias,
                              float *_Nonnull y, float *_Nonnull mean, float *_Nonnull variance, long n, long c, long s,
                              long firstChannel, long endChannel, double epsilon);

// Its gradients for the same channels, from x, gradY and the forward's mean and variance.
void ember_batch_norm_backward(const float *_Nonnull x, const float *_Nonnull gradY, const float *_Nonnull mean,
                               const float *_Nonnull variance, const float *_Nonnull weight, float *_Nonnull gradX,
                               float *_Nonnull gradWeight, float *_Nonnull gradBias, long n, long c, long s,
                               long firstChannel, long endChannel, double epsilon);

// The path every function here takes: the widest one this CPU and operating system support,
// or the one the environment variable EMBER_CPU_DISPATCH names (auto, baseline, avx2,
// avx512). Chosen once, at the first call of any function here.
EmberCPUPath ember_cpu_path(void);

// The loops above, compiled for one instruction set.
typedef struct {
    void (*_Nonnull binary)(EmberBinaryFunction, const float *_Nonnull, long, const float *_Nonnull, long, float *_Nonnull,
                            long);
    void (*_Nonnull select32)(const uint8_t *_Nonnull, const uint32_t *_Nonnull, long, const uint32_t *_Nonnull, long,
                              uint32_t *_Nonnull, long);
    void (*_Nonnull update)(EmberUpdateFunction, float *_Nonnull, const float *_Nonnull, const float *_Nonnull, float,
                            float, float, float, long);
    void (*_Nonnull batch_norm_forward)(const float *_Nonnull, const float *_Nonnull, const float *_Nonnull,
                                        float *_Nonnull, float *_Nonnull, float *_Nonnull, long, long, long, long, long,
                                        double);
    void (*_Nonnull batch_norm_backward)(const float *_Nonnull, const float *_Nonnull, const float *_Nonnull,
                                         const float *_Nonnull, const float *_Nonnull, float *_Nonnull, float *_Nonnull,
                                         float *_Nonnull, long, long, long, long, long, double);
} EmberLoops;

// The loops of a given path, which must be supported (for tests that compare the paths' bits).
const EmberLoops *_Nonnull ember_loops_on(EmberCPUPath path);

// Whether this CPU (and the OS, which must save the wider registers) can run a path.
int ember_cpu_path_supported(EmberCPUPath path);

// "baseline", "avx2" or "avx512".
const char *_Nonnull ember_cpu_path_name(EmberCPUPath path);

// Why EMBER_CPU_DISPATCH was not followed (an unknown value, or a path this CPU lacks),
// in one line; NULL when it was followed or is unset. Also printed to stderr once.
const char *_Nullable ember_cpu_dispatch_warning(void);

#endif
