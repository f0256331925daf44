/* options.c: command-line parsing, --help text, thread-count and shard resolution. */
#include "cli/options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/output.h"

static const char help_text[] =
    "Usage: ompredict -m MODEL [options] INPUT...\n"
    "Predict the class of every input image with one ONNX model, in parallel (OpenMP), writing one\n"
    "row per input in input order.\n"
    "\n"
    "Inputs (expanded in order; duplicates kept):\n"
    "  FILE          the file itself, whatever its extension (a non-image gives an error row)\n"
    "  DIR           its image files (jpg jpeg png bmp gif tga psd hdr pnm ppm pgm pbm npy, any case),\n"
    "                sorted byte-wise; hidden names (leading '.') are skipped\n"
    "  PATTERN       a path with * ? [...] [!...] that does not exist as such: our own glob matcher;\n"
    "                '**' as a whole component matches any number of directories; wildcards do not\n"
    "                match a leading '.'; matches (not directories) sorted byte-wise; no match: a\n"
    "                warning 'pattern matched no files' and no rows\n"
    "  @LIST         one path per line (CR LF or LF; empty lines skipped; taken literally)\n"
    "  -             the same from standard input\n"
    "  A missing path gives an error row (not fatal). Files ending in .npy are float32 tensors\n"
    "  (C x H x W or 1 x C x H x W) fed to the model as they are; with .npy inputs only, a model\n"
    "  input whose C, H, W are fixed is run at that shape (no image needed).\n"
    "\n"
    "Options:\n"
    "  -m, --model FILE        ONNX model (required except with --list)\n"
    "  -l, --labels FILE       class names, one per line (overrides the model's \"ompredict.labels\")\n"
    "  -k, --top K             classes per row (default 5, at most the number of classes)\n"
    "  -f, --format FMT        csv (default), tsv or jsonl\n"
    "  -o, --output FILE       write here instead of standard output, atomically: a temporary\n"
    "                          '.NAME.tmp.PID' in the same directory, renamed when complete\n"
    "  -j, --threads N         threads (default: OMP_NUM_THREADS, else SLURM_CPUS_PER_TASK or\n"
    "                          SRUN_CPUS_PER_TASK, else the CPUs this process may use: its affinity\n"
    "                          mask, capped by a cgroup v2 cpu.max quota)\n"
    "  -r, --recursive         descend into subdirectories of DIR inputs (each directory once,\n"
    "                          symlink loops are cut)\n"
    "  -q, --quiet             no progress line, summary or warnings\n"
    "  -v, --verbose           print the plan, preprocessing and kernel path to stderr\n"
    "      --raw FILE.npy      also write the model output: one float32 row per input (NaN row for a\n"
    "                          failed input), atomically like -o\n"
    "      --output-name NAME  graph output or intermediate tensor to use as the result (default:\n"
    "                          the first graph output)\n"
    "      --shard K/N         process only shard K (0-based) of N: inputs [floor(K*n/N),\n"
    "                          floor((K+1)*n/N)) of the expanded list; 'index' stays global, so\n"
    "                          concatenating shards 0..N-1 (headers aside) gives the whole output\n"
    "      --shard auto        K and N from SLURM_ARRAY_TASK_ID, _COUNT, _MIN and _STEP:\n"
    "                          K = (ID - MIN) / STEP, N = COUNT\n"
    "      --mask-dir DIR      segmentation models (result N x C x H x W, C <= 256): also write\n"
    "                          DIR/<input path, '%' as %25, '/' as %2F>.png, the argmax class per\n"
    "                          pixel resized (nearest) to the image's size, as an 8-bit palette PNG\n"
    "                          (PASCAL VOC colour map); written atomically; DIR must exist\n"
    "      --list              print the expanded (sharded) input list, one path per line; exit 0\n"
    "      --resume            with -o FILE: continue an interrupted run (see below)\n"
    "      --no-header         no header line (csv, tsv)\n"
    "      --max-pixels N      refuse images larger than N pixels (default 100000000)\n"
    "      --max-model-bytes N refuse model files larger than N bytes (default 2147483648)\n"
    "      --exif apply|ignore EXIF orientation (default: ignore under the torchvision and inception\n"
    "                          presets, as Pillow does; apply otherwise). Images with an orientation\n"
    "                          other than 1 are counted in the summary either way.\n"
    "      --fast-jpeg         decode large JPEGs at 1/2, 1/4 or 1/8 size in the DCT (libjpeg's\n"
    "                          scaled IDCT) while the result still covers the resize target: several\n"
    "                          times faster on camera-sized photos, but not pixel-identical to the\n"
    "                          training transform (off by default)\n"
    "      --precision fp32|bf16  arithmetic of the convolutions (default fp32). bf16: weights\n"
    "                          and activations rounded to bfloat16 (nearest even), products summed\n"
    "                          in fp32, on CPUs with AVX512-BF16: scores keep 2-3 significant\n"
    "                          digits, top-1 is nearly always unchanged. Depthwise, Gemm/MatMul and\n"
    "                          Winograd 3x3 layers stay fp32. Where the CPU lacks AVX512-BF16 the\n"
    "                          run goes on in fp32 with a warning (one job script fits every node).\n"
    "      --no-winograd       3x3 stride-1 convolutions computed directly, not by Winograd\n"
    "                          F(4x4,3x3) / F(2x2,3x3) (the default where it is faster: 56x56\n"
    "                          down to 13x13 outputs / 7x7 to 12x12 with 64+ channels): slower\n"
    "                          (resnet18 about 1.7x, resnet50 1.25x), about 2/3\n"
    "                          of the float32 rounding error\n"
    "      --profile           time every layer of the network and print, at the end, where the\n"
    "                          time went: per op type and the slowest layers, with ms per image\n"
    "                          and GFLOP/s per thread for Conv/Gemm/MatMul, also as a share of this\n"
    "                          core's FP32 peak (measured after the run); with -v every layer, not\n"
    "                          the 15 slowest. Costs one clock read per layer.\n"
    "  -h, --help              this text\n"
    "  -V, --version           name, version and the kernel path this CPU gets\n"
    "\n"
    "Preprocessing, later wins:\n"
    "  1. defaults from the model input [N,C,H,W]: 3 channels -> the torchvision preset at H x W\n"
    "     (shorter side resized to round(H*256/224) then center crop), 1 channel -> 'none'\n"
    "  2. the model's metadata \"ompredict.preprocess\"   3. --preset NAME\n"
    "  4. --preprocess SPEC   5. the individual flags below, in command-line order\n"
    "      --preset NAME       torchvision, inception, caffe, tf, fashion-mnist, none, raw\n"
    "      --preprocess SPEC   key=value,... with keys preset size resize mode interp scale mean std\n"
    "                          order channels layout (mean/std values separated by '/')\n"
    "      --size N|WxH        model input size      --resize N   shorter side before the crop\n"
    "      --resize-mode crop|stretch|none         --interp bilinear|nearest|bicubic\n"
    "      --scale F           pixel multiplier      --mean A,B,C   --std A,B,C\n"
    "      --bgr | --rgb       channel order         --gray       one channel\n"
    "Labels: --labels FILE, else the model's \"ompredict.labels\", else none (label columns left out).\n"
    "\n"
    "Output: one row per input: index,path,status,top1_class[,top1_label],top1_score,...,error.\n"
    "  csv    RFC 4180 quoting; numbers in the C locale; scores %.9g\n"
    "  tsv    the same columns; TAB, LF, CR and backslash inside a field written as \\t \\n \\r \\\\\n"
    "  jsonl  {\"index\":0,\"path\":\"a.png\",\"status\":\"ok\",\"top\":[{\"class\":3,\"label\":\"Dress\",\n"
    "         \"score\":0.97},...]} or {...,\"status\":\"error\",\"error\":\"reason\"}; bytes of a path\n"
    "         that are not UTF-8 are written as \\udcXY (Python's surrogateescape: os.fsencode\n"
    "         gives back the original bytes)\n"
    "  Scores are softmax probabilities, unless the result tensor comes from a Softmax node (then\n"
    "  used as they are); ties go to the lower class index.\n"
    "\n"
    "Exit status: 0 every input predicted; 1 some inputs failed (error rows); 2 fatal (usage,\n"
    "  model, no inputs, output not writable, write error; a closed output pipe ends the run quietly\n"
    "  with 2); 130/143 after SIGINT/SIGTERM.\n"
    "Interruption: on SIGINT/SIGTERM no new input is started, those in flight finish, the complete\n"
    "  ordered prefix is written and with -o FILE kept as FILE.partial (also RAW.partial).\n"
    "  'ompredict --resume -o FILE' with the same inputs and options keeps the whole rows of\n"
    "  FILE.partial, skips those inputs and appends the rest: the result is byte-identical to an\n"
    "  uninterrupted run. If FILE exists and there is no FILE.partial, there is nothing to do.\n"
    "  With --raw RAW, RAW.partial is continued the same way (it must hold those rows).\n"
    "Environment: OMP_NUM_THREADS, SLURM_CPUS_PER_TASK, SRUN_CPUS_PER_TASK, SLURM_ARRAY_TASK_*,\n"
    "  OMP_PROC_BIND/OMP_PLACES (respected). With fewer inputs than threads, the idle threads\n"
    "  work inside the network (same bytes); OM_INTRA=0 turns that off, and on a machine shared\n"
    "  with other jobs OMP_WAIT_POLICY=passive keeps those thread teams from spinning.\n"
    "  OMPREDICT_KERNEL=ref|avx2|avx512 forces a kernel path. OM_WINOGRAD=0 turns Winograd off\n"
    "  (as --no-winograd), OM_WINOGRAD=4 keeps F(4x4,3x3) only (no F(2x2) on 7x7 maps), for\n"
    "  comparisons. OM_CONV_DIRECT=0 (or =grid) turns off the shifted-row convolutions (or their\n"
    "  transposed tiles), for comparisons.\n"
    "  OMPREDICT_TEST_DELAY_MS (tests only): sleep this long per input.\n"
    "MPI (builds with -DOMPREDICT_MPI=ON): 'mpirun -n R ompredict ...' splits the inputs across ranks\n"
    "  in dynamic chunks; every rank loads the model and runs its own threads; rank 0 writes the one\n"
    "  ordered output (byte-identical to a single-process run). Use 'mpirun --bind-to none' (or\n"
    "  --map-by slot:PE=T) so each rank's T threads are not bound to one core. OMPREDICT_NO_MPI=1\n"
    "  runs each rank as an independent process. Signals: mpirun forwards SIGINT/SIGTERM to all\n"
    "  ranks; they stop starting inputs and rank 0 keeps the ordered prefix as FILE.partial\n"
    "  (--resume works under MPI too); mpirun's own exit status is then not 130/143. A fatal error\n"
    "  on any rank (model, output, out of memory) is printed and ends all ranks (MPI_Abort).\n"
