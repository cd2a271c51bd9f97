/* nn_ddp over MPI: the transport (allreduce, broadcast, abort) on the
 * ddp's own duplicate of the caller's communicator, with MPI_ERRORS_RETURN
 * so MPI's errors come back as NN_ERR_COMM; nn_ddp_new and nn_ddp_init. */
#include "ddp_internal.h"

#include <tapegrad/nn_mpi.h>

#include <stdlib.h>
#include <time.h>

/* d->comm: the communicator, and whether this ddp started MPI. */
typedef struct mpi_state {
    MPI_Comm comm;
    bool owns_mpi;
} mpi_state;

static MPI_Comm comm_of(const nn_ddp *d) { return ((const mpi_state *)d->comm)->comm; }

/* NN_ERR_COMM naming the call and MPI's message. */
static nn_status mpi_fail(int rank, int size, int rc, const char *what, const char *call) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
    return nn__fail(NN_ERR_COMM, "%s: %s failed on rank %d of %d: %s", what, call, rank, size, text);
}

static MPI_Datatype mpi_type(ag_dtype dt) { return dt == AG_F32 ? MPI_FLOAT : MPI_DOUBLE; }

static nn_status mpi_allreduce(nn_ddp *d, void *buf, int count, ag_dtype dtype, nn__reduce_op op,
                               const char *what) {
    MPI_Op mop = op == NN__SUM ? MPI_SUM : MPI_MAX;
    if (!d->opts.sleep_while_waiting) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf, count, mpi_type(dtype), mop, comm_of(d));
        return rc == MPI_SUCCESS ? NN_OK : mpi_fail(d->rank, d->size, rc, what, "MPI_Allreduce");
    }
    /* Tested, with a sleep between tests: each test also moves the
     * reduction on (MPI progresses non-blocking collectives inside its
     * calls), and between them this rank's core is free for the others. */
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, count, mpi_type(dtype), mop, comm_of(d), &req);
    if (rc != MPI_SUCCESS) return mpi_fail(d->rank, d->size, rc, what, "MPI_Iallreduce");
    for (int done = 0;;) {
        if ((rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE)) != MPI_SUCCESS)
            return mpi_fail(d->rank, d->size, rc, what, "MPI_Test");
        if (done) return NN_OK;
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
}

static nn_status mpi_bcast(nn_ddp *d, void *buf, int bytes, const char *what) {
    int rc = MPI_Bcast(buf, bytes, MPI_BYTE, 0, comm_of(d));
    return rc == MPI_SUCCESS ? NN_OK : mpi_fail(d->rank, d->size, rc, what, "MPI_Bcast");
}

static void mpi_abort(const nn_ddp *d, int code) { MPI_Abort(comm_of(d), code); }

static void mpi_free(nn_ddp *d) {
    mpi_state *s = d->comm;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        MPI_Comm_free(&s->comm);
        if (s->owns_mpi) MPI_Finalize();
    }
    free(s);
    d->comm = NULL;
}

static const nn__ddp_transport mpi_transport = {mpi_allreduce, mpi_bcast, mpi_abort, mpi_free};

bool nn_ddp_available(void) { return true; }

/* The options the ranks must share, as bytes for the check. */
static uint32_t opts_crc(uint32_t crc, const nn_ddp_opts *o, bool sleep_while_waiting) {
    unsigned char b[11]; /* blocking and non-blocking collectives do not match: all must agree */
    nn__st_le64(b, (uint64_t)o->bucket_bytes);
    b[8] = (unsigned char)o->reduce_dtype;
    b[9] = o->keep_params;
    b[10] = sleep_while_waiting;
    return nn_crc32(crc, b, sizeof b);
}

nn_ddp *nn_ddp_new(MPI_Comm comm, nn_params *ps, const nn_ddp_opts *opts) {
    const char *what = "ddp_new";
    int up = 0, down = 0, inter = 0, rank = 0, size = 1, rc;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (!up || down) {
        nn__fail(NN_ERR_ARG, "%s: MPI is %s: call MPI_Init first, or nn_ddp_init", what,
                 down ? "finalized" : "not initialized");
        return NULL;
    }
    if (comm == MPI_COMM_NULL) {
        nn__fail(NN_ERR_ARG, "%s: the communicator is MPI_COMM_NULL", what);
        return NULL;
    }
    if ((rc = MPI_Comm_test_inter(comm, &inter)) != MPI_SUCCESS) {
        mpi_fail(rank, size, rc, what, "MPI_Comm_test_inter");
        return NULL;
    }
    if (inter) {
        nn__fail(NN_ERR_ARG, "%s: an intercommunicator: pass an intracommunicator (MPI_Intercomm_merge)", what);
        return NULL;
    }
    mpi_state *s = calloc(1, sizeof *s);
    if (!s) {
        nn__fail(NN_ERR_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    if ((rc = MPI_Comm_dup(comm, &s->comm)) != MPI_SUCCESS) {
        free(s);
        mpi_fail(rank, size, rc, what, "MPI_Comm_dup");
        return NULL;
    }
    MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(s->comm, &rank);
    MPI_Comm_size(s->comm, &size);
    nn_ddp *d = nn__ddp_make(what, ps, opts, rank, size);
    if (!d) {
        MPI_Comm_free(&s->comm);
        free(s);
        return NULL;
    }
    d->tr = &mpi_transport;
    d->comm = s;
    /* The check itself waits the blocking way: a rank that would wait the
     * other way could not meet the others in it. */
    bool sleep = d->opts.sleep_while_waiting;
    d->opts.sleep_while_waiting = false;
    nn_status st = nn__ddp_same(d, opts_crc(nn__ddp_store_crc(0, ps), &d->opts, sleep),
                                "ddp_new: the parameter stores (names, dtypes, shapes) or the options");
    d->opts.sleep_while_waiting = sleep;
    if (st == NN_OK && !d->opts.keep_params) st = nn_ddp_broadcast(d, ps);
    if (st != NN_OK) {
        nn_ddp_free(d);
        return NULL;
    }
    return d;
}

MPI_Comm nn_ddp_comm(const nn_ddp *d) { return d && d->tr ? comm_of(d) : MPI_COMM_NULL; }

nn_ddp *nn_ddp_init(int *argc, char ***argv, nn_params *ps, const nn_ddp_opts *opts) {
    int up = 0, provided = 0;
    MPI_Initialized(&up);
    if (!up) {
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            mpi_fail(0, 1, rc, "ddp_init", "MPI_Init_thread");
            return NULL;
        }
    }
    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, ps, opts);
    if (!d && !up) MPI_Finalize();
    if (d) ((mpi_state *)d->comm)->owns_mpi = !up;
    return d;
}
