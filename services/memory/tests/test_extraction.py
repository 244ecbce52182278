from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memory.models.events import ConversationTurn, ToolUse
from memory.models.memory import MemoryKind
from memory.services.episodes import ClauseKind, clauses, informative_text
from memory.services.extraction import (
    EXTRACTION_INSTRUCTIONS,
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
    # What the user said about themselves; the question to the assistant is not a memory.
    assert episode.content == 'The user said: "I love jazz."'
    assert "noon" not in episode.content  # the reply is not the user's
    assert [(d.slot, d.content) for d in rest if d.kind == MemoryKind.procedural] == [
        ("tool/1", 'Used the tool remember with {"c": "x"} to answer the user.')
    ]


async def test_an_interrupted_reply_says_so() -> None:
    (episode, *_) = await derive(turn(interrupted=True, tools_used=[]), RuleFactExtractor())
    assert episode.content.endswith("(the reply was interrupted)")


def llm(
    answer: object, status: int = 200, *, text: str = "I love jazz. What time is it?"
) -> LLMFactExtractor:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["model"] == "test-model"
        assert body["messages"][0] == {"role": "system", "content": EXTRACTION_INSTRUCTIONS}
        assert body["messages"][-1]["content"] == text
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return httpx.Response(status, json={"choices": [{"message": {"content": content}}]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://llm/v1")
    return LLMFactExtractor(client, model="test-model")


async def test_llm_extractor_reads_a_json_list_of_facts() -> None:
    reading = await llm({"facts": ["The user loves jazz.", "", 3]}).read(
        "I love jazz. What time is it?"
    )
    assert [f.content for f in reading.facts] == ["The user loves jazz."]


async def test_llm_extractor_reads_retractions_as_canonical_facts() -> None:
    answer = {"facts": ["The user lives in Porto."], "retractions": ["The user lives in Lisbon."]}
    reading = await llm(answer).read("I love jazz. What time is it?")
    assert [(f.content, f.attribute, f.value, f.retract) for f in reading.facts] == [
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


# -- what becomes an episode (memory.services.episodes) ---------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "What do you know about me?",
        "Can you summarise our chat?",
        "what's the weather like in Oslo?",
        "how many grams in a cup of flour",  # a question without its mark
        "Should I bring an umbrella tomorrow?",  # in the first person, still a question
        "how do I ask my new team for feedback?",  # takes a fact for granted, states none
        "I was wondering if you could explain compound interest",
        "whats the capital of Australia, I always forget if it's Sydney or not",
        "also as a 29 year old is it weird to cry at concerts lol",
        "¿Qué tiempo hace en Madrid?",
    ],
)
def test_a_question_to_the_assistant_is_not_an_episode(text: str) -> None:
    assert informative_text(text) is None


@pytest.mark.parametrize(
    "text",
    ["Hi!", "Good morning", "hey there 👋", "Hello again", "Bye, talk tomorrow", "Hej!", "yo"],
)
def test_a_greeting_is_not_an_episode(text: str) -> None:
    assert informative_text(text) is None


@pytest.mark.parametrize(
    "text",
    ["thanks, that helped", "Thank you so much!", "got it, thanks", "perfect 👍", "ok",
     "Great, that works.", "I see", "I agree", "I like that one better", "love it!",
     "I'm back"],
)  # fmt: skip
def test_thanks_and_acknowledgements_are_not_episodes(text: str) -> None:
    assert informative_text(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Write me a haiku about autumn",
        "make it shorter",
        "Please continue",
        "Stop.",
        "another one",
        "can you write a limerick about a cat who loves lasagne",
        # The text a request works on is not the user's words about themselves.
        "Translate this to German: I live in a small flat with two cats",
        "Rewrite this email so it sounds friendlier: Hi team, I need the report by Friday.",
        'Translate "I love my dog" into French',
        "Remember to drink water",  # a reminder, no fact
    ],
)
def test_a_command_to_the_assistant_is_not_an_episode(text: str) -> None:
    assert informative_text(text) is None


@pytest.mark.parametrize(
    "text",
    ["lol ok", "hmm", "haha", "fair enough", "The weather is lovely.",
     "It might rain later though.", "that's funny"],
)  # fmt: skip
def test_small_talk_is_not_an_episode(text: str) -> None:
    assert informative_text(text) is None


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\n\t", "🙂", "😂😂😂", "...", "???", "?!", ",,,", ":", "—", "'", '""', "\u200b",
     "\x00", "a" * 100_000, "?" * 100_000, "hi, " * 25_000, " " * 100_000],
)  # fmt: skip
def test_odd_input_is_no_episode_and_never_an_error(text: str) -> None:
    assert informative_text(text) is None