#ifdef OMPREDICT_MPI
    "Built with mpi: yes\n";
#else
    "Built with mpi: no\n";
#endif

const char *om_cli_build_info(void) {
#ifdef OMPREDICT_MPI
  return "mpi: yes";
#else
  return "mpi: no";
#endif
}

const char *om_cli_help(void) { return help_text; }

enum {
  OPT_RAW = 256, OPT_OUTPUT_NAME, OPT_SHARD, OPT_LIST, OPT_RESUME, OPT_NO_HEADER, OPT_MAX_PIXELS,
  OPT_EXIF, OPT_PRESET, OPT_PREPROCESS, OPT_SIZE, OPT_RESIZE, OPT_RESIZE_MODE, OPT_INTERP,
  OPT_SCALE, OPT_MEAN, OPT_STD, OPT_BGR, OPT_RGB, OPT_GRAY, OPT_MASK_DIR, OPT_MAX_MODEL_BYTES,
  OPT_PRECISION, OPT_PROFILE, OPT_NO_WINOGRAD, OPT_FAST_JPEG
};

static const struct option long_opts[] = {
    {"model", required_argument, 0, 'm'},      {"labels", required_argument, 0, 'l'},
    {"top", required_argument, 0, 'k'},        {"format", required_argument, 0, 'f'},
    {"output", required_argument, 0, 'o'},     {"threads", required_argument, 0, 'j'},
    {"recursive", no_argument, 0, 'r'},        {"quiet", no_argument, 0, 'q'},
    {"verbose", no_argument, 0, 'v'},          {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},          {"raw", required_argument, 0, OPT_RAW},
    {"output-name", required_argument, 0, OPT_OUTPUT_NAME},
    {"shard", required_argument, 0, OPT_SHARD}, {"list", no_argument, 0, OPT_LIST},
    {"resume", no_argument, 0, OPT_RESUME},    {"no-header", no_argument, 0, OPT_NO_HEADER},
    {"max-pixels", required_argument, 0, OPT_MAX_PIXELS},
    {"max-model-bytes", required_argument, 0, OPT_MAX_MODEL_BYTES},
    {"exif", required_argument, 0, OPT_EXIF},  {"preset", required_argument, 0, OPT_PRESET},
    {"preprocess", required_argument, 0, OPT_PREPROCESS},
    {"size", required_argument, 0, OPT_SIZE},  {"resize", required_argument, 0, OPT_RESIZE},
    {"resize-mode", required_argument, 0, OPT_RESIZE_MODE},
    {"interp", required_argument, 0, OPT_INTERP}, {"scale", required_argument, 0, OPT_SCALE},
    {"mean", required_argument, 0, OPT_MEAN},  {"std", required_argument, 0, OPT_STD},
    {"bgr", no_argument, 0, OPT_BGR},          {"rgb", no_argument, 0, OPT_RGB},
    {"gray", no_argument, 0, OPT_GRAY},        {"mask-dir", required_argument, 0, OPT_MASK_DIR},
    {"precision", required_argument, 0, OPT_PRECISION},
    {"no-winograd", no_argument, 0, OPT_NO_WINOGRAD},
    {"fast-jpeg", no_argument, 0, OPT_FAST_JPEG},
    {"profile", no_argument, 0, OPT_PROFILE},
    {0, 0, 0, 0}};

