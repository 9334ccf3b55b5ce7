/* test_linear_scalar.c — test_linear.c with the portable (non-SIMD) kernels. */
#define LINEAR_SCALAR 1
#include "test_linear.c"
