/* rng.h — the project's random numbers: xoshiro256** seeded through splitmix64.
 * A stream is named by (seed, stream index): sample i of a run with seed s
 * always draws the same numbers, whatever else runs beside it. */
#ifndef GH_RNG_H
#define GH_RNG_H

#include <stdint.h>

typedef struct gh_rng {
    uint64_t s[4];
} gh_rng;

void gh_rng_seed(gh_rng *r, uint64_t seed, uint64_t stream);
uint64_t gh_rng_next(gh_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double gh_rng_uniform(gh_rng *r);
/* Standard normal (Box–Muller; uses two draws). */
double gh_rng_normal(gh_rng *r);

#endif
