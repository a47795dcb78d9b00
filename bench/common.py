"""Shared helpers of the benchmarks: paths, free ports, servers as subprocesses, statistics.

Every server a benchmark needs is started here as a subprocess on a free 127.0.0.1 port
and stopped by the benchmark when it is done. Nothing here talks to anything but the
loopback interface.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
LOGS = WORK / "logs"
VENV_BIN = ROOT / ".venv" / "bin"
PRODLOOP = VENV_BIN / "prodloop"
LITELLM_BIN = WORK / "litellm-venv" / "bin"
PORTKEY_DIR = WORK / "portkey"
PORTKEY_PACKAGE = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway"

MODEL = "gpt-4o-mini"
CHAT_PATH = "/v1/chat/completions"
# A small, ordinary chat request: what the added latency is measured on.
CHAT_BODY: dict[str, Any] = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one short sentence."},
    ],
    "max_tokens": 32,
}
STREAM_CHUNKS = 50


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_json(name: str, data: Any) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log(f"wrote {path.relative_to(ROOT)}")
    return path


def read_json(name: str) -> Any:
    path = WORK / name
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


# --- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of per-round figures: what the tables show."""
    return {
        "median": float(statistics.median(values)),
        "min": float(min(values)),
        "max": float(max(values)),
        "rounds": len(values),
    }


# --- processes ----------------------------------------------------------------------------


@dataclass
class Server:
    """A server started as a subprocess, with where it listens and where it logs."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss_kib(self) -> int:
        """Resident set size (VmRSS) of the server process, in KiB."""
        return rss_kib(self.pid)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_process(
    name: str,
    argv: Sequence[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=str(cwd or ROOT),
            start_new_session=True,  # its own process group: stopped with its children
        )
    log(f"started {name} (pid {process.pid}) on 127.0.0.1:{port}")
    return Server(name, port, process, log_path)


def stop(server: Server, timeout: float = 15.0) -> None:
    """SIGINT the server's process group, then SIGKILL what is left after `timeout`."""
    if server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGINT)
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=5)
    log(f"stopped {server.name} (exit {server.process.returncode})")


def wait_http(
    server: Server,
    path: str = "/",
    *,
    timeout: float = 120.0,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    expect_ok: bool = False,
) -> None:
    """Wait until the server answers HTTP on its port (any status, or 2xx when `expect_ok`)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            conn.close()
            if not expect_ok or 200 <= response.status < 300:
                return
            last = f"HTTP {response.status}: {data[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(
        f"{server.name} not ready after {timeout:.0f} s ({last}):\n{server.log_tail()}"
    )


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[None]:
    try:
        yield
    finally:
        for server in reversed(servers):
            stop(server)


# --- the servers --------------------------------------------------------------------------


def start_upstream(name: str = "upstream", profile: str = "fast", latency_ms: float = 0) -> Server:
    """The fake OpenAI-compatible upstream, built with STREAM_CHUNKS chunks per stream.

    With `latency_ms`, every answer takes that long; a stream spreads it evenly between its
    chunks (the first one goes out at once).
    """
    port = free_port()
    argv = [
        str(VENV_BIN / "python"),
        str(BENCH / "upstream.py"),
        "--port",
        str(port),
        "--profile",
        profile,
        "--chunks",
        str(STREAM_CHUNKS),
        "--latency-ms",
        str(latency_ms),
    ]
    server = start_process(name, argv, port)
    wait_http(server, "/v1/models", timeout=60)
    return server


@dataclass
class Target:
    """Something the benchmarks send chat requests to: the upstream itself or a gateway."""

    name: str
    port: int
    headers: dict[str, str]
    path: str = CHAT_PATH
    server: Server | None = None
    model: str = MODEL  # the model name the target is asked for
    paced: Target | None = None  # the same gateway routing to the paced upstream


def direct_target(upstream: Server) -> Target:
    return Target(
        "direct",
        upstream.port,
        {"content-type": "application/json", "authorization": "Bearer sk-bench-direct"},
    )


PACED_MODEL = f"{MODEL}-paced"


def start_prodloop(
    upstream: Server, *, name: str = "prodloop", paced: Server | None = None
) -> tuple[Server, Target]:
    """`prodloop up --gateway-only` with a service in front of the upstream.

    With `paced`, a second service (its own gateway key) fronts the paced upstream.
    """
    port = free_port()
    run_dir = WORK / name
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in run_dir.glob("store.db*"):
        old.unlink()
    key = "gw-bench-" + secrets.token_hex(12)
    paced_key = "gw-bench-paced-" + secrets.token_hex(12)
    paced_service = (
        f"""  paced:
    stable: v1
    keys: ["${{BENCH_PACED_KEY}}"]
    versions:
      v1:
        upstream: http://127.0.0.1:{paced.port}/v1
