#!/usr/bin/env bash
# test_ddp_fail.sh MPI_RUN DDP_FAIL: for each way one rank can fail
# (ddp_fail.c), the 2-rank job must end with a non-zero status, a message
# naming the failure, and well before mpirun's 60-second timeout.
set -u
mpi_run=$1 prog=$2
limit=60 failures=0
check() { # mode, then the text the output must hold
    local mode=$1 want=$2 out rc t0 ms
    t0=$(date +%s%N)
    out=$("$mpi_run" 2 "$limit" "$prog" "$mode" 2>&1)
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    local secs="$((ms / 1000)).$(printf '%03d' $((ms % 1000)))" ok=1
    [ $rc -ne 0 ] || ok=0
    echo "$out" | grep -q -- "$want" || ok=0
    echo "$out" | grep -qi "timeout\|timed out" && ok=0
    [ $ms -lt $(((limit - 10) * 1000)) ] || ok=0
    if [ $ok -eq 1 ]; then
        printf 'ok    %-6s job ended in %6s s, exit status %d, output has "%s"\n' "$mode" "$secs" $rc "$want"
    else
        printf 'FAIL  %-6s after %s s, exit status %d, want "%s"; output:\n%s\n' "$mode" "$secs" $rc "$want" "$out"
        failures=$((failures + 1))
    fi
}
check error "tapegrad ddp: rank 1 of 2: linear: x \[4, 2\] does not fit"
check error "MPI_ABORT was invoked on rank 1"
check exit "exited with non-zero status\|returned a non-zero exit code"
check exit0 "exiting improperly\|exited improperly\|without calling"
check kill "signal 9"
[ $failures -eq 0 ] && echo "OK" || echo "FAIL: $failures"
[ $failures -eq 0 ]
