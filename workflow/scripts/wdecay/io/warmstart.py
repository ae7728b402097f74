"""Warm start of a local run's jobs: one server process per Snakemake run imports torch, pandas and matplotlib
once, and each job script forks from it instead of importing them again (about 2-4 s of every job's start-up on a
2-core machine, a third of the tiny preset's time).

The Snakefile starts the server for a local run (not for a cluster's jobs, which run where their scheduler puts
them) and exports its address in ``WDECAY_WARMSTART``; ``WDECAY_WARMSTART=0`` turns it off. A job script's first
step, ``joblog.send_to_log``, calls ``hand_off``: the job's process (the one Snakemake started) sends its argv,
working directory, environment and standard streams to the server, which forks a child that runs the same script
with them from the start. The job's process stays as the child's stand-in: it forwards the signals it gets, and it
ends as the child ended (its exit code, or the same signal). If the job's process dies, the server kills the child;
if the server dies, its children die with it (PR_SET_PDEATHSIG). Without a server the job simply runs where it is.

Rule benchmarks measure the job's process only: under a warm start their wall time is right, but their CPU time and
memory leave out the child (turn the warm start off to measure those)."""

import contextlib
import ctypes
import os
import pickle
import runpy
import selectors
import signal
import socket
import struct
import sys

ENV = "WDECAY_WARMSTART"  # "<socket path>:<server pid>", or "0" for off
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT)
PRELOAD = ("torch", "numpy", "pandas", "pyarrow.parquet", "matplotlib.pyplot", "seaborn", "snakemake.script")
_in_child = False  # set in a forked child: its script's own hand_off is a no-op


# --- the job's side -----------------------------------------------------------------------------------------------


def hand_off() -> None:
    """Run this job script in a child of the warm server and exit as that child does; return (run here) when no
    server is set or reachable, or when this already is the child."""
    address = os.environ.get(ENV, "0")
    if _in_child or address == "0":
        return
    path, server = address.rsplit(":", 1)
    conn = _connect(path, int(server))
    if conn is None:
        return
    env = {k: v for k, v in os.environ.items() if k != ENV}  # the job's own subprocesses start cold
    request = pickle.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": env})
    socket.send_fds(conn, [struct.pack("!Q", len(request)) + request], [0, 1, 2])
    (child,) = struct.unpack("!i", _read(conn, 4))
    for signum in FORWARDED:
        signal.signal(signum, lambda s, _frame: _signal(child, s))
    reply = _read(conn, 4)
    if len(reply) < 4:  # the server died
        os._exit(1)
    (code,) = struct.unpack("!i", reply)
    if code < 0:  # killed by a signal: end the same way
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # the two that have no handler to reset
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code if code >= 0 else 128 - code)


def _connect(path: str, server: int) -> socket.socket | None:
    """A connection to the server; None if it is not listening yet (still importing: this job runs where it is,
    rather than wait) or is gone (said in the job's output)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        return conn
    except OSError:
        conn.close()
    try:
        os.kill(server, 0)
    except ProcessLookupError:
        print(f"warm start: the server {server} is gone; the job runs in its own process", file=sys.stderr)
    return None


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


# --- the server -------------------------------------------------------------------------------------------------


def start() -> str:
    """Start a server for this process's run (the Snakefile's onstart); its address for ``ENV`` ("0": none, where
    the temporary directory's path is too long for a socket)."""
    import subprocess
    import tempfile

    path = os.path.join(tempfile.mkdtemp(prefix="wdecay-warmstart-"), "socket")
    if len(path) > 100:  # sockaddr_un holds 108 bytes
        os.rmdir(os.path.dirname(path))
        return "0"
    cmd = [sys.executable, "-c", "import sys; from wdecay.io import warmstart; warmstart.serve(sys.argv[1])", path]
    scripts = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's wdecay
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [scripts, os.environ.get("PYTHONPATH")]))}
    server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
    return f"{path}:{server.pid}"


