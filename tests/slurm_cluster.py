"""A real single-node SLURM cluster with accounting, started in a folder for the tests and stopped afterwards.

Daemons, each started directly (there is no systemd) and waited for until it answers: munged (authentication),
mariadbd (the accounting database), slurmdbd (accounting, which `sacct` asks: the Snakemake SLURM plugin follows
its jobs with sacct), slurmctld (the controller) and slurmd (the node). Configs, keys, sockets, state, spool and
logs all live under the given folder; clients find the cluster through SLURM_CONF (see ``env``). Each daemon is
stopped by its PID, in reverse order. Needs the Debian packages of .ci/install-slurm, and root (the daemons and
jobs run as root).
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil

SBIN = ("/usr/sbin", "/usr/bin")
DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd")
CONFIG_CACHE = Path("/run/slurm/conf")  # slurmd's link to its configless copy of the configs
MUNGE_DEFAULT_SOCKET = Path("/run/munge/munge.socket.2")
CLIENTS = ("sbatch", "sacct", "sacctmgr", "scontrol", "sinfo", "srun")


def which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def slurm_available() -> bool:
    return os.geteuid() == 0 and all(which(name) for name in DAEMONS + CLIENTS)


def write_conf(path: Path, *sections: dict, **settings) -> None:
    """A SLURM config file: one Key=value line per setting."""
    lines = [f"{k}={v}" for section in (*sections, settings) for k, v in section.items()]
    path.write_text("\n".join(lines) + "\n")


def running(name: str) -> bool:
    """Whether a process of this name runs on the machine."""
    return any(p.info["name"] == name for p in psutil.process_iter(["name"]))


def remove_stale_link(link: Path, daemon: str) -> None:
    """Remove a link that a cluster killed before its stop() left behind (its daemon no longer runs)."""
    if link.is_symlink() and not running(daemon):
        link.unlink()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """``with SlurmCluster(folder) as cluster:`` a running cluster; ``cluster.env`` for its clients, ``account``
    and ``partition`` for sbatch, ``sacct_jobs()`` for what it ran."""

    account = "wdtest"
    partition = "debug"
    cluster_name = "wdtest"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.env = {"SLURM_CONF": str(self.root / "etc" / "slurm.conf")}
        self.started_at = None
        self.linked_socket = False

    # --- lifecycle ----------------------------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> None:
        if running("slurmd"):
            raise RuntimeError("a slurmd already runs on this machine: stop it first")
        remove_stale_link(CONFIG_CACHE, "slurmd")
        remove_stale_link(MUNGE_DEFAULT_SOCKET, "munged")
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 1))
        for sub in ("etc", "munge", "db", "state", "spool", "log", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # munged refuses sockets and keys under group/world-writable folders
        try:
            self._start_munge()
            self._start_mariadb()
            self._write_slurm_configs()
            self._start("slurmdbd", [which("slurmdbd"), "-D"])
            self._wait("slurmdbd", lambda: self._ok("sacctmgr", "-n", "list", "cluster"))
            self._sacctmgr("add", "cluster", self.cluster_name)
            self._start("slurmctld", [which("slurmctld"), "-D", "-i"])
            self._wait("slurmctld", lambda: "UP" in self._out("scontrol", "ping"))
            # configless: slurmd fetches slurm.conf from slurmctld and links its copy to /run/slurm/conf, where
            # clients inside jobs find it (the SLURM plugin's job step drops SLURM_CONF from their environment)
            conf_server = f"{self.host}:{self.ctld_port}"
            self._start(
                "slurmd", [which("slurmd"), "-D", "-N", self.host, "--conf-server", conf_server], configless=True
            )
            self._wait("slurmd", lambda: self._out("sinfo", "-h", "-o", "%T").strip() == "idle")
            self._sacctmgr("add", "account", self.account, f"cluster={self.cluster_name}")
            self._sacctmgr("add", "user", "root", f"account={self.account}", f"cluster={self.cluster_name}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM each daemon by its PID (newest first), SIGKILL what does not end within 20 s."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
        if self.linked_socket:
            MUNGE_DEFAULT_SOCKET.unlink(missing_ok=True)
            self.linked_socket = False
        CONFIG_CACHE.unlink(missing_ok=True)

    # --- daemons ------------------------------------------------------------------------------------------------

    def _start(self, name: str, args: list[str], configless: bool = False) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")
        env = os.environ | ({} if configless else self.env)
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root)
        log.close()
        self.processes.append((name, process))

    def _wait(self, name: str, ready, timeout: float = 60) -> None:
        process = dict(self.processes)[name]
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {process.returncode}" if process.poll() is not None else f"not ready in {timeout} s"
                raise RuntimeError(f"{name} {why}; its log ends with:\n{self.log_tail(name)}")
            time.sleep(0.2)

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = ""
        for path in (self.root / "log").glob(f"{name}*"):
            text += f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.munge_socket = self.root / "munge" / "munge.socket"
        self._start(
            "munged",
            [
                which("munged"),
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={self.root / 'run' / 'munged.pid'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
            ],
        )
        self._wait("munged", self.munge_socket.exists)
        # Some clients (sacctmgr, sacct in Slurm 22.05) ignore AuthInfo's socket and use munge's default path: the
        # one thing this puts outside the folder, a link that stop() removes.
        if not MUNGE_DEFAULT_SOCKET.exists():
            MUNGE_DEFAULT_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            MUNGE_DEFAULT_SOCKET.unlink(missing_ok=True)  # a dangling link from an earlier run
            MUNGE_DEFAULT_SOCKET.symlink_to(self.munge_socket)
            self.linked_socket = True

    def _start_mariadb(self) -> None:
        datadir, self.db_socket, self.db_port = self.root / "db", self.root / "run" / "mysqld.sock", free_port()
        subprocess.run(
            [which("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}", "--user=root", "--skip-test-db"],
            check=True,
            capture_output=True,
        )
        self._start(
            "mariadbd",
            [
                which("mariadbd"),
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={self.db_socket}",
                f"--pid-file={self.root / 'run' / 'mariadbd.pid'}",
                "--bind-address=127.0.0.1",
                f"--port={self.db_port}",
                "--user=root",
                f"--log-error={self.root / 'log' / 'mariadbd.log'}",
            ],
        )
        sql = "CREATE USER 'slurm'@'%' IDENTIFIED BY 'slurm'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'%';"
        self._wait("mariadbd", lambda: self._ok("mariadb", f"--socket={self.db_socket}", "-uroot", "-e", "SELECT 1"))
        subprocess.run(["mariadb", f"--socket={self.db_socket}", "-uroot", "-e", sql], check=True, capture_output=True)

    def _write_slurm_configs(self) -> None:
        etc, dbd_port, self.ctld_port = self.root / "etc", free_port(), free_port()
        run, log = self.root / "run", self.root / "log"
        auth = {
            "AuthType": "auth/munge",
            # cred_expire: also how long a requeued job waits before it may start again (default 120 s)
            "AuthInfo": f"socket={self.munge_socket},cred_expire=10",
        }
        dbd = etc / "slurmdbd.conf"  # read from SLURM_CONF's folder; slurmdbd wants it private
        write_conf(
            dbd,
            auth,
            DbdHost="localhost",
            DbdPort=dbd_port,
            SlurmUser="root",
            PidFile=run / "slurmdbd.pid",
            LogFile=log / "slurmdbd.log",
            StorageType="accounting_storage/mysql",
            StorageHost="127.0.0.1",
            StoragePort=self.db_port,
            StorageUser="slurm",
            StoragePass="slurm",
            StorageLoc="slurm_acct_db",
        )
        dbd.chmod(0o600)
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        write_conf(
            etc / "slurm.conf",
            auth,
            CredType="cred/munge",
            ClusterName=self.cluster_name,
            SlurmctldHost=self.host,
            SlurmctldPort=self.ctld_port,
            SlurmdPort=free_port(),
            SlurmUser="root",
            SlurmdUser="root",
            StateSaveLocation=self.root / "state",
            SlurmdSpoolDir=self.root / "spool",
            SlurmctldPidFile=run / "slurmctld.pid",
            SlurmdPidFile=run / "slurmd.pid",
            SlurmctldLogFile=log / "slurmctld.log",
            SlurmdLogFile=log / "slurmd.log",
            # no cgroups here: processes are tracked through /proc, tasks are not confined
            ProctrackType="proctrack/linuxproc",
            TaskPlugin="task/none",
            JobAcctGatherType="jobacct_gather/none",
            AccountingStorageType="accounting_storage/slurmdbd",
            AccountingStorageHost="localhost",
            AccountingStoragePort=dbd_port,
            JobCompType="jobcomp/none",
            MpiDefault="none",
            SelectType="select/cons_tres",
            SelectTypeParameters="CR_Core_Memory",
            ReturnToService=2,
            SlurmctldParameters="enable_configless",
            SchedulerParameters="sched_interval=1",
            MinJobAge=600,
            KillWait=10,
            InactiveLimit=0,
            NodeName=f"{self.host} CPUs={os.cpu_count() or 1} RealMemory={memory_mb - 1024} State=UNKNOWN",
            PartitionName=f"{self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        )

    # --- clients ------------------------------------------------------------------------------------------------

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [which(args[0]), *args[1:]], env=os.environ | self.env, capture_output=True, text=True, timeout=30
        )

    def _ok(self, *args: str) -> bool:
        return self._run(*args).returncode == 0

    def _out(self, *args: str) -> str:
        return self._run(*args).stdout

    def _sacctmgr(self, *args: str) -> None:
        result = self._run("sacctmgr", "-i", *args)
        if result.returncode != 0 and "Nothing new added" not in result.stdout + result.stderr:
            raise RuntimeError(f"sacctmgr {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def sacct_jobs(self) -> list[dict]:
        """Every job (allocation) since the cluster started, as sacct records it."""
        fields = ["JobID", "JobName", "State", "ExitCode"]
        out = self._out("sacct", "-X", "-n", "-P", f"--starttime={self.started_at}", f"--format={','.join(fields)}")
        return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line]
