/* rng.h: the unit tests' random numbers: xorshift64 from the seed a test names (TEST_RNG_SEED, defined
 * before the include; a default otherwise), frand() uniform in [-1, 1). Header-only: each test is its
 * own executable, with its own sequence. */
#ifndef OM_TEST_RNG_H
#define OM_TEST_RNG_H

#include <stdint.h>

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9E3779B97F4A7C15ull
#endif

static uint64_t rng = TEST_RNG_SEED;

static float frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#endif
