"""The warm-start server: real forks of real scripts. A job forked from it behaves as the same script run in its
own process would: argv, directory, environment, streams, exit code, exceptions, signals both ways, and a killed
job's process or server takes the forked child with it."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, wait_for
from wdecay.io import warmstart

SCRIPTS = ROOT / "workflow" / "scripts"


@pytest.fixture(scope="module")
def server():
    address = warmstart.start()
    wait_for(Path(address.rsplit(":", 1)[0]), timeout=120)  # listening once it has imported torch and the rest
    yield address
    warmstart.stop(address)


def job(tmp_path, body: str, address: str, *args, wait=True):
    """Run ``body`` as a job script (its first step is the hand-off, as in joblog.send_to_log) in ``tmp_path``."""
    script = tmp_path / "job.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(SCRIPTS)!r})\nfrom wdecay.io import warmstart\nwarmstart.hand_off()\n"
        + textwrap.dedent(body)
    )
    env = os.environ | {warmstart.ENV: address, "JOB_SETTING": "42"}
    cmd = [sys.executable, str(script), *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_the_job_runs_in_a_child_of_the_server_with_its_own_argv_directory_environment_and_streams(tmp_path, server):
    body = """
        import os, sys
        print("out", sys.argv[1:], os.getcwd(), os.environ["JOB_SETTING"], os.environ.get("WDECAY_WARMSTART"))
        print("err", os.getpid(), os.getppid(), "torch" in sys.modules, file=sys.stderr)
        sys.exit(3)
    """
    result = job(tmp_path, body, server, "a", "b c")
    assert result.returncode == 3, result.stderr
    assert result.stdout.split("\n")[0] == f"out ['a', 'b c'] {tmp_path} 42 None"  # the job's subprocesses start cold
    _, pid, parent, preloaded = result.stderr.split()
    assert int(parent) == int(server.rsplit(":", 1)[1]) and preloaded == "True"


def test_exit_messages_and_exceptions_end_the_job_as_python_would(tmp_path, server):
    message = job(tmp_path, "import sys\nsys.exit('no such dataset: foo')\n", server)
    assert message.returncode == 1 and message.stderr.strip() == "no such dataset: foo"
    error = job(tmp_path, "raise ValueError('bad value')\n", server)
    assert error.returncode == 1 and "Traceback" in error.stderr and "ValueError: bad value" in error.stderr
    ok = job(tmp_path, "import atexit\natexit.register(print, 'at exit')\n", server)
    assert ok.returncode == 0 and ok.stdout == "at exit\n"  # the job's own exit handlers run


def test_a_signal_to_the_job_reaches_the_child_and_its_exit_code_comes_back(tmp_path, server):
    body = """
        import pathlib, signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # as a stopped training job
        pathlib.Path("ready").touch()
        time.sleep(60)
    """
    process = job(tmp_path, body, server, wait=False)
    wait_for(tmp_path / "ready")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143


def test_a_child_killed_by_a_signal_ends_its_job_by_the_same_signal(tmp_path, server):
    body = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"  # as the OOM killer would
    assert job(tmp_path, body, server).returncode == -signal.SIGKILL


def test_a_killed_job_takes_its_child_with_it(tmp_path, server):
    body = """
        import os, pathlib, time
        pathlib.Path("child.tmp").write_text(str(os.getpid()))
        os.replace("child.tmp", "child")  # whole when it appears
        time.sleep(60)
        pathlib.Path("finished").touch()
    """
    process = job(tmp_path, body, server, wait=False)
    wait_for(tmp_path / "child")
    child = psutil.Process(int((tmp_path / "child").read_text()))
    process.kill()
    child.wait(timeout=10)
    assert not (tmp_path / "finished").exists()


def test_without_a_server_the_job_runs_in_its_own_process(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    body = "import os\nprint(os.getpid())\n"
    result = job(tmp_path, body, f"{tmp_path}/none:{dead.stdout.strip()}")
    assert result.returncode == 0 and "is gone; the job runs in its own process" in result.stderr
    assert job(tmp_path, body, "0").stderr == ""  # off: silently in place


def test_the_server_stops_its_children_and_removes_its_socket(tmp_path):
    address = warmstart.start()
    path, pid = address.rsplit(":", 1)
    wait_for(Path(path), timeout=120)
    process = job(tmp_path, "import os, pathlib, time\npathlib.Path('child.tmp').write_text(str(os.getpid()))\n"
                  "os.replace('child.tmp', 'child')\ntime.sleep(60)\n", address, wait=False)  # fmt: skip
    wait_for(tmp_path / "child")
    child = psutil.Process(int((tmp_path / "child").read_text()))
    warmstart.stop(address)
    psutil.Process(int(pid)).wait(timeout=30)
    child.wait(timeout=10)
    assert process.wait(timeout=10) != 0 and not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_each_child_draws_fresh_unseeded_randomness_as_a_new_process_would(tmp_path, server):
    body = "import random\nimport numpy as np\nprint(random.random(), np.random.rand())\n"
    first, second = (job(tmp_path, body, server).stdout.split() for _ in range(2))
    assert first[0] != second[0] and first[1] != second[1]
