/* The file readers (nn_load, nn_csv_read, nn_idx_read, the .npy and
 * safetensors readers: all go through nn/fileio.c's one open) refuse what is
 * not a regular file without blocking: they opened a FIFO before checking
 * and waited forever for a writer. Each call runs under an alarm, so a hang
 * fails the test. */
#include "testutil.h"

#include <tapegrad/nn.h>
#include <tapegrad/nn_io.h>

#include "nn_testfiles.h"

#include <signal.h>
#include <sys/stat.h>

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_nn_fileio: a reader blocked on a FIFO (no answer in 10 s)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

#define REFUSED(call)                                                        \
    do {                                                                     \
        ck_assert_msg(!(call), "%s accepted it", #call);                     \
        ck_assert_msg(strstr(nn_last_error(), "not a regular file"), "%s: %s", #call, nn_last_error()); \
    } while (0)

/* Every reader on `path`: each must fail with NN_ERR_IO saying the path is
 * not a regular file, at once. */
static void assert_refused(const char *path) {
    signal(SIGALRM, on_alarm);
    nn_params *ps = nn_params_new();
    ag_tensor *p = ag_param_new(AG_F64, AG_SHAPE(2), NULL);
    alarm(10);
    REFUSED(nn_load(ps, path, NULL) == NN_OK);
    REFUSED(nn_csv_read(path, false, 0));
    REFUSED(nn_idx_read(path, 0));
    REFUSED(nn_npy_read(path, 0));
    REFUSED(nn_npy_load(p, path, 0) == NN_OK);
    /* Without Jansson the safetensors reader says so instead; either way it
     * returns at once. */
    ck_assert_int_ne(nn_load_safetensors(ps, path, NULL), NN_OK);
    alarm(0);
    ag_param_free(p);
    nn_params_free(ps);
}

START_TEST(readers_refuse_a_fifo) {
    char *dir = tf_mkdtemp();
    const char *fifo = tf_path(dir, "pipe", 0);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    assert_refused(fifo);
    tf_rmdir(dir);
}
END_TEST

START_TEST(readers_refuse_a_folder_and_a_device) {
    char *dir = tf_mkdtemp();
    assert_refused(dir);
    tf_rmdir(dir);
    assert_refused("/dev/null");
}
END_TEST

/* A regular file still reads, through the same open. */
START_TEST(regular_files_still_read) {
    char *dir = tf_mkdtemp();
    const char *csv = tf_path(dir, "a.csv", 0);
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fputs("1,2\n3,4\n", f);
    fclose(f);
    nn_csv *c = nn_csv_read(csv, false, 0);
    ck_assert_ptr_nonnull(c);
    nn_csv_free(c);
    tf_rmdir(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn_fileio");
    TCase *tc = tcase_create("nn_fileio");
    tcase_add_test(tc, readers_refuse_a_fifo);
    tcase_add_test(tc, readers_refuse_a_folder_and_a_device);
    tcase_add_test(tc, regular_files_still_read);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
