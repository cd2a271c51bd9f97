/* tapegrad's benchmarks: ./build/bench/bench [WORKLOAD ...]
 *
 * Runs the named workloads (all by default) and prints a table, or JSON
 * lines when TAPEGRAD_JSON=1. With TAPEGRAD_PEER=path/to/torch_peer.py and
 * a /usr/bin/python3 that imports torch, each workload also runs PyTorch on
 * the same work. `./dev bench` sets both. Exit status: 0, or 2 for an
 * unknown workload name (a benchmark never fails). */
#include "bench.h"

#include <stdio.h>
#include <string.h>

typedef struct workload {
    const char *name;
    void (*run)(void);
    const char *what;
} workload;

static const workload workloads[] = {
    {"tape_ratio", bench_tape_ratio, "scalar tape gradient cost / plain C, n = 100000"},
    {"tiny_ops", bench_tiny_ops, "1000 ops on an 8-element f64 tensor, fwd + bwd"},
    {"gemm", bench_gemm, "every GEMM here (built-in per ISA, OpenBLAS, oneDNN) in GFLOP/s, 1 thread"},
    {"matmul", bench_matmul, "512x512 @ 512x512 fwd + bwd vs direct BLAS, f32 and f64"},
    {"hvp", bench_hvp, "Hessian-vector product of the tape_ratio f / plain C, n = 100000"},
    {"scalar_node_bytes", bench_scalar_node_bytes, "tape bytes per recorded scalar node"},
    {"scalar_moons", bench_scalar_moons, "micrograd's moons MLP step on scalar nodes vs 1326 ms"},
    {"mlp_step", bench_mlp_step, "MLP 784-256-128-10 SGD step, batch 128, vs torch and GEMM bound"},
    {"ddp_step", bench_ddp_step, "mlp_step data-parallel on 1 and 2 MPI ranks vs torch DDP (gloo)"},
    {"f32_math", bench_f32_math, "f32 exp, tanh, sigmoid, gelu on 10^6 elements, fwd and fwd + bwd"},
    {"conv_lenet", bench_conv_lenet, "LeNet's conv2d + max_pool2d layers, batch 64, fwd + bwd, 1 thread"},
    {"cnn_step", bench_cnn_step, "cnn_mnist's model training step, batch 64, vs torch (oneDNN Conv2d)"},
    {"lstm_step", bench_lstm_step, "char LSTM step, B 32, T 32, H 128, vs torch LSTMCell (and nn.LSTM)"},
    {"attention_step", bench_attention_step, "pre-LN transformer block step, B 16, T 64, d 64, 4 heads, vs torch"},
};
enum { NWORKLOADS = sizeof workloads / sizeof workloads[0] };

static void usage(FILE *out) {
    fprintf(out, "usage: bench [WORKLOAD ...]   (default: all)\nworkloads:\n");
    for (int i = 0; i < NWORKLOADS; i++)
        fprintf(out, "  %-18s %s\n", workloads[i].name, workloads[i].what);
    fprintf(out, "env: TAPEGRAD_JSON=1 for JSON lines; TAPEGRAD_PEER=bench/torch_peer.py for "
                 "PyTorch's figures\n");
}

int main(int argc, char **argv) {
    bool chosen[NWORKLOADS] = {false};
    bool any = false;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        int found = -1;
        for (int i = 0; i < NWORKLOADS; i++)
            if (strcmp(argv[a], workloads[i].name) == 0) found = i;
        if (found < 0) {
            fprintf(stderr, "bench: unknown workload '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
        chosen[found] = any = true;
    }
    bench_table_header();
    for (int i = 0; i < NWORKLOADS; i++)
        if (!any || chosen[i]) workloads[i].run();
    return 0;
}
