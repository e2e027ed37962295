// Float32 loops over dense memory that the elementwise, optimizer and batch-norm kernels
// spend their time in, sixteen lanes at a time. Included once per instruction set by
// baseline.c, avx2.c and avx512.c after kernels.h, each defining PATH, the suffix of the
// table of entry points. Each loop does one IEEE operation sequence per element in a fixed
// order (sums included: eight partial sums, combined as a tree), so every path gives the
// same bits, and they are the bits of the Swift loops they replaced.
#include "paths.h"
#include "vector.h"

// Each function here carries its path's suffix (binary_loop_avx512), so that
// scripts/check-portable.sh can tell the dispatched code from the baseline's.
#define binary_loop EMBER_JOIN(binary_loop, PATH)
#define select32_loop EMBER_JOIN(select32_loop, PATH)
#define update_loop EMBER_JOIN(update_loop, PATH)
#define plane_sum EMBER_JOIN(plane_sum, PATH)
#define plane_squares EMBER_JOIN(plane_squares, PATH)
#define plane_gradient_sums EMBER_JOIN(plane_gradient_sums, PATH)
#define batch_norm_forward EMBER_JOIN(batch_norm_forward, PATH)
#define batch_norm_backward EMBER_JOIN(batch_norm_backward, PATH)

typedef float v8 __attribute__((vector_size(32)));

/// Sixteen elements of a row read with step 0 (one value, repeated) or 1 (dense).
INLINE vf load_step(const float *p, long step) { return step == 0 ? (vf){} + p[0] : load(p); }

INLINE vf binary(EmberBinaryFunction function, vf a, vf b) {
    switch (function) {
    case EmberBinaryAdd: return a + b;
    case EmberBinarySub: return a - b;
    case EmberBinaryMul: return a * b;
    case EmberBinaryDiv: return a / b;
    // NaN propagates from either side.
    case EmberBinaryMaximum: return select((a != a) | (a > b), a, b);
    case EmberBinaryMinimum: return select((a != a) | (a < b), a, b);
    }
    return a;
}

/// Copies the `count` (< 16) elements of a row's tail into a zero-padded vector.
INLINE vf load_tail(const float *p, long step, long count) {
    float lanes[16] = {0};
    for (long k = 0; k < count; k++) lanes[k] = p[k * step];
    return load(lanes);
}

INLINE void store_tail(float *p, vf v, long count) {
    float lanes[16];
    store(lanes, v);
    for (long k = 0; k < count; k++) p[k] = lanes[k];
}

static void binary_loop(EmberBinaryFunction function, const float *a, long a_step, const float *b, long b_step, float *o,
                        long n) {
    long i = 0;
    // One loop per case, so the operation is chosen outside it.
#define EMBER_BINARY_LOOP(f)                                                                        \
    for (; i + 16 <= n; i += 16) store(o + i, binary(f, load_step(a + i * a_step, a_step), load_step(b + i * b_step, b_step)));
    switch (function) {
    case EmberBinaryAdd: EMBER_BINARY_LOOP(EmberBinaryAdd) break;
    case EmberBinarySub: EMBER_BINARY_LOOP(EmberBinarySub) break;
    case EmberBinaryMul: EMBER_BINARY_LOOP(EmberBinaryMul) break;
    case EmberBinaryDiv: EMBER_BINARY_LOOP(EmberBinaryDiv) break;
    case EmberBinaryMaximum: EMBER_BINARY_LOOP(EmberBinaryMaximum) break;
    case EmberBinaryMinimum: EMBER_BINARY_LOOP(EmberBinaryMinimum) break;
    }
#undef EMBER_BINARY_LOOP
    if (i < n) {
        vf result = binary(function, load_tail(a + i * a_step, a_step, n - i), load_tail(b + i * b_step, b_step, n - i));
        store_tail(o + i, result, n - i);
    }
}

