#include "CEmberMPI.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

MPI_Comm ember_mpi_comm_world(void) { return MPI_COMM_WORLD; }
void *ember_mpi_in_place(void) { return MPI_IN_PLACE; }
MPI_Errhandler ember_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
int ember_mpi_undefined(void) { return MPI_UNDEFINED; }

MPI_Datatype ember_mpi_int8(void) { return MPI_INT8_T; }
MPI_Datatype ember_mpi_int32(void) { return MPI_INT32_T; }
MPI_Datatype ember_mpi_int64(void) { return MPI_INT64_T; }
MPI_Datatype ember_mpi_float(void) { return MPI_FLOAT; }
MPI_Datatype ember_mpi_double(void) { return MPI_DOUBLE; }
MPI_Datatype ember_mpi_uint16(void) { return MPI_UINT16_T; }

MPI_Op ember_mpi_sum(void) { return MPI_SUM; }
MPI_Op ember_mpi_max(void) { return MPI_MAX; }
MPI_Op ember_mpi_min(void) { return MPI_MIN; }

// MARK: 16-bit floats

static float bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t float_to_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static float bf16_to_float(uint16_t h) { return bits_to_float((uint32_t)h << 16); }

static uint16_t float_to_bf16(float f) {
    uint32_t bits = float_to_bits(f);
    if (isnan(f)) return (uint16_t)((bits >> 16) | 0x40);  // a quiet NaN keeps its sign
    bits += 0x7FFF + ((bits >> 16) & 1);                    // round to nearest even
    return (uint16_t)(bits >> 16);
}

static float fp16_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    if (exponent == 0x1F) return bits_to_float(sign | 0x7F800000 | (mantissa << 13));
    if (exponent == 0) {
        // Zero or subnormal: mantissa · 2^-24.
        float magnitude = ldexpf((float)mantissa, -24);
        return sign ? -magnitude : magnitude;
    }
    return bits_to_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

static uint16_t float_to_fp16(float f) {
    uint32_t bits = float_to_bits(f);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    float magnitude = fabsf(f);
    if (isnan(f)) return sign | 0x7E00;
    if (magnitude >= 65520.0f) return sign | 0x7C00;  // rounds to infinity
    if (magnitude < 6.103515625e-05f) {
        // Subnormal: a multiple of 2^-24, rounded to nearest even by rintf.
        return sign | (uint16_t)rintf(magnitude * 16777216.0f);
    }
    uint32_t m = float_to_bits(magnitude);
    m += 0xFFF + ((m >> 13) & 1);  // round the 13 dropped bits to nearest even
    return sign | (uint16_t)(((m >> 23) - 112) << 10 | ((m >> 13) & 0x3FF));
}

static float combine(EmberHalfOp op, float a, float b) {
    switch (op) {
    case EMBER_HALF_SUM: return a + b;
    case EMBER_HALF_MAX: return (a > b || isnan(a)) ? a : b;
    case EMBER_HALF_MIN: return (a < b || isnan(a)) ? a : b;
    }
    return a;
}

#define HALF_OP(name, kind_to_float, float_to_kind, op)                                    \
    static void name(void *in, void *inout, int *len, MPI_Datatype *type) {                 \
        (void)type;                                                                         \
        const uint16_t *a = in;                                                             \
        uint16_t *b = inout;                                                                \
        for (int i = 0; i < *len; i++)                                                      \
            b[i] = float_to_kind(combine(op, kind_to_float(a[i]), kind_to_float(b[i])));    \
    }

HALF_OP(bf16_sum, bf16_to_float, float_to_bf16, EMBER_HALF_SUM)
HALF_OP(bf16_max, bf16_to_float, float_to_bf16, EMBER_HALF_MAX)
HALF_OP(bf16_min, bf16_to_float, float_to_bf16, EMBER_HALF_MIN)
HALF_OP(fp16_sum, fp16_to_float, float_to_fp16, EMBER_HALF_SUM)
HALF_OP(fp16_max, fp16_to_float, float_to_fp16, EMBER_HALF_MAX)
HALF_OP(fp16_min, fp16_to_float, float_to_fp16, EMBER_HALF_MIN)

static MPI_Op half_ops[2][3];
static int half_ops_created = 0;

int ember_mpi_create_half_ops(void) {
    if (half_ops_created) return MPI_SUCCESS;
    MPI_User_function *functions[2][3] = {{bf16_sum, bf16_max, bf16_min}, {fp16_sum, fp16_max, fp16_min}};
    for (int kind = 0; kind < 2; kind++) {
        for (int op = 0; op < 3; op++) {
            int error = MPI_Op_create(functions[kind][op], 1, &half_ops[kind][op]);
            if (error != MPI_SUCCESS) return error;
        }
    }
    half_ops_created = 1;
    return MPI_SUCCESS;
}

MPI_Op ember_mpi_half_op(EmberHalfKind kind, EmberHalfOp op) { return half_ops[kind][op]; }
