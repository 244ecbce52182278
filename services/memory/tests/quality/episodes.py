"""Messages for the informative-episode metrics (docs/memory-quality.md#informative-episodes):
questions to the assistant, greetings, thanks and acknowledgements, commands to the assistant
and small talk, each marked ``Chatter`` (no episode should be kept), and informative messages
that look like them (a question that also states something, a greeting that carries facts, a
plan, a preference phrased as a request), which should keep one. Written, and labelled, before
the rules that decide what becomes an episode; only the episodes are scored on this set (its
conversations expect no facts)."""

from __future__ import annotations

from .conversations import Chatter, Conversation, solo  # noqa: TID252


def one_each(name: str, category: str, messages: list[str]) -> Conversation:
    """A user who sends each message in a session of its own."""
    return solo(name, category, [[m] for m in messages], [])


EPISODES: list[Conversation] = [
    one_each("ep-question", "question", [
        Chatter("What do you know about me?"),
        Chatter("Can you summarise our chat?"),
        Chatter("what's the weather like in Oslo?"),
        Chatter("What time is it in Tokyo right now?"),
        Chatter("how many grams in a cup of flour"),
        Chatter("Do you remember what I told you yesterday?"),
        Chatter("is it true that goldfish only remember things for 3 seconds??"),
        Chatter("What's the difference between affect and effect?"),
        Chatter("which is healthier, brown rice or quinoa?"),
        Chatter("Can you see my previous messages?"),
        Chatter("why is the sky blue"),
        Chatter("Should I bring an umbrella tomorrow?"),
        Chatter("Who am I?"),
        Chatter("¿Qué tiempo hace en Madrid?"),
    ]),
    one_each("ep-greeting", "greeting", [
        Chatter("Hi!"),
        Chatter("Good morning"),
        Chatter("hey there 👋"),
        Chatter("Hello again"),
        Chatter("yo"),
        Chatter("good evening!"),
        Chatter("Bye, talk tomorrow"),
        Chatter("Goodnight!"),
        Chatter("Hej!"),
    ]),
    one_each("ep-thanks", "thanks", [
        Chatter("thanks, that helped"),
        Chatter("Thank you so much!"),
        Chatter("cheers"),
        Chatter("ok"),
        Chatter("got it, thanks"),
        Chatter("perfect 👍"),
        Chatter("ty"),
        Chatter("Great, that works."),
        Chatter("I see"),
        Chatter("I agree"),
        Chatter("I like that one better"),
    ]),
    one_each("ep-command", "command", [
        Chatter("Write me a haiku about autumn"),
        Chatter("Translate this to German: I live in a small flat with two cats"),
        Chatter("Translate this to German: Where is the train station?"),
        Chatter(
            "Summarise this in three bullet points: The city council met on Tuesday to "
            "discuss the new bike lanes. Residents said the lanes made the street safer, "
            "but shop owners worried about parking. A vote is planned for next month."
        ),
        Chatter("make it shorter"),
        Chatter("Give me 5 names for a fantasy tavern"),
        Chatter("Explain quantum entanglement like I'm five"),
        Chatter("Please continue"),
        Chatter(
            "Rewrite this email so it sounds friendlier: Hi team, I need the report by "
            "Friday. Thanks."
        ),
        Chatter("tell me a joke"),
        Chatter("Stop."),
        Chatter('Fix the grammar: "me and him goes to the shop yesterday"'),
        Chatter("can you write a limerick about a cat who loves lasagne"),
    ]),
    one_each("ep-small-talk", "small_talk", [
        Chatter("lol ok"),
        Chatter("hmm"),
        Chatter("haha"),
        Chatter("🙂"),
        Chatter("..."),
        Chatter("???"),
        Chatter("nice"),
        Chatter("wow"),
        Chatter("that's funny"),
        Chatter("fair enough"),
        Chatter("😂😂😂"),
        Chatter("   "),
        Chatter("It's so windy today."),
    ]),
    # -- informative messages that look like the above -----------------------------------------
    one_each("ep-question-fact", "question_with_fact", [
        "I just moved to Oslo, what's good to see?",
        "Any tips for a first marathon? I'm running Berlin in September.",
        "can you recommend a vet? our dog Biscuit has been limping since Sunday",
        "What should I cook tonight? I'm vegetarian and my husband hates tofu.",
        "Did I tell you I got a puppy?",
        "what's a good gift for my mum? she turns 60 next week",
    ]),
    one_each("ep-greeting-fact", "greeting_with_fact", [
        "Hi, I'm Maren, a nurse in Bergen",
        "Hi, I'm Maren. I work as a nurse in Bergen and I love hiking.",
        "Good morning! Big day today, I have my driving test at 10",
        "thanks! btw my daughter starts school on Monday",
        "lol ok. my wife thinks the same",
        "Hey! Back from Lisbon, the trip was amazing",
    ]),
    one_each("ep-plan", "plan", [
        "Can't wait for my trip to Japan next week",
        "We're expecting our first baby in March!",
        "Got promoted today!!",
        "Heading to my parents' place for the weekend",
        "I'm going to start learning the cello this autumn",
        "Just finished my first 10k 🎉",
    ]),
    one_each("ep-preference", "preference_request", [
        "Please always answer in Norwegian, it's my first language",
        "From now on, keep your answers short please.",
        "Remember that I'm vegetarian",
        "Never suggest recipes with nuts, I'm allergic",
        "Write me a toast for my sister's wedding, she's marrying her college sweetheart Tom",
        "Could you call me Sasha from now on?",
    ]),
    one_each("ep-statement", "statement", [
        "I'm so tired today",
        "My cat knocked my coffee over again 🙄",
        "Work was rough, my manager yelled at the whole team",
        "Hej! Jeg bor i Bergen og jobber som sykepleier.",
        "I love it here in Porto",
    ]),
]  # fmt: skip
