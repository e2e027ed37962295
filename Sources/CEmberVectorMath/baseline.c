// The kernels for the x86-64 baseline (SSE2): what the compiler targets by default.
#define PATH baseline
#include "kernels.h"
#include "loops.h"
