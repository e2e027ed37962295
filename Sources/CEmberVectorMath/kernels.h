// The float32 vector math, sixteen lanes at a time (GCC/Clang vector extensions, which the
// compiler maps onto whatever registers the instruction set has: four SSE registers per
// vector on the baseline, one AVX-512 register). Included once per instruction set by
// baseline.c, avx2.c and avx512.c, each defining PATH, the suffix of its entry point.
// The coefficients come from scripts/fit_vector_math.py; each function is within a few
// ulp of libm (Tests/EmberTests/VectorMathTests.swift).
#include "paths.h"
#include "vector.h"

#define EMBER_ENTRY EMBER_JOIN(ember_vector_math, PATH)

INLINE vf magnitude(vf x) { return (vf)((vu)x & 0x7FFFFFFFu); }

/// 2^n for integers n in -126...127, assembled directly in the exponent field.
INLINE vf power_of_two(vu n) { return (vf)((n + 127u) << 23); }

/// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, times 2^n. The
/// power of two is applied in two halves so that n = 128 (x just below the overflow point)
/// and n < -126 (results that underflow gradually) stay exact.
INLINE vf vexp(vf x) {
    vf clamped = select(x < -103.97208f, (vf){} + -103.97208f, x);
    clamped = select(clamped > 88.72283f, (vf){} + 88.72283f, clamped);
    // Rounds to the nearest integer (|x| < 2^22): adding 1.5 * 2^23 leaves the integer in
    // the low mantissa bits.
    const float magic = 12582912.0f;
    vf shifted = clamped * 1.442695040888963f + magic;
    vu integer = (vu)shifted - 0x4B400000u;
    vf n = shifted - magic;
    // ln2 split in two so that n * ln2High is exact.
    vf r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
    vf p = (vf){} + 1.3933641402e-03f;
    p = p * r + 8.3631755659e-03f;
    p = p * r + 4.1666465008e-02f;
    p = p * r + 1.6666577003e-01f;
    p = p * r + 5.0000000135e-01f;
    vu half = (vu)((vi)integer >> 1);
    vf result = (1 + r + r * r * p) * power_of_two(half) * power_of_two(integer - half);
    result = select(x > 88.72283f, (vf){} + __builtin_inff(), result);
    result = select(x < -103.97208f, (vf){}, result);
    return select(x != x, x, result);
}

INLINE vf vtanh(vf x) {
    vf a = magnitude(x);
    // Near 0, 1 - 2/(e^2a + 1) would lose digits: an odd polynomial instead.
    vf z = a * a;
    vf q = (vf){} + -6.1552128121e-03f;
    q = q * z + 2.1045699951e-02f;
    q = q * z - 5.3863921058e-02f;
    q = q * z + 1.3332890687e-01f;
    q = q * z - 3.3333331407e-01f;
    vf small = a + a * z * q;
    vf result = 1 - 2 / (vexp(a + a) + 1);
    result = select(a < 0.625f, small, result);
    result = select(x < 0, -result, result);
    return select(x != x, x, result);
}

INLINE vf vsigmoid(vf x) {
    // e^-|x| never overflows; for x < 0 this gives e^x / (1 + e^x), exact into the denormals.
    vf e = vexp(-magnitude(x));
    vf positive = 1 / (1 + e);
    return select(x < 0, e * positive, positive);
}

/// erf: x S(x^2) below 1; 1 - e^(-x^2) T(1/x) up to 4; 1 beyond (erf(4) rounds to 1).
INLINE vf verf(vf x) {
    vf a = magnitude(x);
    vf z = a * a;
    vf s = (vf){} + 7.9334860598e-05f;
    s = s * z - 8.0348439987e-04f;
    s = s * z + 5.1912180287e-03f;
    s = s * z - 2.6855399229e-02f;
    s = s * z + 1.1283625718e-01f;
    s = s * z - 3.7612629877e-01f;
    s = s * z + 1.1283791666e+00f;
    vf small = a * s;
    vf u = 1 / select(a < 1, (vf){} + 1, a);
    vf t = (vf){} + 2.8223217475e-02f;
    t = t * u - 1.6586221708e-01f;
    t = t * u + 4.0480200748e-01f;
    t = t * u - 4.9102227601e-01f;
    t = t * u + 1.9884866698e-01f;
    t = t * u + 2.5239911722e-01f;
    t = t * u - 3.8380051461e-01f;
    t = t * u + 2.2321134454e-02f;
    t = t * u + 5.6154093274e-01f;
    t = t * u + 1.3351183096e-04f;
    vf result = 1 - vexp(-z) * t;
    result = select(a < 1, small, result);
    result = select(a >= 4, (vf){} + 1, result);
    result = select(x < 0, -result, result);
    return select(x != x, x, result);
}

/// GELU, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, in one pass.
INLINE vf vgelu(vf x) { return 0.5f * x * (1 + verf(x * 0.70710678118654752f)); }

/// Applies f to n floats, sixteen at a time; the tail goes through the same function in a
/// zero-padded vector so every element gets identical arithmetic.
#define EMBER_MAP(f)                                                       \
    do {                                                                   \
        long i = 0;                                                        \
        for (; i + 16 <= n; i += 16) store(y + i, f(load(x + i)));         \
        if (i < n) {                                                       \
            float tail[16] = {0};                                          \
            for (long k = 0; k < n - i; k++) tail[k] = x[i + k];           \
            store(tail, f(load(tail)));                                    \
            for (long k = 0; k < n - i; k++) y[i + k] = tail[k];           \
        }                                                                  \
    } while (0)

void EMBER_ENTRY(EmberVectorFunction function, const float *x, float *y, long n) {
    switch (function) {
    case EmberVectorExp: EMBER_MAP(vexp); break;
    case EmberVectorTanh: EMBER_MAP(vtanh); break;
    case EmberVectorSigmoid: EMBER_MAP(vsigmoid); break;
    case EmberVectorErf: EMBER_MAP(verf); break;
    case EmberVectorGelu: EMBER_MAP(vgelu); break;
    }
}