/* Strict decimal: the whole string, within [lo, hi]. */
static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
  if (!s || !*s || isspace((unsigned char)*s)) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int add_flag(om_cli *c, const char *key, const char *val, char *err) {
  size_t n = strlen(key) + strlen(val) + 2;
  char *s = malloc(n);
  char **v = realloc(c->pp_flags, (size_t)(c->npp_flags + 1) * sizeof *v);
  if (!s || !v) {
    free(s);
    if (v) c->pp_flags = v;
    return om_seterr(err, OM_E_NOMEM, "out of memory");
  }
  c->pp_flags = v;
  snprintf(s, n, "%s=%s", key, val);
  /* --mean/--std take A,B,C on the command line; the spec syntax separates values with '/'. */
  if (strcmp(key, "mean") == 0 || strcmp(key, "std") == 0)
    for (char *p = s; *p; p++)
      if (*p == ',') *p = '/';
  if (strchr(s + strlen(key) + 1, ',')) {
    free(s);
    return om_seterr(err, OM_E_INVALID, "--%s: unexpected ',' in '%s'", key, val);
  }
  c->pp_flags[c->npp_flags++] = s;
  return OM_OK;
}

int om_cli_parse(int argc, char **argv, om_cli *c, char *err) {
  memset(c, 0, sizeof *c);
  c->top_k = 5;
  c->format = OM_FMT_CSV;
  c->exif = -1;
  c->max_pixels = 100000000ull;
  c->max_model_bytes = 2147483648ull;
  opterr = 0;
  optind = 1;
  int st = OM_OK, opt;
  long long v;
  while (st == OM_OK &&
         (opt = getopt_long(argc, argv, ":m:l:k:f:o:j:rqvhV", long_opts, NULL)) != -1) {
    switch (opt) {
    case 'm': c->model = optarg; break;
    case 'l': c->labels_file = optarg; break;
    case 'k':
      if (parse_ll(optarg, 1, INT_MAX, &v))
        st = om_seterr(err, OM_E_INVALID, "--top: '%s' is not a positive integer", optarg);
      else c->top_k = (int)v;
      break;
    case 'f':
      c->format = om_format_parse(optarg);
      if (c->format < 0)
        st = om_seterr(err, OM_E_INVALID, "--format: '%s' is not csv, tsv or jsonl", optarg);
      break;
    case 'o': c->output = optarg; break;
    case 'j':
      if (parse_ll(optarg, 1, 4096, &v))
        st = om_seterr(err, OM_E_INVALID, "--threads: '%s' is not an integer in 1..4096", optarg);
      else c->threads = (int)v;
      break;
    case 'r': c->recursive = 1; break;
    case 'q': c->quiet = 1; break;
    case 'v': c->verbose = 1; break;
    case OPT_PROFILE: c->profile = 1; break;
    case 'h': c->help = 1; break;
    case 'V': c->version = 1; break;
    case OPT_RAW: c->raw = optarg; break;
    case OPT_OUTPUT_NAME: c->output_name = optarg; break;
    case OPT_SHARD: st = om_shard_parse(optarg, &c->shard_k, &c->shard_n, err); break;
    case OPT_LIST: c->list = 1; break;
    case OPT_RESUME: c->resume = 1; break;
    case OPT_NO_HEADER: c->no_header = 1; break;
    case OPT_MAX_PIXELS:
      if (parse_ll(optarg, 1, LLONG_MAX, &v))
        st = om_seterr(err, OM_E_INVALID, "--max-pixels: '%s' is not a positive integer", optarg);
      else c->max_pixels = (uint64_t)v;
      break;
    case OPT_MAX_MODEL_BYTES:
      if (parse_ll(optarg, 1, LLONG_MAX, &v) || (unsigned long long)v > SIZE_MAX)
        st = om_seterr(err, OM_E_INVALID, "--max-model-bytes: '%s' is not a positive integer",
                       optarg);
      else c->max_model_bytes = (uint64_t)v;
      break;
    case OPT_EXIF:
      if (strcmp(optarg, "apply") == 0) c->exif = 1;
      else if (strcmp(optarg, "ignore") == 0) c->exif = 0;
      else st = om_seterr(err, OM_E_INVALID, "--exif: '%s' is not apply or ignore", optarg);
      break;
    case OPT_NO_WINOGRAD: c->no_winograd = 1; break;
    case OPT_FAST_JPEG: c->fast_jpeg = 1; break;
    case OPT_PRECISION:
      if (strcmp(optarg, "fp32") == 0) c->precision = 0;
      else if (strcmp(optarg, "bf16") == 0) c->precision = 1;
      else st = om_seterr(err, OM_E_INVALID, "--precision: '%s' is not fp32 or bf16", optarg);
      break;
    case OPT_PRESET: c->preset = optarg; break;
    case OPT_PREPROCESS: c->preprocess = optarg; break;
    case OPT_SIZE: st = add_flag(c, "size", optarg, err); break;
    case OPT_RESIZE: st = add_flag(c, "resize", optarg, err); break;
    case OPT_RESIZE_MODE: st = add_flag(c, "mode", optarg, err); break;
    case OPT_INTERP: st = add_flag(c, "interp", optarg, err); break;
    case OPT_SCALE: st = add_flag(c, "scale", optarg, err); break;
    case OPT_MEAN: st = add_flag(c, "mean", optarg, err); break;
    case OPT_STD: st = add_flag(c, "std", optarg, err); break;
    case OPT_BGR: st = add_flag(c, "order", "bgr", err); break;
    case OPT_RGB: st = add_flag(c, "order", "rgb", err); break;
    case OPT_GRAY: st = add_flag(c, "channels", "1", err); break;
    case OPT_MASK_DIR: c->mask_dir = optarg; break;
    case ':':
      st = om_seterr(err, OM_E_INVALID, "option '%s' needs an argument", argv[optind - 1]);
      break;
    default:
      if (optopt && optopt < 256)
        st = om_seterr(err, OM_E_INVALID, "unknown option '-%c'", optopt);
      else
        st = om_seterr(err, OM_E_INVALID, "unknown option '%s'",
                       argv[optind - 1]);
      break;
    }
  }
  if (st != OM_OK || c->help || c->version) return st;
  /* GNU getopt permutes argv: options may follow inputs; "--" ends the options. */
  c->inputs = argv + optind;
  c->ninputs = argc - optind;
  if (!c->model && !c->list) return om_seterr(err, OM_E_INVALID, "no model: use -m MODEL");
  if (c->resume && !c->output) return om_seterr(err, OM_E_INVALID, "--resume needs -o FILE");
  if (c->list && (c->output || c->raw))
    return om_seterr(err, OM_E_INVALID, "--list prints the list on standard output; it writes no -o / --raw");
  return OM_OK;
}

