"""A stand-in for Solr, enough for CKAN to start, index and list datasets.

Search is NOT what is under test here (conveyor's CKAN plugin is): Solr
cannot be installed on the test machines, and CKAN only needs it because
creating or updating a dataset indexes it. This small HTTP server keeps
documents in memory and answers the three requests CKAN makes:

- ``GET|POST <core>/select``: JSON results, with simple ``q``/``fq``
  filtering (``field:value`` terms, every term must match; anything it cannot
  read matches everything), ``rows``, ``start``, ``fl``, ``sort`` on one field
  and ``facet.field`` counts;
- ``POST <core>/update``: XML ``<add>``, ``<delete>`` by ``<id>`` or
  ``<query>``, and ``<commit/>`` (a no-op);
- ``GET <core>/schema?wt=schema.xml``: CKAN's own ``schema.xml``, whose
  version CKAN checks at start-up.

Run: ``python solr_standin.py PORTFILE``; it binds a free port on 127.0.0.1
and writes the port number to PORTFILE once it listens. Stop it by its pid.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOCS: dict[str, dict[str, Any]] = {}
LOCK = threading.Lock()
TERM = re.compile(r'([+-]?)([\w.]+):("[^"]*"|\([^)]*\)|\S+)')


def _values(doc: dict[str, Any], name: str) -> list[str]:
    value = doc.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _matches(doc: dict[str, Any], query: str) -> bool:
    for sign, name, raw in TERM.findall(query):
        wanted = raw.strip('"()')
        options = [w.strip('"') for w in re.split(r"\s+OR\s+", wanted)]
        if "*" in options or wanted == "*":
            continue
        found = any(option in _values(doc, name) for option in options)
        if found == (sign == "-"):
            return False
    return True


def _select(params: dict[str, list[str]]) -> dict[str, Any]:
    queries = params.get("q", []) + params.get("fq", [])
    with LOCK:
        docs = [d for d in DOCS.values() if all(_matches(d, q) for q in queries)]
    sort = (params.get("sort") or [""])[0].split(",")[0].split()
    if sort and sort[0] not in {"score"}:
        docs.sort(key=lambda d: str(d.get(sort[0], "")), reverse=sort[-1:] == ["desc"])
    start = int((params.get("start") or ["0"])[0])
    rows = int((params.get("rows") or ["10"])[0])
    fields = [f for f in ",".join(params.get("fl", [])).replace(" ", ",").split(",") if f]
    page = docs[start : start + rows]
    if fields and "*" not in fields:
        page = [{k: v for k, v in d.items() if k in fields or k == "score"} for d in page]
    facets: dict[str, list[Any]] = {}
    for name in params.get("facet.field", []):
        counts: dict[str, int] = {}
        for doc in docs:
            for value in _values(doc, name):
                counts[value] = counts.get(value, 0) + 1
        facets[name] = [x for pair in sorted(counts.items()) for x in pair]
    return {
        "responseHeader": {"status": 0, "QTime": 0},
        "response": {"numFound": len(docs), "start": start, "docs": page},
        "facet_counts": {"facet_fields": facets, "facet_queries": {}, "facet_ranges": {}},
    }


def _store(fields: dict[str, Any]) -> None:
    DOCS[str(fields.get("index_id") or fields.get("id"))] = fields


def _update_json(data: Any) -> None:
    docs = data if isinstance(data, list) else [data.get("add", {}).get("doc", data)]
    with LOCK:
        for doc in docs:
            if isinstance(doc, dict) and doc and "delete" not in doc:
                _store(doc)
        if isinstance(data, dict) and "delete" in data:
            target = data["delete"]
            if isinstance(target, dict) and "query" in target:
                for key in [k for k, d in DOCS.items() if _matches(d, target["query"])]:
                    del DOCS[key]
            elif isinstance(target, dict) and "id" in target:
                DOCS.pop(str(target["id"]), None)


def _update(body: bytes) -> None:
    text = body.strip()
    if not text:
        return
    if text[:1] in (b"[", b"{"):
        _update_json(json.loads(text))
        return
    root = ET.fromstring(text)
    with LOCK:
        for doc in root.iter("doc"):
            fields: dict[str, Any] = {}
            for field in doc.iter("field"):
                name, value = field.get("name", ""), field.text or ""
                if name in fields:
                    previous = fields[name]
                    fields[name] = (
                        [*previous, value]
                        if isinstance(previous, list)
                        else [
                            previous,
                            value,
                        ]
                    )
                else:
                    fields[name] = value
            _store(fields)
        for delete in root.iter("delete"):
            for node in delete.iter("id"):
                DOCS.pop(node.text or "", None)
            for node in delete.iter("query"):
                for key in [k for k, d in DOCS.items() if _matches(d, node.text or "")]:
                    del DOCS[key]


class Handler(BaseHTTPRequestHandler):
    schema = b""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        del format, args

    def _reply(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        params = parse_qs(parts.query)
        path = parts.path.rstrip("/")
        if path.endswith("/schema") or path.endswith("/admin/file"):
            self._reply(200, self.schema, "application/xml")
        elif path.endswith("/select"):
            if self.headers.get("Content-Type", "").startswith("application/x-www-form"):
                for key, values in parse_qs(body.decode()).items():
                    params.setdefault(key, []).extend(values)
            self._reply(200, json.dumps(_select(params)).encode(), "application/json")
        elif path.endswith("/update"):
            _update(body)
            self._reply(200, b'{"responseHeader":{"status":0}}', "application/json")
        else:
            self._reply(404, b"{}", "application/json")

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(self.rfile.read(length))


def main() -> None:
    import ckan

    Handler.schema = (Path(ckan.__file__).parent / "config/solr/schema.xml").read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(sys.argv[1]).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
