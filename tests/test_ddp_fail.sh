#!/usr/bin/env bash
# test_ddp_fail.sh MPI_RUN DDP_FAIL: for each way one rank can fail
# (ddp_fail.c), the 2-rank job must end well before mpirun's 60-second
# timeout, with the failing rank's exit status and its message. mpirun's
# own explanation ("MPI_ABORT was invoked on rank 1", "exited on signal
# 9", ...) is shown when it came: Open MPI 4.1 sometimes loses it
# ("ORTE_ERROR_LOG: Data unpack would read past end of buffer" instead).
set -u
mpi_run=$1 prog=$2
limit=60 failures=0
check() { # mode, the exit status wanted, the text the output must hold
    local mode=$1 want_rc=$2 want=$3 out rc t0 ms
    t0=$(date +%s%N)
    out=$("$mpi_run" 2 "$limit" "$prog" "$mode" 2>&1)
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    local secs="$((ms / 1000)).$(printf '%03d' $((ms % 1000)))" ok=1
    [ "$rc" -eq "$want_rc" ] || ok=0
    echo "$out" | grep -q -- "$want" || ok=0
    echo "$out" | grep -qi "time limit\|timeout" && ok=0
    [ $ms -lt $(((limit - 10) * 1000)) ] || ok=0
    local said
    said=$(echo "$out" | grep -E -m1 "MPI_ABORT was invoked|non-zero|improperly|signal 9|ORTE_ERROR_LOG" | sed 's/^ *//')
    if [ $ok -eq 1 ]; then
        printf 'ok    %-6s job ended in %6s s, exit status %d, "%s"; mpirun: "%s"\n' "$mode" "$secs" $rc "$want" "$said"
    else
        printf 'FAIL  %-6s after %s s, exit status %d (want %d), want "%s"; output:\n%s\n' "$mode" "$secs" $rc \
            "$want_rc" "$want" "$out"
        failures=$((failures + 1))
    fi
}
check error 3 "tapegrad ddp: rank 1 of 2: linear: x \[4, 2\] does not fit"
check exit 4 "rank 1 fails at step 3 (exit)"
check exit0 1 "rank 1 fails at step 3 (exit0)"
check kill 137 "rank 1 fails at step 3 (kill)"
[ $failures -eq 0 ] && echo "OK" || echo "FAIL: $failures"
[ $failures -eq 0 ]
