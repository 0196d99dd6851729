"""A local HTTP server (127.0.0.1 only) speaking the part of the Hugging Face Hub API that
`huggingface_hub.snapshot_download` uses for a dataset repository, read from
huggingface_hub 2.4's source (hf_api.dataset_info, _iter_repo_tree_pages,
file_download.get_hf_file_metadata / http_get):

    GET  /api/datasets/OWNER/NAME/revision/REV        -> {"id", "sha", "siblings"}
    GET  /api/datasets/OWNER/NAME/tree/REV?recursive=  -> [{"type": "file", "path", "size", "oid"}]
    HEAD /datasets/OWNER/NAME/resolve/REV/PATH         -> X-Repo-Commit, ETag, Content-Length
    GET  /datasets/OWNER/NAME/resolve/REV/PATH         -> the bytes (Range honoured)

Each revision is a dict {path: bytes}; branches map to commits. Every request is logged,
and a file can be made to hang once (`hang_once`) to test a killed download.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self, repo: str):
        self.repo = repo
        self.commits: dict[str, dict[str, bytes]] = {}
        self.branches: dict[str, str] = {}
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.hang_once: set[str] = set()
        self.hanging = threading.Event()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def commit(self, files: dict[str, bytes], branch: str = "main") -> str:
        sha = hashlib.sha1(json.dumps(sorted((p, hashlib.sha1(b).hexdigest()) for p, b in files.items())).encode()).hexdigest()
        self.commits[sha] = dict(files)
        self.branches[branch] = sha
        return sha

    def gets(self, path_suffix: str) -> int:
        return sum(1 for m, p, _ in self.log if m == "GET" and p.endswith("/" + path_suffix) and "/resolve/" in p)

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # ----- request handling ------------------------------------------------------------
    def _resolve(self, rev: str) -> str | None:
        rev = unquote(rev)
        return rev if rev in self.commits else self.branches.get(rev)

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                self._serve(body=False)

            def do_GET(self):
                self._serve(body=True)

            def _json(self, obj, status=200, extra=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status, code):
                self._json({"error": code}, status, {"X-Error-Code": code})

            def _serve(self, body: bool):
                path = urlsplit(self.path).path
                hub.log.append((self.command, path, self.headers.get("Range")))
                prefix = f"/api/datasets/{hub.repo}/"
                if path.startswith(prefix):
                    kind, _, rest = path[len(prefix) :].partition("/")
                    sha = hub._resolve(rest.split("/", 1)[0])
                    if sha is None:
                        return self._error(404, "RevisionNotFound")
                    files = hub.commits[sha]
                    if kind == "revision":
                        return self._json(
                            {"id": hub.repo, "sha": sha, "private": False, "siblings": [{"rfilename": p} for p in sorted(files)]}
                        )
                    if kind == "tree":
                        return self._json(
                            [
                                {"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                                for p, b in sorted(files.items())
                            ]
                        )
                    return self._error(404, "EntryNotFound")
                m = re.fullmatch(rf"/datasets/{re.escape(hub.repo)}/resolve/([^/]+)/(.+)", path)
                if m is None:
                    return self._error(404, "RepoNotFound")
                sha = hub._resolve(m.group(1))
                if sha is None:
                    return self._error(404, "RevisionNotFound")
                name = unquote(m.group(2))
                if name not in hub.commits[sha]:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", sha)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = hub.commits[sha][name]
                start = 0
                rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if rng:
                    start = int(rng.group(1))
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", sha)
                self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                if name in hub.hang_once:
                    hub.hang_once.discard(name)
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    hub.hanging.set()
                    hub._release.wait(60)  # the client is killed meanwhile
                    return
                self.wfile.write(data[start:])

        return Handler
