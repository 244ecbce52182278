"""Scripted conversations for the memory quality suite, written for this project
(docs/memory-quality.md): moves, job changes, name corrections, repeated facts, retractions,
changed preferences, chatter with no facts, and several users interleaved. Each has sessions
of user messages and, per user, the facts that should be live at the end (``facts``), the
values superseded on the way (``stale``) and questions whose best answer is one of the final
facts (``questions``). A message marked ``Chatter`` says nothing about the user or their world,
so it should leave no episode (docs/memory-quality.md#informative-episodes)."""

from __future__ import annotations

from dataclasses import dataclass, field


class Chatter(str):
    """A message that says nothing about the user or their world: a question to the
    assistant, a greeting, thanks, an acknowledgement, small talk, or a command to the
    assistant (with the text it gives to work on). Every other message is informative: at
    least one of its clauses states something about the user (who they are, what they do,
    where they live, the people, pets and things in their life, what happened to them, what
    they plan, like or want from the assistant from now on, how they feel). A question or a
    command is chatter even when it takes a fact for granted ("how do I ask my new team for
    feedback?"): only what a message states counts. Labelled by reading each message, before
    the rules that decide what becomes an episode were written."""

    __slots__ = ()


@dataclass(frozen=True)
class Conversation:
    name: str
    category: str
    #: Sessions, each a list of (user, message) in order; a message that is a ``Chatter``
    #: should leave no episode, every other one should.
    sessions: list[list[tuple[str, str]]]
    facts: dict[str, list[str]]
    stale: dict[str, list[str]] = field(default_factory=dict)
    questions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def solo(
    name: str,
    category: str,
    sessions: list[list[str]],
    facts: list[str],
    stale: list[str] | None = None,
    questions: list[tuple[str, str]] | None = None,
) -> Conversation:
    """A conversation of one user (named after the conversation)."""
    return Conversation(
        name=name,
        category=category,
        sessions=[[(name, text) for text in session] for session in sessions],
        facts={name: facts},
        stale={name: stale or []},
        questions={name: questions or []},
    )


HOME = "Where do I live?"
WORK = "Where do I work?"
JOB = "What do I do for a living?"
NAME = "What is my name?"

