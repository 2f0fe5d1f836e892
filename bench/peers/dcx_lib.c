/* daemonctx's library through its public API: pidfile, umask 022, open, pause(). */
#include <daemonctx.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    daemonctx_pidfile *pf = daemonctx_pidfile_new(argv[1]);
    daemonctx *ctx = daemonctx_new();
    if (!pf || !ctx)
        return 1;
    daemonctx_set_pidfile(ctx, pf);
    daemonctx_set_umask(ctx, 022);
    daemonctx_error err;
    if (daemonctx_open(ctx, &err) < 0) {
        fprintf(stderr, "dcx_lib: %s: %s\n", daemonctx_step_name(err.step), err.message);
        return 1;
    }
    for (;;)
        pause();
}