/// The flags of sixteen elements as lane masks (all bits set where the byte is not zero).
INLINE vi flag_mask(const uint8_t *flags) {
    vb bytes;
    __builtin_memcpy(&bytes, flags, sizeof bytes);
    return __builtin_convertvector(bytes != 0, vi);
}

static void select32_loop(const uint8_t *flags, const uint32_t *a, long a_step, const uint32_t *b, long b_step, uint32_t *o,
                          long n) {
    // Moved as floats: a select is bitwise, so any 32-bit pattern passes through unchanged.
    const float *fa = (const float *)a, *fb = (const float *)b;
    float *fo = (float *)o;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        store(fo + i, select(flag_mask(flags + i), load_step(fa + i * a_step, a_step), load_step(fb + i * b_step, b_step)));
    }
    for (; i < n; i++) o[i] = flags[i] != 0 ? a[i * a_step] : b[i * b_step];
}

INLINE vf update(EmberUpdateFunction function, vf t, vf x, vf y, float a, float b, float c, float e) {
    switch (function) {
    case EmberUpdateScaleAndAdd: return a == 1 ? t + b * x : a * t + b * x;
    case EmberUpdateScaleAndAddProduct: return a * t + b * x * y;
    case EmberUpdateAddRatioToSquareRoot: return t + b * x / (__builtin_elementwise_sqrt(y) * c + e);
    }
    return t;
}

static void update_loop(EmberUpdateFunction function, float *t, const float *x, const float *y, float a, float b, float c,
                        float e, long n) {
    long i = 0;
#define EMBER_UPDATE_LOOP(f) for (; i + 16 <= n; i += 16) store(t + i, update(f, load(t + i), load(x + i), load(y + i), a, b, c, e));
    switch (function) {
    case EmberUpdateScaleAndAdd: EMBER_UPDATE_LOOP(EmberUpdateScaleAndAdd) break;
    case EmberUpdateScaleAndAddProduct: EMBER_UPDATE_LOOP(EmberUpdateScaleAndAddProduct) break;
    case EmberUpdateAddRatioToSquareRoot: EMBER_UPDATE_LOOP(EmberUpdateAddRatioToSquareRoot) break;
    }
#undef EMBER_UPDATE_LOOP
    if (i < n) {
        // Zeros pad the tail; what they give is never stored.
        vf result = update(function, load_tail(t + i, 1, n - i), load_tail(x + i, 1, n - i), load_tail(y + i, 1, n - i), a, b,
                           c, e);
        store_tail(t + i, result, n - i);
    }
}

// MARK: Batch normalization

