/* An outside program: acquires and releases a pidfile through the installed
 * library, then prints the library version. */
#include <daemonctx.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    daemonctx_error err;
    pid_t pid;
    if (argc != 2)
        return 2;
    daemonctx_pidfile *pf = daemonctx_pidfile_new(argv[1]);
    if (!pf || daemonctx_pidfile_acquire(pf, &err) < 0)
        return 1;
    if (daemonctx_pidfile_inspect(argv[1], &pid, &err) != DAEMONCTX_PIDFILE_RUNNING)
        return 1;
    daemonctx_pidfile_free(pf);
    printf("%s ok\n", daemonctx_version());
    return 0;
}
