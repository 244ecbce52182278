"""``agent-chat``: talk to the chat service from a terminal (docs/clients.md).

    agent-chat                      # pick a session (or start one) and chat
    agent-chat ask "Hi" [--json]    # one reply, then exit (non-zero on failure)

The user id is created on first run and kept in the user's config directory (platformdirs);
``--user``, ``--url`` and ``--token`` (or AGENT_CHAT_USER, AGENT_CHAT_URL, AGENT_CHAT_TOKEN)
override it and the defaults."""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import signal
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import platformdirs
import typer
from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.table import Table

from chat.cli.client import (
    EXIT_AUTH,
    ChatClient,
    ClientError,
    Closed,
    Conversation,
)
from chat.cli.reply import StreamedReply, labelled
from sidecar.contracts import USER_ID_PATTERN

APP_NAME = "agent-chat"
DEFAULT_URL = "http://127.0.0.1:8000"
HELP = """Commands:
  /sessions                 list your sessions and switch to one
  /new                      start a new session (with your next message)
  /delete                   delete the current session
  /memories                 list what the agent remembers about you
  /memories search <text>   search them
  /memories add <text>      remember something
  /memories forget <n|id>   forget one (n: its number in the last list)
  /memories history <n|id>  how one memory changed
  /help                     this help
  /exit                     quit (Ctrl-D too)
Ctrl-C while a reply is shown stops it: a turn still running is cancelled (saved as far
as it got, marked interrupted); one that had ended is saved whole (/sessions shows it)."""

app = typer.Typer(
    name=APP_NAME,
    help="Chat with the agent service from a terminal.",
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
)


def config_path() -> Path:
    """``<user config dir>/agent-chat/config.json`` (platformdirs: $XDG_CONFIG_HOME on Linux)."""
    return platformdirs.user_config_path(APP_NAME) / "config.json"


def stored_user_id(path: Path) -> str:
    """The user id kept at ``path``, created (``cli-`` + 12 hex digits, file mode 0600) on the
    first run; a file that is unreadable or holds no valid id is replaced."""
    try:
        user_id = json.loads(path.read_text()).get("user_id")
        if isinstance(user_id, str) and re.fullmatch(USER_ID_PATTERN, user_id):
            return user_id
    except (OSError, ValueError, AttributeError):
        pass
    user_id = f"cli-{secrets.token_hex(6)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"user_id": user_id}, file)
    return user_id


@dataclass
class Options:
    url: str
    token: str | None
    user_id: str
    session: str | None = None  # --session before the command (ask takes it too)

    def client(self) -> ChatClient:
        return ChatClient(self.url, user_id=self.user_id, token=self.token)


def fail(console: Console, error: ClientError) -> typer.Exit:
    console.print(f"[red]error:[/] {escape(str(error))}")
    return typer.Exit(error.exit_code)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="AGENT_CHAT_URL", help="The chat service's base URL.")
    ] = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option(envvar="AGENT_CHAT_TOKEN", help="A bearer token (AUTH_MODE=jwt)."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            envvar="AGENT_CHAT_USER", help="The user id (default: the one made on first run)."
        ),
    ] = None,
    session: Annotated[
        str | None, typer.Option(help="Resume this session instead of choosing one.")
    ] = None,
    new: Annotated[bool, typer.Option("--new", help="Start a new session at once.")] = False,
) -> None:
    """Chat with the agent: choose a session (or start one), then type."""
    errors = Console(stderr=True, soft_wrap=True)
    if user is not None and not re.fullmatch(USER_ID_PATTERN, user):
        raise typer.BadParameter(
            "a user id is letters, digits and . _ @ - (up to 128)", param_hint="--user"
        )
    if not re.match(r"https?://[^/\s]", url):
        raise typer.BadParameter(
            "an http:// or https:// URL, e.g. " + DEFAULT_URL, param_hint="--url"
        )
    options = Options(
        url=url, token=token, user_id=user or stored_user_id(config_path()), session=session
    )
    ctx.obj = options
    if ctx.invoked_subcommand is not None:
        return
    console = Console(highlight=False, soft_wrap=True)
    client = options.client()
    # Without a terminal (input piped in) there is no one to choose: a new session.
    interactive = sys.stdin.isatty()
    if interactive:
        # Ctrl-C is how a person stops a reply. A program started with SIGINT ignored (by a CI
        # runner, nohup, or `&` in a script) inherits that, and Python then never raises
        # KeyboardInterrupt: whoever types here must still be heard.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        Shell(client, console).run(session_id=session, new=new or not interactive)
    except ClientError as error:
        raise fail(errors, error) from None
    except KeyboardInterrupt:  # Ctrl-C at the start-up question: leave, as a shell does
        console.print()
        raise typer.Exit(130) from None
    except EOFError:  # Ctrl-D there
        console.print()
    finally:
        client.close()


