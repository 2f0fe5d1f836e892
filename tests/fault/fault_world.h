/*
 * fault_world.h - one start of the CLI or of dcx-helper under the fault
 * shim, and the verdict on what it left.
 *
 * A "world" is a temporary directory with a bystander daemon (an unrelated
 * instance on its own pidfile, which no failed start may touch), the pidfile
 * of the start under test, a jail holding the static PROGRAM, and the fault
 * channel. A "config" is one way of starting (plain, as nobody in a jail,
 * supervised, readiness through a notify socket or an fd, the library's exec).
 */
#ifndef DCX_FAULT_WORLD_H
#define DCX_FAULT_WORLD_H

#include "cli_common.h"
#include "fault_chan.h"

enum fw_kind { FW_CLI, FW_LIB };

enum fw_config {
    FW_PLAIN,     /* start -p P -- prog                  | --detach=yes --pidfile=P */
    FW_JAIL_USER, /* as nobody, in a jail, output files  | --uid --gid --chroot    */
    FW_SUPERVISE, /* --supervise                         | (no library variant)    */
    FW_NOTIFY,    /* --ready=notify                      | --ready-mode=notify --exec prog */
    FW_READY_FD,  /* --ready=fd:4                        | (no library variant)    */
    FW_CONFIG_COUNT
};

typedef struct fw_world {
    enum fw_kind kind;
    const char *dir;
    const char *pidfile;
    const char *jail;
    const char *out, *err;
    pid_t bystander;
    const char *bystander_pidfile;
    tu_snap bystander_snap;
    fault_chan ch;
    /* a stale pidfile there before the start (unlocked): a failed start
     * may remove it or leave it as it was */
    tu_snap stale_snap;
    /* a start still running at the deadline is killed and judged (timed_out)
     * instead of failing the test */
    bool soft_timeouts;
    /* a running instance on the same pidfile (faults_never_touch...) */
    pid_t instance;
    tu_snap instance_snap;
} fw_world;

void fw_init(fw_world *w, enum fw_kind kind);
/* Start a daemon of the CLI on W's own pidfile: every start then meets it. */
void fw_add_instance(fw_world *w);
/* Put a stale pidfile (CONTENT, MODE) where the start will look. */
void fw_add_stale(fw_world *w, const char *content, mode_t mode);
bool fw_config_needs_root(enum fw_config cfg);
bool fw_config_exists(enum fw_kind kind, enum fw_config cfg);
const char *fw_config_name(enum fw_config cfg);
void fw_build(const fw_world *w, enum fw_config cfg, tu_cmd *c, const char *rules, bool trace, int event_fd);

typedef struct fw_outcome {
    tu_result r;
    size_t hits;
    int hit_depth; /* fork depth of the first fault applied, -1: none */
    bool succeeded;
} fw_outcome;

/* Run the start under RULES; returns once the invoker has exited, with the
 * fault channel drained. */
fw_outcome fw_run(fw_world *w, enum fw_config cfg, const char *rules, bool trace);

/* The verdict. A start that failed: a documented exit code, one line (the
 * CLI's "daemonctx: ..." or the helper's "STEP: ..."), containing each
 * NEEDLE, no process left (bystanders aside), no pidfile left (or the running
 * instance's, unchanged). A start that succeeded (a fault the code tolerates):
 * silent, the pidfile names a running daemon that holds it; it is then
 * stopped. Either way the bystander is untouched. */
void fw_check(fw_world *w, const fw_outcome *o, bool must_fail, int code, const char *const *needles,
              const char *context);
/* The same verdict as a message (NULL: all is well); cleans up either way. */
const char *fw_judge(fw_world *w, const fw_outcome *o, bool must_fail, int code, const char *const *needles);
/* Whether CODE is in the EXIT STATUS table of `start` in daemonctx(1). */
bool fw_documented_start_code(int code);

/* Realistic errno for a failure of FUNC (0: not worth failing). */
int fw_errno_for(const char *func, const char *extra);
const char *fw_strerror(int e);

/* Kill what a successful run started and remove its pidfile. */
void fw_clean(fw_world *w);

#endif