"""
        if paced
        else ""
    )
    config = run_dir / "prodloop.yaml"
    config.write_text(
        f"""# Written by bench/: one service in front of the fake upstream.
store:
  url: sqlite:///{run_dir / "store.db"}
gateway:
  host: 127.0.0.1
  port: {port}
  require_key: true
control:
  host: 127.0.0.1
  port: {free_port()}
services:
  bench:
    stable: v1
    keys: ["${{BENCH_KEY}}"]
    versions:
      v1:
        upstream: http://127.0.0.1:{upstream.port}/v1
{paced_service}""",
        encoding="utf-8",
    )
    argv = [str(PRODLOOP), "up", "--gateway-only", "--config", str(config)]
    server = start_process(name, argv, port, env={"BENCH_KEY": key, "BENCH_PACED_KEY": paced_key})
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    wait_ok(server, headers)
    target = Target("prodloop", port, headers, server=server)
    if paced:
        paced_headers = {**headers, "authorization": f"Bearer {paced_key}"}
        target.paced = Target("prodloop", port, paced_headers, server=server)
    return server, target


def wait_ok(
    server: Server, headers: dict[str, str], model: str = MODEL, timeout: float = 120
) -> None:
    """Wait until a chat completion through the server succeeds."""
    body = json.dumps({**CHAT_BODY, "model": model}).encode()
    wait_http(
        server, CHAT_PATH, method="POST", body=body, headers=headers, expect_ok=True,
        timeout=timeout,
    )  # fmt: skip


def litellm_version() -> str | None:
    return _venv_package_version(LITELLM_BIN / "python", "litellm")


def portkey_version() -> str | None:
    package = PORTKEY_PACKAGE / "package.json"
    if not package.exists():
        return None
    return str(json.loads(package.read_text(encoding="utf-8"))["version"])


def _venv_package_version(python: Path, package: str) -> str | None:
    if not python.exists():
        return None
    result = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None


def start_litellm(upstream: Server, paced: Server | None = None) -> tuple[Server, Target]:
    """The LiteLLM proxy: its own venv, one worker, no database.

    With `paced`, the model name PACED_MODEL routes to the paced upstream.
    """
    port = free_port()
    run_dir = WORK / "litellm"
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_dir / "config.yaml"
    models = [(MODEL, upstream)] + ([(PACED_MODEL, paced)] if paced else [])
    entries = "".join(
        f"""  - model_name: {name}
    litellm_params:
      model: openai/{MODEL}
      api_base: http://127.0.0.1:{server.port}/v1
      api_key: sk-bench-dummy
"""
        for name, server in models
    )
    config.write_text(
        f"""# Written by bench/: models routed to the fake upstream, no database.
model_list:
{entries}litellm_settings:
  telemetry: false
