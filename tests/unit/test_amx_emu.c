/* test_amx_emu.c: the AMX bf16 GEMM (gemm_amx.c) with its six tile instructions emulated in C, so its
 * A layout, B padding, tile addressing, partial tiles and epilogue are checked on every CPU with
 * AVX-512 (the epilogue's), AMX or not, against bf16_gemm.h's naive reference. The real
 * instructions are checked by test_bf16 on a CPU with AMX. Exit 77 without AVX-512 F/BW/DQ/VL. */
#include "check.h"
#define TEST_RNG_SEED 0x5851F42D4C957F2Dull
#include "rng.h"

#define OM_AMX_EMULATE
#include "engine/gemm_amx.c"

#include "bf16_gemm.h"

int main(void) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl") ||
      !__builtin_cpu_supports("fma")) {
    printf("skip: this CPU lacks AVX-512 (the AMX kernel's epilogue)\n");
    return 77;
  }
  const bf16_gemm_impl emu = {om_gemm_amx_packed_a_elems_emu, om_gemm_amx_pack_a_emu,
                              om_gemm_amx_scratch_bytes_emu, om_gemm_amx_emu};
  test_gemm(&emu);
  printf("AMX GEMM (emulated tiles): %d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
