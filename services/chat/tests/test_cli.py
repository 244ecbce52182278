"""agent-chat's pieces without a server: the stored user id, ``ask`` and its exit codes, how
a turn's socket messages are shown, and the /memories commands. The whole program runs in a
real terminal against the running stack in tests/clients/test_cli_terminal.py."""

from __future__ import annotations

import json
import queue
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from chat.cli import app as cli
from chat.cli.client import ChatClient, ClientError, Closed
from chat.cli.reply import StreamedReply

REPLY = {
    "response": "Hello Dana.",
    "reply": "Hello Dana.",
    "session_id": "s-1",
    "user_id": "dana",
    "suggested_questions": [],
    "metadata": {"degraded": True, "interrupted": False, "memories_used": []},
}


def test_the_first_run_keeps_a_private_user_id_that_later_runs_reuse(tmp_path: Path) -> None:
    path = tmp_path / "agent-chat" / "config.json"
    first = cli.stored_user_id(path)
    assert first.startswith("cli-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cli.stored_user_id(path) == first
    path.write_text('{"user_id": "not valid!"}')
    replaced = cli.stored_user_id(path)
    assert replaced != first
    assert replaced.startswith("cli-")
    path.write_text("[1, 2")
    assert cli.stored_user_id(path).startswith("cli-")


def serve(handler: Callable[[httpx.Request], httpx.Response], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Make every ChatClient the CLI builds talk to ``handler``; returns the requests seen."""
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    def client(options: cli.Options) -> ChatClient:
        transport = httpx.MockTransport(recording)
        return ChatClient(options.url, user_id=options.user_id, token=options.token,
                          transport=transport)  # fmt: skip

    monkeypatch.setattr(cli.Options, "client", client)
    return seen


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, ["--user", "dana", *args])


def test_ask_prints_the_reply_or_the_whole_response_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = serve(lambda _: httpx.Response(200, json=REPLY), monkeypatch)
    result = run("--token", "t0k", "ask", "Hi", "--session", "s-1")
    assert result.exit_code == 0
    assert result.stdout.startswith("Hello Dana.\n")
    assert "memory was unavailable" in result.output  # degraded is said
    body = json.loads(seen[-1].content)
    assert body == {"user_id": "dana", "message": "Hi", "session_id": "s-1"}
    assert seen[-1].headers["authorization"] == "Bearer t0k"
    as_json = run("ask", "Hi", "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout.splitlines()[0]) == REPLY


@pytest.mark.parametrize(
    ("status", "headers", "code", "said"),
    [
        (401, {}, 3, "needs a valid token"),
        (403, {}, 3, "does not allow this user"),
        (429, {"Retry-After": "7"}, 4, "try again in 7 s"),
        (503, {"Retry-After": "2"}, 1, "unavailable"),
        (422, {}, 1, "422"),
    ],
)
def test_ask_fails_with_a_clear_message_and_its_own_exit_code(
    monkeypatch: pytest.MonkeyPatch, status: int, headers: dict[str, str], code: int, said: str
) -> None:
    answer = {"error": "x", "message": "refused"}
    serve(lambda _: httpx.Response(status, json=answer, headers=headers), monkeypatch)
    result = run("ask", "Hi")
    assert result.exit_code == code
    assert said in result.output
    assert "Traceback" not in result.output


def test_ask_with_no_server_says_so_and_exits_5() -> None:
    # Port 9 (discard) is closed here: the connection is refused at once.
    result = run("--url", "http://127.0.0.1:9", "ask", "Hi")
    assert result.exit_code == 5
    assert "cannot reach the chat service at http://127.0.0.1:9" in result.output


def test_a_bad_user_id_is_refused_before_anything_is_sent() -> None:
    result = CliRunner().invoke(cli.app, ["--user", "bad id!", "ask", "Hi"])
    assert result.exit_code == 2
    assert "a user id is" in result.output


def shell(
    handler: Callable[[httpx.Request], httpx.Response] | None = None, *, terminal: bool = False
) -> cli.Shell:
    """A shell writing to a recorded console: a terminal's (Markdown) or a pipe's (plain)."""
    transport = httpx.MockTransport(handler or (lambda _: httpx.Response(404)))
    client = ChatClient("http://chat", user_id="dana", transport=transport)
    console = Console(record=True, width=100, height=30, force_terminal=terminal)
    return cli.Shell(client, console)


def test_a_turn_streams_with_tools_memories_and_its_markers() -> None:
    s = shell()
    state = cli.Turn(StreamedReply(s.console))
    messages: list[dict[str, Any]] = [
        {"type": "workflow_started", "session_id": "s-9", "degraded": True},
        {"type": "suggested_function_call", "name": "remember", "arguments": "{}"},
        {"type": "text_message_delta", "text": "Noted, "},
        {"type": "text_message_delta", "text": "green tea."},
        {"type": "memory", "event": "memory.created", "memory": {"content": "Likes green tea"}},
        {"type": "text_message", "content": "Noted, green tea."},
    ]
    assert not any(s.show(m, state) for m in messages)
    assert s.show({"type": "workflow_completed", "metadata": {"interrupted": True}}, state)
    out = s.console.export_text()
    assert s.session_id == "s-9"
    assert "memory is unavailable" in out
    assert "⚙ remember" in out
    assert "agent> Noted, green tea.\n" in out
    assert out.count("Noted, green tea.") == 1  # the whole text is not printed again
    assert "✎ memory remembered Likes green tea" in out
    assert "(interrupted: the reply so far is saved)" in out


def test_turn_errors_end_the_turn_with_what_to_do() -> None:
    s = shell()
    s.session_id = "gone"
    turn = cli.Turn(StreamedReply(s.console))
    assert s.show({"type": "error", "code": "rate_limited", "retry_after": 3}, turn)
    assert s.show({"type": "error", "code": "not_found", "message": "no session"}, turn)
    out = s.console.export_text()
    assert "rate limited: try again in 3 s" in out
    assert "error (not_found): no session" in out
    assert s.session_id is None
    with pytest.raises(ClientError, match="refused this user or token") as refused:
        s.closed_check(Closed(1008, "token expired"))
    assert refused.value.exit_code == 3


def test_memories_commands_act_on_the_listed_numbers() -> None:
    memories = [
        {"id": "00000000-0000-4000-8000-00000000000a", "kind": "semantic",
         "content": "The user lives in Porto.", "created_at": "2026-11-30T10:00:00Z"},
        {"id": "00000000-0000-4000-8000-00000000000b", "kind": "semantic",
         "content": "The user likes [green] tea.", "created_at": "2026-11-30T10:00:00Z"},
    ]  # fmt: skip
    seen: list[httpx.Request] = []

    def memory_api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if request.method == "GET" and path == "/users/dana/memories":
            return httpx.Response(200, json={"user_id": "dana", "items": memories, "total": 2})
        if request.method == "DELETE":
            return httpx.Response(204)
        if path.endswith("/history"):
            version = {"version": 1, "operation": "add", "content": "The user lives in Lisbon.",
                       "at": "2026-11-29T10:00:00Z", "source": {}}  # fmt: skip
            return httpx.Response(200, json={"versions": [version]})
        if request.method == "POST":
            return httpx.Response(200, json=memories[0], headers={"Memory-Operation": "noop"})
        return httpx.Response(404)

    s = shell(memory_api)
    s.command("/memories")
    s.command("/memories forget 2")
    assert seen[-1].method == "DELETE"
    assert seen[-1].url.path == f"/users/dana/memories/{memories[1]['id']}"
    s.command("/memories history 1")
    s.command("/memories add I live in Porto")
    assert json.loads(seen[-1].content) == {"content": "I live in Porto"}
    calls = len(seen)
    s.command("/memories forget 7")  # not listed: nothing sent
    s.command("/memories frobnicate")
    assert len(seen) == calls
    out = s.console.export_text()
    assert "The user likes [green] tea." in out  # shown as typed, not as markup
    assert "v1 add" in out
    assert "The user lives in Lisbon." in out
    assert "Already known: The user lives in Porto." in out
    assert "give a memory's number" in out
    assert "usage: /memories" in out
    assert s.command("/exit") == "exit"


def test_a_refused_message_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    detail = [{"type": "value_error", "loc": ["body"],
               "msg": "Value error, the message is empty: send some text"}]  # fmt: skip
    serve(lambda _: httpx.Response(422, json={"detail": detail}), monkeypatch)
    result = run("ask", " ")
    assert result.exit_code == 1
    assert "POST /chat: 422 the message is empty: send some text" in result.output


def test_usage_errors_exit_2_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = serve(lambda _: httpx.Response(200, json=REPLY), monkeypatch)
    for args in (["--url", "not-a-url", "ask", "Hi"], ["--url", "ftp://x", "ask", "Hi"]):
        result = run(*args)
        assert result.exit_code == 2, args
        assert "--url" in result.output
    assert seen == []


def test_a_session_given_before_ask_is_the_one_continued(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = serve(lambda _: httpx.Response(200, json=REPLY), monkeypatch)
    assert run("--session", "s-7", "ask", "Hi").exit_code == 0
    assert json.loads(seen[-1].content)["session_id"] == "s-7"
    assert run("--session", "s-7", "ask", "Hi", "--session", "s-8").exit_code == 0
    assert json.loads(seen[-1].content)["session_id"] == "s-8"  # the command's own wins


def sessions_api(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    session = {"session_id": "s-1", "title": "About tea", "created_at": "2026-11-30T10:00:00Z",
               "last_activity": "2026-11-30T10:00:00Z", "message_count": 2}  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/sessions"):
            return httpx.Response(200, json={"user_id": "dana", "sessions": [session]})
        return httpx.Response(200, json={"message": "deleted"})

    return answer


def test_ctrl_c_or_ctrl_d_at_a_question_cancels_it_and_the_chat_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []
    s = shell(sessions_api(seen))
    s.session_id = "s-1"
    for interruption in (KeyboardInterrupt, EOFError):

        def interrupted(*_: object, error: type[BaseException] = interruption, **__: object):  # type: ignore[no-untyped-def]
            raise error

        monkeypatch.setattr(cli.Prompt, "ask", interrupted)
        monkeypatch.setattr(cli.Confirm, "ask", interrupted)
        assert s.command("/sessions") is None  # lists (and learns the titles), then asks
        assert s.command("/delete") is None
    assert s.session_id == "s-1"  # nothing switched, nothing deleted
    assert all(r.method == "GET" for r in seen)
    monkeypatch.setattr(cli.Confirm, "ask", lambda *_, **__: True)
    s.command("/delete")
    assert seen[-1].method == "DELETE"
    out = s.console.export_text()
    assert out.count("(cancelled)") == 2
    assert "Deleted session “About tea”." in out


def test_memory_notes_wait_while_a_question_is_asked() -> None:
    """A note printed over /sessions' question would hide it; it waits for the chat prompt."""
    s = shell()
    conversation = FakeConversation()
    s._conversation = conversation  # type: ignore[assignment]
    threading.Thread(target=s._route, daemon=True).start()
    note = {"type": "memory", "event": "memory.created", "memory": {"content": "Likes tea"}}
    conversation.messages.put(note)  # no prompt waiting: queued for the main thread
    assert s._turn_messages.get(timeout=5) == note
    s._at_prompt.set()
    conversation.messages.put(note)  # the prompt waits: printed at once, above it
    deadline = time.monotonic() + 5
    while "Likes tea" not in s.console.export_text(clear=False) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "✎ memory remembered Likes tea" in s.console.export_text()
    assert s._turn_messages.empty()
    conversation.messages.put(Closed(1000, ""))


class FakeConversation:
    """The socket as the shell sees it: what it sent, and ``on_cancel``, what the service
    answers a cancel with (put on the shell's queue, as the socket's reader would)."""

    def __init__(self, shell: cli.Shell | None = None) -> None:
        self.messages: queue.Queue[object] = queue.Queue()
        self.shell = shell
        self.sent: list[str] = []
        self.cancels = 0
        self.on_cancel: list[dict[str, Any]] = []

    def send(self, content: str, session_id: str | None) -> None:
        self.sent.append(content)

    def cancel(self) -> None:
        self.cancels += 1
        assert self.shell is not None
        for message in self.on_cancel:
            self.shell._turn_messages.put(message)


MARKDOWN_REPLY = (
    "Here is the plan:\n\n- **first** step\n- second step\n\n```python\nprint('hi')\n```\n\n"
    "See [the docs](https://example.com/docs), and a<b and c>d stays as typed."
)


def streamed(text: str, *, interrupted: bool = False) -> list[dict[str, Any]]:
    """A turn's socket messages: its reply word by word, then its end."""
    words = re.findall(r"\S+\s*", text)
    return [
        {"type": "workflow_started", "session_id": "s-1", "degraded": False},
        *({"type": "text_message_delta", "text": word} for word in words),
        {"type": "text_message", "content": text},
        {"type": "workflow_completed", "response": text, "metadata": {"interrupted": interrupted}},
    ]


def test_in_a_terminal_a_reply_is_rendered_as_markdown() -> None:
    s = shell(terminal=True)
    state = cli.Turn(StreamedReply(s.console))
    assert not any(s.show(m, state) for m in streamed(MARKDOWN_REPLY)[:-1])
    assert s.show(streamed(MARKDOWN_REPLY)[-1], state)
    out = s.console.export_text()
    assert "agent> Here is the plan:" in out
    assert "• first step" in out  # a list, its emphasis rendered
    assert "**" not in out
    assert "print('hi')" in out
    assert "```" not in out  # a code block
    assert "the docs (https://example.com/docs)" in out  # a link, its address shown
    assert "a<b and c>d stays as typed" in out  # raw HTML is text, not dropped


def test_piped_a_reply_is_the_text_as_it_came() -> None:
    s = shell(terminal=False)
    state = cli.Turn(StreamedReply(s.console))
    for message in streamed(MARKDOWN_REPLY):
        s.show(message, state)
    assert f"agent> {MARKDOWN_REPLY}\n" in s.console.export_text()


def interrupt_at_word(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Ctrl-C while the ``n``-th word of the reply is being shown."""
    add = StreamedReply.add
    shown = 0

    def add_until_interrupted(self: StreamedReply, delta: str) -> None:
        nonlocal shown
        shown += 1
        if shown == n:
            raise KeyboardInterrupt
        add(self, delta)

    monkeypatch.setattr(StreamedReply, "add", add_until_interrupted)


@pytest.mark.parametrize("terminal", [True, False])
def test_ctrl_c_after_the_turn_ended_stops_showing_the_reply_and_says_it_is_saved(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    """The whole reply came faster than it was shown: Ctrl-C stops the showing at once, there is
    nothing to cancel, and the user learns that the whole reply is saved."""
    s = shell(terminal=terminal)
    conversation = FakeConversation(s)
    s._conversation = conversation  # type: ignore[assignment]
    reply = "one two three four five six seven eight nine ten"
    for message in streamed(reply):
        s._turn_messages.put(message)
    interrupt_at_word(monkeypatch, 4)
    s.turn("count to ten")
    out = s.console.export_text()
    assert "one two three" in out
    assert "four" not in out  # nothing after the Ctrl-C is shown
    assert "ten" not in out
    assert conversation.cancels == 0
    assert "reply stopped: the turn had already ended, so the whole reply is saved" in out
    assert "stopping the reply" not in out
    assert s._turn_messages.empty()
    assert s.session_id == "s-1"


@pytest.mark.parametrize(
    ("interrupted", "said"),
    [
        (True, "(interrupted: the reply so far is saved)"),
        (False, "(the turn ended before the stop reached it: the whole reply is saved"),
    ],
)
def test_ctrl_c_while_the_turn_runs_cancels_it_and_shows_nothing_more(
    monkeypatch: pytest.MonkeyPatch, interrupted: bool, said: str
) -> None:
    s = shell(terminal=True)
    conversation = FakeConversation(s)
    s._conversation = conversation  # type: ignore[assignment]
    for message in streamed("one two three four five")[:4]:  # started, "one two three"
        s._turn_messages.put(message)
    late = {"type": "text_message_delta", "text": "LATE "}  # sent before the cancel landed
    note = {"type": "memory", "event": "memory.created", "memory": {"content": "Counts well"}}
    end = {"type": "workflow_completed", "metadata": {"interrupted": interrupted}}
    conversation.on_cancel = [late, note, end]
    interrupt_at_word(monkeypatch, 3)
    s.turn("count to five")
    out = s.console.export_text()
    assert conversation.cancels == 1
    assert "one two" in out
    assert "three" not in out
    assert "LATE" not in out
    assert "stopping the reply…" in out
    assert "✎ memory remembered Counts well" in out
    assert said in out
    assert s._turn_messages.empty()


def test_a_second_ctrl_c_stops_waiting_for_the_turn_to_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = shell(terminal=True)
    conversation = FakeConversation(s)
    s._conversation = conversation  # type: ignore[assignment]
    for message in streamed("one two three")[:3]:
        s._turn_messages.put(message)
    interrupt_at_word(monkeypatch, 2)
    next_message = cli.Shell.next_message

    def pressed_again_once_cancelled(self: cli.Shell) -> dict[str, Any]:
        if conversation.cancels:
            raise KeyboardInterrupt  # while it waits for the turn's end
        return next_message(self)

    monkeypatch.setattr(cli.Shell, "next_message", pressed_again_once_cancelled)
    s.turn("count")  # returns: the program goes on
    out = s.console.export_text()
    assert conversation.cancels == 1
    assert "stopping the reply…" in out
    assert "(not waiting: the turn is being stopped and saved)" in out


def test_what_an_earlier_stopped_turn_left_behind_is_not_shown_as_the_next_reply() -> None:
    s = shell(terminal=False)
    conversation = FakeConversation(s)
    s._conversation = conversation  # type: ignore[assignment]
    leftover = [{"type": "text_message_delta", "text": "OLD "},
                {"type": "workflow_completed", "metadata": {"interrupted": True}}]  # fmt: skip
    for message in [*leftover, *streamed("new reply")]:
        s._turn_messages.put(message)
    s.turn("hello")
    out = s.console.export_text()
    assert "agent> new reply\n" in out
    assert "OLD" not in out
    assert "interrupted" not in out
