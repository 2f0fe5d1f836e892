"""daemon.DaemonContext.open() through real processes: every option seen in the
daemon's /proc from outside, the pidfile entered at open and exited by close,
and every error path raised in the invoking process with nothing left behind."""
import errno
import grp
import json
import os
import pwd
import signal
import socket
import subprocess
import sys

import pytest

from conftest import (DEADLINE, PRELUDE, assert_no_children, proc_core_limit, proc_fds, proc_stat, proc_status,
                      signal_set, wait_exit, wait_until)

NOBODY = pwd.getpwnam('nobody').pw_uid
NOGROUP = grp.getgrnam('nogroup').gr_gid
IMPORTS = 'import daemon, daemon.daemon, daemon.pidfile\n'

# What open() raised in the invoking process, as one JSON line on stdout.
CATCH = '''
try:
    ctx.open()
except BaseException as exc:
    lockfile = sys.modules.get('lockfile')
    print(json.dumps(dict(type=type(exc).__name__, step=getattr(exc, 'step', None),
                          errno=getattr(exc, 'errno', None), message=str(exc),
                          classes=[c.__module__ + '.' + c.__name__ for c in type(exc).__mro__])))
    sys.exit(3)
say(pid=os.getpid(), is_open=ctx.is_open)
idle()
'''

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def run_failing(runner, body, running=(), **kwargs):
    """Run a script whose open() fails; what it raised. No daemon is left
    but the RUNNING ones: it would be our child (we are the subreaper)."""
    source = PRELUDE + IMPORTS + body + CATCH
    proc = subprocess.run([sys.executable, '-c', source, str(runner.report_w)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=DEADLINE, pass_fds=(runner.report_w,), **kwargs)
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
    if running:
        assert children() == set(running)
    else:
        assert_no_children()
    return json.loads(proc.stdout)


def children():
    """The PIDs of this process's children."""
    pids = set()
    for tid in os.listdir('/proc/self/task'):
        with open('/proc/self/task/{0}/children'.format(tid)) as f:
            pids.update(int(p) for p in f.read().split())
    return pids


def start(runner, body, *args, **kwargs):
    """Run a script that opens a context and reports; the daemon's report."""
    proc = runner.run(runner.script(IMPORTS + body), *args, **kwargs)
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    runner.track(info['pid'])
    return info


def as_nobody():
    os.setgid(NOGROUP)
    os.setgroups([])
    os.setuid(NOBODY)


@requires_root
@pytest.mark.parametrize('initgroups', [True, False])
def test_owner_umask_directory_core_and_pidfile_reach_the_daemon(runner, tmp_path, initgroups):
    workdir = tmp_path / 'work'
    workdir.mkdir()
    rundir = tmp_path / 'run'
    rundir.mkdir()
    os.chown(rundir, NOBODY, NOGROUP)  # as Debian's /run/PACKAGE: the daemon's user may remove its pidfile
    pidfile = rundir / 'd.pid'
    info = start(runner, '''
ctx = daemon.DaemonContext(uid={uid}, gid={gid}, initgroups={ig}, umask=0o027, working_directory={wd!r},
                           pidfile=daemon.pidfile.TimeoutPIDLockFile({pf!r}), files_preserve=[report])
ctx.open()
say(pid=os.getpid(), is_open=ctx.is_open)
idle()
'''.format(uid=NOBODY, gid=NOGROUP, ig=initgroups, wd=str(workdir), pf=str(pidfile)))
    pid = info['pid']
    assert info['is_open'] is True
    # The pidfile named the daemon before the invoking process exited.
    assert pidfile.read_text() == '{0}\n'.format(pid)
    status = proc_status(pid)
    assert status['Uid'].split() == [str(NOBODY)] * 4
    # python-daemon kept gid 0 with initgroups, and root's groups without.
    assert status['Gid'].split() == [str(NOGROUP)] * 4
    assert status['Groups'].split() == [str(g) for g in os.getgrouplist('nobody', NOGROUP)]
    assert status['Umask'] == '0027'
    assert os.readlink('/proc/{0}/cwd'.format(pid)) == str(workdir)
    assert proc_core_limit(pid) == ('0', '0')
    _, ppid, pgrp, session, tty = proc_stat(pid)
    assert session != pid and tty == 0 and ppid == os.getpid()
    # The default signal map: SIGTERM -> terminate -> SystemExit; close() runs
    # at exit and removes the pidfile.
    assert runner.stop(pid) == 1
    assert not pidfile.exists()


def test_chroot_puts_the_working_directory_and_the_pidfile_inside_the_new_root(runner, tmp_path):
    jail = tmp_path / 'jail'
    (jail / 'srv' / 'data').mkdir(parents=True)
    (jail / 'run').mkdir()
    info = start(runner, '''
ctx = daemon.DaemonContext(chroot_directory={jail!r}, working_directory='srv/data',
                           pidfile=daemon.pidfile.PIDLockFile('/run/j.pid'), files_preserve=[report])
ctx.open()
say(pid=os.getpid(), cwd=os.getcwd(), pid_read=ctx.pidfile.read_pid())
idle()
'''.format(jail=str(jail)))
    pid = info['pid']
    # As python-daemon: after the chroot, the working directory (even a
    # relative one) and the pidfile are inside the new root.
    assert info['cwd'] == '/srv/data' and info['pid_read'] == pid
    assert os.readlink('/proc/{0}/root'.format(pid)) == str(jail)
    assert os.readlink('/proc/{0}/cwd'.format(pid)) == str(jail / 'srv' / 'data')
    assert (jail / 'run' / 'j.pid').read_text() == '{0}\n'.format(pid)
    assert runner.stop(pid) == 1
    assert not (jail / 'run' / 'j.pid').exists()


def test_a_relative_pidfile_path_is_in_the_working_directory(runner, tmp_path):
    workdir = tmp_path / 'work'
    workdir.mkdir()
    info = start(runner, '''
ctx = daemon.DaemonContext(working_directory={wd!r}, pidfile=daemon.pidfile.PIDLockFile('rel.pid'),
                           files_preserve=[report])
ctx.open()
say(pid=os.getpid())
idle()
'''.format(wd=str(workdir)))
    assert (workdir / 'rel.pid').read_text() == '{0}\n'.format(info['pid'])
    assert runner.stop(info['pid']) == 1
    assert not (workdir / 'rel.pid').exists()


def test_prevent_core_false_leaves_the_core_limit(runner):
    info = start(runner, '''
import resource
resource.setrlimit(resource.RLIMIT_CORE, (4096, 8192))
ctx = daemon.DaemonContext(prevent_core=False, files_preserve=[report])
ctx.open()
say(pid=os.getpid())
idle()
''')
    assert proc_core_limit(info['pid']) == ('4096', '8192')


def test_detach_process_false_makes_this_process_the_daemon(runner):
    proc = runner.popen(runner.script(IMPORTS + '''
ctx = daemon.DaemonContext(detach_process=False, files_preserve=[report])
ctx.open()
say(pid=os.getpid(), sid=os.getsid(0))
idle()
'''))
    info = runner.report()
    assert info['pid'] == proc.pid and info['sid'] == os.getsid(0)  # no fork, no new session
    fds = proc_fds(proc.pid)
    assert fds[0] == fds[1] == fds[2] == '/dev/null'
    assert runner.stop(proc.pid) == 1


@pytest.mark.parametrize('stdin, detach', [('devnull', True), ('socket', False)])
def test_detach_process_defaults_to_what_the_context_requires(runner, stdin, detach):
    left, right = socket.socketpair()
    with left, right:
        script = runner.script(IMPORTS + 'print(daemon.DaemonContext().detach_process)\n')
        proc = runner.run(script, stdin=right if stdin == 'socket' else subprocess.DEVNULL)
    assert proc.stdout == '{0}\n'.format(detach), proc.stderr


def test_stream_objects_and_files_preserve(runner, tmp_path):
    (tmp_path / 'in.txt').write_text('input line\n')
    info = start(runner, '''
stdin = open({d!r} + '/in.txt')
stdout = open({d!r} + '/out.log', 'a')
stderr = open({d!r} + '/err.log', 'a', buffering=1)
kept = open({d!r} + '/kept.txt', 'w')
lost = open({d!r} + '/lost.txt', 'w')
ctx = daemon.DaemonContext(stdin=stdin, stdout=stdout, stderr=stderr, files_preserve=[report])
ctx.files_preserve.append(kept)  # read at open(), as nrpe-ng relies on
ctx.open()
print('to stdout', flush=True)
print('to stderr', file=sys.stderr, flush=True)
stderr.write('through the object\\n')  # the stream objects stay open and usable
kept.write('kept\\n')
kept.flush()
say(pid=os.getpid(), line=sys.stdin.readline(), kept=kept.fileno(), lost=lost.fileno())
idle()
'''.format(d=str(tmp_path)))
    fds = proc_fds(info['pid'])
    assert fds[0] == str(tmp_path / 'in.txt') and info['line'] == 'input line\n'
    assert fds[1] == str(tmp_path / 'out.log') and fds[2] == str(tmp_path / 'err.log')
    assert (tmp_path / 'out.log').read_text() == 'to stdout\n'
    assert (tmp_path / 'err.log').read_text() == 'to stderr\nthrough the object\n'
    assert fds[info['kept']] == str(tmp_path / 'kept.txt')
    assert fds.get(info['lost']) != str(tmp_path / 'lost.txt')
    assert (tmp_path / 'kept.txt').read_text() == 'kept\n'


def test_standard_fds_are_redirected_even_when_listed_in_files_preserve(runner):
    info = start(runner, '''
ctx = daemon.DaemonContext(files_preserve=[0, 1, 2, report])
ctx.open()
say(pid=os.getpid())
idle()
''')
    fds = proc_fds(info['pid'])
    assert fds[0] == fds[1] == fds[2] == '/dev/null'


def test_signal_map_none_ign_dfl_callables_and_method_names(runner):
    info = start(runner, '''
import signal
class Context(daemon.DaemonContext):
    def reload(self, signum, frame):
        say(method=signum)
signal.signal(signal.SIGINT, signal.SIG_IGN)
ctx = Context(files_preserve=[report], signal_map={
    signal.SIGHUP: 'reload', signal.SIGUSR1: lambda signum, frame: say(callable=signum),
    signal.SIGUSR2: None, signal.SIGPIPE: signal.SIG_IGN, signal.SIGINT: signal.SIG_DFL})
ctx.open()
say(pid=os.getpid())
idle()
''')
    pid = info['pid']
    status = proc_status(pid)
    ignored, caught = signal_set(status['SigIgn']), signal_set(status['SigCgt'])
    assert {signal.SIGUSR2, signal.SIGPIPE} <= ignored
    assert signal.SIGINT not in ignored | caught  # SIG_DFL, though inherited ignored
    assert {signal.SIGHUP, signal.SIGUSR1} <= caught
    # Not in the map: left as inherited (the default map is replaced).
    assert signal.SIGTERM not in caught
    os.kill(pid, signal.SIGUSR1)
    assert runner.report() == {'callable': signal.SIGUSR1}
    os.kill(pid, signal.SIGHUP)
    assert runner.report() == {'method': signal.SIGHUP}


def test_leaving_the_with_block_closes_the_context_and_removes_the_pidfile(runner, tmp_path):
    path = tmp_path / 'with.pid'
    info = start(runner, '''
ctx = daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile({p!r}), files_preserve=[report])
with ctx as entered:
    say(pid=os.getpid(), pidfile=open({p!r}).read(), same=entered is ctx)
say(pidfile_exists=os.path.exists({p!r}), is_open=ctx.is_open)
sys.exit(0)
'''.format(p=str(path)))
    pid = info['pid']
    assert info['pidfile'] == '{0}\n'.format(pid) and info['same'] is True
    # The process still runs; its pidfile is gone with the context.
    assert runner.report() == {'pidfile_exists': False, 'is_open': False}
    assert wait_exit(pid) == 0
    runner.pids.discard(pid)


def test_a_pidfile_object_is_entered_at_open_and_exited_by_close(runner, tmp_path):
    marker = tmp_path / 'foreign'
    info = start(runner, '''
class Foreign:
    def __enter__(self):
        open({m!r}, 'a').write('entered %d\\n' % os.getpid())
        return self
    def __exit__(self, *exc):
        open({m!r}, 'a').write('exited %d %r\\n' % (os.getpid(), exc))
ctx = daemon.DaemonContext(pidfile=Foreign(), files_preserve=[report])
ctx.open()
ctx.open()  # open already: nothing
say(pid=os.getpid(), marker=open({m!r}).read(), is_open=ctx.is_open)
ctx.close()
ctx.close()  # closed already: nothing
say(marker=open({m!r}).read(), is_open=ctx.is_open)
idle()
'''.format(m=str(marker)))
    pid = info['pid']
    assert info['marker'] == 'entered {0}\n'.format(pid) and info['is_open'] is True
    assert runner.report() == {'marker': 'entered {0}\nexited {0} (None, None, None)\n'.format(pid),
                               'is_open': False}


def test_lockfiles_pidlockfile_is_entered_in_the_daemon(runner, tmp_path):
    pytest.importorskip('lockfile')
    path = tmp_path / 'lockfile.pid'
    info = start(runner, '''
from lockfile import pidlockfile
ctx = daemon.DaemonContext(pidfile=pidlockfile.PIDLockFile({p!r}), files_preserve=[report])
ctx.open()
say(pid=os.getpid())
idle()
'''.format(p=str(path)))
    assert path.read_text() == '{0}\n'.format(info['pid'])
    assert runner.stop(info['pid']) == 1
    assert not path.exists()


def test_a_process_the_daemon_forks_leaves_the_pidfile_alone_at_exit(runner, tmp_path):
    path = tmp_path / 'parent.pid'
    info = start(runner, '''
ctx = daemon.DaemonContext(pidfile=daemon.pidfile.PIDLockFile({p!r}), files_preserve=[report])
ctx.open()
child = os.fork()
if child == 0:
    sys.exit(0)  # runs the atexit close() it inherited
os.waitpid(child, 0)
say(pid=os.getpid(), pidfile=open({p!r}).read(), locked=ctx.pidfile.i_am_locking())
idle()
'''.format(p=str(path)))
    assert info['pidfile'] == '{0}\n'.format(info['pid']) and info['locked'] is True


# ------------------------------------------------------------- the pidfile held

def test_a_held_pidfile_raises_already_locked_in_the_invoking_process(runner, tmp_path):
    path = tmp_path / 'held.pid'
    body = '''
import lockfile
ctx = daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile({p!r}, 0), files_preserve=[report])
'''.format(p=str(path))
    info = start(runner, body + 'ctx.open()\nsay(pid=os.getpid())\nidle()\n')
    pid = info['pid']
    exc = run_failing(runner, body, running=[pid])
    assert exc['type'] == 'AlreadyLocked' and exc['step'] == 'pidfile' and exc['errno'] == errno.EAGAIN
    assert 'PID {0}'.format(pid) in exc['message'] and str(path) in exc['message']
    # `except lockfile.AlreadyLocked` (nrpe-ng's) catches it.
    assert 'lockfile.AlreadyLocked' in exc['classes']
    assert path.read_text() == '{0}\n'.format(pid) and proc_stat(pid)[0] in 'SR'


def test_a_held_pidfile_with_a_timeout_raises_lock_timeout(runner, tmp_path):
    path = tmp_path / 'held.pid'
    body = '''
ctx = daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile({p!r}, 0.2), files_preserve=[report])
'''.format(p=str(path))
    pid = start(runner, body + 'ctx.open()\nsay(pid=os.getpid())\nidle()\n')['pid']
    exc = run_failing(runner, body, running=[pid])
    assert exc['type'] == 'LockTimeout' and exc['errno'] == errno.ETIMEDOUT
    assert 'PID {0}'.format(pid) in exc['message'] and 'waited 0.2 s' in exc['message']


def test_without_a_timeout_open_waits_for_the_holder_then_starts(runner, tmp_path):
    path = tmp_path / 'wait.pid'
    script = runner.script(IMPORTS + '''
ctx = daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile({p!r}), files_preserve=[report])
ctx.open()
say(pid=os.getpid())
idle()
'''.format(p=str(path)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    first = runner.track(runner.report()['pid'])
    second = subprocess.Popen([sys.executable, str(script), str(runner.report_w)], pass_fds=(runner.report_w,),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runner.track(second.pid)
    # Waiting, asleep on its watch of the pidfile (nothing has forked).
    wait_until(lambda: 'anon_inode:inotify' in proc_fds(second.pid).values(), 'waiting')
    assert runner.stop(first) == 1
    _, err = second.communicate(timeout=20)
    assert second.returncode == 0, err
    runner.pids.discard(second.pid)
    pid = runner.track(runner.report()['pid'])
    assert path.read_text() == '{0}\n'.format(pid)


def test_open_takes_over_a_stale_pidfile(runner, tmp_path):
    path = tmp_path / 'stale.pid'
    path.write_text('999999\n')  # a crashed daemon's: no lock
    info = start(runner, '''
ctx = daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile({p!r}, 0), files_preserve=[report])
ctx.open()
say(pid=os.getpid())
idle()
'''.format(p=str(path)))
    assert path.read_text() == '{0}\n'.format(info['pid'])


def test_an_unusable_pidfile_raises_lock_failed(runner, tmp_path):
    target = tmp_path / 'victim'
    target.write_text('precious\n')
    link = tmp_path / 'link.pid'
    link.symlink_to(target)
    exc = run_failing(runner, '''
ctx = daemon.DaemonContext(pidfile=daemon.pidfile.PIDLockFile({p!r}), files_preserve=[report])
'''.format(p=str(link)))
    assert exc['type'] == 'LockFailed' and exc['errno'] == errno.ELOOP and str(link) in exc['message']
    assert target.read_text() == 'precious\n'


@pytest.mark.parametrize('raised, expected', [
    ('AlreadyLocked("/x.pid is already locked")', 'AlreadyLocked'),
    ('LockTimeout("Timeout waiting to acquire lock for /x.pid")', 'LockTimeout'),
    ('LockFailed("failed to create /x.pid")', 'LockFailed'),
])
def test_a_foreign_pidfiles_lock_error_in_the_daemon_is_raised_in_the_invoking_process(runner, raised, expected):
    lockfile = pytest.importorskip('lockfile')
    assert hasattr(lockfile, expected)
    exc = run_failing(runner, '''
import lockfile
class Foreign:
    def __enter__(self):
        raise lockfile.{raised}
    def __exit__(self, *exc):
        pass
ctx = daemon.DaemonContext(pidfile=Foreign(), files_preserve=[report])
'''.format(raised=raised))
    assert exc['type'] == expected and 'lockfile.' + expected in exc['classes']
    assert exc['step'] == 'pidfile' and raised.split('"')[1] in exc['message']


def test_a_foreign_pidfiles_other_failure_is_raised_as_an_environment_error(runner):
    exc = run_failing(runner, '''
class Foreign:
    def __enter__(self):
        raise PermissionError(errno.EACCES, 'no access to /run/foreign.pid')
    def __exit__(self, *exc):
        pass
ctx = daemon.DaemonContext(pidfile=Foreign(), files_preserve=[report])
''')
    assert exc['type'] == 'DaemonOSEnvironmentError' and exc['errno'] == errno.EACCES
    assert 'PermissionError' in exc['message'] and '/run/foreign.pid' in exc['message']


def test_a_foreign_pidfile_still_waiting_when_the_start_times_out_raises_lock_timeout(runner):
    exc = run_failing(runner, '''
daemon.daemon._START_TIMEOUT_MS = 300  # 60 s otherwise
class Foreign:
    def __enter__(self):
        while True:
            signal.pause()  # waits for a lock forever
    def __exit__(self, *exc):
        pass
ctx = daemon.DaemonContext(pidfile=Foreign(), files_preserve=[report])
''')
    # The daemon was killed (no child left), and the pidfile named.
    assert exc['type'] == 'LockTimeout' and exc['errno'] == errno.ETIMEDOUT
    assert 'still entering pidfile' in exc['message'] and 'Foreign' in exc['message']


# ------------------------------------------------------------ failed steps

def test_signal_handlers_that_cannot_be_installed_raise_an_environment_error(runner):
    # Not detached, open() from a thread: the signal module refuses handlers
    # outside the main thread.
    proc = runner.popen(runner.script(IMPORTS + '''
import threading
def start():
    ctx = daemon.DaemonContext(detach_process=False, files_preserve=[report])
    try:
        ctx.open()
    except daemon.daemon.DaemonOSEnvironmentError as exc:
        say(step=exc.step, message=str(exc), is_open=ctx.is_open)
thread = threading.Thread(target=start)
thread.start()
thread.join()
'''))
    info = runner.report()
    assert info['step'] == 'signals' and info['is_open'] is False
    assert 'cannot install the signal handlers' in info['message'] and 'main thread' in info['message']
    assert wait_exit(proc.pid) == 0
    runner.pids.discard(proc.pid)


def test_a_failed_step_after_the_fork_raises_in_the_invoking_process(runner, tmp_path):
    jail = tmp_path / 'jail'
    jail.mkdir()
    pidfile = jail / 'fail.pid'
    # /missing exists nowhere inside the jail: the daemon's chdir fails.
    exc = run_failing(runner, '''
ctx = daemon.DaemonContext(chroot_directory={j!r}, working_directory='/missing',
                           pidfile=daemon.pidfile.TimeoutPIDLockFile('/fail.pid'), files_preserve=[report])
'''.format(j=str(jail)))
    assert exc['type'] == 'DaemonOSEnvironmentError' and 'builtins.OSError' in exc['classes']
    assert exc['step'] == 'chdir' and exc['errno'] == errno.ENOENT
    assert '/missing' in exc['message'] and str(jail) in exc['message']
    assert not pidfile.exists()
    runner.close_write_end()
    assert os.read(runner.report_r, 4096) == b''  # the daemon never said it opened


def test_an_uncaught_failure_ends_the_program_with_a_traceback(runner, tmp_path):
    pidfile = tmp_path / 'uncaught.pid'
    proc = runner.run(runner.script(IMPORTS + '''
with daemon.DaemonContext(working_directory={wd!r}, pidfile=daemon.pidfile.TimeoutPIDLockFile({p!r})):
    say(opened=True)
'''.format(wd=str(tmp_path / 'nowhere'), p=str(pidfile))))
    assert proc.returncode == 1
    assert 'Traceback' in proc.stderr
    assert 'daemon.daemon.DaemonOSEnvironmentError' in proc.stderr and 'nowhere' in proc.stderr
    assert_no_children()
    assert not pidfile.exists()


@requires_root
def test_a_refused_privilege_change_raises_in_the_invoking_process(runner, any_user_env):
    # Run as nobody, asking for root's ids: refused after the fork.
    exc = run_failing(runner, 'ctx = daemon.DaemonContext(uid=0, gid=0, files_preserve=[report])\n',
                      preexec_fn=as_nobody, env=any_user_env, cwd='/')
    assert exc['type'] == 'DaemonOSEnvironmentError'
    assert exc['step'] in ('setgid', 'setuid') and exc['errno'] == errno.EPERM


@requires_root
def test_a_failed_fork_raises_daemon_process_detach_error(runner, any_user_env):
    def nobody_without_processes():
        as_nobody()
        import resource
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    exc = run_failing(runner, 'ctx = daemon.DaemonContext(detach_process=True, files_preserve=[report])\n',
                      preexec_fn=nobody_without_processes, env=any_user_env, cwd='/')
    assert exc['type'] == 'DaemonProcessDetachError' and 'builtins.OSError' in exc['classes']
    assert exc['step'] == 'fork' and exc['errno'] == errno.EAGAIN


@pytest.mark.parametrize('options, culprit', [
    ("umask='022'", 'umask'),
    ('umask=0o1000', 'umask'),
    ('uid=-1', 'uid'),
    ('gid="staff"', 'gid'),
    ('working_directory=None', 'working_directory'),
    ('chroot_directory=42', 'chroot_directory'),
    ('stdout=io.StringIO()', 'stdout'),
    ("files_preserve=['not a file']", 'files_preserve'),
    ('signal_map={signal.SIGKILL: None}', 'signal_map'),
    ('signal_map={signal.SIGUSR1: 42}', 'signal_map'),
    ('pidfile=object()', 'pidfile'),
])
def test_bad_option_values_are_refused_before_forking(runner, options, culprit):
    exc = run_failing(runner, 'import io\nctx = daemon.DaemonContext({0})\n'.format(options))
    assert exc['type'] == 'DaemonOSEnvironmentError', exc
    assert culprit in exc['message'], exc


def test_an_unknown_method_name_in_the_signal_map_raises_attribute_error(runner):
    exc = run_failing(runner, "ctx = daemon.DaemonContext(signal_map={signal.SIGHUP: 'no_such_method'})\n")
    assert exc['type'] == 'AttributeError' and 'no_such_method' in exc['message']
