"""agent-chat in a real terminal (a pseudo-terminal through pexpect) against the running
stack, used as a person would: a first run, a streamed reply, a live memory note, a reply in
Markdown, Ctrl-C in the middle of a reply, commands, a second run that resumes, and `ask` for
scripts."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pexpect
import pytest

from tests.clients.conftest import ScriptedStack
from tests.clients.model_server import HOLD, ScriptedModel

pytestmark = pytest.mark.clients
PROMPT = "you> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MARKDOWN_REPLY = (
    "Here is how:\n\n- **print** a line\n- read *the* docs\n\n"
    "```python\nprint('hello')\n```\n\nMore in [the tutorial](https://docs.python.org/3/)."
)
#: A reply that stops at HOLD until the test lets it go: the Ctrl-C lands mid-reply for sure.
STORY = "Once upon a time a lighthouse keeper " + HOLD + "THE-END-OF-THE-STORY"


def agent_chat() -> str:
    found = shutil.which("agent-chat", path=str(Path(sys.executable).parent))
    assert found, "agent-chat is not installed in the environment (uv sync)"
    return found


def environment(config_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_CHAT_")}
    return {**env, "XDG_CONFIG_HOME": str(config_home), "TERM": "xterm-256color",
            "COLUMNS": "120", "LINES": "40"}  # fmt: skip


class Transcript(io.StringIO):
    """All a child printed, also shown by pytest when the test fails."""

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        return super().write(text)


def ignore_ctrl_c() -> None:
    # As some CI runners start the tests (nohup, a background job of a script): the ignored
    # SIGINT is inherited, and agent-chat must restore it to hear Ctrl-C at all.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def spawn(chat_url: str, config_home: Path, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        agent_chat(),
        ["--url", chat_url, *args],
        env=environment(config_home),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
        preexec_fn=ignore_ctrl_c,
    )
    child.logfile_read = Transcript()
    return child


def plain(text: str) -> str:
    return ANSI.sub("", text)


def finish(child: pexpect.spawn) -> None:
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_person_chats_interrupts_a_reply_and_comes_back(
    scripted: ScriptedStack, model: ScriptedModel, tmp_path: Path
) -> None:
    chat_url = scripted.chat_url
    child = spawn(chat_url, tmp_path)
    try:
        # First run: a user id is made and kept; nothing to resume yet.
        child.expect(r"user (?:\x1b\[[0-9;]*m)*(cli-[0-9a-f]{12})")  # as coloured by Rich
        user = child.match.group(1)
        config = json.loads((tmp_path / "agent-chat" / "config.json").read_text())
        assert config == {"user_id": user}
        child.expect_exact(PROMPT)

        # A streamed reply, then the memory the turn made, shown live at the prompt.
        child.sendline("Hi, my name is Dana and I live in Lisbon.")
        child.expect_exact("agent>")
        child.expect_exact(PROMPT)
        child.expect(r"✎ memory remembered.*lives in Lisbon", timeout=30)

        # A reply in Markdown is rendered: a list, emphasis, a code block, a link's address.
        model.script(MARKDOWN_REPLY)
        child.sendline("How do I print in Python?")
        child.expect(r"•.*print.* a line")
        child.expect_exact(PROMPT)
        shown = plain(child.before)
        assert "• read the docs" in shown
        assert "print('hello')" in shown
        assert "More in the tutorial (https://docs.python.org/3/)." in shown
        assert "**" not in shown
        assert "```" not in shown

        # Ctrl-C in the middle of a reply stops that reply, not the program: the reply is held
        # half-way by the model, so the Ctrl-C lands while the turn runs, however slow the
        # machine, and nothing after it is shown.
        model.script(STORY)
        child.sendline("Please tell me a long story about a lighthouse keeper.")
        child.expect_exact("Once upon a time")
        child.sendintr()
        child.expect_exact("stopping the reply")
        child.expect_exact("(interrupted: the reply so far is saved)")
        child.expect_exact(PROMPT)
        model.release()  # too late: the turn is over, its stream closed

        child.sendline("/memories")
        child.expect("Lisbon")
        child.expect_exact(PROMPT)
        child.sendline("/memories search where do I live")
        child.expect(r"score")
        child.expect_exact(PROMPT)
        child.sendline("/memories history 1")
        child.expect(r"v1 add")
        child.expect_exact(PROMPT)
        child.sendline("/bogus")
        child.expect_exact("unknown command /bogus")
        child.expect_exact(PROMPT)
        finish(child)
    finally:
        child.close(force=True)
    assert "THE-END-OF-THE-STORY" not in child.logfile_read.getvalue()

    # The second run offers the session, newest first, and shows its history on resuming,
    # the interrupted reply marked.
    child = spawn(chat_url, tmp_path)
    try:
        child.expect_exact("Your sessions (newest first)")
        child.expect_exact("Resume which?")
        child.sendline("1")
        child.expect("I live in Lisbon")
        child.expect_exact("Once upon a time a lighthouse keeper")  # the reply as saved
        child.expect_exact("(interrupted)")
        child.expect_exact(PROMPT)
        # Ctrl-C at a question inside the chat cancels the question, not the program.
        child.sendline("/sessions")
        child.expect_exact("Switch to (0: new)")
        child.sendintr()
        child.expect_exact("(cancelled)")
        child.expect_exact(PROMPT)
        child.sendline("/delete")
        child.expect(r"Delete session .* and its messages\?")
        child.sendline("y")
        child.expect_exact("Deleted session")
        child.expect_exact(PROMPT)
        child.sendline("/sessions")
        child.expect_exact("No sessions yet")
        child.expect_exact(PROMPT)
        child.sendeof()
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        child.close(force=True)


def test_ask_answers_once_for_scripts_and_fails_clearly(chat_url: str, tmp_path: Path) -> None:
    env = environment(tmp_path)
    user = f"script-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [agent_chat(), "--url", chat_url, "--user", user, "ask", "Hello there", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["user_id"] == user
    assert answer["response"]
    again = subprocess.run(
        [agent_chat(), "--url", chat_url, "--user", user, "ask", "And again",
         "--session", answer["session_id"]],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip()
    # Nothing listens on 8499 (below the ephemeral range, in no stack's block).
    down = subprocess.run(
        [agent_chat(), "--url", "http://127.0.0.1:8499", "--user", user, "ask", "Hi"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert down.returncode == 5
    assert "cannot reach the chat service at http://127.0.0.1:8499" in down.stderr
    assert "Traceback" not in down.stderr
