/* tapegrad nn layers beyond the MLP: convolution and pooling,
 * normalisation, embedding, recurrent cells and their sequence runner,
 * multi-head self-attention and a pre-LN transformer block.
 *
 * Like the layers of nn.h, every one is a composition of engine ops
 * recorded on the tape (layer norm from ag_mean and ag_var, attention from
 * ag_matmul and ag_softmax, ...): the backward comes from the sweep, and
 * the layers differentiate twice. Errors are the tape's sticky error, as
 * for an engine op (a NULL input returns NULL keeping the first error);
 * constructors return NULL with nn_last_error() and register nothing when
 * an argument is bad.
 *
 * Names, layouts and initialisation follow PyTorch's modules, so a model
 * exchanges weights with PyTorch (nn_io.h, NN_LAYOUT_PYTORCH) and a model
 * ported from PyTorch starts alike: each constructor says which module it
 * mirrors, its parameter names and the initialisation it copies. Where a
 * weight is held here as (in, out) for x @ W, it declares PyTorch's
 * (out, in) with nn_params_set_torch_layout.
 *
 * Shapes are written (B, T, E): batch, time (sequence position), features.
 */
#ifndef TAPEGRAD_NN_LAYERS_H
#define TAPEGRAD_NN_LAYERS_H

#include <tapegrad/nn.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------- convolution and pooling
 *
 * Layouts are PyTorch's (NCHW; weights (out, in / groups, kh, kw)), so
 * these weights exchange with PyTorch as they are. The options are the
 * engine's (ag_conv2d_opts, ag_conv1d_opts, ag_pool2d_opts in autograd.h;
 * NULL for the defaults). */

/* torch.nn.Conv2d(in, out, (kh, kw), stride, padding, dilation, groups,
 * bias): "<prefix>.weight" (out, in / groups, kh, kw) and "<prefix>.bias"
 * (out), both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in =
 * in / groups · kh · kw, which is PyTorch's kaiming_uniform(a = sqrt(5))
 * and its bias rule. Its nn_forward is ag_conv2d: x (N, in, H, W) ->
 * (N, out, OH, OW). in and out must be multiples of the groups. */
nn_module *nn_conv2d_new(nn_params *ps, const char *prefix, int64_t in, int64_t out, int64_t kh, int64_t kw,
                         const ag_conv2d_opts *opts, bool bias, ag_dtype dtype, ag_rng *rng);

/* torch.nn.Conv1d(in, out, k, ...): "<prefix>.weight" (out, in / groups,
 * k) and "<prefix>.bias" (out), initialised as Conv2d's (fan_in =
 * in / groups · k); forward ag_conv1d: x (N, in, L) -> (N, out, OL). */
nn_module *nn_conv1d_new(nn_params *ps, const char *prefix, int64_t in, int64_t out, int64_t k,
                         const ag_conv1d_opts *opts, bool bias, ag_dtype dtype, ag_rng *rng);

/* torch.nn.MaxPool2d and AvgPool2d: ag_max_pool2d / ag_avg_pool2d with
 * these options (the kernel is required; the stride defaults to it). */
nn_module *nn_max_pool2d_new(const ag_pool2d_opts *opts);
nn_module *nn_avg_pool2d_new(const ag_pool2d_opts *opts);

/* torch.nn.Flatten(): x (N, ...) -> (N, product of the rest). */
nn_module *nn_flatten_new(void);

/* torch.nn.Unflatten(1, shape): x (N, product of shape) -> (N, shape...),
 * e.g. MNIST's rows of 784 pixels as (N, 1, 28, 28) images. ndim from 1 to
 * AG_MAX_DIMS - 1, every size >= 1 (the shape is copied). */
nn_module *nn_unflatten_new(int ndim, const int64_t *shape);

/* --------------------------------------------------------- normalisation */

/* PyTorch's eps of LayerNorm and BatchNorm. */
#define NN_NORM_EPS 1e-5

/* Layer normalisation over the last `axes` axes of x (1 <= axes <= ndim):
 *   y = (x - mean) / sqrt(var + eps) · w + b
 * with the mean and the biased variance (ag_var, correction 0) over those
 * axes, as torch.nn.functional.layer_norm. w and b (may be NULL) have the
 * shape of those axes. */
ag_tensor *nn_layer_norm(ag_tape *t, ag_tensor *x, int axes, ag_tensor *w, ag_tensor *b, double eps);

/* torch.nn.LayerNorm(shape, eps, elementwise_affine): normalises over the
 * trailing ndim axes of its input, which must equal shape. With `affine`,
 * "<prefix>.weight" (ones) and "<prefix>.bias" (zeros) of that shape. */
nn_module *nn_layer_norm_new(nn_params *ps, const char *prefix, int ndim, const int64_t *shape,
                             bool affine, double eps, ag_dtype dtype);

