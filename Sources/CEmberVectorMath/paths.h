#ifndef EMBER_VECTOR_MATH_PATHS_H
#define EMBER_VECTOR_MATH_PATHS_H
#include "CEmberVectorMath.h"

// One entry point per instruction set, each compiled from kernels.h.
void ember_vector_math_baseline(EmberVectorFunction function, const float *x, float *y, long n);
void ember_vector_math_avx2(EmberVectorFunction function, const float *x, float *y, long n);
void ember_vector_math_avx512(EmberVectorFunction function, const float *x, float *y, long n);

// The loops of loops.h, one table per instruction set.
extern const EmberLoops ember_loops_baseline, ember_loops_avx2, ember_loops_avx512;

#endif
