/* torch_export: train a small MLP in tapegrad and hand it to PyTorch. The
 * weights go to a safetensors file in PyTorch's layout and names, the batch
 * to .npy files, so that
 *
 *   model = torch.nn.Sequential(Linear(2, 8), Tanh(), Linear(8, 1))
 *   model.load_state_dict(...)
 *
 * gives the loss printed here (the README's "Exchanging weights with
 * PyTorch and NumPy" runs this and its Python side). Then it reads the file
 * back into a fresh model, as a PyTorch-trained model would come in.
 *
 *   torch_export [--out DIR]     writes DIR/mlp.safetensors, DIR/x.npy, DIR/y.npy
 *
 * OK (exit status 0) when the loss is below 0.01 and the file reads back to
 * the same loss. */
#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>
#include <tapegrad/nn_io.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define B 64

static double mse_on(nn_module *m, ag_tape *t, ag_tensor *x, ag_tensor *y) {
    ag_tensor *loss = nn_mse_loss(t, nn_forward(m, t, x), y, NN_MEAN);
    return loss ? ag_item(loss) : -1;
}

int main(int argc, char **argv) {
    const char *dir = argc == 3 && strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
    char file[1024];
    /* A batch: y = x0·x1 at 64 points of [-1, 1]². */
    float xs[B * 2], ys[B];
    ag_rng r;
    ag_rng_seed(&r, 1);
    for (int i = 0; i < B; i++) {
        xs[2 * i] = (float)(2 * ag_rng_uniform(&r) - 1);
        xs[2 * i + 1] = (float)(2 * ag_rng_uniform(&r) - 1);
        ys[i] = xs[2 * i] * xs[2 * i + 1];
    }
    ag_tape *t = ag_tape_new(0);
    nn_params *ps = nn_params_new();
    nn_module *mlp = nn_mlp_new(ps, "mlp", 3, (int64_t[]){2, 8, 1}, NN_TANH, AG_F32, &r);
    nn_optim_opts adam = nn_adam_opts(0.02);
    nn_optim *opt = nn_optim_new(ps, &adam);
    ag_tensor *x = ag_tensor_new(t, AG_F32, AG_SHAPE(B, 2), xs), *y = ag_tensor_new(t, AG_F32, AG_SHAPE(B, 1), ys);
    for (int step = 0; step < 300; step++) {
        nn_optim_zero_grad(opt);
        ag_backward(t, nn_mse_loss(t, nn_forward(mlp, t, x), y, NN_MEAN));
        nn_optim_step(opt);
        ag_tape_reset(t);
        x = ag_tensor_new(t, AG_F32, AG_SHAPE(B, 2), xs), y = ag_tensor_new(t, AG_F32, AG_SHAPE(B, 1), ys);
    }
    double loss = mse_on(mlp, t, x, y);
    printf("loss %.7f\n", loss);

    /* README: begin */
    /* tapegrad's "mlp.0" and "mlp.1" are torch.nn.Sequential's "0" and "2"
     * (its "1" is the Tanh); Linear weights are written as PyTorch's (out, in). */
    const nn_rename names[] = {{"mlp.0.", "0."}, {"mlp.1.", "2."}};
    nn_safetensors_opts torch = {.layout = NN_LAYOUT_PYTORCH, .renames = names, .n_renames = 2};
    snprintf(file, sizeof file, "%s/mlp.safetensors", dir);
    if (nn_save_safetensors(ps, file, &torch) != NN_OK) return fprintf(stderr, "%s\n", nn_last_error()), 1;
    snprintf(file, sizeof file, "%s/x.npy", dir);
    nn_npy_save(file, x); /* the batch, for NumPy and PyTorch */
    snprintf(file, sizeof file, "%s/y.npy", dir);
    nn_npy_save(file, y);

    /* And back, as a model trained in PyTorch comes in: same options. */
    nn_params *ps2 = nn_params_new();
    nn_module *mlp2 = nn_mlp_new(ps2, "mlp", 3, (int64_t[]){2, 8, 1}, NN_TANH, AG_F32, &r);
    snprintf(file, sizeof file, "%s/mlp.safetensors", dir);
    if (nn_load_safetensors(ps2, file, &torch) != NN_OK) return fprintf(stderr, "%s\n", nn_last_error()), 1;
    /* README: end */

    double back = mse_on(mlp2, t, x, y);
    printf("read back: loss %.7f\n", back);
    nn_module_free(mlp2);
    nn_params_free(ps2);
    nn_optim_free(opt);
    nn_module_free(mlp);
    nn_params_free(ps);
    ag_tape_free(t);
    bool ok = back == loss && loss < 0.01;
    printf("%s: the model %s, and read back %s\n", ok ? "OK" : "FAIL", loss < 0.01 ? "learned x0·x1" : "did not learn",
           back == loss ? "to the same loss" : "to another loss");
    return ok ? 0 : 1;
}