""",
        encoding="utf-8",
    )
    argv = [
        str(LITELLM_BIN / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    master_key = "sk-bench-" + secrets.token_hex(12)  # LiteLLM refuses to start without one
    env = {
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price map from the network
        "DISABLE_SCHEMA_UPDATE": "True",
        "NO_DOCS": "True",
    }
    # LiteLLM must not find prodloop's (or any) database settings in the environment.
    env_clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env_clean.update(env)
    server = start_process("litellm", argv, port, env=env_clean)
    headers = {"content-type": "application/json", "authorization": f"Bearer {master_key}"}
    wait_ok(server, headers, timeout=240)
    target = Target("litellm", port, headers, server=server)
    if paced:
        target.paced = Target("litellm", port, headers, server=server, model=PACED_MODEL)
    return server, target


def portkey_entry() -> Path:
    """The Node entry point of the Portkey gateway package."""
    for candidate in ("build/start-server.js", "dist/start-server.js", "start-server.js"):
        path = PORTKEY_PACKAGE / candidate
        if path.exists():
            return path
    package = json.loads((PORTKEY_PACKAGE / "package.json").read_text(encoding="utf-8"))
    bin_field = package.get("bin")
    if isinstance(bin_field, dict) and bin_field:
        return PORTKEY_PACKAGE / next(iter(bin_field.values()))
    if isinstance(bin_field, str):
        return PORTKEY_PACKAGE / bin_field
    raise RuntimeError("cannot find the Portkey gateway's entry point (run bench/setup.sh)")


def start_portkey(upstream: Server, paced: Server | None = None) -> tuple[Server, Target]:
    """The Portkey gateway on Node, routed to the upstream with its custom-host header."""
    port = free_port()
    argv = ["node", str(portkey_entry()), f"--port={port}", "--headless"]
    server = start_process("portkey", argv, port, env={"PORT": str(port), "NODE_ENV": "production"})

    def headers_for(origin: Server) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "authorization": "Bearer sk-bench-dummy",
            "x-portkey-provider": "openai",
            "x-portkey-custom-host": f"http://127.0.0.1:{origin.port}/v1",
        }

    wait_ok(server, headers_for(upstream), timeout=60)
    target = Target("portkey", port, headers_for(upstream), server=server)
    if paced:
        target.paced = Target("portkey", port, headers_for(paced), server=server)
    return server, target


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {"nproc": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip('"')
    info["kernel"] = os.uname().release
    info["python"] = sys.version.split()[0]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    info["node"] = node.stdout.strip() or None
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    info["wrk"] = " ".join((wrk.stdout + wrk.stderr).split()[:2]) or None  # "wrk debian/4.1.0-…"
    info["litellm"] = litellm_version()
    info["portkey"] = portkey_version()
    info["prodloop"] = _venv_package_version(VENV_BIN / "python", "prodloop")
    info["uvicorn"] = _venv_package_version(VENV_BIN / "python", "uvicorn")
    info["sqlite"] = _sqlite_version()
    pg = subprocess.run(["pg_ctl", "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"\) (\S+)", pg.stdout)
    info["postgresql"] = match.group(1) if pg.returncode == 0 and match else None
    info["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return info


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


# --- a throwaway PostgreSQL cluster -----------------------------------------------------------


def _pg_binary(name: str) -> str:
    import shutil

    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise RuntimeError(f"{name} is not installed (apt-get install -y postgresql)")


def _as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: a root run drops to the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """initdb into a temporary folder, start on a free port (fsync on, the default).

    Yields the server URL without a database name; the cluster and its folder are removed
    afterwards.
    """
    import shutil
    import tempfile

    initdb = _pg_binary("initdb")
    pg_ctl = _pg_binary("pg_ctl")
    tmp = Path(tempfile.mkdtemp(prefix="prodloop-bench-pg-"))
    data = tmp / "data"
    if os.geteuid() == 0:
        shutil.chown(tmp, user="postgres", group="postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1"
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(tmp / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    log(f"started PostgreSQL on 127.0.0.1:{port}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(tmp, ignore_errors=True)
        log("stopped PostgreSQL")


def create_database(server_url: str, name: str) -> str:
    """A fresh database on the cluster; returns its SQLAlchemy URL."""
    import psycopg

    admin = server_url.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


# --- wrk ----------------------------------------------------------------------------------

WRK_SCRIPT = BENCH / "wrk_post.lua"


def run_wrk(
    target: Target,
    *,
    duration_s: int = 10,
    connections: int = 32,
    threads: int = 2,
    max_requests: int | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `wrk --latency` with the POST script; the summary the script prints, as a dict.

    With `max_requests`, each thread stops after its share and wrk is ended as soon as all
    threads have (wrk would otherwise sleep out its full duration); `duration_s` then
    bounds the run.
    """
    env = dict(os.environ)
    env["BENCH_BODY"] = json.dumps(body or CHAT_BODY)
    env["BENCH_HEADERS"] = "\n".join(
        f"{k}: {v}" for k, v in target.headers.items() if k.lower() != "content-type"
    )
    env["BENCH_THREADS"] = str(threads)
    env["BENCH_MAX_REQUESTS"] = str(max_requests or 0)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT.relative_to(ROOT)),
        f"http://127.0.0.1:{target.port}{target.path}",
    ]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=str(ROOT)
    )
    if max_requests:
        deadline = time.monotonic() + duration_s + 30
        time.sleep(0.2)
        while process.poll() is None and time.monotonic() < deadline:
            try:
                tasks = len(os.listdir(f"/proc/{process.pid}/task"))
            except FileNotFoundError:
                break
            if tasks <= 1:  # every load thread has stopped: only wrk's main thread is left
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
    try:
        out, _ = process.communicate(timeout=duration_s + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            summary: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            seconds = summary["duration_us"] / 1e6
            summary["seconds"] = seconds
            summary["requests_per_s"] = summary["requests"] / seconds if seconds else 0.0
            summary["error_count"] = sum(summary["errors"].values())
            summary["command"] = " ".join([*argv[:-1], "URL"])
            return summary
    raise RuntimeError(f"wrk printed no summary (exit {process.returncode}):\n{out[-2000:]}")
