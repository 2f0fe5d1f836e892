# Type information of the daemonctx package (pep3143daemon's API on libdaemonctx).
import enum
import os
from types import FrameType, TracebackType
from typing import Any, Callable, Iterable, Mapping, Union

_Path = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
_Stream = Union[int, Any, None]  # an fd, an object with fileno(), or None for /dev/null
_SignalTarget = Union[Callable[[int, Union[FrameType, None]], Any], str, int, None]

__version__: str

class Step(enum.IntEnum):
    NONE: int
    OPTIONS: int
    USER: int
    PIDFILE: int
    PIPE: int
    FORK: int
    SETSID: int
    CHROOT: int
    CORE: int
    CHDIR: int
    SETGROUPS: int
    SETGID: int
    SETUID: int
    VERIFY_DROP: int
    SIGNALS: int
    CLOSE_FDS: int
    DEVNULL: int
    STDIO: int
    PIDFILE_WRITE: int
    REPORT: int
    READY: int
    EXEC: int
    WAIT: int
    DIED: int
    TIMEOUT: int
    INTERRUPTED: int
    APPLICATION: int
    LIMITS: int
    RUNTIME_DIR: int
    CGROUP: int
    @property
    def label(self) -> str: ...

class DaemonError(Exception):
    step: str | None
    step_value: Step | None
    errno: int | None
    message: str
    def __init__(self, *args: object, step: str | None = ..., errno: int | None = ...,
                 step_value: int | None = ...) -> None: ...

class DaemonOptionError(DaemonError, ValueError): ...
class DaemonOptionTypeError(DaemonError, TypeError): ...

class PidFileError(DaemonError, SystemExit):
    def __init__(self, *args: object, step: str | None = ..., errno: int | None = ...,
                 step_value: int | None = ...) -> None: ...

class AlreadyRunning(PidFileError): ...

def default_signal_map() -> dict[int, str | None]: ...

class DaemonContext:
    chroot_directory: str | None
    working_directory: str
    umask: int
    uid: int
    gid: int
    prevent_core: bool
    detach_process: bool
    files_preserve: Iterable[int | Any] | None
    pidfile: Any
    stdin: _Stream
    stdout: _Stream
    stderr: _Stream
    signal_map: Mapping[int, _SignalTarget]
    def __init__(self, chroot_directory: _Path | None = ..., working_directory: _Path = ..., umask: int = ...,
                 uid: int | None = ..., gid: int | None = ..., prevent_core: bool = ...,
                 detach_process: bool | None = ..., files_preserve: Iterable[int | Any] | None = ...,
                 pidfile: Any = ..., stdin: _Stream = ..., stdout: _Stream = ..., stderr: _Stream = ...,
                 signal_map: Mapping[int, _SignalTarget] | None = ...) -> None: ...
    @property
    def is_open(self) -> bool: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    def terminate(self, signal_number: int, stack_frame: FrameType | None) -> None: ...
    def __enter__(self) -> DaemonContext: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None: ...

class PidFile:
    def __init__(self, pidfile: _Path) -> None: ...
    @property
    def path(self) -> str: ...
    def acquire(self) -> None: ...
    def release(self) -> None: ...
    def fileno(self) -> int: ...
    def __enter__(self) -> PidFile: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None: ...
