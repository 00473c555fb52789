"""ApiReader downloads past the limits: a gzip bomb and an endless stream fetched through
``ApiReader.fetch`` with the default limits (which limit refused it, what was written, how
soon, and that no file is left), and a normal body's throughput with the limits on against
the download code before them (the baseline, from git, in the same run).

    python benchmarks/bench_download_limits.py [--rows 5000000] [--rounds 5]

The service is a separate process on loopback (aiohttp): ``/download/bomb`` is a gzip body with
its Content-Length, members of 64 MiB of 1 KiB rows, 20 GiB decoded from about 47 MB;
``/download/endless`` sends rows like the reference service's (an 11-digit id and 3
features, 31 bytes) for ever, chunked, without a length; ``/download/normal`` sends ``--rows``
of them with a Content-Length. The fetches run in this process, one at a time, into a
temporary directory (``--dir``): the bomb writes up to ``hooks.download.max_bytes`` (4 GiB)
there before it is refused and removed. The baseline is the http plugin's ``download`` of
``--baseline`` (default: the last commit before the limits), loaded from git and run in place
of ours; rounds alternate which goes first. Throughput is the feature file's bytes over the
download's time (from the job's success to the fetch's end), and over the fetching process's
CPU time in that while; the ratio is ours over the baseline's (1.0: as fast).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_args import positive_int

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "02921a8"  # main's last commit before the download limits
MB = 1e6
ROW = b"10000000000,0.4965,0.1234,7000\n"  # 31 bytes: an 11-digit id and 3 features
WIDE_ROW = b"1," + b"0" * 1022 + b"\n"  # 1 KiB: the bomb passes the byte limit first
MEMBER_BYTES = 64 << 20  # decoded bytes of one gzip member of the bomb
BOMB_MEMBERS = 320  # 20 GiB decoded
CHUNK = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the service (its own process) -------------------------------------------------------------


def rows_body(count: int) -> bytes:
    return b"id,x0,x1,x2\n" + ROW * count


def gzip_member() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    block = WIDE_ROW * 1024
    parts = [packer.compress(block) for _ in range(MEMBER_BYTES // len(block))]
    return b"".join([*parts, packer.flush()])


def serve(port: int, rows: int) -> None:
    """The feature service: upload, query and the three downloads, until terminated."""
    from aiohttp import web

    member, normal = gzip_member(), rows_body(rows)
    endless = ROW * (CHUNK // len(ROW))

    async def upload(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"code": 0, "data": {"jobId": "bench"}})

    async def query(request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "data": {"status": "success"}})

    async def download(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        response = web.StreamResponse(headers={"Content-Type": "text/csv"})
        if kind == "bomb":
            response.headers["Content-Encoding"] = "gzip"
            response.content_length = len(member) * BOMB_MEMBERS
        elif kind == "normal":
            response.content_length = len(normal)
        await response.prepare(request)
        try:
            if kind == "bomb":
                for _ in range(BOMB_MEMBERS):
                    await response.write(member)
            elif kind == "normal":
                view = memoryview(normal)
                for start in range(0, len(normal), CHUNK):
                    await response.write(view[start : start + CHUNK])
            else:
                await response.write(b"id,x0,x1,x2\n")
                while True:
                    await response.write(endless)
        except (ConnectionResetError, ConnectionError):
            pass  # the fetch stopped reading: refused, as it should
        return response

    app = web.Application()
    app.router.add_post("/upload", upload)
    app.router.add_post("/query", query)
    app.router.add_post("/download/{kind}", download)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextmanager
def service(rows: int) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--rows", str(rows)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's service did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- the fetching side --------------------------------------------------------------------------


def baseline_plugin(ref: str) -> Any:
    """The http plugin's ``download`` as it was at ``ref``, as a plugin (its other modules are
    today's: only the download changed)."""
    import fate_registry_http
    from fate_registry import hookimpl

    path = "plugins/fate_registry_http/apireader.py"
    shown = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:{path}"], capture_output=True, text=True
    )
    if shown.returncode != 0:
        sys.exit(f"--baseline {ref}: git cannot show {path}: {shown.stderr.strip()}")
    module = types.ModuleType("fate_registry_http.apireader_baseline")
    module.__package__ = "fate_registry_http"
    exec(compile(shown.stdout, f"{ref}:{path}", "exec"), module.__dict__)

    class Baseline:
        @hookimpl
        def download(self, context: Any, request: Any) -> Any:
            found = fate_registry_http.resolve(context)
            return None if found is None else module.download(context, found, request)

    return Baseline()


def readers(db_url: str, ref: str) -> dict[str, Any]:
    """An ApiReader of server BENCH with today's http plugin, and one with the baseline's
    download; both with the default settings (the default limits)."""
    import fate_registry_http
    from fate_registry import Registry
    from fate_registry.apireader import ApiReader
    from fate_registry.dispatch import Dispatcher
    from fate_registry.metrics import HookMetrics
    from fate_registry.plugins import build_plugin_manager
    from fate_registry.settings import HooksSettings

    registry = Registry(db_url, cache_ttl=0)
    made = {}
    for label, chain in (("limits", "http"), (ref, "baseline")):
        plugins = build_plugin_manager(load=set(), entry_points=[])
        plugins.register(fate_registry_http, "http")  # upload and query for both
        plugins.register(baseline_plugin(ref), "baseline")
        settings = HooksSettings(download={"chain": [chain]})  # and the default limits
        hooks = Dispatcher(registry, settings=settings, plugins=plugins, metrics=HookMetrics())
        made[label] = ApiReader(hooks, "BENCH")
    return made