void om_cli_free(om_cli *c) {
  for (int i = 0; i < c->npp_flags; i++) free(c->pp_flags[i]);
  free(c->pp_flags);
  c->pp_flags = NULL;
  c->npp_flags = 0;
}

/* ---- threads ---- */

static int env_count(const char *name) {
  const char *s = getenv(name);
  long long v;
  if (!s) return 0;
  /* OMP_NUM_THREADS may be a list ("4,2"): its first entry is the outer level. */
  char buf[32];
  size_t n = strcspn(s, ",");
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  return parse_ll(buf, 1, 4096, &v) ? 0 : (int)v;
}

/* cgroup v2 cpu.max of this process's cgroup and its ancestors: the tightest ceil(quota/period). */
static int cgroup_cpu_limit(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return 0;
  char line[4096], path[4200];
  int limit = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "0::", 3) != 0) continue;
    line[strcspn(line, "\n")] = 0;
    snprintf(path, sizeof path, "/sys/fs/cgroup%s", line + 3);
    for (;;) {
      char file[4300];
      snprintf(file, sizeof file, "%s/cpu.max", path);
      FILE *m = fopen(file, "r");
      if (m) {
        char q[64] = "";
        long long period = 0;
        if (fscanf(m, "%63s %lld", q, &period) == 2 && strcmp(q, "max") != 0 && period > 0) {
          long long quota = atoll(q);
          if (quota > 0) {
            int cpus = (int)((quota + period - 1) / period);
            if (cpus < 1) cpus = 1;
            if (!limit || cpus < limit) limit = cpus;
          }
        }
        fclose(m);
      }
      char *slash = strrchr(path, '/');
      if (!slash || slash - path <= (long)strlen("/sys/fs/cgroup")) break;
      *slash = 0;
    }
  }
  fclose(f);
  return limit;
}

