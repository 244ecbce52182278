"""The built-in offline model: the default when no model is configured.

A real product feature (demos, CI, benchmarks), not a test stub: an Agents SDK ``Model`` that is
deterministic, streams its reply word by word, calls the agent's tools on recognisable intents
("what time is it", "remember that ...", "what do you know about me"), otherwise answers with the
memories it was given, and always says it is the offline model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Tool, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

OFFLINE_MODEL_NAME = "offline"
PREFIX = "[offline model] "
MEMORY_SECTION = "Known about the user:"

_TIME = re.compile(r"\b(what(?:'s| is) the time|what time is it|current time|time is it)\b", re.I)
_REMEMBER = re.compile(
    r"^\s*(?:please\s+)?remember(?:\s+that)?\s+(?P<fact>.+?)\s*[.!]?\s*$", re.I | re.S
)
_ABOUT_ME = re.compile(
    r"\bwhat do you (?:know|remember) about me\b|\bwhat have you remembered\b|\bwho am i\b", re.I
)
_TOKEN = re.compile(r"\S+\s*")


def _text_of(item: Any) -> str:
    content = item.get("content") if isinstance(item, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_user_text(items: Sequence[Any]) -> str:
    for item in reversed(items):
        if isinstance(item, dict) and item.get("role") == "user":
            return _text_of(item)
    return ""


MEMORY_CHARS_IN_REPLY = 100


def _shortened(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (an ellipsis marks the cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _memories_from(instructions: str | None) -> list[str]:
    """The memory lines the agent's instructions carry (one ``- `` line each)."""
    if not instructions or MEMORY_SECTION not in instructions:
        return []
    section = instructions.split(MEMORY_SECTION, 1)[1]
    return [line[2:].strip() for line in section.splitlines() if line.startswith("- ")]


def _call_id(*parts: str) -> str:
    return "call_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def _tool_names(tools: Sequence[Tool]) -> set[str]:
    return {getattr(t, "name", "") for t in tools}


