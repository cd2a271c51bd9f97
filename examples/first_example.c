#include <tapegrad/autograd.h>
static ag_tensor *f(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx; return ag_exp(t, ag_square(t, x[0]));              /* e^(x^2) */
}
int main(void) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.5));
    ag_backward(t, f(t, &x, NULL));
    printf("f'(0.5) = %.12f, 2x e^(x^2) = 1.284025416688\n", ag_grad_item(x));
    ag_gradcheck_report r;
    bool ok = ag_gradcheck(f, NULL, 1, &x, NULL, &r);
    ag_gradcheck_print(stdout, &r);
    ag_tape_free(t);
    return ok ? 0 : 1;
}
