"""What the local AWS test doubles share, whatever protocol they speak.

A double subclasses :class:`LocalHttpEndpoint` for a threaded server on 127.0.0.1, the fault
queue, the call log, the record of its own bugs and the lock its operations run under. It parses
one request in ``_answer`` (``_answer_with_headers`` if its protocol routes on a header) and
writes its protocol's answers in ``_success_answer`` and ``_error_answer``; its operations
raise :class:`ServiceError`. Every call of an operation goes through ``_log_call`` and
``_carry_out``, so that an injected fault means the same in every double. Its HTTP methods,
server name and body limit are those of its :class:`LocalHttpHandler`.

Standard library only.
"""

from __future__ import annotations

import copy
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Protocol, TypeVar, cast

JsonDict = dict[str, Any]
Answer = tuple[int, dict[str, str], bytes]
Operation = Callable[[JsonDict], JsonDict]

_Endpoint = TypeVar("_Endpoint", bound="LocalHttpEndpoint")
_MAX_LISTED = 10


class ServiceError(Exception):
    """An error as the service answers it; each double writes it in its protocol's form."""

    def __init__(self, code: str, message: str, status: int, **fields: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.fields = code, message, status, fields

    def body(self) -> JsonDict:
        """The error document: ``message`` plus any modeled extra members."""
        return {"message": self.message, **self.fields}


def validation_message(problems: Sequence[str]) -> str:
    """AWS's summary of constraint violations: how many, and the first ten."""
    noun = "error" if len(problems) == 1 else "errors"
    return f"{len(problems)} validation {noun} detected: {'; '.join(problems[:_MAX_LISTED])}"


class InjectedFault(Protocol):
    """What the queue needs of a fault (``cleanrooms_ml_endpoint.Fault`` builds them)."""

    @property
    def kind(self) -> str:
        """``error`` (instead of the call), ``after_success`` (its answer lost) or ``slow``."""

    @property
    def status(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def seconds(self) -> float: ...


@dataclass
class _QueuedFault:
    fault: InjectedFault
    remaining: int | None  # None: until clear_faults()


class LocalHttpEndpoint(ABC):
    """A local double's server lifecycle, fault queue, call log and internal errors."""

    handler: ClassVar[type[LocalHttpHandler]]
    thread_name: ClassVar[str]
    internal_error: ClassVar[str]  # the protocol's error code for a bug of the double (500)
    bad_request: ClassVar[str]  # ... and for a request the server cannot read (400)

    _started: ClassVar[list[LocalHttpEndpoint]] = []
    """Every endpoint of this class that runs, oldest first (each subclass has its own list)."""
    _started_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._started = []

    @classmethod
    def running(cls: type[_Endpoint]) -> _Endpoint | None:
        """The endpoint of this class started last that still runs (where tests point clients)."""
        with LocalHttpEndpoint._started_lock:
            started = cls._started
            return started[-1] if started else None  # type: ignore[return-value]

    def __init__(self, operations: dict[str, Operation]) -> None:
        self._operations = operations
        self._lock = threading.RLock()
        self._calls: list[tuple[str, JsonDict]] = []
        self._faults: dict[str, deque[_QueuedFault]] = {}
        self._internal_errors: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --------------------------------------------------------------------- server lifecycle

    def start(self: _Endpoint) -> _Endpoint:
        """Listen on 127.0.0.1 on a free port, serving from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("endpoint already started")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        with LocalHttpEndpoint._started_lock:
            type(self)._started.append(self)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        with LocalHttpEndpoint._started_lock:
            if self in type(self)._started:
                type(self)._started.remove(self)
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self: _Endpoint) -> _Endpoint:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("endpoint is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------------------- faults

    def inject(self, operation_name: str, fault: InjectedFault, times: int | None = 1) -> None:
        """Queue ``fault`` for the next ``times`` calls of an operation (None: forever)."""
        if operation_name not in self._operations:
            raise ValueError(f"unknown operation {operation_name!r}: {tuple(self._operations)}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._faults.setdefault(operation_name, deque()).append(_QueuedFault(fault, times))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    # --------------------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[tuple[str, JsonDict]]:
        """Every request as (operation name, parsed params), in order."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def calls_of(self, operation_name: str) -> list[JsonDict]:
        """Parsed params of every call of one operation."""
        return [params for name, params in self.calls if name == operation_name]

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self._calls.clear()

    @property
    def internal_errors(self) -> list[str]:
        """Bugs of the double itself (e.g. a response off the model); should stay empty."""
        with self._lock:
            return list(self._internal_errors)

    # --------------------------------------------------------------------- request handling

    @abstractmethod
    def _answer(self, method: str, target: str, body: bytes) -> Answer:
        """Answer one request that reached the server."""

    def _answer_with_headers(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        """What the server calls: a protocol that routes on a header (JSON 1.1's
        ``X-Amz-Target``) overrides it; header names are lower-cased. By default, ``_answer``."""
        return self._answer(method, target, body)

    @abstractmethod
    def _success_answer(self, operation: str, result: JsonDict) -> Answer:
        """The protocol's answer carrying an operation's result (the lock is held)."""

    @abstractmethod
    def _error_answer(self, error: ServiceError) -> Answer:
        """The protocol's error answer."""

    def _guarded(self, request: str, handle: Callable[[], Answer]) -> Answer:
        """``handle()``, or a 5xx noted in :attr:`internal_errors` if it raises."""
        try:
            return handle()
        except Exception as exc:  # a bug of the double must surface as a 5xx, not a hang
            with self._lock:
                self._internal_errors.append(f"{request}: {exc!r}")
            failure = ServiceError(self.internal_error, f"test double failed: {exc!r}", 500)
            return self._error_answer(failure)

    def _log_call(self, operation: str, params: JsonDict) -> InjectedFault | None:
        """Record a call and take the fault queued for it, in one step as calls race."""
        with self._lock:
            self._calls.append((operation, copy.deepcopy(params)))
            queue = self._faults.get(operation)
            if not queue:
                return None
            head = queue[0]
            if head.remaining is not None:
                head.remaining -= 1
                if head.remaining <= 0:
                    queue.popleft()
            return head.fault

    def _carry_out(
        self, fault: InjectedFault | None, operation: str, params: JsonDict, problems: list[str]
    ) -> Answer:
        """Run a logged call as its fault says: late, not at all, or with its success lost.

        A call with ``problems`` (its constraint violations) is refused as invalid instead.
        """
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "error":
            return self._error_answer(ServiceError(fault.code, fault.message, fault.status))
        if problems:
            invalid = ServiceError(self.bad_request, validation_message(problems), 400)
            return self._error_answer(invalid)
        try:
            with self._lock:
                answer = self._success_answer(operation, self._operations[operation](params))
        except ServiceError as exc:
            return self._error_answer(exc)
        if fault is not None and fault.kind == "after_success":
            return self._error_answer(ServiceError(fault.code, fault.message, fault.status))
        return answer


# ----------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, endpoint: LocalHttpEndpoint) -> None:
        super().__init__(("127.0.0.1", 0), endpoint.handler)
        self.endpoint = endpoint


class LocalHttpHandler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0): read it, let the endpoint answer, write it.

    A double's subclass sets ``server_version`` and ``max_body_bytes`` and binds :meth:`serve`
    to the methods its protocol uses (``do_POST = LocalHttpHandler.serve``); http.server answers
    any other method 501.
    """

    max_body_bytes: ClassVar[int]

    def serve(self) -> None:
        endpoint = cast(_Server, self.server).endpoint
        length = self.headers.get("Content-Length") or "0"
        if length.isdigit() and int(length) <= self.max_body_bytes:
            headers = {name.lower(): value for name, value in self.headers.items()}
            body = self.rfile.read(int(length))
            answer = endpoint._answer_with_headers(self.command, self.path, headers, body)
        else:
            message = f"Unusable Content-Length: {length!r}"
            answer = endpoint._error_answer(ServiceError(endpoint.bad_request, message, 400))
        status, headers, payload = answer
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (its read timeout ran out): as a real server sees it

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
