"""Failures, before and after the fork, reach the original Python process as
DaemonError; a second instance is refused with SystemExit naming the PID."""
import errno
import json
import os

import pytest

from conftest import assert_no_children, proc_stat

import daemonctx

# Reports what open() raised in the original process, as one JSON line on stdout.
CATCH = '''
try:
    ctx.open()
except BaseException as exc:
    print(json.dumps(dict(type=type(exc).__name__, step=getattr(exc, 'step', None),
                          errno=getattr(exc, 'errno', None), message=str(exc), pid=os.getpid(),
                          daemon_error=isinstance(exc, DaemonError), system_exit=isinstance(exc, SystemExit))))
    sys.exit(3)
say(pid=os.getpid(), opened=True)
idle()
'''


def run_failing(runner, setup):
    proc = runner.run(runner.script(setup + CATCH))
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
    return proc, json.loads(proc.stdout)


def test_failure_after_the_fork_raises_daemon_error_in_the_original_process(runner, tmp_path):
    jail = tmp_path / 'jail'
    jail.mkdir()
    pidfile = tmp_path / 'fail.pid'
    # /missing exists nowhere inside the jail: the daemon's chdir, after the
    # fork and the chroot, fails.
    proc, exc = run_failing(runner, '''
ctx = DaemonContext(chroot_directory={jail!r}, working_directory='/missing', pidfile=PidFile({pidfile!r}),
                    files_preserve=[report])
'''.format(jail=str(jail), pidfile=str(pidfile)))
    assert exc['type'] == 'DaemonError' and exc['daemon_error']
    assert exc['step'] == 'chdir'
    assert exc['errno'] == errno.ENOENT
    assert '/missing' in exc['message'] and str(jail) in exc['message']
    # Nothing left behind: no daemon (it would be our child: we are the
    # subreaper), no pidfile; the daemon never said it opened.
    assert_no_children()
    assert not pidfile.exists()
    runner.close_write_end()
    assert os.read(runner.report_r, 4096) == b''


def test_uncaught_failure_after_the_fork_ends_the_script_with_a_traceback(runner, tmp_path):
    jail = tmp_path / 'jail'
    jail.mkdir()
    script = runner.script('''
ctx = DaemonContext(chroot_directory={jail!r}, working_directory='/nowhere', files_preserve=[report])
ctx.open()
say(opened=True)
'''.format(jail=str(jail)))
    proc = runner.run(script)
    assert proc.returncode == 1
    assert 'daemonctx.DaemonError' in proc.stderr and '/nowhere' in proc.stderr
    assert_no_children()


def test_failure_before_the_fork(runner, tmp_path):
    proc, exc = run_failing(runner, '''
ctx = DaemonContext(working_directory={wd!r}, files_preserve=[report])
'''.format(wd=str(tmp_path / 'does-not-exist')))
    assert exc['type'] == 'DaemonError'
    assert exc['step'] == 'chdir' and exc['errno'] == errno.ENOENT
    assert 'does-not-exist' in exc['message']
    assert_no_children()


def test_foreign_pidfile_failing_in_the_daemon_is_reported_to_the_original_process(runner):
    # A pidfile object of another library: its acquire() runs in the daemon;
    # what it raises is the original process's DaemonError.
    proc, exc = run_failing(runner, '''
class Foreign:
    def acquire(self):
        raise PermissionError(errno.EACCES, 'no access to the foreign pidfile')
ctx = DaemonContext(pidfile=Foreign(), files_preserve=[report])
''')
    # A pidfile failure: PidFileError, a DaemonError and a SystemExit (as the
    # seed's PidFile.acquire raises).
    assert exc['type'] == 'PidFileError' and exc['daemon_error'] and exc['system_exit']
    assert exc['step'] == 'pidfile'
    assert exc['errno'] == errno.EACCES
    assert 'no access to the foreign pidfile' in exc['message']
    assert_no_children()


def test_foreign_pidfile_acquired_in_the_daemon(runner, tmp_path):
    marker = tmp_path / 'foreign.pid'
    script = runner.script('''
class Foreign:
    def acquire(self):
        with open({marker!r}, 'w') as f:
            f.write(str(os.getpid()))
ctx = DaemonContext(pidfile=Foreign(), files_preserve=[report])
ctx.open()
say(pid=os.getpid())
idle()
'''.format(marker=str(marker)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    pid = runner.track(runner.report()['pid'])
    # Written by the daemon before the original process was let go.
    assert marker.read_text() == str(pid)
    assert runner.stop(pid) == 1


@pytest.mark.parametrize('setup, step', [
    ("ctx = DaemonContext(signal_map={signal.SIGUSR1: 'no_such_method'})", 'options'),
    ("ctx = DaemonContext(signal_map={signal.SIGKILL: None})", 'options'),
    ("ctx = DaemonContext(files_preserve=['not a file'])", 'options'),
    ("ctx = DaemonContext(stdout=-5)", 'options'),
    ("ctx = DaemonContext(stdin=99)", 'stdio'),
])
def test_bad_options_refused_before_forking(runner, setup, step):
    proc, exc = run_failing(runner, setup + '\n')
    assert exc['daemon_error'] and exc['step'] == step, exc
    assert_no_children()


def test_second_daemon_refused_with_system_exit_naming_the_pid(runner, tmp_path):
    pidfile = tmp_path / 'single.pid'
    script = runner.script('''
ctx = DaemonContext(pidfile=PidFile({pidfile!r}), files_preserve=[report])
'''.format(pidfile=str(pidfile)) + CATCH)
    first = runner.run(script)
    assert first.returncode == 0, first.stderr
    pid = runner.track(runner.report()['pid'])
    assert pidfile.read_text() == '{0}\n'.format(pid)

    second = runner.run(script)
    assert second.returncode == 3, second.stderr
    exc = json.loads(second.stdout)
    assert exc['system_exit'] and exc['daemon_error']  # AlreadyRunning: both
    assert exc['type'] == 'AlreadyRunning'
    assert exc['step'] == 'pidfile' and exc['errno'] == errno.EAGAIN
    assert 'PID {0}'.format(pid) in exc['message']
    assert pidfile.read_text() == '{0}\n'.format(pid)
    assert proc_stat(pid)[0] in 'SR'

    # PidFile.acquire() in this (pytest) process: SystemExit naming the PID.
    with pytest.raises(SystemExit) as info:
        daemonctx.PidFile(str(pidfile)).acquire()
    assert 'PID {0}'.format(pid) in str(info.value)
    assert 'PID {0}'.format(pid) in str(info.value.code)
    assert pidfile.read_text() == '{0}\n'.format(pid)

    assert runner.stop(pid) == 1
    assert not pidfile.exists()
    # Free again.
    with daemonctx.PidFile(str(pidfile)) as pf:
        assert pidfile.read_text() == '{0}\n'.format(os.getpid())
        assert pf.fileno() >= 0
    assert not pidfile.exists()
