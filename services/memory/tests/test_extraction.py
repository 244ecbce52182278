from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from memory.models.events import ConversationTurn, ToolUse
from memory.models.memory import MemoryKind
from memory.services.extraction import (
    FALLBACK_TAG,
    LLMFactExtractor,
    RuleFactExtractor,
    derive,
)
from memory.services.facts import attribute_of


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("My name is Ada Lovelace.", ["The user's name is Ada Lovelace."]),
        (
            "I live in Porto and I work at Acme Corp.",
            ["The user lives in Porto.", "The user works at Acme Corp."],
        ),
        ("I'm a software engineer", ["The user is a software engineer."]),
        ("I really love hiking in the mountains!", ["The user likes hiking in the mountains."]),
        ("I don't like mushrooms", ["The user dislikes mushrooms."]),
        ("My favourite colour is teal", ["The user's favourite colour is teal."]),
        ("I am allergic to penicillin.", ["The user is allergic to penicillin."]),
        ("Please remember that my flight leaves on Friday", ["My flight leaves on Friday."]),
        ("What time is it?", []),
        ("The weather is nice", []),
    ],
)
async def test_rules_find_what_the_user_states_about_themselves(
    text: str, facts: list[str]
) -> None:
    assert [f.content for f in await RuleFactExtractor().facts(text)] == facts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi, my name is Dana and I live in Lisbon.", [
            ("The user's name is Dana.", "name", "Dana", False),
            ("The user lives in Lisbon.", "home", "Lisbon", False),
        ]),
        ("I moved to Porto last month, I live in Porto now.", [
            ("The user lives in Porto.", "home", "Porto", False),
        ]),
        ("I moved from Lisbon to Porto", [
            ("I moved from Lisbon", "home", "Lisbon", True),
            ("The user lives in Porto.", "home", "Porto", False),
        ]),
        ("I don't live in Lisbon any more.", [
            ("I don't live in Lisbon", "home", "Lisbon", True),
        ]),
        ("Forget that I like tea.", [
            ("The user likes tea.", "preference:tea", "likes", True),
        ]),
        ("Please remember that I like green tea", [
            ("The user likes green tea.", "preference:green tea", "likes", False),
        ]),
        ("forget my name", [("The user's name.", "name", None, True)]),
        ("I quit my job at Acme.", [("I quit my job at Acme", "employer", "Acme", True)]),
        ("I work for Globex as an engineer", [
            ("The user works at Globex.", "employer", "Globex", False),
        ]),
        ("My wife is called Maria and she is a doctor", [
            ("The user's partner is Maria.", "partner", "Maria", False),
        ]),
        ("I no longer like coffee", [
            ("I no longer like coffee", "preference:coffee", "likes", True),
        ]),
        ("My name isn't Dan, it's Dana.", [
            ("My name isn't Dan", "name", "Dan", True),
            ("The user's name is Dana.", "name", "Dana", False),
        ]),
        ("hi! I'm Wren, I work as a vet in a small practice in Galway", [
            ("The user's name is Wren.", "name", "Wren", False),
            ("The user works as a vet.", "occupation", "vet", False),
        ]),
        ("I'm a data analyst at Mercer Health now", [
            ("The user works as a data analyst.", "occupation", "data analyst", False),
            ("The user works at Mercer Health.", "employer", "Mercer Health", False),
        ]),
        ("moved down to Bristol last month. boxes everywhere", [
            ("The user lives in Bristol.", "home", "Bristol", False),
        ]),
        ("I hate mushrooms, always have, I like them now", [
            ("The user dislikes mushrooms.", "preference:mushrooms", "dislikes", False),
        ]),
        ("Jules and I split up", [("Jules and I split up", "partner", "Jules", True)]),
        ("ok so forget the shellfish thing", [("Shellfish.", None, None, True)]),
        ("Spirited Away is my all-time favourite movie", [
            ("The user's favourite movie is Spirited Away.", "favourite:film", "Spirited Away",
             False),
        ]),
        ("forget that my sister visits on Sundays", [
            ("My sister visits on Sundays.", None, None, True),
        ]),
        ("I'm a bit tired today", []),
        ("I just turned 35!", [("The user is 35 years old.", "age", "35", False)]),
    ],
)  # fmt: skip
async def test_rules_read_attributes_and_retractions(
    text: str, expected: list[tuple[str, str | None, str | None, bool]]
) -> None:
    facts = await RuleFactExtractor().facts(text)
    assert [(f.content, f.attribute, f.value, f.retract) for f in facts] == expected