@pytest.mark.parametrize(
    ("text", "episode"),
    [
        # Questions that also state something keep the statement.
        ("I just moved to Oslo, what's good to see?", "I just moved to Oslo"),
        ("Any tips for a first marathon? I'm running Berlin in September.",
         "I'm running Berlin in September."),
        ("what's a good gift for my mum? she turns 60 next week", "she turns 60 next week"),
        ("Did I tell you I got a puppy?", "Did I tell you I got a puppy?"),
        ("my favourite colour is green so can you put together a palette for my bedroom?",
         "my favourite colour is green"),
        # Greetings and thanks carrying facts.
        ("Hi, I'm Maren, a nurse in Bergen", "I'm Maren, a nurse in Bergen"),
        ("Hi, I'm Maren. I work as a nurse in Bergen and I love hiking.",
         "I'm Maren. I work as a nurse in Bergen and I love hiking."),
        ("thanks! btw my daughter starts school on Monday",
         "btw my daughter starts school on Monday"),
        ("Hi again. As a chef I am always tired, haha. Here in Osaka it is hot.",
         "As a chef I am always tired. Here in Osaka it is hot."),
        # Plans and events, the subject left out as people type.
        ("Can't wait for my trip to Japan next week", "Can't wait for my trip to Japan next week"),
        ("Got promoted today!!", "Got promoted today!!"),
        ("Hey! Back from Lisbon, the trip was amazing", "Back from Lisbon, the trip was amazing"),
        # Preferences phrased as requests, facts to keep or forget.
        ("Please always answer in Norwegian, it's my first language",
         "Please always answer in Norwegian, it's my first language"),
        ("From now on, keep your answers short please.",
         "From now on, keep your answers short please."),
        ("Could you call me Sasha from now on?", "Could you call me Sasha from now on?"),
        ("Remember that I'm vegetarian", "Remember that I'm vegetarian"),
        ("Please forget that I like tea.", "Please forget that I like tea."),
        ("Please note I am allergic to shellfish, so do not suggest shrimp.",
         "Please note I am allergic to shellfish"),
        # The people and things of their life; a remark beside a statement stays.
        ("her husband Raj hates chocolate", "her husband Raj hates chocolate"),
        ("41 years old and learning to cook. and no cilantro, I hate it",
         "41 years old and learning to cook. and no cilantro, I hate it"),
        # Other languages and scripts: the first person is read, not lost.
        ("Hej! Jeg bor i Bergen og jobber som sykepleier.",
         "Jeg bor i Bergen og jobber som sykepleier."),
        ("我住在北京", "我住在北京"),
        ("I\u2019m a nurse", "I\u2019m a nurse"),
    ],
)  # fmt: skip
def test_an_informative_message_keeps_its_informative_clauses(text: str, episode: str) -> None:
    assert informative_text(text) == episode


