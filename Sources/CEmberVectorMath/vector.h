#ifndef EMBER_VECTOR_H
#define EMBER_VECTOR_H
// The sixteen-lane vector types and helpers that kernels.h and loops.h are written in (GCC/
// Clang vector extensions, which the compiler maps onto whatever registers the instruction
// set has: four SSE registers per vector on the baseline, one AVX-512 register).
#include <stdint.h>

// A multiply-add fused into one rounding exists on the AVX2 and AVX-512 paths only: kept
// apart, every path rounds identically.
#pragma STDC FP_CONTRACT OFF

#define EMBER_JOIN2(a, b) a##_##b
#define EMBER_JOIN(a, b) EMBER_JOIN2(a, b)

// Only arithmetic, square roots, bit operations, bitwise selects and the widening of flag
// bytes to lane masks: nothing the baseline lacks, and no library call in a vector loop.
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint32_t vu __attribute__((vector_size(64)));
typedef int8_t vb __attribute__((vector_size(16)));

// Every helper is inlined (at -O0 too), so no 64-byte vector is ever passed in a call and
// the warning that the baseline passes them differently from AVX-512 does not apply.
#pragma clang diagnostic ignored "-Wpsabi"
#define INLINE static inline __attribute__((always_inline))

INLINE vf load(const float *p) {
    vf v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

INLINE void store(float *p, vf v) { __builtin_memcpy(p, &v, sizeof v); }

/// `a` where `mask` is set (all bits of the lane), else `b`.
INLINE vf select(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

#endif
