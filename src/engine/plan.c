/* plan.c: the planner. Turns a const onnx_model into an immutable om_plan: validates the graph
 * (definitions, duplicates, cycles, registry), sorts it topologically, folds constants, turns
 * reshape-like ops into views, fuses Conv+BatchNormalization, Conv+Add, Conv/Gemm/MatMul +
 * activation and a per-channel Mul into the 1x1 Conv after it, calls every op's prepare, turns a
 * channel Concat of one image into views of its output (elide_concats), and lays all run-time
 * tensors out in one arena with a greedy first-fit over lifetimes. Also owns
 * workspaces and om_run, and the planner side of op.h (om_prep_alloc, om_attr*).
 *
 * Build runs prepare twice when fusion is on: pass 1 on the graph as written gives every tensor's
 * shape and constness (what fusion must know); pass 2 prepares the fused graph. Pass 1 is
 * shapes-only (om_prep.shapes_only): weighted ops see their weights as run-time values there, so
 * nothing is packed twice, and its memory is thrown away. The plan does not point into the
 * onnx_model after build (constants it reads at run time are copied: own_const).
 *
 * Load time is mostly first-touch page faults on big buffers, so large zeroed blocks come straight
 * from mmap (zero already, huge-page advised, no memset) and buffers that are fully overwritten
 * are never zeroed. */
#include "engine/conv_chain.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "engine/op_util.h"
#include "engine/plan_debug.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif
#include <sys/mman.h>

/* Sanitizers cannot see inside private mappings: there every block comes from the allocator. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define POOL_NO_MMAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define POOL_NO_MMAP 1
#endif
#endif

/* ---- memory pools: every allocation lives until the pool is freed ---- */
typedef struct {
  void *p;
  void *map;                    /* non-NULL: p lies in this private mapping of map_len bytes */
  size_t map_len;
} pool_block;

typedef struct {
  pool_block *b;
  int n, cap;
  uint8_t *chunk;               /* small blocks are carved from the current chunk (POOL_CHUNK) */
  size_t chunk_left;            /* instead of a malloc and a few 4 KiB faults per block */
  int fault_threads;            /* > 1: big blocks are faulted in on this many threads (prefault) */
} pool;

/* Blocks of at most one huge page are carved from chunks of two (faulted in on the load's threads,
 * prefault); a 1 MB block mapped on its own would take, and zero, a whole 2 MB huge page: resnet50's
 * peak RSS 272.7 -> 266.3 MB and its load 0.33 -> 0.305 s (2 threads, session 12) when they moved
 * here from mappings of their own. Larger blocks are mapped on their own. */
#define POOL_CHUNK (2 * OM_HUGE_MIN)
#define POOL_SMALL (OM_HUGE_MIN + 1)

static int pool_reserve(pool *pl) {
  if (pl->n < pl->cap) return 0;
  int nc = pl->cap ? pl->cap * 2 : 64;
  pool_block *nb = realloc(pl->b, (size_t)nc * sizeof *nb);
  if (!nb) return -1;
  pl->b = nb;
  pl->cap = nc;
  return 0;
}

/* Fresh anonymous pages are zero: a big zeroed block needs no memset (which would fault every page
 * in only for the caller to write it again). 2 MiB aligned and huge-page advised. */
static void *map_zeroed(size_t r, pool_block *blk) {
#ifdef POOL_NO_MMAP
  (void)r;
  (void)blk;
  return NULL;
#else
  size_t whole, len; /* whole 2 MiB units so the tail is a huge page too, + slack to align */
  if (om_add_size(r, OM_HUGE_MIN - 1, &whole)) return NULL;
  whole &= ~(OM_HUGE_MIN - 1);
  if (om_add_size(whole, OM_HUGE_MIN, &len)) return NULL;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  uint8_t *p = (uint8_t *)(((uintptr_t)m + OM_HUGE_MIN - 1) & ~(uintptr_t)(OM_HUGE_MIN - 1));
#ifdef MADV_HUGEPAGE
  (void)madvise(p, whole, MADV_HUGEPAGE);
#endif
  blk->map = m;
  blk->map_len = len;
  return p;
#endif
}

/* Faults a fresh block's pages in on `threads` threads before the single-threaded packing writes
 * it: the kernel zeroes a page in the thread that first touches it, and on a virtual machine that
 * first touch of memory the host has reclaimed costs far more than the zeroing (measured on a
 * 2-vCPU VM: 300 MB faulted in 0.44-0.85 s by one thread, 0.18-0.36 s by two). Writes zeros, so
 * the block stays as zeroed as mmap gave it; every 4 KiB page, in case huge pages are off. */
static void prefault(uint8_t *p, size_t len, int threads) {
  if (threads < 2 || len <= OM_HUGE_MIN) return; /* one huge page: one fault, nothing to share */
  const long pages = (long)(len / 4096);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (long i = 0; i < pages; i++) ((volatile uint8_t *)p)[(size_t)i * 4096] = 0;
}

/* `zero`: the caller relies on zeroed memory (om_prep_alloc promises it); 0 when it will write
 * every byte itself. */
static void *pool_get(pool *pl, size_t bytes, int zero) {
  if (pool_reserve(pl)) return NULL;
  size_t r;
  if (om_add_size(bytes, 63, &r)) return NULL;
  r &= ~(size_t)63;
  if (r == 0) r = 64;
  pool_block blk = {NULL, NULL, 0};
  void *m = NULL;
  if (r < POOL_SMALL) {
    if (pl->chunk_left < r) {
      uint8_t *c = map_zeroed(POOL_CHUNK, &blk);
      if (c) {
        prefault(c, POOL_CHUNK, pl->fault_threads);
        blk.p = c;
        pl->b[pl->n++] = blk; /* took the slot reserved above; carving below cannot fail */
        pl->chunk = c;
        pl->chunk_left = POOL_CHUNK;
      }
    }
    if (pl->chunk_left >= r) { /* chunk memory is fresh, so zero, and never handed out twice */
      m = pl->chunk;
      pl->chunk += r;
      pl->chunk_left -= r;
      return m;
    }
  }
  m = map_zeroed(r, &blk);
  if (m) prefault(m, r, pl->fault_threads);
  if (!m) {
    m = om_alloc_aligned(r);
    if (!m) return NULL;
    if (zero) memset(m, 0, r);
  }
  blk.p = m;
  pl->b[pl->n++] = blk;
  return m;
}

static void *pool_alloc(pool *pl, size_t bytes) { return pool_get(pl, bytes, 1); }
static void *pool_alloc_nz(pool *pl, size_t bytes) { return pool_get(pl, bytes, 0); }

static void pool_free(pool *pl) {
  for (int i = 0; i < pl->n; i++) {
    if (pl->b[i].map) munmap(pl->b[i].map, pl->b[i].map_len);
    else om_free_aligned(pl->b[i].p);
  }
  free(pl->b);
  memset(pl, 0, sizeof *pl);
}

