/* mpi.c: MPI start-up detection, broadcasts and the request/work messages (see mpi.h). Without
 * OMPREDICT_MPI only om_mpi_compiled is built. */
#include "cli/mpi.h"

#ifndef OMPREDICT_MPI

int om_mpi_compiled(void) { return 0; }

#else

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

int om_mpi_compiled(void) { return 1; }

int om_mpi_init(om_mpi *m, char *err) {
  static const char *const envs[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
  memset(m, 0, sizeof *m);
  m->size = 1;
  const char *off = getenv("OMPREDICT_NO_MPI");
  if (off && *off && strcmp(off, "0") != 0) return OM_OK;
  int launched = 0;
  for (size_t i = 0; i < OM_ARRAY_LEN(envs); i++) launched |= getenv(envs[i]) != NULL;
  if (!launched) return OM_OK; /* a plain run: no MPI start-up cost, no singleton daemon */
  int provided = 0;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return om_seterr(err, OM_E_IO, "MPI_Init_thread failed");
  m->inited = 1;
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    m->inited = 0;
    return om_seterr(err, OM_E_UNSUPPORTED, "the MPI library does not provide MPI_THREAD_FUNNELED");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &m->size);
  m->active = m->size > 1;
  return OM_OK;
}

void om_mpi_finalize(om_mpi *m) {
  if (m->inited) MPI_Finalize();
  m->inited = m->active = 0;
}

void om_mpi_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  exit(code); /* not reached */
}

int om_mpi_bcast_u64(const om_mpi *m, uint64_t *v, int n) {
  (void)m;
  return MPI_Bcast(v, n, MPI_UINT64_T, 0, MPI_COMM_WORLD) == MPI_SUCCESS ? OM_OK : OM_E_IO;
}

int om_mpi_bcast_bytes(const om_mpi *m, void **buf, size_t *len, char *err) {
  uint64_t n = *len;
  if (om_mpi_bcast_u64(m, &n, 1)) return om_seterr(err, OM_E_IO, "MPI_Bcast failed");
  if (n > INT_MAX) return om_seterr(err, OM_E_LIMIT, "%llu bytes are too many for one broadcast",
                                    (unsigned long long)n);
  if (m->rank != 0) {
    *buf = malloc(n ? (size_t)n : 1);
    if (!*buf) return om_seterr(err, OM_E_NOMEM, "out of memory for %llu broadcast bytes",
                                (unsigned long long)n);
    *len = (size_t)n;
  }
  if (n && MPI_Bcast(*buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return om_seterr(err, OM_E_IO, "MPI_Bcast failed");
  return OM_OK;
}

int om_mpi_request(const void *payload, size_t len, uint64_t *first, uint64_t *count, char *err) {
  if (len > INT_MAX)
    return om_seterr(err, OM_E_LIMIT, "a result message of %zu bytes is too large for MPI; "
                                      "use fewer threads per rank or no --raw", len);
  if (MPI_Send(payload, (int)len, MPI_BYTE, 0, OM_MPI_TAG_REQ, MPI_COMM_WORLD) != MPI_SUCCESS)
    return om_seterr(err, OM_E_IO, "MPI_Send of results to rank 0 failed");
  uint64_t w[2];
  if (MPI_Recv(w, 2, MPI_UINT64_T, 0, OM_MPI_TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
      MPI_SUCCESS)
    return om_seterr(err, OM_E_IO, "MPI_Recv of work from rank 0 failed");
  *first = w[0];
  *count = w[1];
  return OM_OK;
}

int om_mpi_poll(int *src, void **payload, size_t *len, char *err) {
  int flag = 0, n = 0;
  MPI_Status st;
  if (MPI_Iprobe(MPI_ANY_SOURCE, OM_MPI_TAG_REQ, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
    return -om_seterr(err, OM_E_IO, "MPI_Iprobe failed");
  if (!flag) return 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  void *b = malloc(n > 0 ? (size_t)n : 1);
  if (!b) return -om_seterr(err, OM_E_NOMEM, "out of memory for a %d-byte result message", n);
  if (MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, OM_MPI_TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
      MPI_SUCCESS) {
    free(b);
    return -om_seterr(err, OM_E_IO, "MPI_Recv from rank %d failed", st.MPI_SOURCE);
  }
  *src = st.MPI_SOURCE;
  *payload = b;
  *len = (size_t)n;
  return 1;
}

int om_mpi_send_work(int dst, uint64_t first, uint64_t count, char *err) {
  uint64_t w[2] = {first, count};
  if (MPI_Send(w, 2, MPI_UINT64_T, dst, OM_MPI_TAG_WORK, MPI_COMM_WORLD) != MPI_SUCCESS)
    return om_seterr(err, OM_E_IO, "MPI_Send of work to rank %d failed", dst);
  return OM_OK;
}

#endif