CONVERSATIONS: list[Conversation] = [
    # -- moves -------------------------------------------------------------------------------
    solo(
        "dana", "move",
        [["Hi, my name is Dana and I live in Lisbon."], ["My name is Dana."],
         ["I moved to Porto last month, I live in Porto now."]],
        ["The user's name is Dana.", "The user lives in Porto."],
        ["The user lives in Lisbon."],
        [(HOME, "The user lives in Porto."), (NAME, "The user's name is Dana.")],
    ),
    solo(
        "marco", "move",
        [["I live in Milan and I work at Pirelli."],
         ["Big news: I've just moved to Turin!"], [Chatter("Can you suggest a cafe near me?")]],
        ["The user lives in Turin.", "The user works at Pirelli."],
        ["The user lives in Milan."],
        [(HOME, "The user lives in Turin."), (WORK, "The user works at Pirelli.")],
    ),
    solo(
        "aiko", "move",
        [["I live in Osaka."], ["I moved from Osaka to Kyoto in spring."]],
        ["The user lives in Kyoto."],
        ["The user lives in Osaka."],
        [(HOME, "The user lives in Kyoto.")],
    ),
    solo(
        "bruno", "move",
        [["I'm from Recife, I live in Sao Paulo."], ["I relocated to Rio de Janeiro."],
         ["Actually I live in Niteroi now, across the bay."]],
        ["The user is from Recife.", "The user lives in Niteroi."],
        ["The user lives in Sao Paulo.", "The user lives in Rio de Janeiro."],
        [("Where am I from?", "The user is from Recife."), (HOME, "The user lives in Niteroi.")],
    ),
    solo(
        "chloe", "move",
        [["I live in Lyon"], ["I don't live in Lyon any more."]],
        [],
        ["The user lives in Lyon."],
    ),
    solo(
        "omar", "move",
        [["I live in Cairo with my family."], [Chatter("What's the weather like in Cairo?")],
         ["I moved to Alexandria for work."], ["I live in Alexandria."]],
        ["The user lives in Alexandria."],
        ["The user lives in Cairo."],
        [(HOME, "The user lives in Alexandria.")],
    ),
    # -- job changes -------------------------------------------------------------------------
    solo(
        "priya", "job",
        [["I work at Infosys as a tester."], ["I started working at Google last week!"]],
        ["The user works at Google."],
        ["The user works at Infosys."],
        [(WORK, "The user works at Google.")],
    ),
    solo(
        "lars", "job",
        [["I work as a carpenter."], ["These days I work as a teacher."]],
        ["The user works as a teacher."],
        ["The user works as a carpenter."],
        [(JOB, "The user works as a teacher.")],
    ),
    solo(
        "sofia", "job",
        [["I work for Zara."], ["I quit my job at Zara."], ["I'm taking some time off now."]],
        [],
        ["The user works at Zara."],
    ),
    solo(
        "kwame", "job",
        [["I work at MTN and I live in Accra."], ["I got a new job at Vodafone."],
         ["I work at Vodafone, remember?"]],
        ["The user works at Vodafone.", "The user lives in Accra."],
        ["The user works at MTN."],
        [(WORK, "The user works at Vodafone."), (HOME, "The user lives in Accra.")],
    ),
    solo(
        "elena", "job",
        [["I work as a nurse at night."], ["I no longer work as a nurse."],
         ["I work as a midwife now."]],
        ["The user works as a midwife."],
        ["The user works as a nurse."],
        [(JOB, "The user works as a midwife.")],
    ),
    solo(
        "tom", "job",
        [["I work for the BBC."], ["I don't work for the BBC any more, I work for Sky."]],
        ["The user works at Sky."],
        ["The user works at the BBC."],
        [(WORK, "The user works at Sky.")],
    ),
    # -- name corrections --------------------------------------------------------------------
    solo(
        "jon", "name",
        [["My name is Jon."], ["Sorry, typo: my name is John."]],
        ["The user's name is John."],
        ["The user's name is Jon."],
        [(NAME, "The user's name is John.")],
    ),
    solo(
        "meg", "name",
        [["My name is Margaret but call me Meg."], ["Actually, call me Maggie."]],
        ["The user's name is Margaret.", "The user likes to be called Maggie."],
        ["The user likes to be called Meg."],
        [(NAME, "The user's name is Margaret."),
         ("What should you call me?", "The user likes to be called Maggie.")],
    ),
    solo(
        "ana", "name",
        [["My name is Anna."], ["My name isn't Anna, it's Ana with one n. My name is Ana."]],
        ["The user's name is Ana."],
        ["The user's name is Anna."],
        [(NAME, "The user's name is Ana.")],
    ),
    solo(
        "raj", "name",
        [["My name is Raj and I am 29 years old."], ["Please forget my name."]],
        ["The user is 29 years old."],
        ["The user's name is Raj."],
        [("How old am I?", "The user is 29 years old.")],
    ),
    # -- repeated facts ----------------------------------------------------------------------
    solo(
        "ines", "repeat",
        [["I love hiking."], ["I love hiking!"], ["As I said, I really love hiking."]],
        ["The user likes hiking."],
        [],
        [("What do I enjoy doing outdoors?", "The user likes hiking.")],
    ),
    solo(
        "yuki", "repeat",
        [["I'm allergic to peanuts."], ["Reminder: I'm allergic to peanuts."],
         ["I am allergic to peanuts, so no satay please."]],
        ["The user is allergic to peanuts."],
        [],
        [("Am I allergic to anything?", "The user is allergic to peanuts.")],
    ),
    solo(
        "paul", "repeat",
        [["My favourite colour is green."], ["My favorite colour is green, like I told you."]],
        ["The user's favourite colour is green."],
        [],
        [("What is my favourite colour?", "The user's favourite colour is green.")],
    ),
    solo(
        "nadia", "repeat",
        [["I live in Berlin."], ["I live in Berlin."], ["I live in Berlin, Germany."]],
        ["The user lives in Berlin, Germany."],  # the same place, said more precisely
        [],
        [(HOME, "The user lives in Berlin, Germany.")],
    ),
    solo(
        "diego", "repeat",
        [["Remember that my daughter's birthday is on May 4."],
         ["Please remember that my daughter's birthday is on May 4."]],
        ["My daughter's birthday is on May 4."],
        [],
        [("When is my daughter's birthday?", "My daughter's birthday is on May 4.")],
    ),
    solo(
        "hana", "repeat",
        [["I enjoy jazz."], ["I like jazz."]],
        ["The user likes jazz."],
        [],
        [("What music do I like?", "The user likes jazz.")],
    ),
    # -- retractions -------------------------------------------------------------------------
    solo(
        "leo", "retract",
        [["I like tea and I live in Lisbon."], ["Please forget that I like tea."]],
        ["The user lives in Lisbon."],
        ["The user likes tea."],
        [(HOME, "The user lives in Lisbon.")],
    ),
    solo(
        "mia", "retract",
        [["I'm allergic to cats."], ["Good news, I'm not allergic to cats anymore!"]],
        [],
        ["The user is allergic to cats."],
    ),
    solo(
        "noah", "retract",
        [["I love coffee."], ["I no longer like coffee."], ["I like green tea."]],
        ["The user likes green tea."],
        ["The user likes coffee."],
        [("What drink do I like?", "The user likes green tea.")],
    ),
    solo(
        "zoe", "retract",
        [["Remember that my sister visits on Sundays."], ["I like pottery."],
         ["Forget that my sister visits on Sundays, she moved away."]],
        ["The user likes pottery."],
        ["My sister visits on Sundays."],
        [("What hobby do I have?", "The user likes pottery.")],
    ),
    solo(
        "ivan", "retract",
        [["My wife is called Olga."], ["Forget that my wife is called Olga."]],
        [],
        ["The user's partner is Olga."],
    ),
    solo(
        "grace", "retract",
        [["I work at Boeing and I live in Seattle."], ["I left my job at Boeing."]],
        ["The user lives in Seattle."],
        ["The user works at Boeing."],
        [(HOME, "The user lives in Seattle.")],
    ),
    solo(
        "ahmed", "retract",
        [["I like football and I like chess."], ["Forget that I like football."]],
        ["The user likes chess."],
        ["The user likes football."],
        [("What game do I like?", "The user likes chess.")],
    ),
    # -- changed preferences -----------------------------------------------------------------
    solo(
        "lucy", "preference",
        [["I like coffee."], ["I don't like coffee any more."]],
        ["The user dislikes coffee."],
        ["The user likes coffee."],
        [("How do I feel about coffee?", "The user dislikes coffee.")],
    ),
    solo(
        "finn", "preference",
        [["My favourite band is Oasis."], ["My favourite band is Blur now."]],
        ["The user's favourite band is Blur."],
        ["The user's favourite band is Oasis."],
        [("What is my favourite band?", "The user's favourite band is Blur.")],
    ),
    solo(
        "ruth", "preference",
        [["I hate olives."], ["I actually love olives now!"]],
        ["The user likes olives."],
        ["The user dislikes olives."],
        [("Do I like olives?", "The user likes olives.")],
    ),
    solo(
        "sam", "preference",
        [["My favourite food is sushi and I'm 40 years old."], ["I just turned 41."],
         ["My favourite food is ramen."]],
        ["The user's favourite food is ramen.", "The user is 41 years old."],
        ["The user's favourite food is sushi.", "The user is 40 years old."],
        [("What is my favourite food?", "The user's favourite food is ramen."),
         ("How old am I?", "The user is 41 years old.")],
    ),
    # -- chatter with no facts ---------------------------------------------------------------
    solo(
        "chat1", "chatter",
        [[Chatter("Hello!")], [Chatter("What time is it?")], [Chatter("Thanks, that's all.")]],
        [],
    ),
    solo(
        "chat2", "chatter",
        [[Chatter("Can you tell me a joke?")], [Chatter("Ha, good one. Another?")],
         ["I'm a bit tired today."]],
        [],
    ),
    solo(
        "chat3", "chatter",
        [[Chatter("What is the capital of France?")], [Chatter("How far is it from London?")]],
        [],
    ),
    solo(
        "chat4", "chatter",
        [[Chatter("Do you remember my name?")], [Chatter("What do you know about me?")]],
        [],
    ),
    solo(
        "chat5", "chatter",
        [[Chatter("The weather is lovely.")], [Chatter("It might rain later though.")],
         [Chatter("Bye!")]],
        [],
    ),
    # -- several users interleaved -----------------------------------------------------------
    Conversation(
        name="pair-moves",
        category="interleaved",
        sessions=[
            [("uma", "I live in Delhi."), ("vik", "I live in Mumbai.")],
            [("uma", "I moved to Pune."), ("vik", "I live in Mumbai, still.")],
        ],
        facts={"uma": ["The user lives in Pune."], "vik": ["The user lives in Mumbai."]},
        stale={"uma": ["The user lives in Delhi."]},
        questions={
            "uma": [(HOME, "The user lives in Pune.")],
            "vik": [(HOME, "The user lives in Mumbai.")],
        },
    ),
    Conversation(
        name="pair-jobs",
        category="interleaved",
        sessions=[
            [("wes", "I work at Tesla."), ("xia", "I work at Tesla too.")],
            [("wes", "I got a job at Ford."), ("xia", "My name is Xia.")],
        ],
        facts={
            "wes": ["The user works at Ford."],
            "xia": ["The user works at Tesla.", "The user's name is Xia."],
        },
        stale={"wes": ["The user works at Tesla."]},
        questions={
            "wes": [(WORK, "The user works at Ford.")],
            "xia": [(WORK, "The user works at Tesla."), (NAME, "The user's name is Xia.")],
        },
    ),
    Conversation(
        name="trio",
        category="interleaved",
        sessions=[
            [("ada", "I like tea."), ("ben", "I like coffee."), ("cy", "I like cocoa.")],
            [("ben", "Forget that I like coffee."), ("ada", "I like tea."),
             ("cy", "I don't like cocoa any more.")],
        ],
        facts={
            "ada": ["The user likes tea."],
            "ben": [],
            "cy": ["The user dislikes cocoa."],
        },
        stale={"ben": ["The user likes coffee."], "cy": ["The user likes cocoa."]},
        questions={"ada": [("What do I like to drink?", "The user likes tea.")]},
    ),
    Conversation(
        name="pair-names",
        category="interleaved",
        sessions=[
            [("kim", "My name is Kim."), ("lee", "My name is Lee."), ("kim", "I live in Seoul.")],
            [("lee", "My name is Lee Min."), ("kim", "My name is Kim, I live in Busan now.")],
        ],
        facts={
            "kim": ["The user's name is Kim.", "The user lives in Busan."],
            "lee": ["The user's name is Lee Min."],
        },
        stale={"kim": ["The user lives in Seoul."], "lee": ["The user's name is Lee."]},
        questions={
            "kim": [(HOME, "The user lives in Busan.")],
            "lee": [(NAME, "The user's name is Lee Min.")],
        },
    ),
]  # fmt: skip