@app.command()
def ask(
    ctx: typer.Context,
    message: Annotated[str, typer.Argument(help="What to say.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole response as JSON.")
    ] = False,
    session: Annotated[str | None, typer.Option(help="Continue this session.")] = None,
) -> None:
    """Say one thing, print the reply and exit: 0 on success; 1 an error, 2 a usage error,
    3 an auth failure, 4 rate limited, 5 no server."""
    options: Options = ctx.obj
    errors = Console(stderr=True, soft_wrap=True)
    client = options.client()
    try:
        answer = client.ask(message, session_id=session or options.session)
    except ClientError as error:
        raise fail(errors, error) from None
    finally:
        client.close()
    if as_json:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        return
    sys.stdout.write(answer["response"] + "\n")
    if answer["metadata"].get("degraded"):
        errors.print("[yellow]memory was unavailable: this reply does not use your memories[/]")


def when(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


@dataclass
class Turn:
    """The turn being shown: its reply, and whether its ``workflow_started`` came (what the
    socket delivers before it is left over from an earlier turn, not this one's)."""

    reply: StreamedReply
    started: bool = False


@dataclass
class Shell:
    """The interactive chat: a prompt, commands, and replies streamed from the socket."""

    client: ChatClient
    console: Console
    session_id: str | None = None
    listed: list[dict[str, Any]] = field(default_factory=list)  # the last /memories list
    titles: dict[str, str] = field(default_factory=dict)  # session id -> title, as listed
    _turn_messages: queue.Queue[dict[str, Any] | Closed] = field(default_factory=queue.Queue)
    _at_prompt: threading.Event = field(default_factory=threading.Event)
    _print_lock: threading.Lock = field(default_factory=threading.Lock)
    _conversation: Conversation | None = None

    # -- start -----------------------------------------------------------------------------
    def run(self, *, session_id: str | None, new: bool) -> None:
        self.console.print(
            f"[bold]agent-chat[/] · {escape(self.client.base_url)} · user "
            f"[cyan]{escape(self.client.user_id)}[/] · /help for commands"
        )
        if session_id:
            self.resume(session_id)
        elif not new:
            self.choose_session(first=True)
        conversation = Conversation(self.client)
        self._conversation = conversation
        threading.Thread(target=self._route, daemon=True, name="agent-chat-route").start()
        try:
            self.loop()
        finally:
            conversation.close()

    def _route(self) -> None:
        """Socket messages to the main thread, except memory notes that come while the chat
        prompt waits: those are printed at once, above it. (While a question such as
        /sessions' waits, they wait too, so that the question stays on screen.)"""
        assert self._conversation is not None
        while True:
            message = self._conversation.messages.get()
            if not self._at_prompt.is_set() or not (
                isinstance(message, dict) and message.get("type") == "memory"
            ):
                self._turn_messages.put(message)
                if isinstance(message, Closed):
                    return
                continue
            with self._print_lock:  # at the prompt: print above it, then show it again
                if not self._at_prompt.is_set():
                    self._turn_messages.put(message)
                    continue
                self.console.file.write("\r\x1b[2K")
                self.memory_note(message)
                self.console.file.write("you> ")
                self.console.file.flush()

    def loop(self) -> None:
        while True:
            self.drain_between_turns()
            self._at_prompt.set()
            try:
                line = self.console.input("you> ")
            except KeyboardInterrupt:
                self.console.print("\n[dim](/exit or Ctrl-D quits)[/]")
                continue
            except EOFError:
                self.console.print()
                return
            finally:
                with self._print_lock:
                    self._at_prompt.clear()
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line) == "exit":
                    return
                continue
            self.turn(line)

    def drain_between_turns(self) -> None:
        """Show what came while no turn ran (a socket closed since raises ClientError)."""
        while True:
            try:
                message = self._turn_messages.get_nowait()
            except queue.Empty:
                return
            self.closed_check(message)
            if isinstance(message, dict) and message.get("type") == "memory":
                self.memory_note(message)

    def closed_check(self, message: dict[str, Any] | Closed) -> None:
        """Raise ClientError for a closed socket (1008: auth, exit code 3)."""
        if isinstance(message, Closed):
            if message.code == 1008:
                raise ClientError(
                    f"the server refused this user or token: {message.reason} (pass --token "
                    "or set AGENT_CHAT_TOKEN)",
                    EXIT_AUTH,
                )
            raise ClientError(
                f"the conversation socket closed ({message.code}): is the service still up?"
            )

    # -- sessions --------------------------------------------------------------------------
    def session_table(self, sessions: list[dict[str, Any]]) -> None:
        table = Table(title="Your sessions (newest first)", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("title")
        table.add_column("last activity")
        table.add_column("messages", justify="right")
        for number, item in enumerate(sessions, 1):
            current = " *" if item["session_id"] == self.session_id else ""
            table.add_row(
                str(number),
                escape(item["title"] or "(untitled)") + current,
                when(item["last_activity"]),
                str(item["message_count"]),
            )
        self.console.print(table)

    def choose_session(self, *, first: bool = False) -> None:
        sessions = self.client.sessions()
        self.titles.update((s["session_id"], s["title"]) for s in sessions if s["title"])
        if not sessions:
            if not first:
                self.console.print("No sessions yet: your next message starts one.")
            return
        self.session_table(sessions)
        choices = [str(n) for n in range(len(sessions) + 1)]
        try:
            answer = Prompt.ask(
                "Resume which? (0 or Enter: a new session)" if first else "Switch to (0: new)",
                choices=choices,
                default="0",
                show_choices=False,
                console=self.console,
            )
        except (KeyboardInterrupt, EOFError):
            if first:  # nothing chosen yet: leaving here is leaving the program
                raise
            self.console.print("\n[dim](cancelled)[/]")
            return
        if answer == "0":
            self.session_id = None
            self.console.print("A new session starts with your next message.")
        else:
            self.resume(sessions[int(answer) - 1]["session_id"])

    def resume(self, session_id: str) -> None:
        messages = self.client.history(session_id)
        self.session_id = session_id
        self.console.rule(f"session {escape(session_id)}")
        for message in messages:
            if message["role"] != "user" and self.console.is_terminal:
                self.console.print(labelled(message["content"]))  # Markdown, as it streamed
            else:
                who = "you> " if message["role"] == "user" else "agent> "
                style = "bold" if message["role"] == "user" else "green"
                self.console.print(f"[{style}]{who}[/]" + escape(message["content"]))
            if message.get("interrupted"):
                self.console.print("[yellow](interrupted)[/]")
        self.console.rule()

    # -- commands --------------------------------------------------------------------------
    def command(self, line: str) -> str | None:
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            if name in ("/exit", "/quit"):
                return "exit"
            if name == "/help":
                self.console.print(HELP, markup=False)
            elif name == "/sessions":
                self.choose_session()
            elif name == "/new":
                self.session_id = None
                self.console.print("A new session starts with your next message.")
            elif name == "/delete":
                self.delete_session()
            elif name == "/memories":
                self.memories(rest)
            else:
                self.console.print(f"unknown command {escape(name)}: /help lists them")
        except ClientError as error:
            if error.exit_code == EXIT_AUTH:
                raise
            self.console.print(f"[red]error:[/] {escape(str(error))}")
        return None

    def delete_session(self) -> None:
        if self.session_id is None:
            self.console.print("No session yet: nothing to delete (/sessions to pick one).")
            return
        title = self.titles.get(self.session_id) or self.session_id
        try:
            sure = Confirm.ask(
                f"Delete session “{escape(title)}” and its messages?",
                default=False,
                console=self.console,
            )
        except (KeyboardInterrupt, EOFError):
            sure = False
            self.console.print()
        if not sure:
            self.console.print("[dim](kept)[/]")
            return
        self.client.delete_session(self.session_id)
        self.console.print(f"Deleted session “{escape(title)}”.")
        self.session_id = None

    def memory_id(self, ref: str) -> str | None:
        if ref.isdigit() and 1 <= int(ref) <= len(self.listed):
            return str(self.listed[int(ref) - 1]["id"])
        if re.fullmatch(r"[0-9a-fA-F-]{36}", ref):
            return ref
        self.console.print("give a memory's number in the last list (/memories) or its id")
        return None

    def memory_table(self, memories: list[dict[str, Any]], scores: list[float] | None) -> None:
        self.listed = memories
        if not memories:
            self.console.print("Nothing found." if scores is not None else "No memories yet.")
            return
        table = Table(show_lines=False)
        table.add_column("#", justify="right")
        table.add_column("memory")
        table.add_column("kind")
        table.add_column("score" if scores is not None else "updated")
        for number, memory in enumerate(memories, 1):
            last = (
                f"{scores[number - 1]:.2f}"
                if scores is not None
                else when(memory.get("updated_at") or memory["created_at"])
            )
            table.add_row(str(number), escape(memory["content"]), memory["kind"], last)
        self.console.print(table)

    def memories(self, rest: str) -> None:
        action, _, argument = rest.partition(" ")
        argument = argument.strip()
        if action in ("", "list"):
            self.memory_table(self.client.memories(), None)
        elif action == "search" and argument:
            hits = self.client.search_memories(argument)
            self.memory_table([h["memory"] for h in hits], [h["score"] for h in hits])
        elif action == "add" and argument:
            memory, operation = self.client.add_memory(argument)
            said = {"add": "Remembered", "noop": "Already known", "update": "Updated"}
            self.console.print(f"{said.get(operation, 'Remembered')}: {escape(memory['content'])}")
        elif action == "forget" and argument:
            memory_id = self.memory_id(argument)
            if memory_id is not None:
                self.client.forget_memory(memory_id)
                self.console.print("Forgotten.")
        elif action == "history" and argument:
            memory_id = self.memory_id(argument)
            if memory_id is not None:
                for version in self.client.memory_history(memory_id):
                    self.console.print(
                        f"v{version['version']} {version['operation']:<6} "
                        f"{when(version['at'])}  {escape(version['content'])}"
                    )
        elif action in ("search", "add"):
            self.console.print(f"usage: /memories {action} <text>")
        elif action in ("forget", "history"):
            self.console.print(f"usage: /memories {action} <n|id> (n: a number from /memories)")
        else:
            self.console.print("usage: /memories [list | search <text> | add <text> | "
                               "forget <n|id> | history <n|id>]")  # fmt: skip

    # -- a turn ----------------------------------------------------------------------------
    def memory_note(self, message: dict[str, Any]) -> None:
        event = str(message.get("event", "memory"))
        memory = message.get("memory") or {}
        verb = {"memory.created": "remembered", "memory.updated": "updated",
                "memory.deleted": "forgot", "user.forgotten": "forgot everything"}  # fmt: skip
        text = escape(str(memory.get("content") or ""))
        if not text and memory.get("id"):  # a deletion's tombstone holds no content
            text = f"(memory {escape(str(memory['id']))[:8]}…)"
        self.console.print(f"[cyan]✎ memory {verb.get(event, event)}[/] {text}".rstrip())

    def turn(self, text: str) -> None:
        """Send ``text`` and show the reply as it streams; Ctrl-C stops it (stop_reply)."""
        assert self._conversation is not None
        state = Turn(StreamedReply(self.console))
        try:
            self._conversation.send(text, self.session_id)
            while not self.show(self.next_message(), state):
                pass
        except KeyboardInterrupt:
            state.reply.end()  # what was shown stays; nothing more of this reply is
            try:
                self.stop_reply(state)
            except KeyboardInterrupt:  # pressed again: the chat goes on, the service ends it
                self.console.print("[yellow](not waiting: the turn is being stopped and saved)[/]")
        finally:
            state.reply.end()

    def next_message(self) -> dict[str, Any]:
        """The socket's next message for the main thread; a closed socket raises ClientError."""
        while True:
            try:
                message = self._turn_messages.get(timeout=0.1)
            except queue.Empty:
                continue
            if not isinstance(message, Closed):
                return message
            self.closed_check(message)

    def stop_reply(self, state: Turn) -> None:
        """Ctrl-C during a reply: none of the rest of it is shown. A turn still running is
        cancelled, and ends saved as far as it got, marked interrupted; a turn that had already
        ended (its reply came faster than it was shown) is saved whole. Either way the user is
        told which (docs/clients.md#agent-chat)."""
        assert self._conversation is not None
        end = self.unshown(self.delivered(), state)
        if end is not None:
            if end.get("type") == "error" or interrupted(end):
                self.show(end, state)  # it ended otherwise: say how
            else:
                self.console.print(
                    "[yellow]reply stopped: the turn had already ended, so the whole reply is "
                    "saved (/sessions shows it)[/]"
                )
            return
        self._conversation.cancel()
        self.console.print("[yellow]stopping the reply…[/]")
        while end is None:  # a second Ctrl-C stops waiting (turn)
            end = self.unshown([self.next_message()], state)
        if end.get("type") == "error" or interrupted(end):
            self.show(end, state)  # "(interrupted: the reply so far is saved)", or the error
        else:
            self.console.print(
                "[yellow](the turn ended before the stop reached it: the whole reply is saved; "
                "/sessions shows it)[/]"
            )

    def delivered(self) -> list[dict[str, Any]]:
        """What the socket has delivered and no one has read yet (a closed socket raises)."""
        found: list[dict[str, Any]] = []
        while True:
            try:
                message = self._turn_messages.get_nowait()
            except queue.Empty:
                return found
            if isinstance(message, Closed):
                self.closed_check(message)
            else:
                found.append(message)

    def unshown(self, messages: list[dict[str, Any]], state: Turn) -> dict[str, Any] | None:
        """Go through messages of a stopped reply without showing its text (its session and
        memory notes still count); the one that ends the turn, if it is among them."""
        for message in messages:
            kind = message.get("type")
            if kind == "workflow_started":
                state.started = True
                self.session_id = message.get("session_id") or self.session_id
            elif kind == "memory":
                self.memory_note(message)
            elif kind == "error" or (kind == "workflow_completed" and state.started):
                return message
        return None

    def show(self, message: dict[str, Any], state: Turn) -> bool:
        """Print one socket message of the turn; True when the turn is over."""
        kind = message.get("type")
        reply = state.reply
        if kind == "workflow_started":
            state.started = True
            self.session_id = message.get("session_id") or self.session_id
            if message.get("degraded"):
                self.console.print(
                    "[yellow]memory is unavailable: this reply does not use your memories[/]"
                )
        elif kind == "memory":
            reply.pause()
            self.memory_note(message)
        elif kind == "error":  # even before workflow_started: a refusal comes instead of it
            reply.end()
            code = message.get("code")
            if code == "rate_limited":
                self.console.print(
                    f"[red]rate limited:[/] try again in {message.get('retry_after')} s"
                )
            else:
                self.console.print(f"[red]error ({escape(str(code))}):[/] "
                                   f"{escape(str(message.get('message', '')))}")  # fmt: skip
            if code in ("not_found", "session_deleted"):
                self.session_id = None
            return True
        elif not state.started:
            pass  # left over from a turn stopped earlier, whose end was not waited for
        elif kind == "text_message_delta":
            reply.add(str(message.get("text", "")))
        elif kind == "suggested_function_call":
            reply.pause()
            self.console.print(f"[dim]⚙ {escape(str(message.get('name')))}[/]")
        elif kind == "text_message" and not reply.started:
            reply.whole(str(message.get("content", "")))
        elif kind == "workflow_completed":
            reply.end()
            if interrupted(message):
                self.console.print("[yellow](interrupted: the reply so far is saved)[/]")
            return True
        return False


def interrupted(completed: dict[str, Any]) -> bool:
    """Whether a ``workflow_completed`` says its turn was stopped before the reply ended."""
    return bool((completed.get("metadata") or {}).get("interrupted"))


def run() -> None:
    """The console script's entry point."""
    app()


__all__ = ["app", "run"]