def fetch(reader: Any, dest: Path) -> dict[str, Any]:
    """One fetch; what it wrote, how long its download took, and how it ended."""
    from fate_registry.apireader import FetchFailed, Progress

    marks: dict[str, Any] = {"bytes": 0, "rows": 0}

    def progress(event: Progress) -> None:
        if event.step == "wait":
            marks["start"], marks["cpu_start"] = time.perf_counter(), time.process_time()
        elif event.step in ("download", "done"):
            marks["bytes"], marks["rows"] = event.bytes, event.rows

    try:
        reader.fetch(["1"], dest, progress=progress, sleep=lambda _: None)
        marks["refused"] = None
    except FetchFailed as failed:
        marks["refused"] = str(failed)
    marks["seconds"] = time.perf_counter() - marks["start"]
    marks["cpu"] = time.process_time() - marks["cpu_start"]  # this process's threads
    marks["left"] = sorted(p.name for p in dest.parent.iterdir())
    return marks


def which(refusal: str | None) -> str:
    """The limit a refusal names: one of hooks.download's, or its deadline."""
    if refusal is None:
        return "not refused"
    found = re.search(r"hooks\.download\.\w+ = [\d,]+ \w+", refusal)
    if found:
        return found.group(0)
    late = re.search(r"timed out after [\d.]+ s|not finished at the deadline", refusal)
    return f"the download's deadline, hooks.download.budget ({late.group(0)})" if late else refusal


def attack(label: str, reader: Any, registry_db: str, kind: str, out: Path) -> None:
    from fate_registry import Registry

    with Registry(registry_db) as registry:
        registry.register_service("BENCH", "download", f"/download/{kind}")
    result = fetch(reader, out / f"{kind}.csv")
    print(f"{label}:")
    print(f"  refused at: {which(result['refused'])}")
    print(f"  written before the refusal: {result['bytes']:,} bytes, {result['rows']:,} rows")
    print(f"  time to refusal: {result['seconds']:.1f} s (from the job's success)")
    print(f"  files left: {', '.join(result['left']) or 'none'}")


def throughput(readers: dict[str, Any], registry_db: str, rounds: int, out: Path) -> None:
    """Rounds of the normal body by each reader, in turn; MB per second of wall-clock time, and
    MB per CPU second of this process (the less disturbed by other work on the machine)."""
    from fate_registry import Registry

    with Registry(registry_db) as registry:
        registry.register_service("BENCH", "download", "/download/normal")
    labels = list(readers)
    wall: dict[str, list[float]] = {label: [] for label in labels}
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    for round_ in range(rounds):
        for label in labels if round_ % 2 == 0 else labels[::-1]:
            result = fetch(readers[label], out / "normal.csv")
            assert result["refused"] is None, result["refused"]
            wall[label].append(result["bytes"] / MB / result["seconds"])
            cpu[label].append(result["bytes"] / MB / result["cpu"])
            (out / "normal.csv").unlink()
        ours, base = labels
        print(f"  round {round_ + 1}: wall {wall[ours][-1]:.0f} vs {wall[base][-1]:.0f} MB/s "
              f"({wall[ours][-1] / wall[base][-1]:.2f}), CPU {cpu[ours][-1]:.0f} vs "
              f"{cpu[base][-1]:.0f} MB/CPU-s ({cpu[ours][-1] / cpu[base][-1]:.2f})")  # fmt: skip
    for name, figures, unit in (("wall", wall, "MB/s"), ("CPU", cpu, "MB/CPU-s")):
        for label in labels:
            got = figures[label]
            print(f"  {name} {label}: median {statistics.median(got):.0f} {unit} "
                  f"({min(got):.0f}-{max(got):.0f})")  # fmt: skip
        ratios = [a / b for a, b in zip(figures[labels[0]], figures[labels[1]], strict=True)]
        print(f"  {name} ratio limits/{labels[1]}: median {statistics.median(ratios):.2f} "
              f"(per round {min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=positive_int, default=5_000_000, help="the normal body")
    parser.add_argument("--rounds", type=positive_int, default=5, help="rounds of the normal body")
    parser.add_argument("--baseline", default=BASELINE, help="git ref of the baseline's download")
    parser.add_argument("--dir", type=Path, default=None, help="where the fetches write")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.rows)
        return
    from fate_registry import Registry
    from fate_registry.settings import HooksSettings

    limits = HooksSettings().download
    print(f"default limits: max_bytes {limits.max_bytes:,}, max_rows {limits.max_rows:,}; "
          f"download budget {limits.budget:g} s")  # fmt: skip
    with tempfile.TemporaryDirectory(dir=args.dir) as home, service(args.rows) as port:
        db_url = f"sqlite:///{Path(home) / 'registry.db'}"
        with Registry(db_url) as registry:
            registry.register_server("BENCH", "127.0.0.1", port)
            registry.register_service("BENCH", "upload", "/upload")
            registry.register_service("BENCH", "query", "/query")
        out = Path(home) / "out"
        out.mkdir()
        made = readers(db_url, args.baseline)
        wire = BOMB_MEMBERS * len(gzip_member())
        print(f"gzip bomb: {BOMB_MEMBERS * MEMBER_BYTES / 2**30:.0f} GiB of 1 KiB rows, "
              f"{wire / MB:.1f} MB on the wire with its Content-Length")  # fmt: skip
        attack("gzip bomb", made["limits"], db_url, "bomb", out)
        attack("endless stream (31-byte rows, chunked)", made["limits"], db_url, "endless", out)
        size = len(rows_body(args.rows))
        print(f"normal body: {args.rows:,} rows, {size / MB:.0f} MB with its Content-Length, "
              f"{args.rounds} rounds, on {os.cpu_count()} CPUs")  # fmt: skip
        throughput(made, db_url, args.rounds, out)


if __name__ == "__main__":
    main()
