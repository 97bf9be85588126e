"""The generated site served by a child process on 127.0.0.1, so serving costs the measured process nothing.

The child binds a free port and prints it; the parent renders the site for that address, hands the
bytes over in a pickle file, and the child answers every path from memory (404 for the rest).
"""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.pages import Site


class ServedSite:
    """``with ServedSite(lambda base: build_site(n, base)) as served: served.site, served.base_url``.

    `latency` seconds pass before each answer, as with a distant site (0: answer at once).
    """

    def __init__(self, build: Callable[[str], Site], *, latency: float = 0.0) -> None:
        self.build = build
        self.latency = latency
        self.site: Site | None = None
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="swbench-site-")

    def __enter__(self) -> ServedSite:
        self._proc = subprocess.Popen([sys.executable, "-m", "bench.site", str(self.latency)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        assert self._proc.stdin and self._proc.stdout
        port = int(self._proc.stdout.readline().split()[1])
        self.base_url = f"http://127.0.0.1:{port}"
        self.site = self.build(self.base_url)
        path = Path(self._tmp.name) / "files.pickle"
        path.write_bytes(pickle.dumps(self.site.files))
        self._proc.stdin.write(f"{path}\n")
        self._proc.stdin.flush()
        if self._proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark site's server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc:
            self._proc.kill()
            self._proc.wait()
        self._tmp.cleanup()


def serve() -> None:
    """Child side: bind, print the port, load the files named on stdin, answer until killed."""
    asyncio.run(_serve())


async def _serve() -> None:
    global _LATENCY
    _LATENCY = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    server = await asyncio.start_server(_connection, "127.0.0.1", 0)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    path = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    files = pickle.loads(Path(path.strip()).read_bytes())
    _RESPONSES.update({p: _response(200, ctype, body) for p, (ctype, body) in files.items()})
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


_RESPONSES: dict[str, bytes] = {}
_LATENCY = 0.0
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"


def _response(status: int, content_type: str, body: bytes) -> bytes:
    # head and body in one write: two small writes would meet Nagle and delayed ACKs (~40 ms each)
    head = f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 keep-alive: answer GETs from memory until the client closes."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0]
            if _LATENCY:
                await asyncio.sleep(_LATENCY)
            writer.write(_RESPONSES.get(target, _NOT_FOUND))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, IndexError):
        pass
    finally:
        writer.close()


if __name__ == "__main__":
    serve()