def stop(address: str) -> None:
    """Stop the server of ``address`` (the Snakefile's onsuccess and onerror); it kills any child still running
    and removes its socket."""
    if address != "0":
        _signal(int(address.rsplit(":", 1)[1]), signal.SIGTERM)


def serve(path: str) -> None:
    """Import PRELOAD, then fork one child per job that connects, until SIGTERM or until the process that started
    this one (Snakemake) is gone. Single-threaded: a child is forked from a process with no threads of its own."""
    import gc
    import importlib

    gc.disable()  # as in a job (joblog): no collections among the imports' objects, which then stay frozen
    import matplotlib

    matplotlib.use("Agg")
    for module in PRELOAD:
        importlib.import_module(module)
    gc.freeze()
    gc.enable()
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the jobs; Snakemake then stops this server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{path}.new")
    listener.listen(64)
    os.rename(f"{path}.new", path)  # the socket appears once it accepts
    jobs = selectors.DefaultSelector()
    jobs.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # pid -> the job's connection
    try:
        while os.getppid() == parent:
            for key, _ in jobs.select(timeout=1.0):
                if key.fileobj is listener:
                    conn, _addr = listener.accept()
                    pid = _fork_job(conn, jobs)
                    if pid is None:
                        conn.close()
                        continue
                    children[pid] = conn
                    pidfd = os.pidfd_open(pid)
                    jobs.register(conn, selectors.EVENT_READ, ("job", pid))
                    jobs.register(pidfd, selectors.EVENT_READ, ("exit", pid))
                    conn.sendall(struct.pack("!i", pid))
                elif not any(k is key for k in jobs.get_map().values()):  # closed by an earlier event here
                    continue
                elif key.data[0] == "job":  # the job's process is gone: so is its child
                    jobs.unregister(key.fileobj)
                    _signal(key.data[1])
                else:
                    pid = key.data[1]
                    jobs.unregister(key.fileobj)
                    os.close(key.fileobj)
                    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                    conn = children.pop(pid)
                    if any(k.fileobj is conn for k in jobs.get_map().values()):
                        jobs.unregister(conn)
                    with contextlib.suppress(OSError):  # the job's process may be gone
                        conn.sendall(struct.pack("!i", code))
                    conn.close()
    finally:
        for pid in children:
            _signal(pid)
        os.unlink(path)
        os.rmdir(os.path.dirname(path))


def _signal(pid: int, signum: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _fork_job(conn: socket.socket, jobs: selectors.BaseSelector) -> int | None:
    """Fork the child that runs the job sent on ``conn``; its pid (None for a malformed request)."""
    conn.settimeout(10.0)
    try:
        head, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
        if len(fds) != 3 or len(head) < 8:
            raise OSError("expected three streams and a request")
        (size,) = struct.unpack("!Q", head[:8])
        data = head[8:] + _read(conn, size - len(head) + 8)
        request = pickle.loads(data)
    except (OSError, pickle.UnpicklingError, struct.error) as error:
        print(f"warm start: bad request: {error}", file=sys.stderr)
        return None
    conn.settimeout(None)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    # the child (it never returns to the server's loop): the job's streams, directory, environment and argv,
    # default signal handling, none of the server's connections; then the job's script
    code = 1
    try:
        server = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the server
        if os.getppid() != server:
            os._exit(1)
        for key in list(jobs.get_map().values()):  # the listener, other jobs' connections and pidfds
            key.fileobj.close() if isinstance(key.fileobj, socket.socket) else os.close(key.fileobj)
        jobs.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        code = _run_script(request["argv"])
    finally:
        os._exit(code)


def _run_script(argv: list[str]) -> int:
    """Run the job script as ``python argv...`` would; its exit code."""
    global _in_child
    import atexit

    _in_child = True
    sys.argv = list(argv)
    sys.modules["numpy"].random.seed()  # fresh entropy, as in a new process (Python's random reseeds at fork itself)
    code = 0
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exit_:
        if exit_.code is None:
            code = 0
        elif isinstance(exit_.code, int):
            code = exit_.code
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return code
