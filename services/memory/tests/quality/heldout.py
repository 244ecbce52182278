# ruff: noqa: E501
"""Held-out conversations for the memory quality suite, written by a separate session that
never saw the rules (docs/memory-quality.md#held-out): they measure how the offline rules
generalise; their figures are reported, with floors against regressions, not the targets.
The ``Chatter`` marks (messages that say nothing about the user) were added later, by the
session that wrote the rules for episodes, before it wrote them."""

from __future__ import annotations

from .conversations import HOME, JOB, NAME, WORK, Chatter, Conversation, solo  # noqa: F401, TID252

HELDOUT: list[Conversation] = [
    # ---------------- move ----------------
    solo(
        "felix-m",
        "move",
        [
            [
                "hey, quick one - I'm Felix btw. I live in Leeds and I'm trying to plan a weekend away by train",
                Chatter("something under 3 hours each way would be ideal"),
            ],
            [
                "so, update: we finally did it and moved down to Bristol last month. boxes everywhere lol",
                Chatter("can you recommend some decent bakeries near the harbourside?"),
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
                Chatter("any tips for running when there's snow on the ground?"),
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
                Chatter("how do people in hospitality keep a normal sleep schedule?"),
            ],
            [
                "well, I finally left the restaurant world! started last Monday as a front-end developer at Brightwave, it's a small agency",
                Chatter("how do I ask my new team for feedback without being annoying about it?"),
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
                Chatter("what's a fun experiment for 14 year olds that won't set anything on fire"),
            ],
            ["can you help me polish my CV? I'm thinking about a career switch"],
            [
                "quitting teaching was honestly the best decision I've made. I'm a data analyst at Mercer Health now",
                Chatter("can you explain window functions in SQL like I'm five?"),
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
                Chatter("what are some good snacks for 12 hour night shifts?"),
            ],
            [
                "ugh I just noticed I spelled my own name the lazy way before. it's Siobhan, S-I-O-B-H-A-N. most people just call me Shiv though",
                Chatter("can you suggest a stretching routine for after a shift?"),
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
                Chatter("what's a good dessert for a dinner party of six?"),
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
                Chatter("what can I cook this week with chicken thighs?"),
            ],
            [
                "ok so forget the shellfish thing - turns out it was a one-off reaction and the allergist cleared me completely",
                Chatter("which means... can you give me a proper paella recipe?"),
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
            [Chatter("what are some good podcasts about architecture?")],
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
                Chatter("can you redo the bedroom palette with that in mind?"),
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
                Chatter("got any other mushroom dishes I should try?"),
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
                Chatter("I'm curious, why is the capital of Australia Canberra and not Sydney?"),
                "I'm not sure I ever learned that in school",
            ],
            [Chatter("can you explain how compound interest works with a simple example?")],
            [
                Chatter("write me a haiku about rain on a tin roof"),
                Chatter("I'm just wondering if you can do one that rhymes too"),
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
            [Chatter("how long should I boil an egg for a runny yolk?")],
            [
                "I'm thinking of maybe trying sourdough at some point, is it as hard as people say?",
                Chatter("what's the difference between a starter and a levain anyway?"),
            ],
            [
                "I'm bored, tell me a joke about penguins",
                Chatter("ok that was terrible, another one"),
            ],
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
                ("dmitri", Chatter("any ideas for a long weekend in Riga?")),
            ],
            [
                ("dmitri", "so I left Veskla, I'm at Tuul Mobility now. much better team"),
                (
                    "wren",
                    Chatter(
                        "what's a good way to introduce myself to the other vets at the new place?"
                    ),
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
                ("oona", Chatter("can you recommend a good knife for slicing chashu?")),
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

# A second held-out set, written after the rules were improved on the first (which is no
# longer held out since): the rules' figures on it are the honest ones.
HELDOUT2: list[Conversation] = [
    solo(
        "priya-2",
        "move",
        [
            [
                "hi! I'm Priya, staying in Pune for the last 6 years. planning a weekend trip with friends, somewhere within 4-5 hrs drive. budget is tight, pls suggest",
                Chatter("also is Rajmachi ok for beginners in monsoon or too slippery?"),
            ],
            [
                "hello again. so we finally shifted to Bengaluru, husband got transferred and I'm working remote anyway so no issue. Pune life is over haha. what are some good weekend getaways from Bengaluru under 300 km?"
            ],
        ],
        ["The user lives in Bengaluru.", "The user's name is Priya."],
        ["The user lives in Pune."],
        [
            ("Which city am I living in these days?", "The user lives in Bengaluru."),
            ("What's my name?", "The user's name is Priya."),
        ],
    ),
    solo(
        "tom-2",
        "move",
        [
            [
                "evening. need a veggie lasagne that doesn't take all night, I'm a nurse in Leeds and after a 12 hour shift I've got about 20 mins of energy left"
            ],
            [
                "right, big news - I've moved up to Glasgow! flat's lovely but one of the cupboards smells of damp. what actually works for that? bicarb?",
                Chatter("and is it worth getting a dehumidifier or is that overkill"),
            ],
            [
                "still nursing, just at a different hospital now. what's a decent way to meal prep for a run of night shifts?"
            ],
        ],
        ["The user lives in Glasgow.", "The user works as a nurse."],
        ["The user lives in Leeds."],
        [
            ("Where do I live?", "The user lives in Glasgow."),
            ("What do I do for a living?", "The user works as a nurse."),
        ],
    ),
    solo(
        "marco-2",
        "job_change",
        [
            [
                "hey so I'm a data analyst at Target (corporate, not the store lol). my manager keeps pushing dbt on us. worth learning or should I just get better at python?"
            ],
            [
                "ok so update!! I accepted an offer from Mayo Clinic, title is data scientist. last day at Target is friday",
                Chatter(
                    "what should I read up on before I start? like HIPAA basics, anything about clinical data formats?"
                ),
            ],
            [
                "first week done. still living in Minneapolis, I'm driving down to Rochester twice a week which is brutal. any good podcasts for a 90 min drive?"
            ],
        ],
        [
            "The user works at Mayo Clinic.",
            "The user works as a data scientist.",
            "The user lives in Minneapolis.",
        ],
        ["The user works at Target.", "The user works as a data analyst."],
        [
            ("Who is my employer?", "The user works at Mayo Clinic."),
            ("What's my job title?", "The user works as a data scientist."),
            ("What city do I live in?", "The user lives in Minneapolis."),
        ],
    ),
    solo(
        "jack-2",
        "job_change",
        [
            [
                "g'day. i'm an electrician up in brisbane, been on the tools 15 years. thinking about a career change cause my back is cooked. what jobs suit someone with a trade background?"
            ],
            [
                "went for it. finally finished the degree and i'm working as a paramedic now, done with electrical work for good. any tips for sleeping after night shift?"
            ],
            [
                Chatter(
                    "mate the humidity in brisbane this week is unreal. how do i stop mould coming back in the bathroom"
                )
            ],
        ],
        ["The user works as a paramedic.", "The user lives in Brisbane."],
        ["The user works as an electrician."],
        [
            ("What's my job?", "The user works as a paramedic."),
            ("Where am I based?", "The user lives in Brisbane."),
        ],
    ),
    solo(
        "aoife-2",
        "name_correction",
        [
            [
                "Hi, Alice here. I'm a pharmacist in Cork and I'm trying to put together a short talk for secondary school students about antibiotic resistance. Can you help me outline it? 15 minutes max."
            ],
            [
                "Quick correction before we go on: my phone autocorrected my name last time. It's Aoife, not Alice! Irish name, said like EE-fa.",
                "Anyway, the talk went grand. Could you help me write a thank-you email to the teacher who invited me?",
            ],
        ],
        ["The user's name is Aoife.", "The user works as a pharmacist.", "The user lives in Cork."],
        ["The user's name is Alice."],
        [
            ("What is my name?", "The user's name is Aoife."),
            ("What's my profession?", "The user works as a pharmacist."),
            ("Which town do I live in?", "The user lives in Cork."),
        ],
    ),
    solo(
        "beth-2",
        "name_correction",
        [
            [
                "hi there, my name is Elizabeth but you can call me Liz. I need help writing a cover letter for a library assistant job, I've never written one before"
            ],
            [
                "oh one thing, could you call me Beth instead of Liz from now on? Liz was my college nickname and it never really felt like me",
                Chatter("also can you make the cover letter sound a bit less stiff"),
            ],
            [
                "got the interview!! I've lived in Columbus my whole life and I still can't figure out the COTA bus routes to get there lol. what are common library interview questions?"
            ],
        ],
        [
            "The user's name is Elizabeth.",
            "The user likes to be called Beth.",
            "The user lives in Columbus.",
        ],
        ["The user likes to be called Liz."],
        [
            ("What's my full name?", "The user's name is Elizabeth."),
            ("What should you call me?", "The user likes to be called Beth."),
            ("Where do I live?", "The user lives in Columbus."),
        ],
    ),
    solo(
        "kenji-2",
        "repeated",
        [
            [
                "Hello. I am a chef at a small restaurant in Osaka. I want to write an English menu description for our new dish, grilled mackerel with yuzu miso. Can you help?",
                "Please note I am allergic to shellfish, so do not suggest me shrimp or crab dishes to taste.",
            ],
            [
                "Hi again. As a chef I am always tired, haha. Here in Osaka the summer kitchen is very very hot. How to stay hydrated on long shifts?"
            ],
            [
                "My staff asked me to decide food for the staff party. Remember I cannot eat crab or prawns, because of allergy. Please suggest 5 simple dishes for 20 people."
            ],
        ],
        [
            "The user works as a chef.",
            "The user lives in Osaka.",
            "The user is allergic to shellfish.",
        ],
        [],
        [
            ("What's my occupation?", "The user works as a chef."),
            ("Which city do I live in?", "The user lives in Osaka."),
            ("Do I have any food allergies?", "The user is allergic to shellfish."),
        ],
    ),
    solo(
        "olivia-2",
        "repeated",
        [
            [
                "Kia ora! I'm Olivia, 34, living in Wellington. My partner Sam and I want to do the Tongariro crossing in March. How fit do you actually need to be?",
                "I love hiking but I mostly do day walks under 4 hours",
            ],
            [
                "Back again. Sam (my other half) found a cheap bach near Taupo for after the crossing. What should we pack for 2 nights?",
                "hiking is basically my whole personality at this point lol so happy to hear longer walk suggestions too",
            ],
            [Chatter("random one, but at 34 is it too late to start trail running?")],
        ],
        [
            "The user's name is Olivia.",
            "The user is 34 years old.",
            "The user lives in Wellington.",
            "The user's partner is Sam.",
            "The user likes hiking.",
        ],
        [],
        [
            ("What's my name?", "The user's name is Olivia."),
            ("How old am I?", "The user is 34 years old."),
            ("Where do I live?", "The user lives in Wellington."),
            ("Who is my partner?", "The user's partner is Sam."),
            ("What outdoor activity do I enjoy?", "The user likes hiking."),
        ],
    ),
    solo(
        "farah-2",
        "retraction",
        [
            [
                "Hi, I'm Farah. Just moved into a condo in Toronto and I'm trying to figure out a realistic weekly budget. Also fyi I'm allergic to penicillin so if health stuff ever comes up keep that in mind lol"
            ],
            [
                "ok so actually, forget the penicillin thing. I finally had allergy testing done and turns out I'm NOT allergic, it was just a rash I had as a kid. Doctor cleared me.",
                Chatter("Anyway, can you help me plan meals for the week under $80?"),
            ],
            [Chatter("what are some free things to do in Toronto this weekend?")],
        ],
        ["The user's name is Farah.", "The user lives in Toronto."],
        ["The user is allergic to penicillin."],
        [
            ("What's my name?", "The user's name is Farah."),
            ("What city do I live in?", "The user lives in Toronto."),
        ],
    ),
    solo(
        "dev-2",
        "retraction",
        [
            [
                "Hi, myself Dev, based in Hyderabad, working at Infosys. I love running, registered for the Hyderabad half marathon in August. Can you make me an 8 week plan?"
            ],
            [
                "Bad news, tore my ACL in a stupid fall on the stairs. Doctor says no more running for me, so I don't run any more. Can you suggest upper body workouts I can do at home?",
                "also please forget where I work, I don't want my company name saved anywhere",
            ],
            [
                "which physio exercises are generally safe in the first month after ACL surgery? I will confirm with my doctor only"
            ],
        ],
        ["The user's name is Dev.", "The user lives in Hyderabad."],
        ["The user likes running.", "The user works at Infosys."],
        [
            ("What's my name?", "The user's name is Dev."),
            ("Where am I based?", "The user lives in Hyderabad."),
        ],
    ),
    solo(
        "sophie-2",
        "preference_change",
        [
            [
                "Morning! Trying to put together a playlist for my sister's hen do. My favourite band is Coldplay so I'm biased, but what else would a crowd of 30-somethings sing along to?",
                "Also I can't stand coffee, so any non-coffee ideas for the brunch would be great",
            ],
            [
                "Confession: I've completely gone off Coldplay. Saw Wet Leg live last month and they're my favourite band now, no contest. Any similar bands I should check out?"
            ],
            [
                "Plot twist number two, I actually like coffee now! Flat white every morning, never thought I'd say that. What's the difference between a flat white and a cortado?"
            ],
        ],
        ["The user's favourite band is Wet Leg.", "The user likes coffee."],
        ["The user's favourite band is Coldplay.", "The user dislikes coffee."],
        [
            ("What's my favourite band?", "The user's favourite band is Wet Leg."),
            ("How do I feel about coffee?", "The user likes coffee."),
        ],
    ),
    solo(
        "carlos-2",
        "preference_change",
        [
            [
                "what's up. Carlos here, I live in San Antonio. my favorite movie is Heat and I want to do a Michael Mann marathon this weekend, what order should I watch them in?",
                "also I love sushi so I'm gonna order some for the marathon, any rolls I should try?",
            ],
            [
                "ok so sushi is dead to me. got food poisoning from a place downtown and now I just can't stand it, even the smell. what's a good takeout alternative?"
            ],
            [
                "hot take maybe but Past Lives has overtaken Heat as my favorite movie. watched it again last night. can you recommend movies with a similar vibe?"
            ],
        ],
        [
            "The user's name is Carlos.",
            "The user lives in San Antonio.",
            "The user's favourite movie is Past Lives.",
            "The user dislikes sushi.",
        ],
        ["The user's favourite movie is Heat.", "The user likes sushi."],
        [
            ("What's my name?", "The user's name is Carlos."),
            ("Where do I live?", "The user lives in San Antonio."),
            ("What's my favourite movie?", "The user's favourite movie is Past Lives."),
            ("How do I feel about sushi?", "The user dislikes sushi."),
        ],
    ),
    solo(
        "nora-2",
        "chatter",
        [
            [
                Chatter("how long do you boil an egg for a jammy yolk?"),
                Chatter("and should they go into cold water or already boiling"),
            ],
            [Chatter("can you explain what inflation actually is like I'm 12")],
            [Chatter("what's the difference between a crocodile and an alligator")],
        ],
        [],
        [],
        [],
    ),
    solo(
        "wei-2",
        "chatter",
        [
            [
                "Can you explain the difference between a list and a tuple in Python? My brother works at Google and he says tuples are faster but I don't get why."
            ],
            [
                Chatter(
                    "If someone did a year in Japan on a working holiday visa, would they need to pay tax there? Asking for a friend, genuinely."
                ),
                Chatter("also what's a good leaving gift for a coworker, under 30 dollars"),
            ],
            [Chatter("whats the capital of Australia, I always forget if it's Sydney or not")],
        ],
        [],
        [],
        [],
    ),
    Conversation(
        name="pair-seoul-berlin-2",
        category="interleaved",
        sessions=[
            [
                (
                    "hana-2",
                    "Hi! I'm Hana, a graphic designer living in Seoul. I need a colour palette for a cafe logo, something warm but not too brown.",
                ),
                (
                    "oscar-2",
                    "Hello, Oscar here. I'm from Gothenburg originally but I've lived in Berlin for five years now. I work at Siemens as a lawyer. What's the best way to improve my German legal writing?",
                ),
            ],
            [
                (
                    "oscar-2",
                    "Small update: I've left Siemens, I work at Zalando now, same kind of legal role. Can you explain the basics of EU consumer protection law for online shops?",
                ),
                (
                    "hana-2",
                    "Big life update: I moved to Busan! Got tired of paying Seoul rent. Any tips for finding freelance design clients in a new city?",
                ),
            ],
            [
                (
                    "hana-2",
                    "The sea view from my new place in Busan is amazing. Are there good co-working spaces around Haeundae?",
                ),
                (
                    "oscar-2",
                    "Quick one: what's a good jazz bar in Berlin? I love jazz and haven't been out in ages.",
                ),
            ],
        ],
        facts={
            "hana-2": [
                "The user's name is Hana.",
                "The user works as a graphic designer.",
                "The user lives in Busan.",
            ],
            "oscar-2": [
                "The user's name is Oscar.",
                "The user is from Gothenburg.",
                "The user lives in Berlin.",
                "The user works at Zalando.",
                "The user works as a lawyer.",
                "The user likes jazz.",
            ],
        },
        stale={
            "hana-2": ["The user lives in Seoul."],
            "oscar-2": ["The user works at Siemens."],
        },
        questions={
            "hana-2": [
                ("What's my name?", "The user's name is Hana."),
                ("What do I do for work?", "The user works as a graphic designer."),
                ("Which city do I live in now?", "The user lives in Busan."),
            ],
            "oscar-2": [
                ("What's my name?", "The user's name is Oscar."),
                ("Where am I originally from?", "The user is from Gothenburg."),
                ("Where do I live?", "The user lives in Berlin."),
                ("Which company do I work for?", "The user works at Zalando."),
                ("What's my profession?", "The user works as a lawyer."),
                ("What kind of music do I like?", "The user likes jazz."),
            ],
        },
    ),
    Conversation(
        name="pair-nairobi-dublin-2",
        category="interleaved",
        sessions=[
            [
                (
                    "amara-2",
                    "Hey, I'm Amara, 29, based in Nairobi. I'm allergic to cats, which is awkward because my flatmate wants to adopt one. Are there any hypoallergenic breeds that actually work?",
                ),
                (
                    "liam-2",
                    "howya, liam here, dublin based. im a plumber and i need a quote template for customers, can u help",
                ),
            ],
            [
                (
                    "liam-2",
                    "so i told a mate i love golf just to be polite and now he's signed me up for a tournament. truth is i hate golf. how do i get out of it without being rude",
                ),
                (
                    "amara-2",
                    "I just turned 30 this weekend! Can you suggest a nice dinner I can cook for 6 friends to celebrate?",
                ),
            ],
            [
                (
                    "amara-2",
                    "Update on the cat situation: flatmate got a Sphynx and I'm sneezing anyway, so yes, still very allergic to cats lol. Tips for reducing allergens at home?",
                ),
                (
                    "liam-2",
                    "whats the best way to clear a blocked drain without chemicals, got a job on tomorrow",
                ),
            ],
        ],
        facts={
            "amara-2": [
                "The user's name is Amara.",
                "The user is 30 years old.",
                "The user lives in Nairobi.",
                "The user is allergic to cats.",
            ],
            "liam-2": [
                "The user's name is Liam.",
                "The user lives in Dublin.",
                "The user works as a plumber.",
                "The user dislikes golf.",
            ],
        },
        stale={
            "amara-2": ["The user is 29 years old."],
            "liam-2": ["The user likes golf."],
        },
        questions={
            "amara-2": [
                ("What's my name?", "The user's name is Amara."),
                ("How old am I?", "The user is 30 years old."),
                ("Where do I live?", "The user lives in Nairobi."),
                ("What am I allergic to?", "The user is allergic to cats."),
            ],
            "liam-2": [
                ("What's my name?", "The user's name is Liam."),
                ("Where am I based?", "The user lives in Dublin."),
                ("What's my trade?", "The user works as a plumber."),
                ("How do I feel about golf?", "The user dislikes golf."),
            ],
        },
    ),
]

# A third held-out set, written after the rules were improved on the first two: the figures
# on it (docs/memory-quality.md) are the honest measure of the rules.
HELDOUT3: list[Conversation] = [
    solo(
        "lena-move-3",
        "move",
        [
            [
                "hi! I'm Lena, I live in Leipzig. any ideas for a cheap weekend trip from here?",
                "oh and no car, so train or bus only pls",
            ],
            [
                "guess what, I moved to Rotterdam last month!! best bike routes around here?",
                Chatter("also is it normal that everyone here owns like 3 bikes lol"),
            ],
        ],
        ["The user's name is Lena.", "The user lives in Rotterdam."],
        ["The user lives in Leipzig."],
        [
            ("What's my name?", "The user's name is Lena."),
            ("Which city do I live in?", "The user lives in Rotterdam."),
        ],
    ),
    solo(
        "tomas-move-3",
        "move",
        [
            [
                "Tomás, 34, living in Curitiba. need a weekly meal plan, high protein, cheap.",
            ],
            [
                "ok update. moved to Lisbon, signed the lease yesterday. how do I get a NIF?",
            ],
            [
                Chatter("cheap gyms near me? Lisbon prices are insane"),
                Chatter("and a 5 day split pls, no machines"),
            ],
        ],
        [
            "The user's name is Tomás.",
            "The user is 34 years old.",
            "The user lives in Lisbon.",
        ],
        ["The user lives in Curitiba."],
        [
            ("What is my name?", "The user's name is Tomás."),
            ("How old am I?", "The user is 34 years old."),
            ("Where do I live now?", "The user lives in Lisbon."),
        ],
    ),
    solo(
        "priya-job-3",
        "job_change",
        [
            [
                "hey, I'm a data analyst at Infosys. can u explain SQL window functions simply?",
                "my manager keeps asking for running totals and I keep fumbling it",
            ],
            [
                "big news, I quit Infosys!! starting as a product manager at Swiggy on Monday",
                Chatter("what should I focus on in my first 30 days as a PM?"),
            ],
            [
                "survived my first week at Swiggy. how do I write a good PRD?",
            ],
        ],
        ["The user works at Swiggy.", "The user works as a product manager."],
        ["The user works at Infosys.", "The user works as a data analyst."],
        [
            ("Which company do I work for?", "The user works at Swiggy."),
            ("What's my job title?", "The user works as a product manager."),
        ],
    ),
    solo(
        "gregor-job-3",
        "job_change",
        [
            [
                "Good evening. I am Gregor, I live in Graz and work as a chemistry teacher.",
                Chatter("Could you suggest a safe oxidation experiment for 15-year-old pupils?"),
            ],
            [
                "Hello again. After twelve years I have left teaching.",
                "I now work at Bayer as a sales representative. How to approach cold calls?",
            ],
        ],
        [
            "The user's name is Gregor.",
            "The user lives in Graz.",
            "The user works at Bayer.",
            "The user works as a sales representative.",
        ],
        ["The user works as a chemistry teacher."],
        [
            ("What is my name?", "The user's name is Gregor."),
            ("In which city do I live?", "The user lives in Graz."),
            ("Who is my employer?", "The user works at Bayer."),
            ("What do I do for a living?", "The user works as a sales representative."),
        ],
    ),
    solo(
        "marcin-name-3",
        "name_correction",
        [
            [
                "hey im Marek, 27, from Wrocław. how do i ask for a raise without sounding greedy",
            ],
            [
                "lol embarrassing, I typed my brother's name before, we share the laptop",
                "my name is Marcin, not Marek. anyway what % raise is normal to ask for?",
            ],
        ],
        [
            "The user's name is Marcin.",
            "The user is 27 years old.",
            "The user is from Wrocław.",
        ],
        ["The user's name is Marek."],
        [
            ("What's my name?", "The user's name is Marcin."),
            ("How old am I?", "The user is 27 years old."),
            ("Where am I from?", "The user is from Wrocław."),
        ],
    ),
    solo(
        "akosua-name-3",
        "name_correction",
        [
            [
                "Hello, my name is Akosa, I am nurse. Please how to make night shift less tiring?",
                "Also I am allergic to ibuprofen so don't suggest that one",
            ],
            [
                "Sorry I wrote my name wrong before, phone keyboard. It is Akosua, A-K-O-S-U-A.",
                Chatter("Please which foods are good for energy on night shift?"),
            ],
        ],
        [
            "The user's name is Akosua.",
            "The user works as a nurse.",
            "The user is allergic to ibuprofen.",
        ],
        ["The user's name is Akosa."],
        [
            ("What is my name?", "The user's name is Akosua."),
            ("What is my profession?", "The user works as a nurse."),
            ("Which medicine am I allergic to?", "The user is allergic to ibuprofen."),
        ],
    ),
    solo(
        "ana-repeat-3",
        "repeated",
        [
            [
                "hola! I live in Valencia, I work as a primary school teacher. rainy day ideas?",
            ],
            [
                "here in Valencia it's 30 degrees in October, is that normal now??",
                "the kids in my class (I teach primary) can't focus at all in this heat",
            ],
            [
                "living in Valencia you get picky about paella. is chorizo in paella a crime?",
            ],
        ],
        [
            "The user lives in Valencia.",
            "The user works as a primary school teacher.",
        ],
        [],
        [
            ("Where do I live?", "The user lives in Valencia."),
            ("What's my job?", "The user works as a primary school teacher."),
        ],
    ),
    solo(
        "hiro-repeat-3",
        "repeated",
        [
            [
                "I'm Hiro, 29, allergic to shellfish. any ramen style that's usually safe?",
            ],
            [
                "my favourite band is RADWIMPS. any similar bands I should check out?",
            ],
            [
                "RADWIMPS concert tonight!! still my favourite band ever",
                "what should I eat before? nothing with shellfish, I'm allergic remember",
                Chatter("also as a 29 year old is it weird to cry at concerts lol"),
            ],
        ],
        [
            "The user's name is Hiro.",
            "The user is 29 years old.",
            "The user is allergic to shellfish.",
            "The user's favourite band is RADWIMPS.",
        ],
        [],
        [
            ("What's my name?", "The user's name is Hiro."),
            ("How old am I?", "The user is 29 years old."),
            ("What am I allergic to?", "The user is allergic to shellfish."),
            ("Which band do I love most?", "The user's favourite band is RADWIMPS."),
        ],
    ),
    solo(
        "olumide-retract-3",
        "retraction",
        [
            [
                "Morning. I'm Olumide, I live in Lagos, and I'm allergic to penicillin.",
                "Which antibiotics are usually given instead? Asking before a doctor visit.",
            ],
            [
                "Update: please forget what I said about penicillin.",
                "The skin test came back negative, I'm not allergic at all. Mum was wrong lol",
            ],
        ],
        ["The user's name is Olumide.", "The user lives in Lagos."],
        ["The user is allergic to penicillin."],
        [
            ("What's my name?", "The user's name is Olumide."),
            ("Where do I live?", "The user lives in Lagos."),
        ],
    ),
    solo(
        "mette-retract-3",
        "retraction",
        [
            [
                "hej, Mette here, living in Aarhus with my boyfriend Jonas.",
                "I love running and knitting. could you plan a 10k training schedule for me?",
            ],
            [
                "so Jonas and I broke up. please just forget him, I don't want to talk about it",
                "can you suggest a chunky knitting pattern? need to keep my hands busy",
            ],
            [
                "also scrap the running plan, I don't run anymore, my knee is wrecked",
            ],
        ],
        [
            "The user's name is Mette.",
            "The user lives in Aarhus.",
            "The user likes knitting.",
        ],
        ["The user's partner is Jonas.", "The user likes running."],
        [
            ("What is my name?", "The user's name is Mette."),
            ("Which city do I live in?", "The user lives in Aarhus."),
            ("What hobby do I enjoy?", "The user likes knitting."),
        ],
    ),
    solo(
        "sam-pref-3",
        "preference_change",
        [
            [
                "sushi is my favourite food, hands down. how do I make it at home?",
                "41 years old and only now learning to cook lol. and no cilantro, I hate it",
            ],
            [
                "ok confession: after Mexico City, tacos are my favourite food now. sushi is #2",
                Chatter("give me an al pastor recipe I can do in a normal oven?"),
            ],
        ],
        [
            "The user's favourite food is tacos.",
            "The user is 41 years old.",
            "The user dislikes cilantro.",
        ],
        ["The user's favourite food is sushi."],
        [
            ("What's my favourite food?", "The user's favourite food is tacos."),
            ("How old am I?", "The user is 41 years old."),
            ("Which herb can't I stand?", "The user dislikes cilantro."),
        ],
    ),
    solo(
        "ines-pref-3",
        "preference_change",
        [
            [
                "Hello, I'm Inês, I work as an architect. Honestly, I dislike jazz.",
                "A colleague wants me at a jazz night on Friday. How do I politely decline?",
            ],
            [
                "funny update: I went anyway and... I like jazz now?? Chet Baker did it",
                Chatter("which albums should I start with?"),
            ],
        ],
        [
            "The user's name is Inês.",
            "The user works as an architect.",
            "The user likes jazz.",
        ],
        ["The user dislikes jazz."],
        [
            ("What's my name?", "The user's name is Inês."),
            ("What is my occupation?", "The user works as an architect."),
            ("How do I feel about jazz?", "The user likes jazz."),
        ],
    ),
    solo(
        "chatter-history-3",
        "chatter",
        [
            [
                Chatter("why did the roman empire split into east and west? short answer pls"),
                "my friend Paolo insists it was all because of lead pipes lol",
            ],
            [
                Chatter("what's the difference between a byzantine and an ottoman dome?"),
                "my dad is an engineer and says the Hagia Sophia dome is a miracle. true?",
            ],
        ],
        [],
        [],
        [],
    ),
    solo(
        "chatter-cake-3",
        "chatter",
        [
            [
                "my sister is allergic to nuts and turns 30 on saturday. nut-free cake ideas?",
                "her husband Raj hates chocolate so nothing chocolatey either",
            ],
            [
                Chatter("how long can buttercream sit out at room temperature?"),
                Chatter("and how do you move a two-tier cake in a car without disaster"),
            ],
        ],
        [],
        [],
        [],
    ),
    Conversation(
        name="pair-rhea-bjorn-3",
        category="interleaved",
        sessions=[
            [
                ("rhea-3", "hi, Rhea here, I'm a vet, I live in Auckland. tick meds for farm dogs"),
                ("bjorn-3", "Bjørn. I live in Bergen. Is an e-bike worth it when it always rains?"),
            ],
            [
                ("bjorn-3", "update: moved to Oslo last week. same e-bike question, more hills"),
                ("rhea-3", "allergic to cats, awkward for a vet lol. non-drowsy antihistamine?"),
            ],
            [
                ("rhea-3", "my partner Tane wants a kitten. how do I say no nicely haha"),
            ],
        ],
        facts={
            "rhea-3": [
                "The user's name is Rhea.",
                "The user works as a vet.",
                "The user lives in Auckland.",
                "The user is allergic to cats.",
                "The user's partner is Tane.",
            ],
            "bjorn-3": [
                "The user's name is Bjørn.",
                "The user lives in Oslo.",
            ],
        },
        stale={"rhea-3": [], "bjorn-3": ["The user lives in Bergen."]},
        questions={
            "rhea-3": [
                ("What's my name?", "The user's name is Rhea."),
                ("What do I do for work?", "The user works as a vet."),
                ("Where do I live?", "The user lives in Auckland."),
                ("What am I allergic to?", "The user is allergic to cats."),
                ("Who is my partner?", "The user's partner is Tane."),
            ],
            "bjorn-3": [
                ("What is my name?", "The user's name is Bjørn."),
                ("Which city do I live in?", "The user lives in Oslo."),
            ],
        },
    ),
    Conversation(
        name="pair-dmitri-amara-3",
        category="interleaved",
        sessions=[
            [
                ("dmitri-3", "Dmitri here. I work at Yandex as a backend developer. Go or Rust?"),
                ("amara-3", "hii I'm Amara, allergic to peanuts. any good satay sauce swap?"),
            ],
            [
                ("amara-3", "my favourite book is Half of a Yellow Sun, recommend similar?"),
                ("dmitri-3", "Left Yandex, now at JetBrains, same role. Tips for a huge codebase?"),
            ],
            [
                ("amara-3", "I live in Manchester now btw, moved from Leeds. good bookshops here?"),
            ],
        ],
        facts={
            "dmitri-3": [
                "The user's name is Dmitri.",
                "The user works at JetBrains.",
                "The user works as a backend developer.",
            ],
            "amara-3": [
                "The user's name is Amara.",
                "The user is allergic to peanuts.",
                "The user's favourite book is Half of a Yellow Sun.",
                "The user lives in Manchester.",
            ],
        },
        stale={
            "dmitri-3": ["The user works at Yandex."],
            "amara-3": ["The user lives in Leeds."],
        },
        questions={
            "dmitri-3": [
                ("What's my name?", "The user's name is Dmitri."),
                ("Where do I work?", "The user works at JetBrains."),
                ("What's my role?", "The user works as a backend developer."),
            ],
            "amara-3": [
                ("What is my name?", "The user's name is Amara."),
                ("What am I allergic to?", "The user is allergic to peanuts."),
                ("What's my favourite book?", "The user's favourite book is Half of a Yellow Sun."),
                ("Where do I live?", "The user lives in Manchester."),
            ],
        },
    ),
]
