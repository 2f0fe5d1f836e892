/*
 * hostile-probe - the library's pidfile API on one path, for the hostile
 * input tests (dcx-helper covers daemonctx_open; this covers the pidfile
 * object alone, and the opt-in the CLI does not offer).
 *
 *   hostile-probe acquire PATH [--allow-shared]
 *       daemonctx_pidfile_acquire(): "acquired PID" and exit 0 (the file is
 *       then released, which removes it); on failure "STEP: MESSAGE" on
 *       stderr, "error ERRNUM RC" on stdout, exit 1
 *   hostile-probe inspect PATH
 *       daemonctx_pidfile_inspect(): "state STATE pid PID", exit 0; on
 *       failure as above
 */
#include "daemonctx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int failed(const daemonctx_error *err, int rc)
{
    fprintf(stderr, "%s: %s\n", daemonctx_step_name(err->step), err->message);
    printf("error %d %d\n", err->errnum, rc);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: hostile-probe acquire|inspect PATH [--allow-shared]\n");
        return 64;
    }
    daemonctx_error err;
    memset(&err, 0, sizeof err);
    if (strcmp(argv[1], "inspect") == 0) {
        pid_t pid = -1;
        int r = daemonctx_pidfile_inspect(argv[2], &pid, &err);
        if (r < 0)
            return failed(&err, r);
        printf("state %d pid %d\n", r, (int)pid);
        return 0;
    }
    if (strcmp(argv[1], "acquire") != 0)
        return 64;
    daemonctx_pidfile *pf = daemonctx_pidfile_new(argv[2]);
    if (!pf) {
        int e = errno;
        fprintf(stderr, "pidfile: daemonctx_pidfile_new: %s\n", strerror(e));
        printf("error %d %d\n", e, -e);
        return 1;
    }
    if (argc > 3 && strcmp(argv[3], "--allow-shared") == 0)
        (void)daemonctx_pidfile_allow_shared_directory(pf, true);
    int r = daemonctx_pidfile_acquire(pf, &err);
    if (r < 0) {
        daemonctx_pidfile_free(pf);
        return failed(&err, r);
    }
    printf("acquired %d\n", (int)getpid());
    daemonctx_pidfile_free(pf);
    return 0;
}
