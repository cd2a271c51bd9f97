/* Test hooks of nn/, for the test suites only. Not installed, not part of
 * the public API. */
#ifndef TAPEGRAD_NN_TESTING_H
#define TAPEGRAD_NN_TESTING_H

#include <stdint.h>

/* Makes every atomic file write in this thread (nn_save, nn_idx_write) fail
 * as if the disk filled up once `bytes` bytes have been written to the
 * temporary file; a negative value turns the hook off (the default). */
void nn__test_fail_writes_after(int64_t bytes);

#endif
