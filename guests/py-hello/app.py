"""py-hello: berth's example route plugin in Python, built into a component
with componentize-py; `hello` is its Rust twin.

- `GET /` answers a greeting (text/plain);
- `GET /echo/{param}` answers `{"param": …, "path": …}` (JSON);
- other paths answer a JSON 404, other methods a JSON 405.

Each request is logged through the `berth:plugin/log` host import.

componentize-py snapshots the interpreter after importing this module at
build time, and a plugin has no files at run time: import every module
you need here, at the top level, never inside a function.
"""

import json

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    Method_Head,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"
# blocking-write-and-flush takes at most 4096 bytes per call.
CHUNK = 4096


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = request.method()
        target = request.path_with_query() or "/"
        log.log(log.Level.INFO, f"py-hello: {method_name(method)} {target}")
        status, content_type, body = route(method, target)
        respond(response_out, status, content_type, body)


def method_name(method) -> str:
    """`GET`, `POST`, … for a `wasi:http` method value."""
    return type(method).__name__.removeprefix("Method_").upper()


def route(method, target: str):
    """The status, content type and body for a request."""
    path = target.split("?", 1)[0]
    if not isinstance(method, (Method_Get, Method_Head)):
        return 405, JSON, error_body("method_not_allowed", "only GET is supported")
    if path == "/":
        return 200, TEXT, b"Hello from berth, in Python!\n"
    param = path.removeprefix("/echo/")
    if param != path and param and "/" not in param:
        return 200, JSON, json.dumps({"param": param, "path": target}).encode()
    return 404, JSON, error_body("not_found", f"no route for {path}")


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def respond(response_out: ResponseOutparam, status: int, content_type: bytes, body: bytes) -> None:
    """Sends a complete response."""
    response = OutgoingResponse(Fields.from_list([("content-type", content_type)]))
    response.set_status_code(status)
    outgoing = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    # The stream must be dropped (the `with`) before the body is finished.
    with outgoing.write() as stream:
        for start in range(0, len(body), CHUNK):
            stream.blocking_write_and_flush(body[start:start + CHUNK])
    OutgoingBody.finish(outgoing, None)
