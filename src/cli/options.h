/* options.h: the ompredict command line (getopt_long) and the environment it consults: thread count
 * (-j, OMP_NUM_THREADS, SLURM_CPUS_PER_TASK / SRUN_CPUS_PER_TASK, affinity capped by cgroup v2
 * cpu.max) and sharding (--shard K/N, --shard auto from SLURM_ARRAY_TASK_*). */
#ifndef OM_CLI_OPTIONS_H
#define OM_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "common/om.h"

typedef struct om_cli {
  const char *model, *labels_file, *output, *raw, *output_name;
  const char *mask_dir;         /* --mask-dir: segmentation masks as PNG (io/mask.h) */
  int top_k;                    /* default 5 */
  int format;                   /* OM_FMT_* */
  int threads;                  /* -j; 0: not given */
  int recursive, quiet, verbose, list, resume, no_header, help, version;
  const char *preset, *preprocess;
  char **pp_flags;              /* individual preprocessing flags as spec fragments, in order */
  int npp_flags;
  int exif;                     /* -1: by preset, 0: ignore, 1: apply */
  uint64_t max_pixels;          /* default 100000000 */
  uint64_t max_model_bytes;     /* default 2 GiB */
  int shard_k, shard_n;         /* shard_n 0: no sharding */
  char **inputs;                /* argv entries (not owned) */
  int ninputs;
  int precision;                /* --precision: 0 fp32 (default), 1 bf16 (OM_PRECISION_*) */
  int no_winograd;              /* --no-winograd */
  int fast_jpeg;                /* --fast-jpeg: JPEG DCT downscaling down to the resize target */
  int profile;                  /* --profile: time per layer, table on stderr at the end */
} om_cli;

/* Parses argv. OM_E_INVALID with the reason in err for a usage error (exit 2). */
int om_cli_parse(int argc, char **argv, om_cli *c, char *err);
void om_cli_free(om_cli *c);
const char *om_cli_help(void);
/* "mpi: yes" or "mpi: no": whether this binary was built with MPI (for --version). */
const char *om_cli_build_info(void);

/* 1 unless OM_DENORMALS=keep: denormal floats are flushed to zero in the compute threads. */
int om_cli_flush_denormals(void);
/* Threads to use when -j is absent; *source names where the number came from. */
int om_cli_default_threads(const char **source);
/* CPUs allowed by sched_getaffinity, capped by a cgroup v2 cpu.max quota (at least 1). */
int om_cpus_available(void);

/* "K/N" (0 <= K < N) or "auto" (SLURM_ARRAY_TASK_ID/COUNT/MIN/STEP). */
int om_shard_parse(const char *s, int *k, int *n, char *err);
/* Shard k of N over n items: [floor(k*n/N), floor((k+1)*n/N)). */
void om_shard_range(size_t n, int k, int nshards, size_t *lo, size_t *hi);

#endif
