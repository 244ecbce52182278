"""The chat service's public API as the console client uses it: HTTP calls (httpx) and the
conversation WebSocket (``websockets``), with every failure turned into a ``ClientError`` that
says what to do about it."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

#: Exit codes of ``agent-chat`` (``ask`` and start-up failures); 2 is a usage error (an
#: unknown option, an invalid ``--user`` or ``--url``), as for every Click program.
EXIT_FAILED = 1  # the server answered with an error
EXIT_AUTH = 3  # token missing, invalid, or for another user
EXIT_RATE_LIMITED = 4  # the user's turn rate limit
EXIT_UNREACHABLE = 5  # no chat service at the URL


class ClientError(Exception):
    """A failure to show the user: ``message`` says what happened and what to do;
    ``exit_code`` is one of the EXIT_* codes."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _error_of(response: httpx.Response, base_url: str) -> ClientError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("message") or body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's 422: what each refused field was refused for
        detail = "; ".join(
            str(e.get("msg", e)).removeprefix("Value error, ") if isinstance(e, dict) else str(e)
            for e in detail
        )
    if not isinstance(detail, str) or not detail:
        detail = json.dumps(detail)[:300] if detail else response.reason_phrase
    status = response.status_code
    if status == 401:
        return ClientError(
            f"{base_url} needs a valid token (AUTH_MODE=jwt): pass --token or set "
            f"AGENT_CHAT_TOKEN ({detail})",
            EXIT_AUTH,
        )
    if status == 403:
        return ClientError(f"the token does not allow this user: {detail}", EXIT_AUTH)
    if status == 429:
        wait = response.headers.get("retry-after", "a few")
        return ClientError(f"rate limited: try again in {wait} s", EXIT_RATE_LIMITED)
    if status == 503:
        return ClientError(f"the service is unavailable right now ({detail}); retry shortly")
    return ClientError(f"{response.request.method} {response.request.url.path}: {status} {detail}")


class ChatClient:
    """Calls the chat service at ``base_url`` for ``user_id``, with ``token`` as a bearer token
    when given. Every method raises ClientError."""

    def __init__(
        self,
        base_url: str,
        *,
        user_id: str,
        token: str | None = None,
        timeout_seconds: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds, connect=5.0),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _user(self, rest: str = "") -> str:
        return f"/users/{quote(self.user_id, safe='')}{rest}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The successful response to one call; raises ClientError."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ClientError(
                f"cannot reach the chat service at {self.base_url}: is it running (make run)?",
                EXIT_UNREACHABLE,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ClientError(f"{self.base_url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ClientError(f"talking to {self.base_url} failed: {exc}") from exc
        if not response.is_success:
            raise _error_of(response, self.base_url)
        return response

    # -- sessions --------------------------------------------------------------------------
    def sessions(self, limit: int = 20) -> list[dict[str, Any]]:
        """The user's sessions, newest first (``SessionSummary`` objects)."""
        data = self.request("GET", self._user("/sessions"), params={"limit": limit}).json()
        sessions: list[dict[str, Any]] = data["sessions"]
        return sessions

    def history(self, session_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The session's last ``limit`` messages, oldest first."""
        path = self._user(f"/sessions/{quote(session_id, safe='')}/history")
        data = self.request("GET", path, params={"limit": limit, "order": "newest"}).json()
        return list(reversed(data["messages"]))

    def delete_session(self, session_id: str) -> None:
        self.request("DELETE", self._user(f"/sessions/{quote(session_id, safe='')}"))

    # -- memories --------------------------------------------------------------------------
    def memories(self, limit: int = 50) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request(
            "GET", self._user("/memories"), params={"limit": limit}
        ).json()["items"]
        return items

    def search_memories(self, query: str, k: int = 10) -> list[dict[str, Any]]:
        """Hits ``{memory, score}``, best first."""
        hits: list[dict[str, Any]] = self.request(
            "GET", self._user("/memories/search"), params={"q": query, "k": k}
        ).json()["hits"]
        return hits

    def add_memory(self, content: str) -> tuple[dict[str, Any], str]:
        """(the memory, what memory did: ``add``, ``noop`` or ``update``)."""
        response = self.request("POST", self._user("/memories"), json={"content": content})
        return response.json(), response.headers.get("memory-operation", "add")

    def forget_memory(self, memory_id: str) -> None:
        self.request("DELETE", self._user(f"/memories/{quote(memory_id, safe='')}"))

    def memory_history(self, memory_id: str) -> list[dict[str, Any]]:
        path = self._user(f"/memories/{quote(memory_id, safe='')}/history")
        versions: list[dict[str, Any]] = self.request("GET", path).json()["versions"]
        return versions

    # -- turns -----------------------------------------------------------------------------
    def ask(self, message: str, session_id: str | None = None) -> dict[str, Any]:
        """One turn, whole reply (``POST /chat``): the ``ChatResponse`` object."""
        body: dict[str, Any] = {"user_id": self.user_id, "message": message}
        if session_id:
            body["session_id"] = session_id
        answer: dict[str, Any] = self.request("POST", "/chat", json=body).json()
        return answer

    def socket_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = {"user_id": self.user_id}
        if self.token:
            query["access_token"] = self.token
        return urlunsplit((scheme, parts.netloc, f"{parts.path}/ws", urlencode(query), ""))


@dataclass
class Closed:
    """The socket closed: ``code`` and ``reason`` as the server sent them (1008: auth)."""

    code: int | None
    reason: str


class Conversation:
    """The conversation WebSocket: a reader thread puts every server message (a dict) and, at
    the end, a ``Closed`` on ``messages``; ``send`` and ``cancel`` write to it."""

    def __init__(self, client: ChatClient) -> None:
        try:
            self._socket: ClientConnection = connect(
                client.socket_url(), open_timeout=10, max_size=2**22
            )
        except (OSError, InvalidStatus, WebSocketException, TimeoutError) as exc:
            raise ClientError(
                f"cannot open the conversation socket at {client.base_url}: {exc}",
                EXIT_UNREACHABLE,
            ) from exc
        self.messages: queue.Queue[dict[str, Any] | Closed] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="agent-chat-socket", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for raw in self._socket:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self.messages.put(message)
        except ConnectionClosed:
            pass
        self.messages.put(Closed(self._socket.close_code, self._socket.close_reason or ""))

    def send(self, content: str, session_id: str | None) -> None:
        message: dict[str, Any] = {"type": "user_message", "content": content}
        if session_id:
            message["session_id"] = session_id
        self._write(message)

    def cancel(self) -> None:
        self._write({"type": "cancel"})

    def _write(self, message: dict[str, Any]) -> None:
        try:
            self._socket.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise ClientError("the conversation socket closed; start agent-chat again") from exc

    def close(self) -> None:
        self._socket.close()
        self._reader.join(timeout=5)
