/* mpi.h: the thin MPI layer of ompredict (built only with -DOMPREDICT_MPI=ON; without it every
 * function here is absent and om_mpi_compiled() says 0).
 *
 * Protocol (rank 0 = master, others = workers; only one thread per rank calls MPI, so
 * MPI_THREAD_FUNNELED is enough):
 *   worker -> 0, tag OM_MPI_TAG_REQ: the results of its previous chunk (empty the first time) and a
 *     request for more. Payload (bytes): u64 first, u64 count, u64 exif_rotated, u64 want, then
 *     count u64 row lengths (OM_MPI_MISSING: the row was not computed, e.g. after a signal), count
 *     flag bytes (OM_MPI_ROW_ERROR), the row texts back to back, then count * raw_elems floats.
 *   0 -> worker, tag OM_MPI_TAG_WORK: u64 first, u64 count; count 0: no more work, stop.
 * Rank 0 polls with MPI_Iprobe from one thread, so it never blocks in MPI while workers wait. */
#ifndef OM_CLI_MPI_H
#define OM_CLI_MPI_H

#include <stddef.h>
#include <stdint.h>

#include "common/om.h"

/* 1 when this binary was built with MPI support. */
int om_mpi_compiled(void);

#ifdef OMPREDICT_MPI

#define OM_MPI_TAG_REQ 1
#define OM_MPI_TAG_WORK 2
#define OM_MPI_MISSING UINT64_MAX
#define OM_MPI_ROW_ERROR 1u

typedef struct om_mpi {
  int active;                    /* MPI initialised and more than one rank */
  int inited;                    /* MPI_Init_thread was called (finalize needed) */
  int rank, size;
} om_mpi;

/* Initialises MPI when a launcher started this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK
 * or PMI_SIZE in the environment) unless OMPREDICT_NO_MPI is set; otherwise leaves m inactive. */
int om_mpi_init(om_mpi *m, char *err);
void om_mpi_finalize(om_mpi *m);
/* Ends every rank (MPI_Abort on the world communicator). */
void om_mpi_abort(int code) __attribute__((noreturn));
/* Broadcasts len bytes from rank 0 (len itself first; receivers get a malloc'd buffer). */
int om_mpi_bcast_bytes(const om_mpi *m, void **buf, size_t *len, char *err);
int om_mpi_bcast_u64(const om_mpi *m, uint64_t *v, int n);

/* Worker: sends payload to rank 0 and waits for the next chunk. */
int om_mpi_request(const void *payload, size_t len, uint64_t *first, uint64_t *count, char *err);
/* Rank 0: a waiting request, if any (non-blocking): 1 and *src / *payload (malloc'd) / *len. */
int om_mpi_poll(int *src, void **payload, size_t *len, char *err);
int om_mpi_send_work(int dst, uint64_t first, uint64_t count, char *err);

#endif
#endif