class OfflineModel(Model):
    """Deterministic, tool-calling, token-streaming: see the module docstring.

    ``token_delay_seconds`` paces the stream like a hosted model (demos, and tests that need
    a turn to be running while something else happens); 0 streams as fast as possible."""

    def __init__(self, *, token_delay_seconds: float = 0.0) -> None:
        self._token_delay = token_delay_seconds

    def decide(
        self, instructions: str | None, input: str | list[TResponseInputItem], tools: list[Tool]
    ) -> list[TResponseOutputItem]:
        items: list[Any] = (
            [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        )
        last = items[-1] if items else {}
        if isinstance(last, dict) and last.get("type") == "function_call_output":
            call = next(
                (
                    i
                    for i in reversed(items)
                    if isinstance(i, dict)
                    and i.get("type") == "function_call"
                    and i.get("call_id") == last.get("call_id")
                ),
                {},
            )
            return [
                self._message(
                    self._after_tool(str(call.get("name", "")), str(last.get("output", "")))
                )
            ]
        text = _last_user_text(items)
        names = _tool_names(tools)
        if "get_current_time" in names and _TIME.search(text):
            return [self._call("get_current_time", {}, text)]
        remember = _REMEMBER.match(text)
        if "remember" in names and remember:
            return [self._call("remember", {"content": remember["fact"], "kind": "semantic"}, text)]
        if "recall_memories" in names and _ABOUT_ME.search(text):
            return [self._call("recall_memories", {"query": "facts about the user"}, text)]
        return [self._message(self._answer(text, _memories_from(instructions)))]

    @staticmethod
    def _answer(text: str, memories: list[str]) -> str:
        said = _shortened(text, 200)
        reply = f'{PREFIX}You said: "{said}".'
        if memories:
            # Each memory shortened: a reply quoting memories that quote earlier replies would
            # otherwise grow with every turn of a conversation.
            recalled = "; ".join(_shortened(m, MEMORY_CHARS_IN_REPLY) for m in memories[:5])
            reply += " From what I remember about you: " + recalled + "."
        else:
            reply += " I don't remember anything about you yet."
        return reply + " Configure OPENAI_API_KEY for a real model."

    @staticmethod
    def _after_tool(name: str, output: str) -> str:
        if name == "get_current_time":
            return f"{PREFIX}The current time is {output}."
        if name == "remember":
            return f"{PREFIX}Got it, I will remember that. ({output})"
        if name == "recall_memories":
            return f"{PREFIX}Here is what I know about you: {output}"
        return f"{PREFIX}{name} returned: {output}"

    @staticmethod
    def _message(text: str) -> ResponseOutputMessage:
        return ResponseOutputMessage(
            id="msg_" + hashlib.sha256(text.encode()).hexdigest()[:24],
            type="message",
            role="assistant",
            status="completed",
            content=[
                ResponseOutputText(text=text, type="output_text", annotations=[], logprobs=[])
            ],
        )

    @staticmethod
    def _call(name: str, arguments: dict[str, Any], text: str) -> ResponseFunctionToolCall:
        call_id = _call_id(name, text)
        return ResponseFunctionToolCall(
            id=call_id,
            call_id=call_id,
            type="function_call",
            name=name,
            arguments=json.dumps(arguments, separators=(",", ":")),
            status="completed",
        )

    @staticmethod
    def _response(output: list[TResponseOutputItem]) -> Response:
        return Response(
            id="resp_" + hashlib.sha256(repr(output).encode()).hexdigest()[:24],
            created_at=0,
            model=OFFLINE_MODEL_NAME,
            object="response",
            output=output,
            tool_choice="auto",
            tools=[],
            top_p=None,
            parallel_tool_calls=False,
            status="completed",
        )

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        output = self.decide(system_instructions, input, tools)
        return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        output = self.decide(system_instructions, input, tools)
        response = self._response(output)
        seq = 0

        def next_seq() -> int:
            nonlocal seq
            seq += 1
            return seq - 1

        in_progress = response.model_copy(update={"output": [], "status": "in_progress"})
        yield cast(
            TResponseStreamEvent,
            ResponseCreatedEvent(
                type="response.created", response=in_progress, sequence_number=next_seq()
            ),
        )
        for index, item in enumerate(output):
            if isinstance(item, ResponseFunctionToolCall):
                yield cast(
                    TResponseStreamEvent,
                    ResponseOutputItemAddedEvent(
                        type="response.output_item.added",
                        item=item,
                        output_index=index,
                        sequence_number=next_seq(),
                    ),
                )
                yield cast(
                    TResponseStreamEvent,
                    ResponseFunctionCallArgumentsDoneEvent(
                        type="response.function_call_arguments.done",
                        item_id=item.id or item.call_id,
                        name=item.name,
                        output_index=index,
                        arguments=item.arguments,
                        sequence_number=next_seq(),
                    ),
                )
            elif isinstance(item, ResponseOutputMessage):
                text = cast(ResponseOutputText, item.content[0]).text
                empty = item.model_copy(update={"content": [], "status": "in_progress"})
                yield cast(
                    TResponseStreamEvent,
                    ResponseOutputItemAddedEvent(
                        type="response.output_item.added",
                        item=empty,
                        output_index=index,
                        sequence_number=next_seq(),
                    ),
                )
                part = ResponseOutputText(text="", type="output_text", annotations=[], logprobs=[])
                yield cast(
                    TResponseStreamEvent,
                    ResponseContentPartAddedEvent(
                        type="response.content_part.added",
                        item_id=item.id,
                        output_index=index,
                        content_index=0,
                        part=part,
                        sequence_number=next_seq(),
                    ),
                )
                for token in _TOKEN.findall(text):  # the reply, word by word
                    if self._token_delay:
                        await asyncio.sleep(self._token_delay)
                    yield cast(
                        TResponseStreamEvent,
                        ResponseTextDeltaEvent(
                            type="response.output_text.delta",
                            item_id=item.id,
                            output_index=index,
                            content_index=0,
                            delta=token,
                            logprobs=[],
                            sequence_number=next_seq(),
                        ),
                    )
                yield cast(
                    TResponseStreamEvent,
                    ResponseTextDoneEvent(
                        type="response.output_text.done",
                        item_id=item.id,
                        output_index=index,
                        content_index=0,
                        text=text,
                        logprobs=[],
                        sequence_number=next_seq(),
                    ),
                )
                yield cast(
                    TResponseStreamEvent,
                    ResponseContentPartDoneEvent(
                        type="response.content_part.done",
                        item_id=item.id,
                        output_index=index,
                        content_index=0,
                        part=item.content[0],
                        sequence_number=next_seq(),
                    ),
                )
            yield cast(
                TResponseStreamEvent,
                ResponseOutputItemDoneEvent(
                    type="response.output_item.done",
                    item=item,
                    output_index=index,
                    sequence_number=next_seq(),
                ),
            )
        yield cast(
            TResponseStreamEvent,
            ResponseCompletedEvent(
                type="response.completed", response=response, sequence_number=next_seq()
            ),
        )