static char *pool_strdup(pool *pl, const char *s) {
  size_t n = strlen(s);
  char *d = pool_alloc_nz(pl, n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

/* ---- values (every named tensor) ---- */
enum { VK_UNDEF = 0, VK_CONST, VK_INPUT, VK_ARENA, VK_VIEW };

typedef struct {
  char *name;                   /* plan pool */
  int dtype, ndim;
  int64_t dims[OM_MAX_DIMS];
  size_t nbytes;
  int kind;
  int base;                     /* initializer, graph input or planner-made: survives passes */
  void *data;                   /* CONST */
  int owned;                    /* CONST data lives in a plan pool (else in the model) */
  int root;                     /* VIEW: the ARENA/INPUT value holding the bytes */
  size_t view_off;              /* VIEW: where in the root (a Concat input written in place) */
  int producer;                 /* node index or -1 */
  int keep;                     /* graph output or extra output: lives to the end, never fused away */
  int first, last;              /* step lifetime (INPUT: -1 .. nsteps) */
  size_t offset;                /* ARENA/INPUT: offset in the arena */
  int input_index;              /* runtime graph input number or -1 */
} pval;

typedef struct {
  onnx_node n;                  /* working copy: attrs may carry fused extras */
  int index;                    /* position in the model file, for messages */
  const om_op *op;
  int dead;
  int in[OM_MAX_IO], out[OM_MAX_IO]; /* value indices, -1 for absent */
  /* prepare results */
  int is_step;
  void *params;
  size_t scratch;
  int act;                      /* fused activation, for describe */
  int sum;
  int in_scale;                 /* fused per-channel input scale (om_in_scale), for describe */
  int pre, pre_act;             /* a 1x1 Conv fused in front (om_pre, conv_chain.c), for describe */
  int pool;                     /* a 3x3 stride-2 MaxPool fused behind (om_pool), for describe */
  double pool_in;               /* its input's elements (the Conv's own output), for the profile */
  unsigned consumed;            /* om_prep.consumed of the last prepare */
} wnode;

typedef struct {
  int is_const;
  const void *ptr;
  size_t offset;
} loc;

typedef struct {
  om_run_fn run;
  const void *params;
  int nin, nout;
  int desc;                     /* first of nin+nout tensors in plan->descs */
  loc locs[2 * OM_MAX_IO];
  const char *op;               /* op_type, for profiles */
  double flops;                 /* multiply-adds x 2 of Conv/Gemm/MatMul steps, else 0 */
} step;

struct om_plan {
  pool mem;
  int nsteps;
  step *steps;
  om_tensor *descs;
  int ndescs;
  char **lines;
  int nlines;
  int ninputs, noutputs;
  om_tensor_info *inputs, *outputs;
  size_t *input_off;
  loc *output_loc;
  size_t arena_bytes, scratch_bytes, sum_bytes;
  int kernel_path;
  int nslots;
  om_plan_slot *slots;
};

struct om_workspace {
  const om_plan *plan;
  uint8_t *base;
  void *scratch;
  om_tensor *descs;
  int nthreads;                 /* cooperating threads inside om_run (scratch slices) */
  double *prof;                 /* per-step seconds summed over om_run calls, or NULL (off) */
};

typedef struct {
  const onnx_model *m;
  const om_plan_opts *opts;
  uint64_t max_elems;
  int kernel_path;
  pval *v;
  int nv, capv;
  int *hash;
  size_t hcap;
  wnode *nodes;
  int nn;
  int *order;                   /* sorted live node indices */
  int norder;
  pool *cur;                    /* where om_prep_alloc goes */
  pool tmp;
  pool fold;                    /* BatchNormalization-folded weights, for the build only: a run()
                                   that reads one gets a copy (own_const, as for model data) */
  int shapes_only;              /* pass 1: om_prep.shapes_only, weights hidden */
  om_plan *plan;
} bld;

/* ---- name table ---- */
static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static int val_find(const bld *b, const char *name) {
  for (size_t i = hash_str(name) & (b->hcap - 1);; i = (i + 1) & (b->hcap - 1)) {
    int k = b->hash[i];
    if (k < 0) return -1;
    if (strcmp(b->v[k].name, name) == 0) return k;
  }
}

static int val_add(bld *b, const char *name, char *err) {
  if (b->nv == b->capv) return om_seterr(err, OM_E_LIMIT, "too many tensors in the graph");
  pval *v = &b->v[b->nv];
  memset(v, 0, sizeof *v);
  v->name = pool_strdup(&b->plan->mem, name);
  if (!v->name) return om_seterr(err, OM_E_NOMEM, "out of memory for tensor names");
  v->producer = -1;
  v->root = -1;
  v->input_index = -1;
  size_t i = hash_str(name) & (b->hcap - 1);
  while (b->hash[i] >= 0) i = (i + 1) & (b->hcap - 1);
  b->hash[i] = b->nv;
  b->nv++;
  return OM_OK;
}

static int set_shape(bld *b, pval *v, int dtype, int ndim, const int64_t *dims, char *err) {
  if (ndim < 0 || ndim > OM_MAX_DIMS)
    return om_seterr(err, OM_E_UNSUPPORTED, "tensor '%s' has %d dims (at most %d supported)",
                     v->name, ndim, OM_MAX_DIMS);
  size_t es = om_dtype_size(dtype);
  if (!es)
    return om_seterr(err, OM_E_UNSUPPORTED, "tensor '%s' has dtype %s, which is not supported",
                     v->name, om_dtype_name(dtype));
  size_t n, bytes;
  if (om_dims_count(dims, ndim, &n) || om_mul_size(n, es, &bytes))
    return om_seterr(err, OM_E_LIMIT, "tensor '%s': element count overflows", v->name);
  if (n > b->max_elems) {
    char s[160];
    return om_seterr(err, OM_E_LIMIT, "tensor '%s' (%s) has %zu elements, over the limit of %llu",
                     v->name, om_dims_str(dims, ndim, s, sizeof s), n,
                     (unsigned long long)b->max_elems);
  }
  v->dtype = dtype;
  v->ndim = ndim;
  for (int i = 0; i < ndim; i++) v->dims[i] = dims[i];
  v->nbytes = bytes;
  return OM_OK;
}

#define NODE_FMT "node %d '%s' (%s)"
#define NODE_ARGS(w) (w)->index, (w)->n.name ? (w)->n.name : "", (w)->n.op_type

/* ---- planner side of op.h ---- */
void *om_prep_alloc(om_prep *p, size_t bytes) {
  bld *b = p->planner;
  return b ? pool_alloc(b->cur, bytes) : NULL;
}

const onnx_attr *om_attr(const om_prep *p, const char *name) {
  const onnx_node *n = p->node;
  if (!n) return NULL;
  for (int i = 0; i < n->nattr; i++)
    if (n->attrs[i].name && strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

int64_t om_attr_int(const om_prep *p, const char *name, int64_t dflt) {
  const onnx_attr *a = om_attr(p, name);
  if (!a) return dflt;
  if (a->type == ONNX_ATTR_INT) return a->i;
  if (a->type == ONNX_ATTR_FLOAT) return (int64_t)a->f;
  return dflt;
}

float om_attr_float(const om_prep *p, const char *name, float dflt) {
  const onnx_attr *a = om_attr(p, name);
  if (!a) return dflt;
  if (a->type == ONNX_ATTR_FLOAT) return a->f;
  if (a->type == ONNX_ATTR_INT) return (float)a->i;
  return dflt;
}

const char *om_attr_string(const om_prep *p, const char *name, const char *dflt) {
  const onnx_attr *a = om_attr(p, name);
  return (a && a->type == ONNX_ATTR_STRING && a->s) ? a->s : dflt;
}

int om_attr_ints(const om_prep *p, const char *name, const int64_t **v) {
  const onnx_attr *a = om_attr(p, name);
  if (!a) return -1;
  if (a->type == ONNX_ATTR_INTS) {
    *v = a->ints;
    return a->n;
  }
  if (a->type == ONNX_ATTR_INT) {
    *v = &a->i;
    return 1;
  }
  return -1;
}

int om_attr_floats(const om_prep *p, const char *name, const float **v) {
  const onnx_attr *a = om_attr(p, name);
  if (!a) return -1;
  if (a->type == ONNX_ATTR_FLOATS) {
    *v = a->floats;
    return a->n;
  }
  if (a->type == ONNX_ATTR_FLOAT) {
    *v = &a->f;
    return 1;
  }
  return -1;
}

/* ---- kernel path ---- */
const char *om_kernel_path_name(int path) {
  switch (path) {
  case OM_KERNEL_REF: return "ref";
  case OM_KERNEL_AVX2: return "avx2";
  case OM_KERNEL_AVX512: return "avx512";
  default: return "auto";
  }
}

int om_kernel_path_detect(void) {
  const char *e = getenv("OMPREDICT_KERNEL");
  if (e && *e) {
    if (strcmp(e, "ref") == 0) return OM_KERNEL_REF;
    if (strcmp(e, "avx2") == 0) return OM_KERNEL_AVX2;
    if (strcmp(e, "avx512") == 0) return OM_KERNEL_AVX512;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return OM_KERNEL_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return OM_KERNEL_AVX2;
#endif
  return OM_KERNEL_REF;
}

int om_fp_flush_denormals(int on) {
#if defined(__x86_64__) || defined(__i386__)
  const unsigned ftz_daz = 0x8040; /* bit 15 flush-to-zero, bit 6 denormals-are-zero */
  unsigned csr = _mm_getcsr();
  _mm_setcsr(on ? csr | ftz_daz : csr & ~ftz_daz);
  return 1;
#else
  (void)on;
  return 0;
#endif
}

/* ---- graph checks and sort ---- */
static int build_values(bld *b, char *err) {
  const onnx_model *m = b->m;
  const om_plan_opts *o = b->opts;
  for (int i = 0; i < m->ninit; i++) {
    const onnx_tensor *t = &m->inits[i];
    if (val_find(b, t->name) >= 0)
      return om_seterr(err, OM_E_FORMAT, "initializer '%s' is defined twice", t->name);
    int rc = val_add(b, t->name, err);
    if (rc) return rc;
    pval *v = &b->v[b->nv - 1];
    if ((rc = set_shape(b, v, t->dtype, t->ndim, t->dims, err))) return om_preferr(err, rc, "initializer");
    if (v->nbytes != t->nbytes)
      return om_seterr(err, OM_E_FORMAT, "initializer '%s' holds %zu bytes, its shape needs %zu",
                       t->name, t->nbytes, v->nbytes);
    v->kind = VK_CONST;
    v->base = 1;
    v->data = t->data;
  }
  for (int s = 0; s < o->nspecs; s++) {
    int found = 0;
    for (int i = 0; i < m->ninputs; i++)
      if (o->specs[s].name && strcmp(o->specs[s].name, m->inputs[i].name) == 0) found = 1;
    if (!found)
      return om_seterr(err, OM_E_INVALID, "input '%s' given a shape or data is not a graph input",
                       o->specs[s].name ? o->specs[s].name : "(null)");
  }
  int nrt = 0;
  for (int i = 0; i < m->ninputs; i++) {
    const onnx_value_info *vi = &m->inputs[i];
    if (val_find(b, vi->name) >= 0) {
      /* An input with an initializer of the same name: the initializer is its default; keep it. */
      continue;
    }
    const om_input_spec *sp = NULL;
    for (int s = 0; s < o->nspecs; s++)
      if (o->specs[s].name && strcmp(o->specs[s].name, vi->name) == 0) sp = &o->specs[s];
    int64_t dims[OM_MAX_DIMS];
    int ndim;
    if (sp && sp->ndim > 0) {
      if (sp->ndim > OM_MAX_DIMS)
        return om_seterr(err, OM_E_INVALID, "input '%s': %d dims given, at most %d", vi->name,
                         sp->ndim, OM_MAX_DIMS);
      ndim = sp->ndim;
      memcpy(dims, sp->dims, sizeof(int64_t) * (size_t)ndim);
      if (vi->has_shape && vi->ndim != ndim)
        return om_seterr(err, OM_E_INVALID, "input '%s': %d dims given, the model says %d", vi->name,
                         ndim, vi->ndim);
      for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0)
          return om_seterr(err, OM_E_INVALID, "input '%s': dim %d given as %lld", vi->name, d,
                           (long long)dims[d]);
        if (vi->has_shape && vi->dims[d] >= 0 && vi->dims[d] != dims[d])
          return om_seterr(err, OM_E_INVALID, "input '%s': dim %d given as %lld, the model fixes it at %lld",
                           vi->name, d, (long long)dims[d], (long long)vi->dims[d]);
      }
    } else {
      if (!vi->has_shape)
        return om_seterr(err, OM_E_INVALID,
                         "input '%s' has no shape in the model; give its shape", vi->name);
      ndim = vi->ndim;
      for (int d = 0; d < ndim; d++) {
        dims[d] = vi->dims[d];
        if (dims[d] >= 0) continue;
        if (d == 0 && ndim > 1) {
          dims[d] = o->batch > 0 ? o->batch : 1;
          continue;
        }
        return om_seterr(err, OM_E_INVALID,
                         "input '%s': dim %d%s%s%s is dynamic; give its size (input shape option)",
                         vi->name, d, vi->dim_params[d] ? " ('" : "",
                         vi->dim_params[d] ? vi->dim_params[d] : "", vi->dim_params[d] ? "')" : "");
      }
    }
    int rc = val_add(b, vi->name, err);
    if (rc) return rc;
    pval *v = &b->v[b->nv - 1];
    int dt = vi->dtype ? vi->dtype : OM_DT_FLOAT;
    if ((rc = set_shape(b, v, dt, ndim, dims, err))) return om_preferr(err, rc, "graph input");
    v->base = 1;
    if (sp && sp->data) {
      if (sp->nbytes != v->nbytes)
        return om_seterr(err, OM_E_INVALID, "input '%s': %zu bytes of data given, its shape needs %zu",
                         vi->name, sp->nbytes, v->nbytes);
      v->data = pool_alloc_nz(&b->plan->mem, v->nbytes);
      if (!v->data) return om_seterr(err, OM_E_NOMEM, "out of memory binding input '%s'", vi->name);
      memcpy(v->data, sp->data, v->nbytes);
      v->kind = VK_CONST;
      v->owned = 1;
    } else {
      v->kind = VK_INPUT;
      v->input_index = nrt++;
    }
  }
  return OM_OK;
}

static int build_nodes(bld *b, char *err) {
  const onnx_model *m = b->m;
  int opset = (int)m->opset;
  for (int i = 0; i < m->nnodes; i++) {
    const onnx_node *src = &m->nodes[i];
    wnode *w = &b->nodes[i];
    w->index = i;
    w->n = *src;
    if (!w->n.name) w->n.name = "";
    if (!w->n.op_type) w->n.op_type = "";
    if (src->domain && src->domain[0] && strcmp(src->domain, "ai.onnx") != 0)
      return om_seterr(err, OM_E_UNSUPPORTED, NODE_FMT ": op domain '%s' is not supported (only the default ONNX domain)",
                       NODE_ARGS(w), src->domain);
    if (src->nin > OM_MAX_IO || src->nout > OM_MAX_IO || src->nin < 0 || src->nout < 0)
      return om_seterr(err, OM_E_UNSUPPORTED, NODE_FMT ": %d inputs / %d outputs, at most %d supported",
                       NODE_ARGS(w), src->nin, src->nout, OM_MAX_IO);
    w->op = om_op_find(w->n.op_type, src->domain, opset);
    if (!w->op)
      return om_seterr(err, OM_E_UNSUPPORTED, NODE_FMT ": unsupported op %s (opset %d)", NODE_ARGS(w),
                       w->n.op_type, opset);
    /* Room for the fused attributes the planner may add. */
    onnx_attr *attrs = pool_alloc(&b->plan->mem, sizeof(onnx_attr) * (size_t)(src->nattr + 10));
    char **ins = pool_alloc(&b->plan->mem, sizeof(char *) * OM_MAX_IO);
    char **outs = pool_alloc(&b->plan->mem, sizeof(char *) * OM_MAX_IO);
    if (!attrs || !ins || !outs) return om_seterr(err, OM_E_NOMEM, "out of memory copying nodes");
    if (src->nattr) memcpy(attrs, src->attrs, sizeof(onnx_attr) * (size_t)src->nattr);
    w->n.attrs = attrs;
    for (int k = 0; k < src->nin; k++) ins[k] = src->inputs[k] ? src->inputs[k] : "";
    for (int k = 0; k < src->nout; k++) outs[k] = src->outputs[k] ? src->outputs[k] : "";
    w->n.inputs = ins;
    w->n.outputs = outs;
    for (int k = 0; k < src->nout; k++) {
      w->out[k] = -1;
      if (!outs[k][0]) continue;
      int e = val_find(b, outs[k]);
      if (e >= 0) {
        const pval *ev = &b->v[e];
        if (ev->producer >= 0)
          return om_seterr(err, OM_E_FORMAT, NODE_FMT ": output '%s' is also produced by node %d '%s' (%s)",
                           NODE_ARGS(w), outs[k], NODE_ARGS(&b->nodes[ev->producer]));
        return om_seterr(err, OM_E_FORMAT, NODE_FMT ": output '%s' is also an initializer or graph input",
                         NODE_ARGS(w), outs[k]);
      }
      int rc = val_add(b, outs[k], err);
      if (rc) return rc;
      w->out[k] = b->nv - 1;
      b->v[b->nv - 1].producer = i;
    }
  }
  for (int i = 0; i < m->nnodes; i++) {
    wnode *w = &b->nodes[i];
    for (int k = 0; k < w->n.nin; k++) {
      w->in[k] = -1;
      if (!w->n.inputs[k][0]) continue;
      int e = val_find(b, w->n.inputs[k]);
      if (e < 0)
        return om_seterr(err, OM_E_FORMAT,
                         NODE_FMT ": input '%s' is not produced by any node, initializer or graph input",
                         NODE_ARGS(w), w->n.inputs[k]);
      w->in[k] = e;
    }
  }
  return OM_OK;
}

/* Stable topological sort: repeated sweeps in file order, so a sorted file stays as is. */
static int topo_sort(bld *b, char *err) {
  int n = b->nn;
  char *done = calloc((size_t)n + 1, 1);
  if (!done) return om_seterr(err, OM_E_NOMEM, "out of memory sorting the graph");
  for (int i = 0; i < b->nv; i++) b->v[i].producer = -1;
  for (int i = 0; i < n; i++) {
    if (b->nodes[i].dead) continue;
    for (int k = 0; k < b->nodes[i].n.nout; k++)
      if (b->nodes[i].out[k] >= 0) b->v[b->nodes[i].out[k]].producer = i;
  }
  int live = 0;
  for (int i = 0; i < n; i++) live += !b->nodes[i].dead;
  b->norder = 0;
  while (b->norder < live) {
    int progress = 0;
    for (int i = 0; i < n; i++) {
      wnode *w = &b->nodes[i];
      if (w->dead || done[i]) continue;
      int ready = 1;
      for (int k = 0; k < w->n.nin && ready; k++) {
        int p = w->in[k] >= 0 ? b->v[w->in[k]].producer : -1;
        if (p >= 0 && !done[p]) ready = 0;
      }
      if (!ready) continue;
      done[i] = 1;
      b->order[b->norder++] = i;
      progress = 1;
    }
    if (!progress) {
      /* Name one blocked node and what it waits for. */
      for (int i = 0; i < n; i++) {
        wnode *w = &b->nodes[i];
        if (w->dead || done[i]) continue;
        for (int k = 0; k < w->n.nin; k++) {
          int p = w->in[k] >= 0 ? b->v[w->in[k]].producer : -1;
          if (p >= 0 && !done[p]) {
            int rc = om_seterr(err, OM_E_FORMAT,
                               "the graph has a cycle: " NODE_FMT " needs '%s', which depends on it through " NODE_FMT,
                               NODE_ARGS(w), b->v[w->in[k]].name, NODE_ARGS(&b->nodes[p]));
            free(done);
            return rc;
          }
        }
      }
      free(done);
      return om_seterr(err, OM_E_FORMAT, "the graph has a cycle");
    }
  }
  free(done);
  return OM_OK;
}

/* ---- prepare pass ---- */
static void tensor_of(const pval *v, om_tensor *t) {
  memset(t, 0, sizeof *t);
  t->dtype = v->dtype;
  t->ndim = v->ndim;
  memcpy(t->dims, v->dims, sizeof(int64_t) * (size_t)v->ndim);
  t->data = v->kind == VK_CONST ? v->data : NULL;
}

static int is_op(const wnode *w, const char *op) { return strcmp(w->n.op_type, op) == 0; }

/* Ops whose weights (inputs 1 and 2) pass 1 presents as run-time values (op.h, shapes_only). */
static int hides_weights(const wnode *w) {
  return is_op(w, "Conv") || is_op(w, "ConvTranspose") || is_op(w, "Gemm") || is_op(w, "MatMul");
}

static int prepare_node(bld *b, wnode *w, char *err) {
  om_tensor ins[OM_MAX_IO];
  om_prep p;
  memset(&p, 0, sizeof p);
  p.node = &w->n;
  p.opset = (int)b->m->opset;
  p.threads = b->opts->threads;
  p.nin = w->n.nin;
  p.nout = w->n.nout;
  p.alias_input = -1;
  p.kernel_path = b->kernel_path;
  p.planner = b;
  p.shapes_only = b->shapes_only;
  p.precision = b->opts->precision == OM_PRECISION_BF16 && om_precision_supported(OM_PRECISION_BF16)
                    ? OM_PRECISION_BF16 : OM_PRECISION_FP32;
  p.no_winograd = b->opts->no_winograd;
  int all_const = 1;
  for (int k = 0; k < p.nin; k++) {
    if (w->in[k] < 0) {
      p.in[k] = NULL;
      continue;
    }
    pval *iv = &b->v[w->in[k]];
    if (iv->kind == VK_UNDEF)
      return om_seterr(err, OM_E_INVALID, NODE_FMT ": input '%s' has no value yet (internal order error)",
                       NODE_ARGS(w), iv->name);
    tensor_of(iv, &ins[k]);
    p.in[k] = &ins[k];
    if (iv->kind != VK_CONST) all_const = 0;
  }
  if (b->shapes_only && !all_const && hides_weights(w)) {
    /* Their output shape never depends on weight values, and with no data they pack nothing. */
    for (int k = 1; k < p.nin && k < 3; k++)
      if (p.in[k]) ins[k].data = NULL;
  }
  int rc = w->op->prepare(&p, err);
  if (rc) return om_preferr(err, rc, NODE_FMT, NODE_ARGS(w));
  w->consumed = b->shapes_only ? 0 : p.consumed;
  w->params = p.params;
  w->scratch = p.scratch_bytes;
  w->is_step = 0;
  int nruntime = 0;
  for (int k = 0; k < p.nout; k++) {
    int vi = w->out[k];
    if (vi < 0) continue;
    pval *v = &b->v[vi];
    if ((rc = set_shape(b, v, p.out[k].dtype, p.out[k].ndim, p.out[k].dims, err)))
      return om_preferr(err, rc, NODE_FMT, NODE_ARGS(w));
    v->data = NULL;
    v->owned = 0;
    v->root = -1;
    v->view_off = 0;
    v->kind = VK_UNDEF;
    if (k == 0 && p.alias_input >= 0) {
      if (p.alias_input >= p.nin || w->in[p.alias_input] < 0)
        return om_seterr(err, OM_E_INVALID, NODE_FMT ": op aliases absent input %d", NODE_ARGS(w),
                         p.alias_input);
      pval *src = &b->v[w->in[p.alias_input]];
      if (src->nbytes != v->nbytes || src->dtype != v->dtype)
        return om_seterr(err, OM_E_INVALID, NODE_FMT ": view '%s' has %zu bytes, its source '%s' %zu",
                         NODE_ARGS(w), v->name, v->nbytes, src->name, src->nbytes);
      if (src->kind == VK_CONST) {
        v->kind = VK_CONST;
        v->data = src->data;
        v->owned = src->owned;
      } else {
        v->kind = VK_VIEW;
        v->root = src->kind == VK_VIEW ? src->root : w->in[p.alias_input];
      }
    } else if (p.out[k].data) {
      v->kind = VK_CONST;
      v->data = p.out[k].data;
      v->owned = 1;
    } else {
      nruntime++;
    }
  }
  if (!nruntime) return OM_OK;
  if (p.alias_input >= 0)
    return om_seterr(err, OM_E_INVALID, NODE_FMT ": a view op cannot have other run-time outputs",
                     NODE_ARGS(w));
  if (all_const && w->op->run) {
    /* Fold: run it now into plan memory. */
    om_tensor rin[OM_MAX_IO], rout[OM_MAX_IO];
    for (int k = 0; k < p.nin; k++) {
      if (p.in[k]) rin[k] = *p.in[k];
      else {
        memset(&rin[k], 0, sizeof rin[k]);
        rin[k].ndim = -1;
      }
    }
    for (int k = 0; k < p.nout; k++) {
      memset(&rout[k], 0, sizeof rout[k]);
      rout[k].ndim = -1;
      int vi = w->out[k];
      void *d = NULL;
      if (vi >= 0) {
        pval *v = &b->v[vi];
        tensor_of(v, &rout[k]);
        d = v->kind == VK_CONST ? v->data : pool_alloc(b->cur, v->nbytes);
      } else {
        rout[k] = p.out[k];
        size_t n, bytes;
        if (om_dims_count(p.out[k].dims, p.out[k].ndim, &n) ||
            om_mul_size(n, om_dtype_size(p.out[k].dtype), &bytes))
          return om_seterr(err, OM_E_LIMIT, NODE_FMT ": unused output too large", NODE_ARGS(w));
        d = pool_alloc(b->cur, bytes);
      }
      if (!d) return om_seterr(err, OM_E_NOMEM, NODE_FMT ": out of memory folding constants", NODE_ARGS(w));
      rout[k].data = d;
    }
    void *scratch = NULL;
    if (p.scratch_bytes && !(scratch = om_alloc_aligned(p.scratch_bytes)))
      return om_seterr(err, OM_E_NOMEM, NODE_FMT ": out of memory for scratch", NODE_ARGS(w));
    w->op->run(p.params, rin, p.nin, rout, p.nout, scratch);
    om_free_aligned(scratch);
    for (int k = 0; k < p.nout; k++) {
      int vi = w->out[k];
      if (vi < 0) continue;
      pval *v = &b->v[vi];
      if (v->kind == VK_UNDEF) {
        v->kind = VK_CONST;
        v->data = rout[k].data;
        v->owned = 1;
      }
    }
    return OM_OK;
  }
  if (!w->op->run)
    return om_seterr(err, OM_E_UNSUPPORTED, NODE_FMT ": op has no kernel for run-time inputs", NODE_ARGS(w));
  for (int k = 0; k < p.nout; k++)
    if (w->out[k] >= 0 && b->v[w->out[k]].kind == VK_UNDEF) b->v[w->out[k]].kind = VK_ARENA;
  w->is_step = 1;
  return OM_OK;
}

static int prepare_all(bld *b, char *err) {
  for (int i = 0; i < b->nv; i++)
    if (!b->v[i].base) {
      b->v[i].kind = VK_UNDEF;
      b->v[i].data = NULL;
    }
  for (int s = 0; s < b->norder; s++) {
    wnode *w = &b->nodes[b->order[s]];
    int rc = prepare_node(b, w, err);
    if (rc) return rc;
    /* Weights packed into the plan: their pages in the model file may leave memory now, so the
     * peak is about one copy of the weights, not two (they are read back if anything touches them
     * again: a later node sharing the initializer, a fold, own_const). */
    for (int k = 0; k < w->n.nin; k++)
      if ((w->consumed >> k & 1u) && w->in[k] >= 0 && b->v[w->in[k]].kind == VK_CONST &&
          !b->v[w->in[k]].owned)
        onnx_release_data(b->m, b->v[w->in[k]].data, b->v[w->in[k]].nbytes);
  }
  return OM_OK;
}

/* ---- fusion (decided from pass 1's shapes and constants) ---- */
static int consumers(const bld *b, int vi, int *list, int max) {
  int n = 0;
  for (int i = 0; i < b->nn; i++) {
    const wnode *w = &b->nodes[i];
    if (w->dead) continue;
    for (int k = 0; k < w->n.nin; k++)
      if (w->in[k] == vi) {
        if (n < max) list[n] = i;
        n++;
        break;
      }
  }
  return n;
}

static const onnx_attr *node_attr(const onnx_node *n, const char *name) {
  for (int i = 0; i < n->nattr; i++)
    if (n->attrs[i].name && strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

static const pval *const_float(const bld *b, const wnode *w, int k) {
  if (k >= w->n.nin || w->in[k] < 0) return NULL;
  const pval *v = &b->v[w->in[k]];
  return (v->kind == VK_CONST && v->dtype == OM_DT_FLOAT) ? v : NULL;
}

static void add_attr_i(wnode *w, const char *name, int64_t i) {
  onnx_attr *a = &w->n.attrs[w->n.nattr++];
  memset(a, 0, sizeof *a);
  a->name = (char *)name;
  a->type = ONNX_ATTR_INT;
  a->i = i;
}

static void add_attr_f(wnode *w, const char *name, float f) {
  onnx_attr *a = &w->n.attrs[w->n.nattr++];
  memset(a, 0, sizeof *a);
  a->name = (char *)name;
  a->type = ONNX_ATTR_FLOAT;
  a->f = f;
}

static int only_output_used(const wnode *w) {
  for (int k = 1; k < w->n.nout; k++)
    if (w->out[k] >= 0) return 0;
  return 1;
}

/* Conv -> BatchNormalization with constant parameters: fold into new weight and bias constants. */
static int fuse_bn(bld *b, wnode *c, char *err) {
  int y = c->out[0], cons[2];
  if (y < 0 || b->v[y].keep || consumers(b, y, cons, 2) != 1) return 0;
  wnode *bn = &b->nodes[cons[0]];
  if (!is_op(bn, "BatchNormalization") || bn->n.nin < 5 || bn->in[0] != y || !only_output_used(bn))
    return 0;
  const onnx_attr *tm = node_attr(&bn->n, "training_mode");
  if (tm && tm->i != 0) return 0;
  const onnx_attr *sp = node_attr(&bn->n, "spatial");
  if (sp && sp->i != 1) return 0;
  const pval *W = const_float(b, c, 1), *B = c->n.nin > 2 && c->in[2] >= 0 ? const_float(b, c, 2) : NULL;
  if (!W || W->ndim < 3 || (c->n.nin > 2 && c->in[2] >= 0 && !B)) return 0;
  int64_t M = W->dims[0];
  const pval *prm[4];
  for (int k = 0; k < 4; k++) {
    prm[k] = const_float(b, bn, k + 1);
    if (!prm[k] || prm[k]->nbytes != (size_t)M * sizeof(float)) return 0;
  }
  if (B && B->nbytes != (size_t)M * sizeof(float)) return 0;
  float eps = 1e-5f;
  const onnx_attr *ea = node_attr(&bn->n, "epsilon");
  if (ea && ea->type == ONNX_ATTR_FLOAT) eps = ea->f;
  char name[OM_ERR_LEN];
  int rc;
  snprintf(name, sizeof name, "%s__bnfold_w", b->v[bn->out[0]].name);
  if (val_find(b, name) >= 0) return 0;
  if ((rc = val_add(b, name, err))) return -rc;
  int wi = b->nv - 1;
  snprintf(name, sizeof name, "%s__bnfold_b", b->v[bn->out[0]].name);
  if ((rc = val_add(b, name, err))) return -rc;
  int bi = b->nv - 1;
  pval *nw = &b->v[wi], *nb = &b->v[bi];
  int64_t mdim = M;
  if ((rc = set_shape(b, nw, OM_DT_FLOAT, W->ndim, W->dims, err)) ||
      (rc = set_shape(b, nb, OM_DT_FLOAT, 1, &mdim, err)))
    return -rc;
  nw->data = pool_alloc_nz(&b->fold, nw->nbytes); /* every element written below */
  nb->data = pool_alloc_nz(&b->fold, nb->nbytes);
  if (!nw->data || !nb->data) return -om_seterr(err, OM_E_NOMEM, "out of memory folding BatchNormalization");
  nw->kind = nb->kind = VK_CONST;
  nw->base = nb->base = 1;
  nw->owned = nb->owned = 0; /* in b->fold, not the plan: own_const copies what a run() reads */
  size_t per = nw->nbytes / sizeof(float) / (size_t)M;
  const float *sc = prm[0]->data, *bb = prm[1]->data, *mean = prm[2]->data, *var = prm[3]->data;
  const float *w0 = W->data, *b0 = B ? B->data : NULL;
  float *w1 = nw->data, *b1 = nb->data;
  for (int64_t o = 0; o < M; o++) {
    /* Scale in double so folding adds no error beyond one float rounding. */
    double f = (double)sc[o] / sqrt((double)var[o] + (double)eps);
    for (size_t j = 0; j < per; j++) w1[(size_t)o * per + j] = (float)((double)w0[(size_t)o * per + j] * f);
    b1[o] = (float)(((b0 ? (double)b0[o] : 0.0) - (double)mean[o]) * f + (double)bb[o]);
  }
  c->in[1] = wi;
  c->n.inputs[1] = nw->name;
  c->in[2] = bi;
  c->n.inputs[2] = nb->name;
  if (c->n.nin < 3) c->n.nin = 3;
  c->out[0] = bn->out[0];
  c->n.outputs[0] = b->v[bn->out[0]].name;
  bn->dead = 1;
  return 1;
}

static int same_shape(const pval *a, const pval *b) {
  if (a->ndim != b->ndim || a->dtype != b->dtype) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

static void rename_out(bld *b, wnode *x, wnode *from) {
  x->out[0] = from->out[0];
  b->v[x->out[0]].producer = (int)(x - b->nodes);
  x->n.outputs[0] = b->v[from->out[0]].name;
  from->dead = 1;
}

/* A Conv whose attributes say group 1, strides 1, no pads (what a 1x1 GEMM-like Conv needs of them).
 * Attributes of an unexpected type are left for Conv's prepare to refuse: 0 here. */
static int plain_conv(const wnode *c) {
  const onnx_attr *a;
  if ((a = node_attr(&c->n, "group")) && (a->type != ONNX_ATTR_INT || a->i != 1)) return 0;
  if ((a = node_attr(&c->n, "strides"))) {
    if (a->type != ONNX_ATTR_INTS) return 0;
    for (int i = 0; i < a->n; i++)
      if (a->ints[i] != 1) return 0;
  }
  if ((a = node_attr(&c->n, "pads"))) {
    if (a->type != ONNX_ATTR_INTS) return 0;
    for (int i = 0; i < a->n; i++)
      if (a->ints[i] != 0) return 0;
  }
  if ((a = node_attr(&c->n, "auto_pad")) &&
      (a->type != ONNX_ATTR_STRING || !a->s || (strcmp(a->s, "NOTSET") != 0 && strcmp(a->s, "VALID") != 0)))
    return 0;
  return 1;
}

/* Mul(x, s) -> Conv, with s one value per input channel ([1 or N, C, 1, 1] or [C, 1, 1]: efficientnet's
 * squeeze-excitation gates), the product used by nothing else, and the Conv a 1x1 stride-1 unpadded
 * ungrouped one (a plain GEMM): the Conv reads x and scales each channel while packing it for the GEMM
 * (om_in_scale, s as input 4) -- the same float products the Mul made, without writing and reading
 * them back. */
static int fuse_in_scale(bld *b, wnode *c) {
  int xv = c->in[0], cons[2];
  if (c->n.nin > 3 || xv < 0 || c->in[1] < 0) return 0;
  const pval *X = &b->v[xv], *W = &b->v[c->in[1]];
  if (X->keep || X->producer < 0 || X->dtype != OM_DT_FLOAT || X->ndim != 4) return 0;
  if (W->ndim != 4 || W->dims[1] != X->dims[1] || W->dims[1] < 2 || W->dims[2] != 1 || W->dims[3] != 1)
    return 0;
  if (!plain_conv(c)) return 0;
  wnode *mu = &b->nodes[X->producer];
  if (mu->dead || !is_op(mu, "Mul") || mu->n.nin != 2 || mu->out[0] != xv || !only_output_used(mu)) return 0;
  if (consumers(b, xv, cons, 2) != 1) return 0;
  for (int side = 0; side < 2; side++) {
    int x = mu->in[side], sv = mu->in[1 - side];
    if (x < 0 || sv < 0 || !same_shape(&b->v[x], X)) continue;
    const pval *S = &b->v[sv];
    int64_t C = X->dims[1];
    int per_channel = S->dtype == OM_DT_FLOAT &&
                      ((S->ndim == 4 && (S->dims[0] == 1 || S->dims[0] == X->dims[0]) && S->dims[1] == C &&
                        S->dims[2] == 1 && S->dims[3] == 1) ||
                       (S->ndim == 3 && S->dims[0] == C && S->dims[1] == 1 && S->dims[2] == 1));
    if (!per_channel) continue;
    c->in[0] = x;
    c->n.inputs[0] = b->v[x].name;
    for (int k = c->n.nin; k < 4; k++) {
      c->in[k] = -1;
      c->n.inputs[k] = "";
    }
    c->in[4] = sv;
    c->n.inputs[4] = b->v[sv].name;
    c->n.nin = 5;
    add_attr_i(c, "om_in_scale", 1);
    c->in_scale = 1;
    mu->dead = 1;
    return 1;
  }
  return 0;
}

static int fuse_add(bld *b, wnode *c) {
  int y = c->out[0], cons[2];
  if (y < 0 || b->v[y].keep || consumers(b, y, cons, 2) != 1) return 0;
  wnode *a = &b->nodes[cons[0]];
  /* input 3 free: at most W and B before it (input 4 may hold om_in_scale's s) */
  int free3 = c->n.nin <= 3 || (c->n.nin == 5 && c->in[3] < 0);
  if (!is_op(a, "Add") || a->n.nin != 2 || a->out[0] < 0 || !free3) return 0;
  int z = a->in[0] == y ? a->in[1] : a->in[0];
  if (z < 0 || z == y || (a->in[0] != y && a->in[1] != y)) return 0;
  if (!same_shape(&b->v[z], &b->v[y]) || !same_shape(&b->v[a->out[0]], &b->v[y])) return 0;
  if (b->v[y].dtype != OM_DT_FLOAT) return 0;
  for (int k = c->n.nin; k < 3; k++) {
    c->in[k] = -1;
    c->n.inputs[k] = "";
  }
  c->in[3] = z;
  c->n.inputs[3] = b->v[z].name;
  if (c->n.nin < 4) c->n.nin = 4;
  add_attr_i(c, "om_sum", 1);
  c->sum = 1;
  rename_out(b, c, a);
  return 1;
}

static int fuse_act(bld *b, wnode *x) {
  int y = x->out[0], cons[3];
  if (y < 0 || b->v[y].keep || b->v[y].dtype != OM_DT_FLOAT) return 0;
  int nc = consumers(b, y, cons, 3);
  int act = OM_ACT_NONE;
  float alpha = 0, beta = 0;
  wnode *a = NULL, *extra = NULL;
  if (nc == 1) {
    a = &b->nodes[cons[0]];
    if (a->n.nin < 1 || a->in[0] != y || a->out[0] < 0 || !only_output_used(a)) return 0;
    if (is_op(a, "Relu")) act = OM_ACT_RELU;
    else if (is_op(a, "Sigmoid")) act = OM_ACT_SIGMOID;
    else if (is_op(a, "HardSwish")) act = OM_ACT_HARD_SWISH;
    else if (is_op(a, "LeakyRelu")) {
      act = OM_ACT_LEAKY_RELU;
      const onnx_attr *at = node_attr(&a->n, "alpha");
      alpha = at ? at->f : 0.01f;
    } else if (is_op(a, "HardSigmoid")) {
      act = OM_ACT_HARD_SIGMOID;
      const onnx_attr *at = node_attr(&a->n, "alpha"), *bt = node_attr(&a->n, "beta");
      alpha = at ? at->f : 0.2f;
      beta = bt ? bt->f : 0.5f;
    } else if (is_op(a, "Clip")) {
      act = OM_ACT_CLIP;
      alpha = -INFINITY;
      beta = INFINITY;
      if (b->m->opset < 11) {
        const onnx_attr *lo = node_attr(&a->n, "min"), *hi = node_attr(&a->n, "max");
        if (lo) alpha = lo->f;
        if (hi) beta = hi->f;
      } else {
        for (int k = 1; k < a->n.nin && k < 3; k++) {
          if (a->in[k] < 0) continue;
          const pval *cv = const_float(b, a, k);
          if (!cv || cv->nbytes != sizeof(float)) return 0;
          if (k == 1) alpha = *(const float *)cv->data;
          else beta = *(const float *)cv->data;
        }
      }
    } else return 0;
  } else if (nc == 2) {
    /* x * Sigmoid(x) in either operand order. */
    wnode *s = &b->nodes[cons[0]], *mu = &b->nodes[cons[1]];
    if (is_op(s, "Mul")) {
      wnode *t = s;
      s = mu;
      mu = t;
    }
    if (!is_op(s, "Sigmoid") || !is_op(mu, "Mul") || s->out[0] < 0 || mu->n.nin != 2 || mu->out[0] < 0)
      return 0;
    int sv = s->out[0], c2[2];
    if (b->v[sv].keep || consumers(b, sv, c2, 2) != 1 || &b->nodes[c2[0]] != mu) return 0;
    if (!((mu->in[0] == y && mu->in[1] == sv) || (mu->in[1] == y && mu->in[0] == sv))) return 0;
    if (!same_shape(&b->v[mu->out[0]], &b->v[y])) return 0;
    act = OM_ACT_SILU;
    a = mu;
    extra = s;
  } else return 0;
  add_attr_i(x, "om_act", act);
  add_attr_f(x, "om_act_alpha", alpha);
  add_attr_f(x, "om_act_beta", beta);
  x->act = act;
  rename_out(b, x, a);
  if (extra) extra->dead = 1;
  return 1;
}

/* 1x1 Conv (its bias and activation fused) -> depthwise Conv, the 1x1's output used by nothing else
 * and too large for L2 (OM_CHAIN_MIN_KB, default CHAIN_MIN_KB, per image): the depthwise Conv takes the
 * 1x1's input, weights (input 5) and bias (input 6) and runs both in row bands (conv_chain.c), so the
 * expanded tensor is never written whole. AVX-512 and float32 only, the kernels it runs on. */
#define CHAIN_MIN_KB 2048
static int fuse_chain(bld *b, wnode *d) {
  if (b->kernel_path != OM_KERNEL_AVX512 || b->opts->precision == OM_PRECISION_BF16) return 0;
  if (node_attr(&d->n, "om_pre") || d->in_scale || d->n.nin > 4 || (d->n.nin == 4 && d->in[3] >= 0 && !d->sum))
    return 0;
  int xv = d->in[0], cons[2];
  if (xv < 0 || d->n.nin < 2 || d->in[1] < 0) return 0;
  const pval *X = &b->v[xv], *W2 = const_float(b, d, 1);
  if (X->keep || X->producer < 0 || X->dtype != OM_DT_FLOAT || X->ndim != 4 || !W2 || W2->ndim != 4) return 0;
  const int64_t M = X->dims[1], H = X->dims[2], Wd = X->dims[3], kh = W2->dims[2], kw = W2->dims[3];
  if (W2->dims[0] != M || W2->dims[1] != 1 || M < 2) return 0;
  const char *e = getenv("OM_CHAIN_MIN_KB"); /* tuning and A/B runs ("-1": never) */
  double min_kb = e ? atof(e) : CHAIN_MIN_KB;
  if (min_kb < 0 || (double)M * (double)H * (double)Wd * 4.0 < min_kb * 1024.0) return 0;
  /* the depthwise Conv: group M, strides 1 or 2, dilations 1, explicit pads inside the kernel */
  const onnx_attr *a;
  int64_t st[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
  if (!(a = node_attr(&d->n, "group")) || a->type != ONNX_ATTR_INT || a->i != M) return 0;
  if ((a = node_attr(&d->n, "strides"))) {
    if (a->type != ONNX_ATTR_INTS || a->n != 2) return 0;
    st[0] = a->ints[0];
    st[1] = a->ints[1];
  }
  if ((a = node_attr(&d->n, "dilations"))) {
    if (a->type != ONNX_ATTR_INTS || a->n != 2 || a->ints[0] != 1 || a->ints[1] != 1) return 0;
  }
  if ((a = node_attr(&d->n, "pads"))) {
    if (a->type != ONNX_ATTR_INTS || a->n != 4) return 0;
    for (int i = 0; i < 4; i++) pads[i] = a->ints[i];
  }
  if ((a = node_attr(&d->n, "kernel_shape")) &&
      (a->type != ONNX_ATTR_INTS || a->n != 2 || a->ints[0] != kh || a->ints[1] != kw))
    return 0;
  if ((a = node_attr(&d->n, "auto_pad")) &&
      (a->type != ONNX_ATTR_STRING || !a->s || strcmp(a->s, "NOTSET") != 0))
    return 0;
  for (int i = 0; i < 4; i++)
    if (pads[i] < 0 || pads[i] >= (i % 2 ? kw : kh)) return 0;
  if (H + pads[0] + pads[2] < kh || Wd + pads[1] + pads[3] < kw) return 0;
  /* the 1x1 Conv: constant [M, C1, 1, 1] weights, plain, no residual or input scale */
  wnode *x = &b->nodes[X->producer];
  if (x->dead || !x->is_step || !is_op(x, "Conv") || x->out[0] != xv || !only_output_used(x) ||
      x->in_scale || x->sum || x->n.nin > 3 || !plain_conv(x))
    return 0;
  if (consumers(b, xv, cons, 2) != 1) return 0;
  const pval *X1 = x->in[0] >= 0 ? &b->v[x->in[0]] : NULL, *W1 = const_float(b, x, 1);
  const pval *B1 = x->n.nin > 2 && x->in[2] >= 0 ? const_float(b, x, 2) : NULL;
  if (!X1 || X1->dtype != OM_DT_FLOAT || X1->ndim != 4 || !W1 || W1->ndim != 4) return 0;
  if (W1->dims[0] != M || W1->dims[1] != X1->dims[1] || W1->dims[2] != 1 || W1->dims[3] != 1) return 0;
  if (X1->dims[0] != X->dims[0] || X1->dims[2] != H || X1->dims[3] != Wd) return 0;
  if (x->n.nin > 2 && x->in[2] >= 0 && (!B1 || B1->ndim != 1 || B1->dims[0] != M)) return 0;
  if (!om_chain_supported(X1->dims[1], M, H, Wd, kh, kw, st[0], st[1], 1, 1)) return 0;
  for (int k = d->n.nin; k < 5; k++) {
    d->in[k] = -1;
    d->n.inputs[k] = "";
  }
  d->in[0] = x->in[0];
  d->n.inputs[0] = b->v[x->in[0]].name;
  d->in[5] = x->in[1];
  d->n.inputs[5] = b->v[x->in[1]].name;
  d->in[6] = B1 ? x->in[2] : -1;
  d->n.inputs[6] = B1 ? b->v[x->in[2]].name : "";
  d->n.nin = 7;
  const onnx_attr *act = node_attr(&x->n, "om_act"), *al = node_attr(&x->n, "om_act_alpha"),
                  *be = node_attr(&x->n, "om_act_beta");
  add_attr_i(d, "om_pre", 1);
  add_attr_i(d, "om_pre_act", act ? act->i : OM_ACT_NONE);
  add_attr_f(d, "om_pre_alpha", al ? al->f : 0.0f);
  add_attr_f(d, "om_pre_beta", be ? be->f : 0.0f);
  d->pre_act = act ? (int)act->i : OM_ACT_NONE;
  d->pre = 1;
  x->dead = 1;
  return 1;
}

/* ints attribute `name` equal to want[0..n), or absent (then its default is taken to match). */
static int ints_are(const wnode *w, const char *name, const int64_t *want, int n, int absent_ok) {
  const onnx_attr *a = node_attr(&w->n, name);
  if (!a) return absent_ok;
  if (a->type != ONNX_ATTR_INTS || a->n != n) return 0;
  for (int i = 0; i < n; i++)
    if (a->ints[i] != want[i]) return 0;
  return 1;
}

/* Conv (bias and activation fused) -> 3x3 stride-2 MaxPool, the Conv's output used by nothing else
 * (the stems of squeezenet1_1 and the resnets: 64 x 112 x 112 floats, 3 MB, written and read back
 * past L2): the Conv takes the pool (om_pool*: its top / left pads and output size) and runs both in
 * row bands (conv_direct.c, om_cdir_run_pool), so its output is never written whole. Conv's prepare
 * falls back to the whole output in scratch where the banded path does not apply; the bytes are the
 * same either way. AVX-512 and float32 only; OM_POOL_FUSE=0 turns it off (A/B runs). */
static int fuse_pool(bld *b, wnode *x) {
  if (b->kernel_path != OM_KERNEL_AVX512 || b->opts->precision == OM_PRECISION_BF16) return 0;
  const char *e = getenv("OM_POOL_FUSE");
  if (e && strcmp(e, "0") == 0) return 0;
  if (node_attr(&x->n, "om_pre") || node_attr(&x->n, "om_pool") || x->in_scale || x->sum ||
      !only_output_used(x) || x->n.nin > 3)
    return 0;
  const onnx_attr *a;
  if ((a = node_attr(&x->n, "group")) && (a->type != ONNX_ATTR_INT || a->i != 1)) return 0;
  const pval *Wt = const_float(b, x, 1);
  int y = x->out[0], cons[2];
  if (!Wt || Wt->ndim != 4 || y < 0 || b->v[y].keep || b->v[y].dtype != OM_DT_FLOAT || b->v[y].ndim != 4)
    return 0;
  if (consumers(b, y, cons, 2) != 1) return 0;
  wnode *m = &b->nodes[cons[0]];
  if (!is_op(m, "MaxPool") || m->dead || m->n.nin < 1 || m->in[0] != y || m->out[0] < 0 || !only_output_used(m))
    return 0;
  const pval *Y = &b->v[m->out[0]];
  if (Y->ndim != 4 || Y->dims[0] != b->v[y].dims[0] || Y->dims[1] != b->v[y].dims[1]) return 0;
  static const int64_t k3[2] = {3, 3}, s2[2] = {2, 2}, d1[2] = {1, 1};
  if (!ints_are(m, "kernel_shape", k3, 2, 0) || !ints_are(m, "strides", s2, 2, 0) ||
      !ints_are(m, "dilations", d1, 2, 1))
    return 0;
  if ((a = node_attr(&m->n, "storage_order")) && (a->type != ONNX_ATTR_INT || a->i != 0)) return 0;
  if ((a = node_attr(&m->n, "auto_pad")) && (a->type != ONNX_ATTR_STRING || !a->s || strcmp(a->s, "NOTSET") != 0))
    return 0;
  int64_t pads[4] = {0, 0, 0, 0};
  if ((a = node_attr(&m->n, "pads"))) {
    if (a->type != ONNX_ATTR_INTS || a->n != 4) return 0;
    for (int i = 0; i < 4; i++) {
      if (a->ints[i] < 0 || a->ints[i] > 2) return 0;
      pads[i] = a->ints[i];
    }
  }
  add_attr_i(x, "om_pool", 1);
  add_attr_i(x, "om_pool_pt", pads[0]);
  add_attr_i(x, "om_pool_pl", pads[1]);
  add_attr_i(x, "om_pool_oh", Y->dims[2]);
  add_attr_i(x, "om_pool_ow", Y->dims[3]);
  x->pool = 1;
  x->pool_in = 1;
  for (int i = 0; i < b->v[y].ndim; i++) x->pool_in *= (double)b->v[y].dims[i];
  rename_out(b, x, m);
  return 1;
}

static int fuse_all(bld *b, int *changed, char *err) {
  *changed = 0;
  for (int s = 0; s < b->norder; s++) {
    wnode *w = &b->nodes[b->order[s]];
    if (w->dead || !w->is_step) continue;
    int conv = is_op(w, "Conv"), mm = is_op(w, "Gemm") || is_op(w, "MatMul");
    if (!conv && !mm) continue;
    if (conv) {
      *changed |= fuse_in_scale(b, w);
      int r = fuse_bn(b, w, err);
      if (r < 0) return -r;
      *changed |= r;
      *changed |= fuse_add(b, w);
    }
    *changed |= fuse_act(b, w);
    if (conv) *changed |= fuse_chain(b, w);
    if (conv) *changed |= fuse_pool(b, w);
  }
  return OM_OK;
}

/* ---- memory plan ---- */
typedef struct {
  int v;
  size_t size;
} slot;

static int cmp_slot(const void *a, const void *b) {
  const slot *x = a, *y = b;
  if (x->size != y->size) return x->size < y->size ? 1 : -1;
  return x->v - y->v;
}

static int cmp_off(const void *a, const void *b) {
  const pval *const *x = a, *const *y = b;
  return (*x)->offset < (*y)->offset ? -1 : (*x)->offset > (*y)->offset;
}

static int plan_memory(bld *b, int nsteps, char *err) {
  om_plan *P = b->plan;
  int n = 0;
  slot *sl = malloc(sizeof(slot) * (size_t)(b->nv + 1));
  const pval **placed = malloc(sizeof(pval *) * (size_t)(b->nv + 1));
  if (!sl || !placed) {
    free(sl);
    free(placed);
    return om_seterr(err, OM_E_NOMEM, "out of memory planning memory");
  }
  for (int i = 0; i < b->nv; i++) {
    pval *v = &b->v[i];
    if (v->kind != VK_ARENA && v->kind != VK_INPUT) continue;
    size_t sz;
    if (om_add_size(v->nbytes, 63, &sz)) {
      free(sl);
      free(placed);
      return om_seterr(err, OM_E_LIMIT, "tensor '%s' too large", v->name);
    }
    sz &= ~(size_t)63;
    if (!sz) sz = 64;
    sl[n].v = i;
    sl[n].size = sz;
    n++;
    if (om_add_size(P->sum_bytes, sz, &P->sum_bytes)) {
      free(sl);
      free(placed);
      return om_seterr(err, OM_E_LIMIT, "arena size overflows");
    }
  }
  qsort(sl, (size_t)n, sizeof *sl, cmp_slot);
  size_t arena = 0;
  for (int i = 0; i < n; i++) {
    pval *v = &b->v[sl[i].v];
    int np = 0;
    for (int j = 0; j < i; j++) {
      const pval *u = &b->v[sl[j].v];
      if (u->first <= v->last && v->first <= u->last) placed[np++] = u;
    }
    qsort(placed, (size_t)np, sizeof *placed, cmp_off);
    size_t off = 0;
    for (int j = 0; j < np; j++) {
      size_t usz = OM_ALIGN_UP(placed[j]->nbytes ? placed[j]->nbytes : 1, 64);
      if (placed[j]->offset >= off + sl[i].size) break; /* fits in the gap before it */
      if (placed[j]->offset + usz > off) off = placed[j]->offset + usz;
    }
    v->offset = off;
    if (off + sl[i].size > arena) arena = off + sl[i].size;
  }
  (void)nsteps;
  P->slots = pool_alloc(&P->mem, sizeof(om_plan_slot) * (size_t)(n + 1));
  if (!P->slots) {
    free(sl);
    free(placed);
    return om_seterr(err, OM_E_NOMEM, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    const pval *v = &b->v[sl[i].v];
    om_plan_slot *o = &P->slots[i];
    o->name = v->name;
    o->offset = v->offset;
    o->bytes = v->nbytes;
    o->first = v->first;
    o->last = v->last;
  }
  P->nslots = n;
  free(sl);
  free(placed);
  P->arena_bytes = arena;
  return OM_OK;
}

/* ---- assemble the plan ---- */
static loc loc_of(const bld *b, int vi) {
  loc l = {0, NULL, 0};
  if (vi < 0) return l;
  const pval *v = &b->v[vi];
  if (v->kind == VK_CONST) {
    l.is_const = 1;
    l.ptr = v->data;
  } else {
    l.offset = v->kind == VK_VIEW ? b->v[v->root].offset + v->view_off : v->offset;
  }
  return l;
}

/* Constants read at run time must not point into the model (it may be freed after build). */
static int own_const(bld *b, int vi, char *err) {
  if (vi < 0) return OM_OK;
  pval *v = &b->v[vi];
  if (v->kind != VK_CONST || v->owned) return OM_OK;
  void *d = pool_alloc_nz(&b->plan->mem, v->nbytes);
  if (!d) return om_seterr(err, OM_E_NOMEM, "out of memory copying constant '%s'", v->name);
  if (v->nbytes) memcpy(d, v->data, v->nbytes);
  v->data = d;
  v->owned = 1;
  return OM_OK;
}

static const char *act_name(int a) {
  static const char *n[] = {"", "relu", "clip", "leakyrelu", "sigmoid", "hardsigmoid", "hardswish", "silu"};
  return a >= 0 && a < (int)OM_ARRAY_LEN(n) ? n[a] : "?";
}

static int info_of(bld *b, int vi, const char *name, om_tensor_info *t) {
  const pval *v = &b->v[vi];
  memset(t, 0, sizeof *t);
  t->name = pool_strdup(&b->plan->mem, name);
  if (!t->name) return -1;
  t->dtype = v->dtype;
  t->ndim = v->ndim;
  memcpy(t->dims, v->dims, sizeof(int64_t) * (size_t)v->ndim);
  t->nbytes = v->nbytes;
  t->producer_op = v->producer >= 0 ? b->nodes[v->producer].n.op_type : "";
  t->producer_op = pool_strdup(&b->plan->mem, t->producer_op);
  return t->producer_op ? 0 : -1;
}


static double numel(const om_tensor *t) {
  double n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (double)t->dims[i];
  return t->ndim < 0 ? 0 : n;
}

/* Work of one step for profiles: 2 x multiply-adds of the dense ops, 0 for the rest. */
static double step_flops(const char *op, const om_tensor *t, int nin, int nout) {
  if (nin < 2 || nout < 1 || t[0].ndim < 1 || t[1].ndim < 2) return 0;
  const om_tensor *X = &t[0], *W = &t[1], *Y = &t[nin];
  if (!strcmp(op, "Conv")) /* + a fused 1x1 Conv in front (om_pre: its weights are input 5) */
    return 2 * numel(Y) * numel(W) / (double)W->dims[0] +
           (nin > 5 && t[5].ndim == 4 ? 2 * numel(X) * (double)t[5].dims[0] : 0);
  if (!strcmp(op, "ConvTranspose")) return 2 * numel(X) * numel(W) / (double)W->dims[0];
  if (!strcmp(op, "MatMul") || !strcmp(op, "Gemm")) {
    if (Y->ndim < 1 || W->ndim != 2) return 0;
    double n = (double)Y->dims[Y->ndim - 1];
    return n ? 2 * numel(Y) * numel(W) / n : 0; /* K x N weights (Gemm transB: N x K, same count) */
  }
  return 0;
}

/* (Needs the producers of the surviving graph: see assemble.) A Concat along an axis with only size-1
 * dims before it (the channels of one image) places its
 * inputs at consecutive byte ranges of its output: their producers write there directly (each input
 * becomes a view into the output at its offset) and the copy step goes away (squeezenet's Fire
 * modules, shufflenet's branches). Inputs that are graph outputs, views' roots, not made by a step,
 * or repeated keep the copy. */
static void elide_concats(bld *b) {
  for (int s = 0; s < b->norder; s++) {
    wnode *w = &b->nodes[b->order[s]];
    if (!w->is_step || !is_op(w, "Concat") || w->n.nout != 1 || w->out[0] < 0 || w->n.nin < 1) continue;
    int yv = w->out[0];
    const pval *Y = &b->v[yv];
    const onnx_attr *a = node_attr(&w->n, "axis");
    if (Y->kind != VK_ARENA || !a || a->type != ONNX_ATTR_INT) continue;
    int64_t ax = a->i < 0 ? a->i + Y->ndim : a->i;
    int ok = ax >= 0 && ax < Y->ndim;
    for (int64_t d = 0; ok && d < ax; d++) ok = Y->dims[d] == 1;
    size_t total = 0;
    for (int k = 0; ok && k < w->n.nin; k++) {
      int xv = w->in[k];
      const pval *X = xv >= 0 ? &b->v[xv] : NULL;
      ok = X && X->kind == VK_ARENA && !X->keep && X->dtype == Y->dtype;
      for (int j = 0; ok && j < k; j++) ok = w->in[j] != xv;
      for (int i = 0; ok && i < b->nv; i++) ok = !(b->v[i].kind == VK_VIEW && b->v[i].root == xv);
      ok = ok && X->producer >= 0 && b->nodes[X->producer].is_step; /* not a graph input, nor folded */
      if (ok) total += X->nbytes;
    }
    if (!ok || total != Y->nbytes) continue;
    size_t off = 0;
    for (int k = 0; k < w->n.nin; k++) {
      pval *X = &b->v[w->in[k]];
      X->kind = VK_VIEW;
      X->root = yv;
      X->view_off = off;
      off += X->nbytes;
    }
    w->is_step = 0;
  }
}

static int assemble(bld *b, char *err) {
  om_plan *P = b->plan;
  int rc;
  /* Producers for the surviving graph (after fusion renames). */
  for (int i = 0; i < b->nv; i++) b->v[i].producer = -1;
  for (int s = 0; s < b->norder; s++) {
    wnode *w = &b->nodes[b->order[s]];
    for (int k = 0; k < w->n.nout; k++)
      if (w->out[k] >= 0) b->v[w->out[k]].producer = b->order[s];
  }
  if (!b->opts->no_fusion) elide_concats(b);
  int nsteps = 0, ndesc = 0;
  for (int s = 0; s < b->norder; s++) {
    wnode *w = &b->nodes[b->order[s]];
    if (w->is_step) {
      nsteps++;
      ndesc += w->n.nin + w->n.nout;
    }
  }
  /* Lifetimes. */
  for (int i = 0; i < b->nv; i++) {
    pval *v = &b->v[i];
    v->first = v->kind == VK_INPUT ? -1 : nsteps;
    v->last = v->kind == VK_INPUT ? nsteps : -1;
  }
  int st = 0;
  for (int s = 0; s < b->norder; s++) {
    wnode *w = &b->nodes[b->order[s]];
    if (!w->is_step) continue;
    for (int k = 0; k < w->n.nout; k++)
      if (w->out[k] >= 0) {
        pval *v = &b->v[w->out[k]];
        if (v->kind == VK_VIEW) v = &b->v[v->root]; /* written in place into a Concat's output */
        if (st < v->first) v->first = st;
        if (st > v->last) v->last = st;
      }
    for (int k = 0; k < w->n.nin; k++) {
      if (w->in[k] < 0) continue;
      pval *v = &b->v[w->in[k]];
      int r = v->kind == VK_VIEW ? v->root : w->in[k];
      if (st > b->v[r].last) b->v[r].last = st;
    }
    st++;
  }
  for (int i = 0; i < b->nv; i++) {
    pval *v = &b->v[i];
    if (!v->keep) continue;
    int r = v->kind == VK_VIEW ? v->root : i;
    b->v[r].last = nsteps;
  }
  if ((rc = plan_memory(b, nsteps, err))) return rc;

  P->nsteps = nsteps;
  P->steps = pool_alloc(&P->mem, sizeof(step) * (size_t)(nsteps + 1));
  P->descs = pool_alloc(&P->mem, sizeof(om_tensor) * (size_t)(ndesc + 1));
  P->lines = pool_alloc(&P->mem, sizeof(char *) * (size_t)(nsteps + 2));
  if (!P->steps || !P->descs || !P->lines) return om_seterr(err, OM_E_NOMEM, "out of memory building the plan");
  P->ndescs = ndesc;
  st = 0;
  int d = 0;
  for (int s = 0; s < b->norder; s++) {
    wnode *w = &b->nodes[b->order[s]];
    if (!w->is_step) continue;
    step *S = &P->steps[st];
    S->run = w->op->run;
    S->params = w->params;
    S->nin = w->n.nin;
    S->nout = w->n.nout;
    S->desc = d;
    if (w->scratch > P->scratch_bytes) P->scratch_bytes = w->scratch;
    char line[1024], sh[160];
    int len = snprintf(line, sizeof line, "%3d %s '%s'", st, w->n.op_type, w->n.name);
    for (int k = 0; k < w->n.nin; k++) {
      om_tensor *t = &P->descs[d++];
      if (w->in[k] < 0) {
        t->ndim = -1;
        S->locs[k].is_const = 1;
        continue;
      }
      int gone = w->consumed >> k & 1u; /* packed into params: neither kept nor passed */
      if (!gone && (rc = own_const(b, w->in[k], err))) return rc;
      tensor_of(&b->v[w->in[k]], t);
      t->data = NULL;
      S->locs[k] = loc_of(b, w->in[k]);
      if (gone) S->locs[k].ptr = NULL;
      if (len < (int)sizeof line - 1)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%s%s", k ? ", " : " [",
                        om_dims_str(t->dims, t->ndim, sh, sizeof sh),
                        b->v[w->in[k]].kind == VK_CONST ? "(c)" : "");
    }
    if (len < (int)sizeof line - 1 && w->n.nin)
      len += snprintf(line + len, sizeof line - (size_t)len, "]");
    if (w->act && len < (int)sizeof line - 1)
      len += snprintf(line + len, sizeof line - (size_t)len, " +%s", act_name(w->act));
    if (w->sum && len < (int)sizeof line - 1)
      len += snprintf(line + len, sizeof line - (size_t)len, " +sum");
    if (w->in_scale && len < (int)sizeof line - 1)
      len += snprintf(line + len, sizeof line - (size_t)len, " +channel scale");
    if (w->pre && len < (int)sizeof line - 1)
      len += snprintf(line + len, sizeof line - (size_t)len, " +after its 1x1 Conv%s%s, in bands",
                      w->pre_act ? " +" : "", w->pre_act ? act_name(w->pre_act) : "");
    if (w->pool && len < (int)sizeof line - 1)
      len += snprintf(line + len, sizeof line - (size_t)len, " +maxpool 3x3 s2");
    for (int k = 0; k < w->n.nout; k++) {
      om_tensor *t = &P->descs[d++];
      loc *l = &S->locs[w->n.nin + k];
      if (w->out[k] < 0) {
        /* An unused optional output still needs somewhere to go: prepare gave its shape, but we
         * did not keep a value; ops must accept ndim -1 outputs as "not wanted". */
        t->ndim = -1;
        l->is_const = 1;
        continue;
      }
      tensor_of(&b->v[w->out[k]], t);
      t->data = NULL;
      *l = loc_of(b, w->out[k]);
      if (len < (int)sizeof line - 1)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%s", k ? ", " : " -> ",
                        om_dims_str(t->dims, t->ndim, sh, sizeof sh));
    }
    P->lines[st] = pool_strdup(&P->mem, line);
    if (!P->lines[st]) return om_seterr(err, OM_E_NOMEM, "out of memory");
    S->op = P->lines[st] + 4;   /* "%3d " then the op type; cut at the space below */
    S->flops = step_flops(w->n.op_type, &P->descs[S->desc], S->nin, S->nout);
    /* a fused MaxPool's output is 4x smaller than the Conv's, which did the work */
    if (w->pool && w->pool_in > 0 && S->nout > 0 && numel(&P->descs[S->desc + S->nin]) > 0)
      S->flops *= w->pool_in / numel(&P->descs[S->desc + S->nin]);
    st++;
  }
  P->scratch_bytes = OM_ALIGN_UP(P->scratch_bytes, 64);
  char sum[256];
  snprintf(sum, sizeof sum,
           "plan: %d steps, arena %zu bytes (tensors total %zu bytes), scratch %zu bytes, kernels %s",
           nsteps, P->arena_bytes, P->sum_bytes, P->scratch_bytes, om_kernel_path_name(P->kernel_path));
  P->lines[st] = pool_strdup(&P->mem, sum);
  if (!P->lines[st]) return om_seterr(err, OM_E_NOMEM, "out of memory");
  P->nlines = nsteps + 1;
  return OM_OK;
}

static int io_tables(bld *b, char *err) {
  om_plan *P = b->plan;
  const onnx_model *m = b->m;
  const om_plan_opts *o = b->opts;
  int nin = 0;
  for (int i = 0; i < b->nv; i++)
    if (b->v[i].kind == VK_INPUT) nin++;
  P->ninputs = nin;
  P->inputs = pool_alloc(&P->mem, sizeof(om_tensor_info) * (size_t)(nin + 1));
  P->input_off = pool_alloc(&P->mem, sizeof(size_t) * (size_t)(nin + 1));
  int nout = (o->outputs_only_extra ? 0 : m->noutputs) + o->nextra_outputs;
  P->noutputs = nout;
  P->outputs = pool_alloc(&P->mem, sizeof(om_tensor_info) * (size_t)(nout + 1));
  P->output_loc = pool_alloc(&P->mem, sizeof(loc) * (size_t)(nout + 1));
  if (!P->inputs || !P->input_off || !P->outputs || !P->output_loc)
    return om_seterr(err, OM_E_NOMEM, "out of memory");
  for (int i = 0; i < b->nv; i++) {
    pval *v = &b->v[i];
    if (v->kind != VK_INPUT) continue;
    if (info_of(b, i, v->name, &P->inputs[v->input_index])) return om_seterr(err, OM_E_NOMEM, "out of memory");
    P->input_off[v->input_index] = v->offset;
  }
  int k = 0;
  for (int i = 0; i < nout; i++) {
    const char *name = (!o->outputs_only_extra && i < m->noutputs) ? m->outputs[i].name
                                                                     : o->extra_outputs[k++];
    int vi = val_find(b, name);
    int rc;
    if ((rc = own_const(b, vi, err))) return rc;
    if (info_of(b, vi, name, &P->outputs[i])) return om_seterr(err, OM_E_NOMEM, "out of memory");
    P->output_loc[i] = loc_of(b, vi);
  }
  return OM_OK;
}

static int mark_outputs(bld *b, char *err) {
  const onnx_model *m = b->m;
  const om_plan_opts *o = b->opts;
  if (o->nextra_outputs < 0 || o->nextra_outputs > OM_MAX_IO || o->nspecs < 0 || o->nspecs > OM_MAX_IO)
    return om_seterr(err, OM_E_INVALID, "too many extra outputs or input specs");
  for (int i = 0; i < m->noutputs; i++) {
    int vi = val_find(b, m->outputs[i].name);
    if (vi < 0)
      return om_seterr(err, OM_E_FORMAT, "graph output '%s' is not produced by any node, initializer or input",
                       m->outputs[i].name);
    if (!o->outputs_only_extra) b->v[vi].keep = 1;
  }
  for (int i = 0; i < o->nextra_outputs; i++) {
    const char *nm = o->extra_outputs[i];
    int vi = nm ? val_find(b, nm) : -1;
    if (vi < 0)
      return om_seterr(err, OM_E_INVALID, "requested output '%s' is not a tensor of this model",
                       nm ? nm : "(null)");
    b->v[vi].keep = 1;
  }
  if (o->outputs_only_extra && o->nextra_outputs == 0)
    return om_seterr(err, OM_E_INVALID, "no outputs requested");
  return OM_OK;
}

int om_plan_build(const onnx_model *m, const om_plan_opts *opts, om_plan **out, char *err) {
  *out = NULL;
  om_plan_opts dflt;
  if (!opts) {
    memset(&dflt, 0, sizeof dflt);
    opts = &dflt;
  }
  if (!m) return om_seterr(err, OM_E_INVALID, "no model");
  bld B, *b = &B;
  memset(b, 0, sizeof B);
  b->m = m;
  b->opts = opts;
  b->max_elems = opts->max_tensor_elems ? opts->max_tensor_elems : (1ull << 31);
  b->kernel_path = opts->kernel_path ? opts->kernel_path : om_kernel_path_detect();
  int rc = OM_OK;
  om_plan *P = calloc(1, sizeof *P);
  if (!P) return om_seterr(err, OM_E_NOMEM, "out of memory");
  b->plan = P;
  P->kernel_path = b->kernel_path;
  b->cur = &P->mem;
  P->mem.fault_threads = opts->threads;
  /* Upper bound on values: every init, input, node output, plus two per fused BatchNormalization. */
  size_t cap = (size_t)m->ninit + (size_t)m->ninputs + 2 * (size_t)m->nnodes + 8;
  for (int i = 0; i < m->nnodes; i++) cap += m->nodes[i].nout > 0 ? (size_t)m->nodes[i].nout : 0;
  if (cap > (1u << 28)) {
    free(P);
    return om_seterr(err, OM_E_LIMIT, "graph too large");
  }
  b->capv = (int)cap;
  b->hcap = 16;
  while (b->hcap < 2 * cap) b->hcap *= 2;
  b->v = calloc(cap, sizeof *b->v);
  b->hash = malloc(b->hcap * sizeof *b->hash);
  b->nn = m->nnodes;
  b->nodes = calloc((size_t)m->nnodes + 1, sizeof *b->nodes);
  b->order = calloc((size_t)m->nnodes + 1, sizeof *b->order);
  if (!b->v || !b->hash || !b->nodes || !b->order) {
    rc = om_seterr(err, OM_E_NOMEM, "out of memory");
    goto done;
  }
  memset(b->hash, 0xff, b->hcap * sizeof *b->hash);
  if ((rc = build_values(b, err)) || (rc = build_nodes(b, err)) || (rc = mark_outputs(b, err)) ||
      (rc = topo_sort(b, err)))
    goto done;
  if (!opts->no_fusion) {
    b->cur = &b->tmp;
    b->shapes_only = 1;
  }
  if ((rc = prepare_all(b, err))) goto done;
  if (!opts->no_fusion) {
    int changed = 0;
    b->shapes_only = 0;
    if ((rc = fuse_all(b, &changed, err))) goto done;
    /* Pass 1 was shapes-only (ops may have skipped work), so pass 2 always runs; it is cheap
     * next to what it packs, which pass 1 no longer did. */
    pool_free(&b->tmp);
    b->cur = &P->mem;
    if (changed && (rc = topo_sort(b, err))) goto done;
    if ((rc = prepare_all(b, err))) goto done;
  }
  if ((rc = assemble(b, err)) || (rc = io_tables(b, err))) goto done;
done:
  pool_free(&b->tmp);
  pool_free(&b->fold);
  free(b->v);
  free(b->hash);
  free(b->nodes);
  free(b->order);
  if (rc) {
    om_plan_free(P);
    return rc;
  }
  *out = P;
  return OM_OK;
}

void om_plan_free(om_plan *p) {
  if (!p) return;
  pool_free(&p->mem);
  free(p);
}

int om_plan_ninputs(const om_plan *p) { return p->ninputs; }
const om_tensor_info *om_plan_input(const om_plan *p, int i) {
  return i >= 0 && i < p->ninputs ? &p->inputs[i] : NULL;
}
int om_plan_noutputs(const om_plan *p) { return p->noutputs; }
const om_tensor_info *om_plan_output(const om_plan *p, int i) {
  return i >= 0 && i < p->noutputs ? &p->outputs[i] : NULL;
}
size_t om_plan_workspace_bytes(const om_plan *p) { return p->arena_bytes + p->scratch_bytes; }
int om_plan_nsteps(const om_plan *p) { return p->nsteps; }

void om_plan_describe(const om_plan *p, void (*emit)(void *ctx, const char *line), void *ctx) {
  for (int i = 0; i < p->nlines; i++) emit(ctx, p->lines[i]);
}

/* ---- workspaces and run ---- */
static void *loc_ptr(const loc *l, uint8_t *base) {
  return l->is_const ? (void *)(uintptr_t)l->ptr : base + l->offset;
}

int om_workspace_new(const om_plan *p, om_workspace **out, char *err) {
  return om_workspace_new_threads(p, 1, out, err);
}

int om_workspace_new_threads(const om_plan *p, int nthreads, om_workspace **out, char *err) {
  *out = NULL;
  if (nthreads < 1 || nthreads > 4096)
    return om_seterr(err, OM_E_INVALID, "workspace thread count %d is not in 1..4096", nthreads);
  size_t scr, total;
  /* one scratch slice per cooperating thread (scratch_bytes is a multiple of 64) */
  if (om_mul_size(p->scratch_bytes, (size_t)nthreads, &scr) || om_add_size(p->arena_bytes, scr, &total))
    return om_seterr(err, OM_E_LIMIT, "workspace for %d threads overflows (scratch %zu bytes each)",
                     nthreads, p->scratch_bytes);
  om_workspace *w = calloc(1, sizeof *w);
  if (!w) return om_seterr(err, OM_E_NOMEM, "out of memory for a workspace");
  w->nthreads = nthreads;
  w->plan = p;
  w->base = om_alloc_aligned(total ? total : 64);
  w->descs = malloc(sizeof(om_tensor) * (size_t)(p->ndescs + 1));
  if (!w->base || !w->descs) {
    om_workspace_free(w);
    return om_seterr(err, OM_E_NOMEM, "out of memory for a workspace of %zu bytes", total);
  }
  memset(w->base, 0, total ? total : 64); /* first touch by the thread that will use it */
  w->scratch = p->scratch_bytes ? w->base + p->arena_bytes : NULL;
  if (p->ndescs) memcpy(w->descs, p->descs, sizeof(om_tensor) * (size_t)p->ndescs);
  for (int s = 0; s < p->nsteps; s++) {
    const step *S = &p->steps[s];
    for (int k = 0; k < S->nin + S->nout; k++) {
      om_tensor *t = &w->descs[S->desc + k];
      t->data = t->ndim < 0 ? NULL : loc_ptr(&S->locs[k], w->base);
    }
  }
  *out = w;
  return OM_OK;
}

void om_workspace_free(om_workspace *w) {
  if (!w) return;
  free(w->prof);
  om_free_aligned(w->base);
  free(w->descs);
  free(w);
}

void *om_workspace_input(om_workspace *w, int i) {
  if (i < 0 || i >= w->plan->ninputs) return NULL;
  return w->base + w->plan->input_off[i];
}

const void *om_workspace_output(const om_workspace *w, int i) {
  if (i < 0 || i >= w->plan->noutputs) return NULL;
  return loc_ptr(&w->plan->output_loc[i], w->base);
}

int om_run(const om_plan *p, om_workspace *w, char *err) {
  if (w->plan != p) return om_seterr(err, OM_E_INVALID, "workspace belongs to another plan");
  /* kernels read the team size from the calling thread (op.h's run() has no room for it) */
  om_intra prev = om_intra_get(), cur = {w->nthreads, w->plan->scratch_bytes};
  if (w->nthreads > 1) om_intra_set(cur);
  for (int s = 0; s < p->nsteps; s++) {
    const step *S = &p->steps[s];
    om_tensor *t = &w->descs[S->desc];
    double t0 = w->prof ? om_now() : 0;
    S->run(S->params, t, S->nin, t + S->nin, S->nout, w->scratch);
    if (w->prof) w->prof[s] += om_now() - t0;
  }
  if (w->nthreads > 1) om_intra_set(prev);
  return OM_OK;
}

int om_workspace_profile(om_workspace *w, int on) {
  if (!on) {
    free(w->prof);
    w->prof = NULL;
    return OM_OK;
  }
  if (!w->prof && !(w->prof = calloc((size_t)w->plan->nsteps + 1, sizeof(double)))) return OM_E_NOMEM;
  return OM_OK;
}

const double *om_workspace_step_seconds(const om_workspace *w) { return w->prof; }

int om_plan_step_info(const om_plan *p, int s, om_step_info *out) {
  if (s < 0 || s >= p->nsteps) return -1;
  const step *S = &p->steps[s];
  const char *sp = strchr(S->op, ' ');
  size_t n = sp ? (size_t)(sp - S->op) : strlen(S->op);
  if (n >= sizeof out->op) n = sizeof out->op - 1;
  memcpy(out->op, S->op, n);
  out->op[n] = 0;
  out->line = p->lines[s];
  out->flops = S->flops;
  return 0;
}

/* ---- plan_debug.h ---- */
int om_plan_nslots(const om_plan *p) { return p->nslots; }
int om_plan_slot_at(const om_plan *p, int i, om_plan_slot *out) {
  if (i < 0 || i >= p->nslots) return -1;
  *out = p->slots[i];
  return 0;
}
size_t om_plan_arena_bytes(const om_plan *p) { return p->arena_bytes; }
size_t om_plan_tensor_bytes(const om_plan *p) { return p->sum_bytes; }