@pytest.mark.parametrize(
    ("content", "attribute"),
    [
        ("The user lives in Porto.", ("home", "Porto")),
        ("the user lives in Porto", ("home", "Porto")),
        ("The user's favourite colour is teal.", ("favourite:colour", "teal")),
        ("The user dislikes The Beatles.", ("preference:beatles", "dislikes")),
        ("The user is allergic to penicillin.", ("allergy:penicillin", "penicillin")),
        ("The user is a vegetarian.", None),
        ("My flight leaves on Friday.", None),
    ],
)
def test_canonical_sentences_name_their_attribute(
    content: str, attribute: tuple[str, str] | None
) -> None:
    assert attribute_of(content) == attribute


def turn(**overrides: object) -> ConversationTurn:
    data: dict[str, object] = {
        "schema_version": "1.0",
        "turn_id": "t-1",
        "session_id": "s-1",
        "user_id": "u",
        "user_text": "I love jazz. What time is it?",
        "reply": "It is noon.",
        "tools_used": [
            ToolUse(name="get_current_time"),
            ToolUse(name="recall_memories", arguments='{"q": "jazz"}'),
        ],
        "completed_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    data.update(overrides)
    return ConversationTurn.model_validate(data)


async def test_derived_ids_are_stable_per_turn_and_slot() -> None:
    first = await derive(turn(), RuleFactExtractor())
    again = await derive(turn(), RuleFactExtractor())
    other = await derive(turn(turn_id="t-2"), RuleFactExtractor())
    assert [d.memory_id("t-1") for d in first] == [d.memory_id("t-1") for d in again]
    assert {d.memory_id("t-1") for d in first}.isdisjoint({d.memory_id("t-2") for d in other})
    assert [d.slot for d in first] == ["episode", "fact/0"]  # both tools only read


async def test_an_episode_is_what_the_user_said_and_only_writes_are_procedures() -> None:
    used = [ToolUse(name="get_current_time"), ToolUse(name="remember", arguments='{"c": "x"}')]
    episode, *rest = await derive(turn(tools_used=used), RuleFactExtractor())
    assert episode.content == 'The user said: "I love jazz. What time is it?"'
    assert "noon" not in episode.content  # the reply is not the user's
    assert [(d.slot, d.content) for d in rest if d.kind == MemoryKind.procedural] == [
        ("tool/1", 'Used the tool remember with {"c": "x"} to answer the user.')
    ]


async def test_an_interrupted_reply_says_so() -> None:
    (episode, *_) = await derive(turn(interrupted=True, tools_used=[]), RuleFactExtractor())
    assert episode.content.endswith("(the reply was interrupted)")


def llm(answer: object, status: int = 200) -> LLMFactExtractor:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["model"] == "test-model"
        assert body["messages"][-1]["content"] == "I love jazz. What time is it?"
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return httpx.Response(status, json={"choices": [{"message": {"content": content}}]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://llm/v1")
    return LLMFactExtractor(client, model="test-model")


async def test_llm_extractor_reads_a_json_list_of_facts() -> None:
    facts = await llm({"facts": ["The user loves jazz.", "", 3]}).facts(
        "I love jazz. What time is it?"
    )
    assert [f.content for f in facts] == ["The user loves jazz."]


async def test_llm_extractor_reads_retractions_as_canonical_facts() -> None:
    answer = {"facts": ["The user lives in Porto."], "retractions": ["The user lives in Lisbon."]}
    facts = await llm(answer).facts("I love jazz. What time is it?")
    assert [(f.content, f.attribute, f.value, f.retract) for f in facts] == [
        ("The user lives in Porto.", "home", "Porto", False),
        ("The user lives in Lisbon.", "home", "Lisbon", True),
    ]


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("not json", 200),
        ({"facts": []}, 500),
        (["The user loves jazz."], 200),  # JSON, but not the object asked for
        ({"facts": "The user loves jazz."}, 200),
        ({"statements": []}, 200),
        ("null", 200),
    ],
    ids=["not-json", "http-500", "a-list", "facts-not-a-list", "no-facts-key", "null"],
)
async def test_a_failing_llm_falls_back_to_the_rules_and_says_so(
    answer: object, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    derived = await derive(turn(), llm(answer, status))
    assert [d.slot for d in derived] == ["episode", "fact/0"]
    assert derived[-1].content == "The user likes jazz."
    assert derived[-1].tags == ("fact", FALLBACK_TAG)
    assert "falling back to the rules" in caplog.text
