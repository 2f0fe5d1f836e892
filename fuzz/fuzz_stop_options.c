/*
 * fuzz_stop_options - `daemonctx stop`'s command line and --retry schedules
 * (parse_stop_options and parse_schedule are static in src/cli/stop.c: the
 * file is included here, unchanged).
 *
 * Properties: a schedule has 1 to SCHEDULE_MAX steps, each a signal from 1
 * to NSIG-1 or a wait, at least one signal (a wait may come first, as with
 * start-stop-daemon); without --retry it is SIG/
 * timeout/KILL/5 (SIG/timeout for KILL itself); a pidfile is required.
 */
#include "../src/cli/stop.c"

#include <stdlib.h>

#include "fuzz_argv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_argv a;
    if (fuzz_argv_make(&a, "stop", data, size) < 0)
        return 0;
    struct stop_opts so;
    int r = parse_stop_options(a.argc, a.argv, &so);
    if (r == 0) {
        if (!so.path || so.n == 0 || so.n > SCHEDULE_MAX)
            abort();
        bool any = false;
        for (size_t i = 0; i < so.n; i++) {
            if (so.schedule[i].signo < 0 || so.schedule[i].signo >= NSIG)
                abort();
            any |= so.schedule[i].signo > 0;
        }
        if (!any)
            abort();
    }
    free(a.buf);
    return 0;
}
