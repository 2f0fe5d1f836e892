/* daemonctx: command dispatch. */
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_error("missing command: start, run, stop, status or reopen");
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "start") == 0)
        return cmd_start(argc - 1, argv + 1);
    if (strcmp(cmd, "stop") == 0)
        return cmd_stop(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "reopen") == 0)
        return cmd_reopen(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return print_help();
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0)
        return print_version();
    if (cmd[0] == '-')
        usage_error("unknown option '%s' before the command", cmd);
    else
        usage_error("unknown command '%s'", cmd);
    return EXIT_USAGE;
}
