#!/usr/bin/env bash
# test_ddp_checkpoint.sh MPI_RUN DDP_CHECKPOINT: a 2-rank run saves a
# checkpoint and runs on; a second 2-rank job resumes from it and must end
# on the same parameters (ddp_checkpoint.c). Only rank 0 touches the files.
set -eu
mpi_run=$1 prog=$2
dir=$(mktemp -d /tmp/tapegrad-ckpt-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$mpi_run" 2 60 "$prog" save "$dir"
ls "$dir" | tr '\n' ' '; echo
"$mpi_run" 2 60 "$prog" resume "$dir"
echo OK