/* Batch normalisation, torch.nn.BatchNorm1d (x (N, C) or (N, C, L)) and
 * BatchNorm2d (x (N, C, H, W)), one statistic per channel C over every other
 * axis:
 *   training: y = (x - mean) / sqrt(var + eps) · w + b with the batch's
 *             mean and biased variance (from ag_mean and ag_var), and the
 *             running statistics updated, outside the tape:
 *               running_mean = (1 - momentum)·running_mean + momentum·mean
 *               running_var  = (1 - momentum)·running_var + momentum·var·n/(n-1)
 *             (the unbiased variance, n the count per channel), and
 *             num_batches_tracked += 1;
 *   evaluation: the same formula with running_mean and running_var as
 *             constants (no gradient flows into them).
 * Registers "<prefix>.weight" (ones) and "<prefix>.bias" (zeros) (C) when
 * `affine`, and the buffers "<prefix>.running_mean" (zeros),
 * "<prefix>.running_var" (ones) and "<prefix>.num_batches_tracked" (0-d,
 * a count kept in the layer's dtype), which are saved with the model and
 * never trained (see nn_params_create_buffer). PyTorch's defaults: eps
 * NN_NORM_EPS, momentum 0.1. The mode is the module's (nn_module_set_training);
 * a training batch needs more than one value per channel (else
 * AG_ERR_SHAPE, as PyTorch refuses it). */
nn_module *nn_batch_norm1d_new(nn_params *ps, const char *prefix, int64_t channels, double eps,
                               double momentum, bool affine, ag_dtype dtype);
nn_module *nn_batch_norm2d_new(nn_params *ps, const char *prefix, int64_t channels, double eps,
                               double momentum, bool affine, ag_dtype dtype);

/* ------------------------------------------------------------- embedding */

/* Rows of the table w (num, dim) picked by idx[0..n-1] -> (n, dim), from
 * ag_index_select (rows picked twice sum their gradients). */
ag_tensor *nn_embedding(ag_tape *t, ag_tensor *w, int64_t n, const int64_t *idx);

/* torch.nn.Embedding(num, dim): "<prefix>.weight" (num, dim), initialised
 * N(0, 1) as PyTorch does. Its nn_forward takes a tensor of indices stored
 * as numbers (each an integer in [0, num)) of any shape S and gives
 * (S..., dim); nn_embedding_lookup takes them as int64. */
nn_module *nn_embedding_new(nn_params *ps, const char *prefix, int64_t num, int64_t dim,
                            ag_dtype dtype, ag_rng *rng);

/* The embedding of the int64 indices idx of shape (ndim, shape), each in
 * [0, num): (shape..., dim). A bad index is AG_ERR_AXIS naming it. */
ag_tensor *nn_embedding_lookup(nn_module *m, ag_tape *t, int ndim, const int64_t *shape,
                               const int64_t *idx);

/* ------------------------------------------------------------- recurrent
 *
 * A cell is one time step, a module made by nn_lstm_cell_new or
 * nn_gru_cell_new; nn_rnn_run unrolls it over the T steps of a sequence
 * (the backward then runs through all of them: backpropagation through
 * time). Gates follow PyTorch:
 *
 *   LSTM: i, f, g, o = split(x @ W_ih + b_ih + h @ W_hh + b_hh, 4)
 *         c' = sigmoid(f)·c + sigmoid(i)·tanh(g);  h' = sigmoid(o)·tanh(c')
 *   GRU:  r, z, n from x @ W_ih + b_ih (a) and h @ W_hh + b_hh (b), each
 *         split in 3:  r = sigmoid(a_r + b_r), z = sigmoid(a_z + b_z),
 *         n = tanh(a_n + r·b_n);  h' = (1 - z)·n + z·h
 *
 * W_ih is (I, G·H) and W_hh (H, G·H) here, with G = 4 (LSTM) or 3 (GRU) gate
 * blocks in PyTorch's order (i, f, g, o and r, z, n); PyTorch holds their
 * transposes (G·H, I) and (G·H, H), declared as their PyTorch layout. Every
 * weight and bias is initialised U(-1/sqrt(H), 1/sqrt(H)), as PyTorch's.
 *
 * Carrying the state across ag_tape_reset (truncated backpropagation
 * through time): a state tensor lives on the tape and dies with the reset,
 * and so does ag_detach's result, which shares the tape memory of the
 * tensor it detaches. Keep it in a parameter or a buffer instead: after
 * ag_backward, nn_assign(kept_h, final.h) (and kept_c), reset, and start
 * the next window from a tape copy of it,
 *   init.h = ag_tensor_new(t, dtype, 2, ag_shape(kept_h), ag_data(kept_h));
 * (a constant: the gradient stops at the window's start). Assign only
 * after the backward: the recorded window still reads its initial state. */

typedef struct nn_rnn_state {
    ag_tensor *h; /* (B, H) */
    ag_tensor *c; /* (B, H), LSTM only (NULL for a GRU) */
} nn_rnn_state;

/* torch.nn.LSTMCell(in, hidden, bias) and torch.nn.GRUCell: parameters
 * "<prefix>.weight_ih", "<prefix>.weight_hh" and, with bias,
 * "<prefix>.bias_ih", "<prefix>.bias_hh". Its nn_forward is one step from
 * the zero state: x (B, in) -> h' (B, hidden). */
