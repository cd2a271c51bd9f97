#!/usr/bin/env bash
# mpi_run.sh NP SECONDS PROGRAM [ARGS...]: runs PROGRAM on NP ranks of this
# machine under Open MPI's mpirun, which ends the whole job after SECONDS
# (and `timeout` a little later, should mpirun itself hang). The options
# and environment are the ones a test needs in a container or CI:
#   --oversubscribe        more ranks than free cores (2 ranks on a busy 2-core machine)
#   --allow-run-as-root    CI runs as root, which mpirun refuses otherwise
#   --bind-to none         no pinning: the machine is shared
#   btl self,vader         shared memory between the ranks only (no network probing)
#   vader single copy none no CMA (process_vm_readv), which containers often forbid
#   yield when idle        a waiting rank gives its core away instead of spinning on it,
#                          which on a loaded machine lets the rank it waits for run
set -u
np=$1 seconds=$2
shift 2
args=(--oversubscribe --bind-to none --timeout "$seconds" -np "$np")
[ "$(id -u)" -eq 0 ] && args=(--allow-run-as-root "${args[@]}")
export OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_pml=ob1
export OMPI_MCA_mpi_yield_when_idle=1
exec timeout -k 5 $((seconds + 15)) mpirun "${args[@]}" "$@"
