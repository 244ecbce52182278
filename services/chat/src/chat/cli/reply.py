"""How agent-chat shows the agent's replies: Markdown in a terminal, plain text elsewhere.

In a terminal a streamed reply is Markdown rendered again as it grows (``rich.live``, a few
times a second); while it is taller than the screen only its last lines are redrawn, and when
it ends (or is stopped) the whole of it is printed once, rendered. Anywhere else (output piped
or redirected) the text is written as it comes, unchanged, as a script reading it expects."""

from __future__ import annotations

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

LABEL = "agent>"
#: How often a streaming reply is drawn again: smooth to read, cheap to render.
REFRESHES_PER_SECOND = 12


class ReplyMarkdown(Markdown):
    """Rich's Markdown with raw HTML off, as on the web page: a ``<tag>`` in a reply is shown
    as typed (Rich's own parser reads it as HTML and drops it, and with it text such as
    ``a<b and c>d``). Links show their address: not every terminal makes links clickable."""

    _parser = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])

    def __init__(self, markup: str) -> None:
        super().__init__("", hyperlinks=False)
        self.markup = markup
        self.parsed = self._parser.parse(markup)


def labelled(markup: str, *, label: str = LABEL) -> Table:
    """The reply as Markdown beside its label, with a hanging indent: ``agent> text``."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(Text(label, style="green"), ReplyMarkdown(markup))
    return grid


class _LastLines:
    """A renderable's last lines, as many as the screen holds: a live display redraws only
    what is still on screen, so a reply taller than it is drawn from its end while it grows."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options, pad=False)
        keep = max(console.size.height - 1, 1)
        for line in lines[-keep:]:
            yield from line
            yield Segment.line()


class StreamedReply:
    """One reply on ``console`` while it streams; see the module docstring.

    ``add`` appends a delta; ``pause`` ends the part shown so far (a tool call or a memory note
    goes below it, and later text starts a new part); ``end`` shows the last part in full.
    ``text`` is all that was received, shown or not."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.markdown = console.is_terminal
        self.text = ""
        self.started = False  # the label is shown
        self._part = ""  # the text of the part being shown (Markdown)
        self._parts = 0  # parts shown in full (the label goes on the first)
        self._live: Live | None = None
        self._mid_line = False  # plain text: written since the last newline

    def add(self, delta: str) -> None:
        self.text += delta
        if not self.markdown:
            if not self.started:
                self.console.print(f"[green]{LABEL}[/] ", end="")
            self.console.print(delta, end="", markup=False)
            self.started = self._mid_line = True
            return
        self._part += delta
        if self._live is None:
            self._live = Live(
                console=self.console,
                refresh_per_second=REFRESHES_PER_SECOND,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="visible",  # _LastLines keeps it within the screen
            )
            self._live.update(_LastLines(self._labelled()))
            self._live.start(refresh=True)
            self.started = True
        else:
            self._live.update(_LastLines(self._labelled()))  # drawn by the next refresh

    def whole(self, text: str) -> None:
        """A reply that came whole (no deltas)."""
        self.add(text)
        self.end()

    def pause(self) -> None:
        """Show the part so far in full and leave it: what is printed next goes below."""
        if self._live is not None:
            self._live.update(self._labelled(), refresh=False)
            self._live.stop()  # draws it once more, whole
            self._live = None
            self._part = ""
            self._parts += 1
        elif self._mid_line:
            self.console.print()
            self._mid_line = False

    end = pause

    def _labelled(self) -> Table:
        # The label on the reply's first part; a later part (after a tool call) is indented.
        return labelled(self._part, label=" " * len(LABEL) if self._parts else LABEL)
