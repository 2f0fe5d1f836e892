/* `daemonctx run`: PROGRAM in the foreground, as our child, with start's
 * clean context and options but no detach; we are its supervisor (signals,
 * readiness, restarts, output files) and, as PID 1 or with --subreaper, a
 * correct init (init.c). The launch is start's (start.c). */
#include "cli.h"

int cmd_run(int argc, char **argv)
{
    return launch_command(argc, argv, true);
}
