"""signal_map: None (ignore), SIG_DFL, Python callables, method names; the
default map's SIGTERM -> terminate."""
import os
import signal

from conftest import proc_status, read_line, signal_set


def test_python_callable_and_method_names_run_as_signal_handlers(runner):
    script = runner.script('''
        def on_usr1(signum, frame):
            os.write(report, b'usr1 %d\\n' % signum)
        class Service(DaemonContext):
            def reload(self, signum, frame):
                os.write(report, b'reload %d\\n' % signum)
        ctx = Service(files_preserve=[report], signal_map={
            signal.SIGUSR1: on_usr1, signal.SIGUSR2: 'reload', signal.SIGHUP: None, signal.SIGTERM: 'terminate'})
        ctx.open()
        say(pid=os.getpid())
        idle()
    ''')
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    pid = runner.track(runner.report()['pid'])
    status = proc_status(pid)
    assert signal.SIGHUP in signal_set(status['SigIgn'])
    assert {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM} <= signal_set(status['SigCgt'])
    assert signal_set(status['SigBlk']) == set()

    os.kill(pid, signal.SIGUSR1)
    assert read_line(runner.report_r) == 'usr1 {0}\n'.format(int(signal.SIGUSR1))
    os.kill(pid, signal.SIGUSR2)
    assert read_line(runner.report_r) == 'reload {0}\n'.format(int(signal.SIGUSR2))
    os.kill(pid, signal.SIGHUP)  # ignored
    os.kill(pid, signal.SIGUSR1)
    assert read_line(runner.report_r) == 'usr1 {0}\n'.format(int(signal.SIGUSR1))
    assert runner.stop(pid) == 1


def test_signal_arriving_during_open_is_handled_once_after_it(runner):
    # The foreign pidfile's acquire() runs inside open(), in the daemon, after
    # the C open sequence: a signal it sends itself there is held and then
    # handled once, after open() let the original process go.
    script = runner.script('''
        def on_usr1(signum, frame):
            os.write(report, b'usr1\\n')
        class Foreign:
            def acquire(self):
                os.kill(os.getpid(), signal.SIGUSR1)
                os.write(report, b'acquired\\n')
        ctx = DaemonContext(files_preserve=[report], pidfile=Foreign(),
                            signal_map={signal.SIGUSR1: on_usr1, signal.SIGTERM: 'terminate'})
        ctx.open()
        os.write(report, b'opened\\n')
        say(pid=os.getpid())
        idle()
    ''')
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    assert read_line(runner.report_r) == 'acquired\n'
    assert read_line(runner.report_r) == 'usr1\n'
    assert read_line(runner.report_r) == 'opened\n'
    pid = runner.track(runner.report()['pid'])
    assert runner.stop(pid) == 1


def test_custom_terminate_override(runner, tmp_path):
    pidfile = tmp_path / 'term.pid'
    script = runner.script('''
        class Graceful(DaemonContext):
            def terminate(self, signal_number, stack_frame):
                os.write(report, b'cleaning up\\n')
                raise SystemExit(0)
        ctx = Graceful(files_preserve=[report], pidfile=PidFile({pidfile!r}))
        ctx.open()
        say(pid=os.getpid())
        idle()
    '''.format(pidfile=str(pidfile)))
    proc = runner.run(script)
    assert proc.returncode == 0, proc.stderr
    pid = runner.track(runner.report()['pid'])
    assert runner.stop(pid) == 0
    assert read_line(runner.report_r) == 'cleaning up\n'
    assert not pidfile.exists()


def test_empty_signal_map_changes_nothing_and_sig_dfl_restores_the_default(runner):
    script = runner.script('''
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        mode = sys.argv[2]
        signal_map = {} if mode == 'empty' else {signal.SIGUSR2: signal.SIG_DFL}
        ctx = DaemonContext(files_preserve=[report], signal_map=signal_map)
        ctx.open()
        say(pid=os.getpid(), usr1=int(signal.getsignal(signal.SIGUSR1)), usr2=int(signal.getsignal(signal.SIGUSR2)))
        idle()
    ''')
    proc = runner.run(script, 'empty')
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    status = proc_status(pid)
    assert {signal.SIGUSR1, signal.SIGUSR2} <= signal_set(status['SigIgn'])
    # No SIGTERM handler: an empty map is not the default map.
    assert signal.SIGTERM not in signal_set(status['SigCgt'])
    assert signal.SIGTSTP not in signal_set(status['SigIgn'])
    assert runner.stop(pid, signal.SIGKILL) == -signal.SIGKILL

    proc = runner.run(script, 'dfl')
    assert proc.returncode == 0, proc.stderr
    info = runner.report()
    pid = runner.track(info['pid'])
    ignored = signal_set(proc_status(pid)['SigIgn'])
    assert signal.SIGUSR1 in ignored and signal.SIGUSR2 not in ignored
    assert info['usr2'] == int(signal.SIG_DFL)  # Python's view agrees with the kernel's
    assert runner.stop(pid, signal.SIGUSR2) == -signal.SIGUSR2