int om_cpus_available(void) {
  int n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n < 1) n = 1;
  int q = cgroup_cpu_limit();
  if (q > 0 && q < n) n = q;
  return n;
}

int om_cli_flush_denormals(void) {
  const char *e = getenv("OM_DENORMALS");
  return !(e && strcmp(e, "keep") == 0);
}

int om_cli_default_threads(const char **source) {
  static const char *const envs[] = {"OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK", "SRUN_CPUS_PER_TASK"};
  for (size_t i = 0; i < OM_ARRAY_LEN(envs); i++) {
    int n = env_count(envs[i]);
    if (n > 0) {
      if (source) *source = envs[i];
      return n;
    }
  }
  if (source) *source = "available CPUs";
  return om_cpus_available();
}

/* ---- shards ---- */

int om_shard_parse(const char *s, int *k, int *n, char *err) {
  long long kk, nn;
  if (strcmp(s, "auto") == 0) {
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *cnt = getenv("SLURM_ARRAY_TASK_COUNT");
    const char *mn = getenv("SLURM_ARRAY_TASK_MIN"), *stp = getenv("SLURM_ARRAY_TASK_STEP");
    long long idv, minv = 0, stepv = 1;
    if (!id || !cnt)
      return om_seterr(err, OM_E_INVALID,
                       "--shard auto: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are not set");
    if (parse_ll(id, 0, INT_MAX, &idv) || parse_ll(cnt, 1, INT_MAX, &nn) ||
        (mn && parse_ll(mn, 0, INT_MAX, &minv)) || (stp && parse_ll(stp, 1, INT_MAX, &stepv)))
      return om_seterr(err, OM_E_INVALID, "--shard auto: SLURM_ARRAY_TASK_* are not integers");
    if (idv < minv || (idv - minv) % stepv != 0 || (idv - minv) / stepv >= nn)
      return om_seterr(err, OM_E_INVALID,
                       "--shard auto: task %lld is not in the array (min %lld, step %lld, count %lld)",
                       idv, minv, stepv, nn);
    *k = (int)((idv - minv) / stepv);
    *n = (int)nn;
    return OM_OK;
  }
  const char *slash = strchr(s, '/');
  char kb[32];
  if (!slash || (size_t)(slash - s) >= sizeof kb)
    return om_seterr(err, OM_E_INVALID, "--shard: '%s' is not K/N or auto", s);
  memcpy(kb, s, (size_t)(slash - s));
  kb[slash - s] = 0;
  if (parse_ll(kb, 0, INT_MAX, &kk) || parse_ll(slash + 1, 1, INT_MAX, &nn) || kk >= nn)
    return om_seterr(err, OM_E_INVALID, "--shard: '%s' is not K/N with 0 <= K < N", s);
  *k = (int)kk;
  *n = (int)nn;
  return OM_OK;
}

void om_shard_range(size_t n, int k, int nshards, size_t *lo, size_t *hi) {
  /* 128-bit products: k*n overflows 64 bits only for absurd n, but this costs nothing. */
  *lo = (size_t)((unsigned __int128)n * (unsigned)k / (unsigned)nshards);
  *hi = (size_t)((unsigned __int128)n * ((unsigned)k + 1) / (unsigned)nshards);
}
