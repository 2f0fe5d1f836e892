/*
 * fuzz_start_options - `daemonctx start`'s command line, parse_start_options
 * (src/cli/options.c), fed NUL-separated arguments.
 *
 * Properties: it returns 0, 1 (help), -1 (usage error) or -2; on success the
 * options obey daemonctx(1): a PROGRAM that is not empty, a umask <= 0777,
 * --keep-fd values >= 0 and unique, --ready=fd:N with N >= 3, restart
 * delays ordered, --syslog and --restart only with --supervise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_argv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_argv a;
    if (fuzz_argv_make(&a, "start", data, size) < 0)
        return 0;
    struct start_opts o;
    int r = parse_start_options(a.argc, a.argv, &o);
    if (r < -2 || r > 1)
        abort();
    if (r == 0) {
        if (!o.argv || !o.argv[0] || !o.argv[0][0])
            abort();
        if (o.umask > 0777)
            abort();
        for (size_t i = 0; i < o.n_keep; i++) {
            if (o.keep_fds[i] < 0)
                abort();
            for (size_t j = 0; j < i; j++)
                if (o.keep_fds[j] == o.keep_fds[i])
                    abort();
        }
        if (o.ready == READY_FD && o.ready_fd < 3)
            abort();
        if (o.restart_max_ms < o.restart_delay_ms || o.restart_delay_ms == 0)
            abort();
        if ((o.syslog || o.restart) && !o.supervise)
            abort();
        if (sigismember(&o.ignore, SIGKILL) == 1 || sigismember(&o.ignore, SIGSTOP) == 1)
            abort();
    }
    free_start_options(&o);
    free(a.buf);
    return 0;
}