nn_module *nn_lstm_cell_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias,
                            ag_dtype dtype, ag_rng *rng);
nn_module *nn_gru_cell_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias,
                           ag_dtype dtype, ag_rng *rng);

/* A one-layer torch.nn.LSTM(in, hidden, bias, batch_first=True) and
 * torch.nn.GRU: the cell above named as those modules name it
 * ("<prefix>.weight_ih_l0", "<prefix>.weight_hh_l0", "<prefix>.bias_ih_l0",
 * "<prefix>.bias_hh_l0"). Its nn_forward runs the sequence from the zero
 * state: x (B, T, in) -> (B, T, hidden); nn_rnn_run and nn_cell_step take
 * it as they take a cell. */
nn_module *nn_lstm_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias,
                       ag_dtype dtype, ag_rng *rng);
nn_module *nn_gru_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias,
                      ag_dtype dtype, ag_rng *rng);

/* The hidden size of a cell (or LSTM/GRU module), 0 for anything else. */
int64_t nn_rnn_hidden(const nn_module *cell);

/* One step of `cell`: x (B, in) and the state s (NULL, or NULL members:
 * zeros) -> the new state in *out; returns out->h. */
ag_tensor *nn_cell_step(nn_module *cell, ag_tape *t, ag_tensor *x, const nn_rnn_state *s,
                        nn_rnn_state *out);

/* The sequence runner: x (B, T, in) through T steps of `cell` from `init`
 * (NULL or NULL members: zeros) -> the outputs h_1..h_T stacked as
 * (B, T, hidden); the last state goes to *final when it is not NULL. The
 * input projection x @ W_ih + b_ih of all T steps is one matrix product;
 * each step then adds h @ W_hh + b_hh. */
ag_tensor *nn_rnn_run(nn_module *cell, ag_tape *t, ag_tensor *x, const nn_rnn_state *init,
                      nn_rnn_state *final);

/* Copies x's values into the parameter or buffer p (same dtype and shape),
 * through ag_data_mut: how a value outlives ag_tape_reset (a recurrent
 * state between windows). NN_ERR_ARG when they do not fit. */
nn_status nn_assign(ag_tensor *p, const ag_tensor *x);

/* ------------------------------------------------------------- attention */

/* Multi-head self-attention on x (B, T, E) with `heads` heads of
 * D = E / heads features, as torch.nn.MultiheadAttention(E, heads,
 * batch_first=True) called with query = key = value = x:
 *   q, k, v = split(x @ w_in + b_in, 3)         w_in (E, 3E), b_in (3E)
 *   per head: softmax(q kᵀ / sqrt(D) + mask) v   (B, heads, T, D)
 *   y = concat(heads) @ w_out + b_out           w_out (E, E), b_out (E)
 * The causal mask hides from each position the positions after it
 * (PyTorch's attn_mask = torch.triu(full(-inf), 1)): it adds -1e30 there,
 * which softmax turns into exactly 0 as it does -inf, while anomaly mode
 * (which refuses infinities) stays usable. b_in and b_out may be NULL. */
ag_tensor *nn_self_attention(ag_tape *t, ag_tensor *x, int64_t heads, bool causal, ag_tensor *w_in,
                             ag_tensor *b_in, ag_tensor *w_out, ag_tensor *b_out);

/* torch.nn.MultiheadAttention(E, heads, bias): "<prefix>.in_proj_weight"
 * (E, 3E) here, (3E, E) in PyTorch, Xavier uniform; "<prefix>.in_proj_bias"
 * (3E) zeros; "<prefix>.out_proj.weight" (E, E), transposed in PyTorch,
 * U(-1/sqrt(E), 1/sqrt(E)) as a Linear's; "<prefix>.out_proj.bias" zeros.
 * Its nn_forward is nn_self_attention, causal or not as built. E must be a
 * multiple of heads. */
nn_module *nn_self_attention_new(nn_params *ps, const char *prefix, int64_t embed, int64_t heads,
                                 bool causal, bool bias, ag_dtype dtype, ag_rng *rng);

/* A pre-LN transformer block on x (B, T, E):
 *   x = x + attention(layer_norm1(x));  y = x + W2·gelu(W1·layer_norm2(x))
 * as torch.nn.TransformerEncoderLayer(E, heads, ff, dropout=0,
 * activation="gelu", batch_first=True, norm_first=True) with, when causal,
 * the causal mask as src_mask; the same parameter names:
 * "<prefix>.self_attn.*" (as nn_self_attention_new), "<prefix>.linear1"
 * (E -> ff) and "<prefix>.linear2" (ff -> E) (as nn_linear_new),
 * "<prefix>.norm1" and "<prefix>.norm2" (as nn_layer_norm_new, eps 1e-5). */
nn_module *nn_transformer_block_new(nn_params *ps, const char *prefix, int64_t embed, int64_t heads,
                                    int64_t ff, bool causal, ag_dtype dtype, ag_rng *rng);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_NN_LAYERS_H */