def test_a_message_is_read_clause_by_clause() -> None:
    text = "Hi! I just moved to Oslo, what's good to see? Translate this: I love my dog."
    assert [(text[c.start : c.end], c.kind) for c in clauses(text)] == [
        ("Hi", ClauseKind.social),
        (" I just moved to Oslo", ClauseKind.statement),
        (" what's good to see", ClauseKind.question),
        (" Translate this", ClauseKind.command),
        (" I love my dog", ClauseKind.command),  # the text the request works on
    ]


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("Translate this to German: I live in a small flat with two cats", []),
        ("can you explain what inflation actually is like I'm 12", []),
        ("whats the capital of Australia, I always forget if it's Sydney or not", []),
        ("Hi! I live in Porto, can you tell me about port wine?", ["The user lives in Porto."]),
    ],
)
async def test_the_rules_read_facts_only_where_the_user_states_them(
    text: str, facts: list[str]
) -> None:
    """Not in a question or a request to the assistant, nor in the text a request works on
    (the rules read each of these as a fact before)."""
    reading = await RuleFactExtractor().read(text)
    assert [f.content for f in reading.facts] == facts


def test_a_long_message_is_read_from_its_start() -> None:
    text = "I live in Porto. " + "What is the time? " * 10_000
    assert informative_text(text) == "I live in Porto."


@given(st.text(st.characters(exclude_categories=()), max_size=300))
def test_any_text_is_read_without_error(text: str) -> None:
    episode = informative_text(text)
    assert episode is None or (episode and episode == " ".join(episode.split()))


async def test_a_message_that_says_nothing_about_the_user_derives_nothing() -> None:
    assert await derive(turn(user_text="What do you know about me?"), RuleFactExtractor()) == []


async def test_a_tool_that_changed_something_is_kept_without_an_episode() -> None:
    used = [ToolUse(name="remember", arguments='{"c": "x"}')]
    derived = await derive(turn(user_text="Write that down", tools_used=used), RuleFactExtractor())
    assert [d.slot for d in derived] == ["tool/0"]


async def test_an_introduction_without_the_first_person_is_an_episode() -> None:
    """ "Name's Shivon", the subject left out, as people type it."""
    derived = await derive(turn(user_text="Name's Shivon", tools_used=[]), RuleFactExtractor())
    assert [(d.slot, d.content) for d in derived] == [
        ("episode", 'The user said: "Name\'s Shivon"'),
        ("fact/0", "The user's name is Shivon."),
    ]


def test_the_model_is_told_what_is_not_a_memory() -> None:
    """With a model configured, its instructions state the offline path's rule."""
    rule = " ".join(EXTRACTION_INSTRUCTIONS.split())
    for said in (
        "A question to the assistant, a greeting, thanks, an acknowledgement, small talk and a "
        "command to the assistant (with any text it gives to work on) say nothing about the "
        "user and are not memories",
        "unless another clause of the message says something about the user",
        '"episode": null when no clause does',
        "a statement about themselves, an event, a plan, a preference, a fact about their "
        "family, pets, job or places",
        "copied word for word",
    ):
        assert said in rule


@pytest.mark.parametrize(
    ("text", "answer", "episode"),
    [
        # The model says the message is not a memory: no episode.
        ("What do you know about me?", {"facts": [], "episode": None}, None),
        # The model's clauses, in the user's words.
        ("I just moved to Oslo, what's good to see?",
         {"facts": ["The user lives in Oslo."], "episode": "I just moved to Oslo"},
         'The user said: "I just moved to Oslo"'),
        # Not the user's words (a paraphrase): the rules decide.
        ("I just moved to Oslo, what's good to see?",
         {"facts": [], "episode": "The user relocated to Oslo"},
         'The user said: "I just moved to Oslo"'),
        # No "episode" in the answer: the rules decide.
        ("Hi! What time is it?", {"facts": []}, None),
        # The model's word on the episode holds, whatever facts it found.
        ("Hi! What time is it?", {"facts": ["The user is awake."], "episode": None}, None),
    ],
)  # fmt: skip
async def test_with_a_model_the_model_says_what_becomes_an_episode(
    text: str, answer: dict[str, object], episode: str | None
) -> None:
    derived = await derive(turn(user_text=text, tools_used=[]), llm(answer, text=text))
    assert [d.content for d in derived if d.kind is MemoryKind.episodic] == (
        [] if episode is None else [episode]
    )