INLINE v8 load8(const float *p) {
    v8 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

/// A plane's sums are kept in eight partial sums (element k in sum k mod 8, the tail in the
/// first) combined as ((0+1)+(2+3))+((4+5)+(6+7)).
INLINE float combine8(v8 s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

static float plane_sum(const float *x, long s) {
    v8 sum = {0};
    long k = 0;
    for (; k + 8 <= s; k += 8) sum += load8(x + k);
    for (; k < s; k++) sum[0] += x[k];
    return combine8(sum);
}

static float plane_squares(const float *x, float mean, long s) {
    v8 sum = {0}, mean8 = (v8){} + mean;
    long k = 0;
    for (; k + 8 <= s; k += 8) {
        v8 centered = load8(x + k) - mean8;
        sum += centered * centered;
    }
    for (; k < s; k++) sum[0] += (x[k] - mean) * (x[k] - mean);
    return combine8(sum);
}

/// The sums of gy and of gy (x - mean).
static void plane_gradient_sums(const float *gy, const float *x, float mean, long s, float *sum_gy, float *sum_gy_centered) {
    v8 sum = {0}, sum_centered = {0}, mean8 = (v8){} + mean;
    long k = 0;
    for (; k + 8 <= s; k += 8) {
        v8 g = load8(gy + k);
        sum += g;
        sum_centered += g * (load8(x + k) - mean8);
    }
    for (; k < s; k++) {
        sum[0] += gy[k];
        sum_centered[0] += gy[k] * (x[k] - mean);
    }
    *sum_gy = combine8(sum);
    *sum_gy_centered = combine8(sum_centered);
}

/// Mean first, then squared deviations (two passes, for accuracy); each plane's sum in
/// float, the channel's in double.
static void batch_norm_forward(const float *x, const float *weight, const float *bias, float *y, float *mean_out,
                               float *variance_out, long n, long c, long s, long first_channel, long end_channel,
                               double epsilon) {
    double count = (double)(n * s);
    for (long ch = first_channel; ch < end_channel; ch++) {
        double total = 0, squares = 0;
        for (long i = 0; i < n; i++) total += plane_sum(x + (i * c + ch) * s, s);
        float mean = (float)(total / count);
        for (long i = 0; i < n; i++) squares += plane_squares(x + (i * c + ch) * s, mean, s);
        double variance = squares / count;
        float scale = (float)((double)weight[ch] / __builtin_sqrt(variance + epsilon)), shift = bias[ch];
        vf mean16 = (vf){} + mean, scale16 = (vf){} + scale, shift16 = (vf){} + shift;
        for (long i = 0; i < n; i++) {
            const float *plane = x + (i * c + ch) * s;
            float *out = y + (i * c + ch) * s;
            long k = 0;
            for (; k + 16 <= s; k += 16) store(out + k, (load(plane + k) - mean16) * scale16 + shift16);
            for (; k < s; k++) out[k] = (plane[k] - mean) * scale + shift;
        }
        mean_out[ch] = mean;
        variance_out[ch] = (float)variance;
    }
}

/// One pass for the parameters' gradients, one for the input's:
/// dx = w / std (gy - mean(gy) - x̂ mean(gy x̂)) = a gy + b (x - mean) + d.
static void batch_norm_backward(const float *x, const float *grad_y, const float *mean_in, const float *variance_in,
                                const float *weight, float *grad_x, float *grad_weight, float *grad_bias, long n, long c,
                                long s, long first_channel, long end_channel, double epsilon) {
    double count = (double)(n * s);
    for (long ch = first_channel; ch < end_channel; ch++) {
        float mean = mean_in[ch];
        double sum_gy = 0, sum_gy_centered = 0;
        for (long i = 0; i < n; i++) {
            float plane_gy, plane_gy_centered;
            long at = (i * c + ch) * s;
            plane_gradient_sums(grad_y + at, x + at, mean, s, &plane_gy, &plane_gy_centered);
            sum_gy += plane_gy;
            sum_gy_centered += plane_gy_centered;
        }
        double inverse_std = 1 / __builtin_sqrt((double)variance_in[ch] + epsilon);
        double gradient_weight = sum_gy_centered * inverse_std;
        double a = (double)weight[ch] * inverse_std;
        float ta = (float)a, tb = (float)(-a * inverse_std * gradient_weight / count), td = (float)(-a * sum_gy / count);
        vf ta16 = (vf){} + ta, tb16 = (vf){} + tb, td16 = (vf){} + td, mean16 = (vf){} + mean;
        for (long i = 0; i < n; i++) {
            long at = (i * c + ch) * s;
            const float *gy = grad_y + at, *plane = x + at;
            float *gx = grad_x + at;
            long k = 0;
            for (; k + 16 <= s; k += 16) store(gx + k, ta16 * load(gy + k) + tb16 * (load(plane + k) - mean16) + td16);
            for (; k < s; k++) gx[k] = ta * gy[k] + tb * (plane[k] - mean) + td;
        }
        grad_weight[ch] = (float)gradient_weight;
        grad_bias[ch] = (float)sum_gy;
    }
}

const EmberLoops EMBER_JOIN(ember_loops, PATH) = {
    binary_loop, select32_loop, update_loop, batch_norm_forward, batch_norm_backward,
};
