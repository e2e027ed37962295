// The kernels with AVX2 (8 floats per register); called only where the CPU has it.
#include "paths.h"
#include <stdint.h>
// Every function defined below (the included kernels) is compiled for this instruction set.
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define PATH avx2
#include "kernels.h"
#include "loops.h"
#pragma clang attribute pop
