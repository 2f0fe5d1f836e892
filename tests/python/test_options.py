"""Every DaemonContext option through the Python API, observed in the daemon's
/proc from outside."""
import errno
import grp
import os
import pwd
import signal

from conftest import proc_core_limit, proc_fds, proc_is, proc_stat, proc_status

NOBODY = pwd.getpwnam('nobody').pw_uid
NOGROUP = grp.getgrnam('nogroup').gr_gid


def test_uid_gid_groups_umask_working_directory_prevent_core(runner, tmp_path):
    workdir = tmp_path / 'work'
    workdir.mkdir()
    piddir = tmp_path / 'run'
    piddir.mkdir()
    piddir.chmod(0o755)  # as /run: the daemon, once nobody, can look but not write
    pidfile = piddir / 'd.pid'
    script = runner.script('''
        ctx = DaemonContext(uid={uid}, gid={gid}, umask=0o027, working_directory={wd!r},
                            pidfile=PidFile({pidfile!r}), files_preserve=[report])
        ctx.open()
        say(pid=os.getpid(), is_open=ctx.is_open)
        idle()
    '''.format(uid=NOBODY, gid=NOGROUP, wd=str(workdir), pidfile=str(pidfile)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    assert info['is_open'] is True
    assert pidfile.read_text() == '{0}\n'.format(pid)

    status = proc_status(pid)
    assert status['Uid'].split() == [str(NOBODY)] * 4  # real, effective, saved, fs
    assert status['Gid'].split() == [str(NOGROUP)] * 4
    # nobody's own groups only: root's supplementary groups are gone.
    assert status['Groups'].split() == [str(g) for g in os.getgrouplist('nobody', NOGROUP)]
    assert status['Umask'] == '0027'
    assert proc_is(pid, 'cwd', workdir)
    assert proc_core_limit(pid) == ('0', '0')

    assert runner.stop(pid) == 1
    # As nobody the daemon may not unlink in root's directory: the file is then
    # emptied, so it names no process; either way nobody is named.
    assert not pidfile.exists() or pidfile.read_text() == ''


def test_chroot_directory_and_the_working_directory_rule(runner, tmp_path):
    jail = tmp_path / 'jail'
    (jail / 'srv').mkdir(parents=True)
    script = runner.script('''
        ctx = DaemonContext(chroot_directory={jail!r}, working_directory='/srv', files_preserve=[report])
        say(working_directory=ctx.working_directory)
        ctx.open()
        say(pid=os.getpid(), cwd=os.getcwd())
        idle()
    '''.format(jail=str(jail)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    # The property applies the PEP rule: the working directory seen from outside.
    assert runner.report() == {'working_directory': str(jail / 'srv')}
    info = runner.report()
    pid = runner.track(info['pid'])
    assert info['cwd'] == '/srv'  # as the daemon sees it, inside its root
    assert proc_is(pid, 'root', jail)
    assert proc_is(pid, 'cwd', jail / 'srv')
    assert runner.stop(pid) == 1


def test_stdio_file_objects_and_fds_files_preserve(runner, tmp_path):
    infile = tmp_path / 'in.txt'
    infile.write_text('input line\n')
    outlog = tmp_path / 'out.log'
    errlog = tmp_path / 'err.log'
    kept = tmp_path / 'kept.txt'
    lost = tmp_path / 'lost.txt'
    script = runner.script('''
        stdin = open({infile!r})                       # a file object
        stdout = open({outlog!r}, 'w')                 # a file object
        stderr = os.open({errlog!r}, os.O_WRONLY | os.O_CREAT, 0o644)  # an fd
        kept = open({kept!r}, 'w')                     # preserved, as an object
        pipe_r, pipe_w = os.pipe()                     # preserved, as ints
        lost = os.open({lost!r}, os.O_WRONLY | os.O_CREAT, 0o644)      # closed
        ctx = DaemonContext(stdin=stdin, stdout=stdout, stderr=stderr,
                            files_preserve=[report, kept, pipe_r, pipe_w])
        expected = sorted({{0, 1, 2, report, kept.fileno(), pipe_r, pipe_w,
                           stdin.fileno(), stdout.fileno(), stderr}})
        ctx.open()
        print('to stdout', flush=True)
        print('to stderr', file=sys.stderr, flush=True)
        kept.write('kept works\\n')
        kept.flush()
        os.write(pipe_w, b'x')
        say(pid=os.getpid(), expected=expected, stdin=sys.stdin.readline(), lost=lost,
            pipe=os.read(pipe_r, 1).decode(),
            stdout_object_fd_ok=stdout.fileno() >= 3 and os.fstat(stdout.fileno()).st_ino == os.fstat(1).st_ino)
        idle()
    '''.format(infile=str(infile), outlog=str(outlog), errlog=str(errlog), kept=str(kept), lost=str(lost)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    fds = proc_fds(pid)
    assert sorted(fds) == info['expected'], fds
    assert info['lost'] not in fds
    assert proc_is(pid, 'fd/0', infile), fds
    assert proc_is(pid, 'fd/1', outlog), fds
    assert proc_is(pid, 'fd/2', errlog), fds
    assert info['stdin'] == 'input line\n'
    assert info['pipe'] == 'x'
    assert info['stdout_object_fd_ok'] is True
    assert outlog.read_text() == 'to stdout\n'
    assert errlog.read_text() == 'to stderr\n'
    assert kept.read_text() == 'kept works\n'
    assert runner.stop(pid) == 1


def test_stdio_defaults_to_dev_null_and_only_preserved_fds_stay(runner, tmp_path):
    script = runner.script('''
        extra = os.open('/etc/hostname', os.O_RDONLY)
        ctx = DaemonContext(files_preserve=[report])
        ctx.open()
        say(pid=os.getpid(), extra=extra)
        idle()
    ''')
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    fds = proc_fds(pid)
    assert sorted(fds) == sorted({0, 1, 2, runner.report_w})
    assert all(proc_is(pid, 'fd/{0}'.format(fd), os.devnull) for fd in (0, 1, 2)), fds
    assert runner.stop(pid) == 1


def test_no_detach_no_core_prevention_and_no_changes_after_open(runner):
    soft = 4 * 1024 * 1024
    script = runner.script('''
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, ({soft}, resource.RLIM_INFINITY))
        sid = os.getsid(0)
        ctx = DaemonContext(detach_process=False, prevent_core=False, files_preserve=[report])
        pid = os.getpid()
        ctx.open()
        try:
            ctx.umask = 0o022
            refused = None
        except DaemonError as exc:
            refused = [exc.step, exc.errno, str(exc)]
        say(pid=os.getpid(), same_process=pid == os.getpid(), same_session=os.getsid(0) == sid,
            is_open=ctx.is_open, refused=refused, detach_process=ctx.detach_process)
        idle()
    '''.format(soft=soft))
    proc = runner.popen(script)
    info = runner.report()
    assert info['pid'] == proc.pid and info['same_process'] and info['same_session']
    assert info['is_open'] is True and info['detach_process'] is False
    step, errnum, message = info['refused']
    assert step == 'options' and errnum == errno.EBUSY and 'umask' in message
    assert proc_core_limit(proc.pid) == (str(soft), 'unlimited')
    proc.returncode = runner.stop(proc.pid)  # reaped here
    assert proc.returncode == 1


def test_detach_process_true_double_forks_into_a_new_session(runner):
    script = runner.script('''
        ctx = DaemonContext(detach_process=True, files_preserve=[report])
        ctx.open()
        say(pid=os.getpid(), sid=os.getsid(0), pgid=os.getpgid(0), is_open=ctx.is_open)
        idle()
    ''')
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    state, ppid, pgrp, session, tty = proc_stat(pid)
    assert ppid == os.getpid()
    assert session == info['sid'] != pid  # a new session, of which it is not the leader
    assert session != os.getsid(0)
    assert tty == 0
    assert info['is_open'] is True
    assert runner.stop(pid) == 1


def test_with_statement_opens_the_context(runner):
    script = runner.script('''
        ctx = DaemonContext(files_preserve=[report])
        with ctx as entered:
            say(pid=os.getpid(), is_open=ctx.is_open, same=entered is ctx)
            idle()
    ''')
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    assert info['is_open'] is True and info['same'] is True
    assert runner.stop(pid) == 1


def test_attributes_assigned_after_construction(runner, tmp_path):
    workdir = tmp_path / 'w'
    workdir.mkdir()
    pidfile = tmp_path / 'attr.pid'
    script = runner.script('''
        ctx = DaemonContext()
        ctx.working_directory = {wd!r}
        ctx.umask = 0o077
        ctx.pidfile = PidFile({pidfile!r})
        ctx.files_preserve = [report]
        ctx.signal_map = {{signal.SIGUSR1: None, signal.SIGTERM: 'terminate'}}
        ctx.open()
        say(pid=os.getpid())
        idle()
    '''.format(wd=str(workdir), pidfile=str(pidfile)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    pid = runner.track(runner.report()['pid'])
    assert pidfile.read_text() == '{0}\n'.format(pid)
    status = proc_status(pid)
    assert status['Umask'] == '0077'
    assert proc_is(pid, 'cwd', workdir)
    ignored = int(status['SigIgn'], 16)
    assert ignored & (1 << (signal.SIGUSR1 - 1))
    assert not ignored & (1 << (signal.SIGTSTP - 1))  # the map was replaced, not merged
    assert runner.stop(pid) == 1
    assert not pidfile.exists()


def test_rlimit_core_is_zero_by_default(runner):
    # Also when the invoker allowed core dumps.
    script = runner.script('''
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        DaemonContext(files_preserve=[report]).open()
        say(pid=os.getpid())
        idle()
    ''')
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    pid = runner.track(runner.report()['pid'])
    assert proc_core_limit(pid) == ('0', '0')
    assert runner.stop(pid) == 1




def test_pidfile_removed_when_the_daemon_ends_and_not_by_its_children(runner, tmp_path):
    pidfile = tmp_path / 'owner.pid'
    script = runner.script('''
        ctx = DaemonContext(pidfile=PidFile({pidfile!r}), files_preserve=[report])
        ctx.open()
        child = os.fork()
        if child == 0:
            sys.exit(0)  # a normal interpreter exit in a child of the daemon
        os.waitpid(child, 0)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
        say(pid=os.getpid(), after_child=open({pidfile!r}).read())
        signal.sigwait([signal.SIGUSR1])  # then end normally
    '''.format(pidfile=str(pidfile)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    # The child's exit did not remove the daemon's pidfile (pep3143daemon's did).
    assert info['after_child'] == '{0}\n'.format(pid)
    assert pidfile.read_text() == '{0}\n'.format(pid)
    # The daemon's own normal exit does.
    assert runner.stop(pid, signal.SIGUSR1) == 0
    assert not pidfile.exists()


def test_detach_auto_no_fork_when_stdin_is_a_socket(runner):
    # As under inetd: no fork, and no crash (pep3143daemon's detection crashed).
    import socket
    script = runner.script('''
        ctx = DaemonContext(files_preserve=[report])
        decided = ctx.detach_process
        pid = os.getpid()
        ctx.open()
        say(pid=os.getpid(), decided=decided, same=pid == os.getpid())
        idle()
    ''')
    ours, theirs = socket.socketpair()
    with ours, theirs:
        proc = runner.popen(script, stdin=theirs)
    info = runner.report()
    assert info == {'pid': proc.pid, 'decided': False, 'same': True}
    proc.returncode = runner.stop(proc.pid)
    assert proc.returncode == 1


def test_detach_auto_forks_with_stdin_closed(runner):
    script = runner.script('''
        ctx = DaemonContext(files_preserve=[report])
        decided = ctx.detach_process
        ctx.open()
        say(pid=os.getpid(), decided=decided)
        idle()
    ''')
    proc = runner.run(script, stdin=None, preexec_fn=lambda: os.close(0))
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    assert info['decided'] is True
    assert proc_stat(pid)[3] != os.getsid(0)
    assert runner.stop(pid) == 1
