/* Core dump prevention and the file creation mask. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "internal.h"

int dcx_prevent_core(const daemonctx *ctx, daemonctx_error *err)
{
    /* A core limit of the caller's own (daemonctx_set_rlimit) replaces it. */
    if (!ctx->prevent_core || ctx->rlimits[RLIMIT_CORE].set)
        return 0;
    /* Both limits: with only the soft one at 0 the daemon (or anything it
     * runs) could raise it again and dump memory that held secrets. */
    const struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_CORE, errno, "cannot set RLIMIT_CORE to 0: %m");
    return 0;
}

void dcx_set_umask(const daemonctx *ctx)
{
    umask(ctx->umask);
}
