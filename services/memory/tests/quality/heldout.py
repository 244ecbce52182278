# ruff: noqa: E501
"""Held-out conversations for the memory quality suite, written by a separate session that
never saw the rules (docs/memory-quality.md#held-out): they measure how the offline rules
generalise; their figures are reported, with floors against regressions, not the targets."""

from __future__ import annotations

from .conversations import HOME, JOB, NAME, WORK, Conversation, solo  # noqa: F401, TID252

HELDOUT = [
    # ---------------- move ----------------
    solo(
        "felix-m",
        "move",
        [
            [
                "hey, quick one - I'm Felix btw. I live in Leeds and I'm trying to plan a weekend away by train",
                "something under 3 hours each way would be ideal",
            ],
            [
                "so, update: we finally did it and moved down to Bristol last month. boxes everywhere lol",
                "can you recommend some decent bakeries near the harbourside?",
            ],
        ],
        ["The user's name is Felix.", "The user lives in Bristol."],
        ["The user lives in Leeds."],
        [
            ("What's my name again?", "The user's name is Felix."),
            ("Where am I based these days?", "The user lives in Bristol."),
        ],
    ),
    solo(
        "odile",
        "move",
        [
            [
                "Bonjour! I've been living in Lyon for about ten years and I'm 41, in case that matters for the advice",
                "I want to get back into running without wrecking my knees",
            ],
            ["the plan you gave me is going well, week 3 done. should I add a hill session?"],
            [
                "big news: I took the transfer and I'm now settled in Montreal. the winters here are no joke",
                "any tips for running when there's snow on the ground?",
            ],
        ],
        ["The user is 41 years old.", "The user lives in Montreal."],
        ["The user lives in Lyon."],
        [
            ("How old did I say I was?", "The user is 41 years old."),
            ("Which city do I live in now?", "The user lives in Montreal."),
        ],
    ),
    # ---------------- job change ----------------
    solo(
        "rafa-g",
        "job_change",
        [
            [
                "I'm a line cook at Osteria Lupo and the hours are brutal, I barely see daylight",
                "how do people in hospitality keep a normal sleep schedule?",
            ],
            [
                "well, I finally left the restaurant world! started last Monday as a front-end developer at Brightwave, it's a small agency",
                "how do I ask my new team for feedback without being annoying about it?",
            ],
        ],
        ["The user works as a front-end developer.", "The user works at Brightwave."],
        ["The user works as a line cook.", "The user works at Osteria Lupo."],
        [
            ("What's my job at the moment?", "The user works as a front-end developer."),
            ("Which company do I work for?", "The user works at Brightwave."),
        ],
    ),
    solo(
        "beatrix",
        "job_change",
        [
            [
                "i work as a chemistry teacher at Hollins High so at least my summers are free",
                "what's a fun experiment for 14 year olds that won't set anything on fire",
            ],
            ["can you help me polish my CV? I'm thinking about a career switch"],
            [
                "quitting teaching was honestly the best decision I've made. I'm a data analyst at Mercer Health now",
                "can you explain window functions in SQL like I'm five?",
            ],
        ],
        ["The user works as a data analyst.", "The user works at Mercer Health."],
        ["The user works as a chemistry teacher.", "The user works at Hollins High."],
        [
            ("What do I do for a living?", "The user works as a data analyst."),
            ("Who's my employer right now?", "The user works at Mercer Health."),
        ],
    ),
    # ---------------- name correction ----------------
    solo(
        "kit-w",
        "name_correction",
        [
            [
                "hi I'm Kat, I live up in Dundee and I need help writing a complaint letter to my landlord"
            ],
            [
                "sorry, typo earlier - my name is Kit, not Kat. autocorrect hates me",
                "anyway the landlord replied, can you help me answer him?",
            ],
        ],
        ["The user's name is Kit.", "The user lives in Dundee."],
        ["The user's name is Kat."],
        [
            ("What's my name?", "The user's name is Kit."),
            ("Where do I live?", "The user lives in Dundee."),
        ],
    ),
    solo(
        "siobhan-r",
        "name_correction",
        [
            [
                "Name's Shivon, I'm 29 and I work as a nurse on a cardiac ward",
                "what are some good snacks for 12 hour night shifts?",
            ],
            [
                "ugh I just noticed I spelled my own name the lazy way before. it's Siobhan, S-I-O-B-H-A-N. most people just call me Shiv though",
                "can you suggest a stretching routine for after a shift?",
            ],
        ],
        [
            "The user's name is Siobhan.",
            "The user likes to be called Shiv.",
            "The user is 29 years old.",
            "The user works as a nurse.",
        ],
        ["The user's name is Shivon."],
        [
            ("How is my name spelled?", "The user's name is Siobhan."),
            ("What do I prefer to be called?", "The user likes to be called Shiv."),
            ("How old am I?", "The user is 29 years old."),
            ("What's my job?", "The user works as a nurse."),
        ],
    ),
    # ---------------- repeated fact ----------------
    solo(
        "arjun-k",
        "repeated",
        [
            [
                "fyi I'm allergic to peanuts, so please flag any recipe that uses them",
                "also I live in Pune, so ingredients need to be things I can get locally",
            ],
            [
                "just a reminder that peanuts are a hard no for me, I'd end up in hospital",
                "what's a good dessert for a dinner party of six?",
            ],
            ["yep, still in Pune, monsoon has just started here. any cosy rainy day recipes?"],
        ],
        ["The user is allergic to peanuts.", "The user lives in Pune."],
        [],
        [
            ("What food am I allergic to?", "The user is allergic to peanuts."),
            ("Where do I live?", "The user lives in Pune."),
        ],
    ),
    solo(
        "lena-b",
        "repeated",
        [
            [
                "my girlfriend Marta and I are planning our anniversary, any ideas that aren't just dinner?",
                "oh and my favourite film is Spirited Away, if that helps for a theme",
            ],
            [
                "Marta (my partner, I mentioned her before) wants to try bouldering. is it ok for total beginners?"
            ],
            [
                "like I said, Spirited Away is my all-time favourite movie. are there any Ghibli exhibitions in Europe this year?"
            ],
        ],
        ["The user's partner is Marta.", "The user's favourite film is Spirited Away."],
        [],
        [
            ("Who's my partner?", "The user's partner is Marta."),
            ("What's my favourite film?", "The user's favourite film is Spirited Away."),
        ],
    ),
    # ---------------- retraction ----------------
    solo(
        "gus-h",
        "retraction",
        [
            [
                "quick heads up for meal ideas: I'm allergic to shellfish, and I really can't stand coriander",
                "what can I cook this week with chicken thighs?",
            ],
            [
                "ok so forget the shellfish thing - turns out it was a one-off reaction and the allergist cleared me completely",
                "which means... can you give me a proper paella recipe?",
            ],
        ],
        ["The user dislikes coriander."],
        ["The user is allergic to shellfish."],
        [
            ("Is there a herb I don't like?", "The user dislikes coriander."),
        ],
    ),
    solo(
        "noor-a",
        "retraction",
        [
            [
                "I love jazz, I'm 35 and I live in Amman - can you suggest some albums to get me out of a rut?"
            ],
            [
                "actually, please forget my age, I'd rather you didn't keep that stored",
                "also I don't really listen to jazz any more, it just stopped doing anything for me",
            ],
            ["what are some good podcasts about architecture?"],
        ],
        ["The user lives in Amman."],
        ["The user is 35 years old.", "The user likes jazz."],
        [
            ("Which city am I in?", "The user lives in Amman."),
        ],
    ),
    # ---------------- changed preference ----------------
    solo(
        "cass-d",
        "preference_change",
        [
            [
                "my favourite colour is green so can you put together a palette for my bedroom built around it?"
            ],
            [
                "funny thing, I've totally gone off green. blue is my favourite colour now",
                "can you redo the bedroom palette with that in mind?",
            ],
        ],
        ["The user's favourite colour is blue."],
        ["The user's favourite colour is green."],
        [
            ("What's my favourite colour?", "The user's favourite colour is blue."),
        ],
    ),
    solo(
        "hugo-l",
        "preference_change",
        [
            [
                "I hate mushrooms, always have, so leave them out of any suggestions",
                "I like cycling to work, so something I can prep the night before would be great",
            ],
            [
                "weirdly I've come round on mushrooms - had a mushroom risotto last week and loved it. I like them now!",
                "got any other mushroom dishes I should try?",
            ],
        ],
        ["The user likes mushrooms.", "The user likes cycling to work."],
        ["The user dislikes mushrooms."],
        [
            ("How do I feel about mushrooms?", "The user likes mushrooms."),
            ("What do I enjoy doing on my commute?", "The user likes cycling to work."),
        ],
    ),
    # ---------------- chatter (no personal facts) ----------------
    solo(
        "chatter-a",
        "chatter",
        [
            [
                "I'm curious, why is the capital of Australia Canberra and not Sydney?",
                "I'm not sure I ever learned that in school",
            ],
            ["can you explain how compound interest works with a simple example?"],
            [
                "write me a haiku about rain on a tin roof",
                "I'm just wondering if you can do one that rhymes too",
            ],
        ],
        [],
        [],
        [],
    ),
    solo(
        "chatter-b",
        "chatter",
        [
            ["how long should I boil an egg for a runny yolk?"],
            [
                "I'm thinking of maybe trying sourdough at some point, is it as hard as people say?",
                "what's the difference between a starter and a levain anyway?",
            ],
            ["I'm bored, tell me a joke about penguins", "ok that was terrible, another one"],
        ],
        [],
        [],
        [],
    ),
    # ---------------- two users interleaved ----------------
    Conversation(
        name="pair-harbor",
        category="interleaved",
        sessions=[
            [
                ("wren", "hi! I'm Wren, I work as a vet in a small practice in Galway"),
                (
                    "dmitri",
                    "Dmitri here. I live in Tallinn and I work at Veskla Software, mostly backend stuff",
                ),
            ],
            [
                ("wren", "moved to Cork last week for a new clinic, still finding my way around"),
                ("dmitri", "any ideas for a long weekend in Riga?"),
            ],
            [
                ("dmitri", "so I left Veskla, I'm at Tuul Mobility now. much better team"),
                (
                    "wren",
                    "what's a good way to introduce myself to the other vets at the new place?",
                ),
            ],
        ],
        facts={
            "wren": [
                "The user's name is Wren.",
                "The user works as a vet.",
                "The user lives in Cork.",
            ],
            "dmitri": [
                "The user's name is Dmitri.",
                "The user lives in Tallinn.",
                "The user works at Tuul Mobility.",
            ],
        },
        stale={
            "wren": ["The user lives in Galway."],
            "dmitri": ["The user works at Veskla Software."],
        },
        questions={
            "wren": [
                ("What's my name?", "The user's name is Wren."),
                ("What's my profession?", "The user works as a vet."),
                ("Where am I living now?", "The user lives in Cork."),
            ],
            "dmitri": [
                ("What's my name?", "The user's name is Dmitri."),
                ("Which city do I live in?", "The user lives in Tallinn."),
                ("Where do I work these days?", "The user works at Tuul Mobility."),
            ],
        },
    ),
    Conversation(
        name="pair-tide",
        category="interleaved",
        sessions=[
            [
                (
                    "oona",
                    "hey, Una here! my favourite food is ramen, where can I learn to make the broth properly?",
                ),
                (
                    "basil-r",
                    "I'm allergic to cats, which is tragic because my partner Jules really wants one",
                ),
            ],
            [
                ("oona", "oh, the signup form mangled my name - it's Oona, two o's"),
                (
                    "basil-r",
                    "update: Jules and I split up, so no partner in the picture any more. the cat debate is over at least",
                ),
            ],
            [
                (
                    "basil-r",
                    "my favourite food is probably tacos, any good fillings that aren't just beef?",
                ),
                ("oona", "can you recommend a good knife for slicing chashu?"),
            ],
        ],
        facts={
            "oona": ["The user's name is Oona.", "The user's favourite food is ramen."],
            "basil-r": ["The user is allergic to cats.", "The user's favourite food is tacos."],
        },
        stale={
            "oona": ["The user's name is Una."],
            "basil-r": ["The user's partner is Jules."],
        },
        questions={
            "oona": [
                ("How do you spell my name?", "The user's name is Oona."),
                ("What's my favourite thing to eat?", "The user's favourite food is ramen."),
            ],
            "basil-r": [
                ("What animal am I allergic to?", "The user is allergic to cats."),
                ("What's my favourite food?", "The user's favourite food is tacos."),
            ],
        },
    ),
]
