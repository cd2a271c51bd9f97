/* Test hooks of nn/, for the test suites only. Not installed, not part of
 * the public API. */
#ifndef TAPEGRAD_NN_TESTING_H
#define TAPEGRAD_NN_TESTING_H

#include <tapegrad/nn_io.h>

#include <stddef.h>
#include <stdint.h>

/* Makes every atomic file write in this thread (nn_save, nn_idx_write) fail
 * as if the disk filled up once `bytes` bytes have been written to the
 * temporary file; a negative value turns the hook off (the default). */
void nn__test_fail_writes_after(int64_t bytes);

/* The file readers on bytes in memory, for the fuzz targets: each is the
 * public reader after it has read the file, with `path` used only in
 * messages. */
nn_status nn__load_buffer(nn_params *ps, const char *path, const unsigned char *buf, size_t len,
                          const nn_load_opts *opts);
nn_status nn__load_safetensors_buffer(nn_params *ps, const char *path, const unsigned char *buf, size_t len,
                                      const nn_safetensors_opts *opts);
nn_array *nn__npy_parse(const char *path, const unsigned char *buf, size_t len, size_t max_bytes);
nn_status nn__npy_load_buffer(ag_tensor *p, const char *path, const unsigned char *buf, size_t len);
nn_idx *nn__idx_parse(const char *path, const unsigned char *buf, size_t len, size_t max_bytes);

#endif
