"""daemon.DaemonContext's API in this process: names, signature, defaults, plain
attributes, the signal map's resolution, the exception types. Nothing here
opens a context (the scripts of test_daemon_open do)."""
import errno
import inspect
import os
import pickle
import signal

import pytest

import daemon
import daemon.daemon
import daemonctx
from daemon.daemon import DaemonContext, DaemonError, DaemonOSEnvironmentError, DaemonProcessDetachError


def test_daemon_context_is_importable_as_python_daemon_exports_it():
    assert daemon.DaemonContext is daemon.daemon.DaemonContext
    assert daemon.__all__ == ['DaemonContext']
    from daemon import DaemonContext as imported  # noqa: F401  (python-daemon's usual import)


def test_signature_and_defaults_are_python_daemons():
    params = inspect.signature(DaemonContext).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ('chroot_directory', None), ('working_directory', '/'), ('umask', 0), ('uid', None), ('gid', None),
        ('initgroups', False), ('prevent_core', True), ('detach_process', None), ('files_preserve', None),
        ('pidfile', None), ('stdin', None), ('stdout', None), ('stderr', None), ('signal_map', None)]
    assert list(inspect.signature(DaemonContext.terminate).parameters) == ['self', 'signal_number', 'stack_frame']


def test_defaults_are_resolved_at_construction():
    ctx = DaemonContext()
    assert (ctx.chroot_directory, ctx.working_directory, ctx.umask) == (None, '/', 0)
    assert (ctx.uid, ctx.gid, ctx.initgroups) == (os.getuid(), os.getgid(), False)
    assert ctx.prevent_core is True
    assert ctx.detach_process is daemon.daemon.is_detach_process_context_required()
    assert ctx.files_preserve is None and ctx.pidfile is None
    assert ctx.stdin is None and ctx.stdout is None and ctx.stderr is None
    assert ctx.signal_map == {signal.SIGTSTP: None, signal.SIGTTIN: None, signal.SIGTTOU: None,
                              signal.SIGTERM: 'terminate'}
    # A map of its own: programs update it in place (nrpe-ng does).
    assert DaemonContext().signal_map is not ctx.signal_map
    assert ctx.is_open is False


def test_options_are_plain_attributes_read_at_open():
    files = [7]
    ctx = DaemonContext(chroot_directory='/srv/jail', working_directory='/data', umask=0o027, uid=65534, gid=65534,
                        initgroups=True, prevent_core=False, detach_process=False, files_preserve=files,
                        stdout=1, signal_map={signal.SIGHUP: 'terminate'})
    assert (ctx.chroot_directory, ctx.working_directory, ctx.umask) == ('/srv/jail', '/data', 0o027)
    assert (ctx.uid, ctx.gid, ctx.initgroups, ctx.prevent_core, ctx.detach_process) == (65534, 65534, True, False,
                                                                                        False)
    assert ctx.files_preserve is files and ctx.stdout == 1
    # As in python-daemon, any value may be assigned before open(); open()
    # checks them (test_daemon_open).
    ctx.umask = 'not a mask'
    ctx.uid = None
    assert ctx.umask == 'not a mask' and ctx.uid is None
    files.append(8)
    assert ctx._get_exclude_file_descriptors() == {7, 8}


def test_close_before_open_does_nothing():
    class Pidfile:
        def __enter__(self):
            raise AssertionError('entered')

        def __exit__(self, *exc):
            raise AssertionError('exited')
    ctx = DaemonContext(pidfile=Pidfile())
    ctx.close()
    assert ctx.is_open is False
    with pytest.raises(AssertionError, match='entered'):
        ctx.pidfile.__enter__()


def test_terminate_raises_system_exit_naming_the_signal():
    with pytest.raises(SystemExit) as info:
        DaemonContext().terminate(signal.SIGTERM, None)
    assert str(info.value) == 'Terminating on signal {0!r}'.format(signal.SIGTERM)


def test_signal_map_values_are_made_handlers():
    def handler(signum, frame):
        pass

    class Context(DaemonContext):
        def reload(self, signum, frame):
            pass

    ctx = Context(signal_map={signal.SIGHUP: 'reload', signal.SIGUSR1: None, signal.SIGUSR2: handler,
                              signal.SIGINT: signal.SIG_DFL, signal.SIGPIPE: signal.SIG_IGN, signal.SIGTERM: 'terminate'})
    handlers = ctx._make_signal_handler_map()
    assert handlers[signal.SIGHUP] == ctx.reload
    assert handlers[signal.SIGUSR1] is signal.SIG_IGN
    assert handlers[signal.SIGUSR2] is handler
    assert handlers[signal.SIGINT] is signal.SIG_DFL and handlers[signal.SIGPIPE] is signal.SIG_IGN
    assert handlers[signal.SIGTERM] == ctx.terminate
    with pytest.raises(AttributeError, match='no_such_method'):
        ctx._make_signal_handler('no_such_method')


def test_exclude_file_descriptors_take_fds_and_files(tmp_path):
    with open(tmp_path / 'a', 'w') as a, open(tmp_path / 'b', 'w') as b:
        ctx = DaemonContext(files_preserve=[a, 9, None], stderr=b)
        assert ctx._get_exclude_file_descriptors() == {a.fileno(), 9, b.fileno()}
    # Closed files have no fd any more: refused, naming the item.
    with pytest.raises(DaemonOSEnvironmentError) as info:
        ctx._get_exclude_file_descriptors()
    assert 'files_preserve' in str(info.value) and str(tmp_path / 'a') in str(info.value)


def test_exception_types():
    assert issubclass(DaemonError, Exception) and issubclass(DaemonError, daemonctx.DaemonError)
    for cls in (DaemonOSEnvironmentError, DaemonProcessDetachError):
        assert issubclass(cls, DaemonError) and issubclass(cls, OSError)
    exc = DaemonOSEnvironmentError('cannot change directory to /x: No such file or directory', step='chdir',
                                   errno=errno.ENOENT)
    assert str(exc) == exc.message == 'cannot change directory to /x: No such file or directory'
    assert (exc.step, exc.errno, exc.step_value) == ('chdir', errno.ENOENT, daemonctx.Step.CHDIR)
    copy = pickle.loads(pickle.dumps(exc))
    assert (type(copy), str(copy), copy.step, copy.errno) == (DaemonOSEnvironmentError, str(exc), 'chdir',
                                                              errno.ENOENT)
    # python-daemon's way of making one still works.
    assert str(DaemonError('plain')) == 'plain' and DaemonError('plain').step is None
