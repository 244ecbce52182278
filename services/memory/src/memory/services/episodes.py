"""What of a user's message becomes an episode: the clauses that say something about the user
or their world. A question to the assistant, a greeting, thanks or a command to the assistant
says nothing about the user and is not a memory (docs/memory.md#memories-from-conversations).

A message is read clause by clause: it is cut at sentence marks, semicolons, line breaks,
dashes, colons and commas, and before "so / and / but" that start a question or a request
("My favourite colour is green so can you ..."); quoted text is read as one word. Each clause
is one of ``ClauseKind``:

- ``social``: a greeting, thanks or an acknowledgement ("hi", "thanks, that helped", "lol ok",
  "I see"), or nothing but emoji and punctuation;
- ``question``: a question to the assistant ("what's the weather like in Oslo?", "can you
  summarise our chat", "I was wondering if ...");
- ``command``: a request to the assistant ("write me a haiku", "make it shorter"), with the
  text it gives to work on ("Translate this to German: <anything>");
- ``remark``: a statement with nothing of the user in it ("the weather is lovely"), or a
  reaction to what was said ("I like that one better", "I hate it");
- ``statement``: what says something about the user or their world: a clause in the first
  person ("I just moved to Oslo", "my daughter starts school on Monday"), about the people and
  things of their life ("she turns 60 next week", "her husband Raj hates chocolate"), with the
  subject left out as people type ("got promoted today!!", "back from Lisbon"), stating an
  age, or in the first person of another language ("Jeg bor i Bergen").

A question or a request is a statement when it says something about the user that lasts: a
standing instruction ("please always answer in Norwegian", "call me Sasha from now on"), a
fact to keep or forget ("remember that I'm vegetarian", "forget my age"), or a statement
inside it ("what's good to see now that I live here?", "did I tell you I got a puppy?"). A
question that only takes a fact for granted ("how do I ask my new team for feedback?") is
still a question.

``informative_text`` is the message without its social, question and command clauses (and
without the greeting that opens it), or None when no clause is a statement: then the message
leaves no episode. A remark is kept beside a statement, as it may say what the statement is
about ("41 years old and learning to cook. and no cilantro, I hate it").
``without_requests`` is the message without its questions and commands, where the offline
rules look for facts: "Translate this to German: I live in a small flat" states no home, and
"explain inflation like I'm 12" no age.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Clause", "ClauseKind", "clauses", "informative_text", "without_requests"]

#: Only the start of a longer message is read (a paste of 100,000 characters is read as its
#: first 10,000): what the user says about themselves comes first, and the cost stays bounded.
READ_CHARS = 10_000


class ClauseKind(StrEnum):
    statement = "statement"
    remark = "remark"
    question = "question"
    command = "command"
    social = "social"


#: The kinds kept in an episode (a remark only beside a statement).
KEPT = frozenset({ClauseKind.statement, ClauseKind.remark})


@dataclass(frozen=True)
class Clause:
    """One clause of a message: where it is (``start``..``end`` in the message, without the
    separator that follows it), that separator, and its kind."""

    start: int
    end: int
    separator: str
    kind: ClauseKind


def _words(*items: str) -> frozenset[str]:
    return frozenset(w for item in items for w in item.split())


#: Words a greeting, thanks or an acknowledgement is made of ("hi there", "thanks, that
#: helped", "got it", "fair enough", "bye, talk tomorrow", "lol ok"), some greetings of
#: other languages among them.
_SOCIAL = _words(
    "hi hii hiii hey heya hiya hello helo hallo howdy yo sup wassup greetings welcome "
    "morning afternoon evening night goodnight gn bye goodbye byee cya ciao later soon talk "
    "tomorrow thanks thank thanx thx ty tysm tyvm cheers ta appreciated appreciate much "
    "so very a lot lots ok okay okey k kk alright aight sure yes yeah yea yep yup no nope nah "
    "lol lmao lmfao rofl haha hahaha hahahaha hehe heh ha hah hmm hmmm hm mm um umm uh uhh "
    "oh ohh ooh ah ahh aha wow whoa woah omg oops ugh meh yay woo woohoo cool nice great "
    "perfect awesome brilliant amazing excellent fantastic lovely sweet neat good fine "
    "fair enough interesting funny hilarious true right exactly indeed totally absolutely "
    "definitely noted understood gotcha got it that that's thats this is was it's its "
    "helped helps helpful works worked done all the best one again there everyone all folks "
    "mate dude buddy man bro bot assistant you your too really super pretty quite kind of "
    "makes sense sounds well then anyway see same here agree know guess think suppose hope "
    "i me bonjour hola hej hei moin servus salut namaste salaam ola olá oi kia ora g'day "
    "gday howya evenin mornin nite np problem worries welcome please"
)
#: Words that open a clause without changing what it is ("so, update: ...", "also is it ...",
#: "btw my daughter ...", "please continue").
_LEADING = _words(
    "so ok okay oh ohh and also but anyway anyways well right btw plus then hmm um uh ah "
    "yeah yes yep actually honestly basically mate dude hey hi hello hiya please pls plz "
    "kindly alright sorry lol haha ps wait now quick random just"
)
#: The first person, as people type it, and in a few other languages.
_FIRST_PERSON = _words(
    "i i'm im i've ive i'd i'll me my mine myself we we're we've we'd we'll us our ours "
    "ourselves jeg meg mitt ich mich mir mein meine meinen meiner je j'ai moi yo soy estoy "
    "tengo vivo io sono mio ik mijn jag mig eu meu minha я мой моя меня"
)
#: The first person in scripts without spaces between words.
_FIRST_PERSON_CJK = re.compile(r"[我私僕]|나는|저는|제가")
#: A first-person subject opening a clause ("I like jazz now??" is a statement).
_FIRST_SUBJECT = _words("i i'm im i've ive i'd i'll my we we're we've we'd we'll our")
_THIRD_SUBJECT = _words(
    "he she they he's she's they're they've he'd she'd they'd he'll she'll they'll"
)
_WH = _words(
    "what what's whats how how's hows why when when's where where's wheres who who's whom "
    "which whose"
)
_AUX = _words(
    "can could would will do does did is are was were should shall may might have has am "
    "isn't aren't don't doesn't didn't won't wouldn't couldn't shouldn't can't haven't "
    "hasn't wasn't weren't"
)
#: What follows an auxiliary that opens a question ("can you", "is it", "should I").
_PRONOUNS = _words(
    "i you u ya we they he she it there this that these those anyone anybody someone somebody"
)
_SUBJECTS = _PRONOUNS | _words("my your the a an our his her their people one")
#: Auxiliaries that open a question before a determiner too ("is an e-bike worth it"), where
#: "was a long day" or "have a nice day" is not a question.
_AUX_BEFORE_ANY = _words("is are can could would will do does did should isn't aren't")
#: Verbs of a request to the assistant, opening a clause ("write me a haiku").
_COMMAND_VERBS = _words(
    "write translate tell give make explain summarise summarize show list help fix rewrite "
    "continue stop describe create generate draft compose suggest recommend find search "
    "look check calculate convert compare plan design name send read sing draw shorten "
    "expand simplify proofread correct edit format repeat try redo keep use answer reply "
    "respond talk speak call remind forget remember let guess imagine pretend act play "
    "define outline brainstorm paraphrase rephrase polish improve review analyse analyze "
    "count sort solve teach quiz recap elaborate clarify scrap drop cancel skip ignore "
    "add remove delete change update convert go hurry"
)
#: Requests that work on a text given after a colon ("Translate this to German: ..."): what
#: follows is that text, not the user's words to them.
_TEXT_VERBS = _words(
    "translate summarise summarize rewrite fix correct proofread edit rephrase paraphrase "
    "shorten expand simplify format explain analyse analyze review polish improve check read "
    "convert continue answer reply respond define outline sort count repeat complete write"
)
#: A request by its object alone ("another one", "again, shorter"): made of these words, one
#: of them in ``_REQUESTING``.
_REQUEST_WORDS = _words(
    "another one more again please pls shorter longer simpler same next the a bit little "
    "different version other continue go on ahead keep going"
)
_REQUESTING = _words(
    "another more again shorter longer simpler next different version other continue ahead"
)
#: The people, animals, places and things of a user's life: "her husband Raj", "the kids",
#: "work was rough".
_WORLD = _words(
    "mum mom mother dad father parents parent brother sister siblings son daughter kid kids "
    "children child baby wife husband partner boyfriend girlfriend fiance fiancee fiancé "
    "fiancée grandma grandmother grandpa grandfather granddad nan aunt uncle cousin niece "
    "nephew family flatmate roommate housemate friend friends colleague colleagues coworker "
    "coworkers boss manager team landlord landlady neighbour neighbor neighbours neighbors "
    "doctor dentist therapist dog cat puppy kitten pet pets horse rabbit hamster parrot job "
    "work office shift school class uni university company flat apartment house home "
    "garden car wedding birthday anniversary exam interview"
)
#: Opening words of a clause whose subject (the user) was left out: "got promoted today",
#: "back from Lisbon", "still in Pune", "allergic to cats".
_ELIDED = _words(
    "got just finally went started finished moved bought had made met lost passed failed "
    "quit left joined heading off going flying leaving getting feeling felt been can't "
    "cant cannot looking living working based staying back survived turned booked signed "
    "tried saw loved hated love hate need want miss missed stuck still currently planning "
    "thinking trying learning starting expecting engaged married divorced pregnant retired "
    "allergic vegetarian vegan tired exhausted sick stressed bored name's names"
)
_PRONOUN_OBJECTS = r"(?:it|that|this|these|those|them|one|that one|this one|so|too)"
#: A reaction to what was said, not a fact by itself: "I like that one better", "love it",
#: "I don't get it", "I hate it".
_REACTION = re.compile(
    r"^(?:(?:i|we) )?(?:really |totally |kinda |also |too |do |don't |dont |do not )*"
    r"(?:see|agree|disagree|understand|know|guess|suppose|think|hope|get|got|mean|like|love"
    r"|liked|loved|hate|hated|prefer|enjoyed|appreciate)"
    rf"(?: {_PRONOUN_OBJECTS})?(?: (?:better|more|a lot|so much|too|now|though|haha|lol))*$"
)
#: "I'm good", "I'm back", "I'm done": a word about the conversation.
_STATUS = re.compile(r"^(?:i'm|im|i am) (?:good|fine|ok|okay|done|back|here|ready|listening)$")
#: A question put as a statement: "I was wondering if ...", "I'm curious", "I always forget
#: if it's Sydney".
_FRAMING = re.compile(
    r"^(?:(?:i'm|im|i am|i was|was|i) )?(?:just |also |really |always |kinda )*"
    r"(?:curious|wondering|wonder|wondered)\b"
    r"|^(?:i|i'd|i would) (?:want|like|need|love) to (?:know|ask|understand)\b"
    r"|^(?:i )?(?:always |often |sometimes |never )?(?:forget|don't know|do not know|can't"
    r" remember|cannot remember|can't recall|don't remember)"
    r" (?:if|whether|what|how|why|when|where|who|which)\b"
    r"|^(?:i'm|im|i am) (?:not sure|unsure) (?:if|whether|what|how|why|when|where|who|which)\b"
    r"|^(?:quick |random |a |one )?(?:question|q)\b"
    r"|^do you (?:know|think)\b"
)
#: A request put as a statement: "I want you to ...", "I need help with ...".
_REQUEST = re.compile(
    r"^(?:i|we) (?:want|need|would like|wanna) (?:you|u) to\b|^(?:i'd|we'd) like (?:you|u) to\b"
    r"|^(?:i|we) (?:need|want|would like|'d like|could use) (?:some )?help\b"
    r"|^(?:i'd|i would|we'd) (?:like|love) (?:a|an|some|to get|to have)\b"
)
#: Inside a question, a statement about the user: "... now that I live here?", "did I tell
#: you I got a puppy?".
_EMBEDDED = re.compile(
    r"\b(?:now that|since|because|cause|cuz|given that|considering|as) "
    r"(?:i|i'm|im|i've|i'd|i'll|we|we're|we've|my|our)\b"
    r"|^(?:did|have) i (?:tell|told|mention|mentioned)(?: you| u)?(?: that)? (?:i|i'm|im|i've|"
    r"we|we're|my|our)\b"
)
#: An auxiliary before its subject, anywhere in a clause without the first person: "as a 29
#: year old is it weird to ...".
_INVERSION = re.compile(
    r"(?<!\bso )(?<!\bas )(?<!\bnor )(?<!\bthan )(?<!\bthat )(?<!\bwhat )(?<!\bwhere )"
    r"(?<!\bhow )(?<!\bwho )(?<!\bneither )"
    r"\b(?:(?:is|was) (?:it|there|that|this|he|she)|(?:are|were) (?:you|u|we|they|there)"
    r"|(?:do|does|did|can|could|should|would|will) (?:you|u|we|they|it|he|she))\b"
)
#: A request that lasts: a preference about how the assistant treats the user.
_STANDING = re.compile(
    r"\b(?:from now on|going forward|in (?:the )?future|from today on|by default|every time"
    r"|whenever you|for all (?:future )?(?:answers|replies|chats)|call me)\b"
    r"|\b(?:always|never) (?:answer|reply|respond|write|speak|talk|use|call|suggest|recommend"
    r"|give|include|mention|say|ask|show|add|put|start|end|keep|be|remind|format|explain"
    r"|send|address)\b"
)
#: A fact given to keep, or to forget: what follows is read as a clause of its own.
_KEEP = re.compile(
    r"^(?:please |pls |also |just )*(?:remember|note|keep in mind|bear in mind|so you know"
    r"|just so you know|fyi|for the record|for your information|reminder|a reminder)"
    r"(?: that| this| this:)?(?: (?P<rest>.+))?$"
)
_FORGET = re.compile(
    r"^(?:please |pls |also |just |can you |could you )*forget (?:that |about |what )?(?P<rest>.+)$"
)
_FORGETS_SOMETHING = re.compile(
    r"\b(?:i|i'm|im|i've|i'd|me|my|mine|we|our|us)\b|^the [\w' -]{1,40} (?:thing|stuff|bit)\b"
)
_NAME_HERE = re.compile(r"^[^\W\d_][\w'-]*(?: [^\W\d_][\w'-]*)? here$")
_AGE = re.compile(r"\b\d{1,3} ?(?:years? old|yrs? old|yo|y/o)\b")
_ANY_QUESTION = re.compile(
    r"^(?:got )?any (?:tips|ideas|suggestions|recommendations|recs|advice|thoughts|good|other"
    r"|idea)\b"
)
_WORLD_NAMED = re.compile(r"\b(?:" + "|".join(sorted(_WORLD)) + r")\s+(?-i:[A-Z])\w+", re.I)
#: A greeting that opens a kept clause ("hey im Marek, 27"): left out of the episode.
_GREETING = re.compile(
    r"^(?:(?:hi+|hey+|heya|hello|hiya|hej|hola|howdy|yo|good (?:morning|afternoon|evening))"
    r"(?: there| again| all| everyone)?\b[\s,!.]*)+",
    re.I,
)
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")  # "I'm", "I\u2019m"
#: Where a clause ends: a sentence mark, a semicolon, a line break, a dash or colon between
#: words, a comma (not in "1,000"), or the space before "so / and / but" opening a question
#: or a request.
_SEPARATOR = re.compile(
    r"[.!?…]+(?=[\s\"'\u201d\u2019)\]]|$)|[;\n]+|\s[-\u2013\u2014]+\s|:(?=\s)|,(?!\d)"
    r"|\s(?=(?:so|and|but|then|because|cause|or) (?:can|could|would|will|should|do|does|is"
    r"|are|what|what's|how|why|where|when|which|who|any|tell|give|show|help|make|write|please"
    r"|pls|suggest|recommend|explain)\b)",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?…;\n]")
#: Quoted text: one word, never a clause ("Translate 'I love my dog'").
_QUOTED = re.compile(
    r"\"[^\"\n]{1,2000}\"|“[^”\n]{1,2000}”|«[^»\n]{1,2000}»|(?<!\w)'[^'\n]{1,2000}'(?!\w)"
)


def clauses(text: str) -> list[Clause]:
    """The clauses of ``text`` (its first ``READ_CHARS`` characters), each with its kind."""
    text = text[:READ_CHARS]
    masked = _QUOTED.sub(lambda m: m[0][0] + "_" * (len(m[0]) - 2) + m[0][-1], text)
    pieces: list[tuple[int, int, str]] = []
    at = 0
    for match in _SEPARATOR.finditer(masked):
        pieces.append((at, match.start(), match.group(0)))
        at = match.end()
    if masked[at:].strip():
        pieces.append((at, len(masked), ""))
    found: list[Clause] = []
    payload = False
    first = 0
    while first < len(pieces):  # sentence by sentence
        last = first
        while last < len(pieces) - 1 and not _SENTENCE_END.search(pieces[last][2]):
            last += 1
        # A standing instruction ("From now on, keep your answers short") may be in another
        # clause of the sentence than the request.
        sentence = " ".join(masked[s:e] for s, e, _ in pieces[first : last + 1])
        standing = _STANDING.search(_norm(sentence)) is not None
        for i in range(first, last + 1):
            start, end, separator = pieces[i]
            segment = masked[start:end]
            if payload:
                kind = ClauseKind.command
            else:
                kind = _kind(segment, starts_sentence=i == first, asks="?" in separator,
                             standing=standing)  # fmt: skip
            found.append(Clause(start, end, separator, kind))
            if kind is ClauseKind.command and separator == ":" and _works_on_text(segment):
                payload = True  # the rest is the text the request works on
        first = last + 1
    return found


def _works_on_text(segment: str) -> bool:
    """A request for a text that follows ("Translate this to German:"), not a heading
    ("Update:", "Change of plans:")."""
    words = [w for w in _norm(segment).split() if w not in _LEADING]
    return len(words) >= 2 and words[0] in _TEXT_VERBS


def _norm(text: str) -> str:
    return " ".join(w.replace("\u2019", "'") for w in _WORD.findall(text.casefold()))


def _kind(segment: str, *, starts_sentence: bool, asks: bool, standing: bool) -> ClauseKind:
    words = _norm(segment).split()
    if not words or all(w in _SOCIAL for w in words):
        return ClauseKind.social
    n = 0
    while n < len(words) - 1 and words[n] in _LEADING:
        n += 1
    core_words = words[n:]
    core = " ".join(core_words)
    kept = _KEEP.match(" ".join(words)) or _KEEP.match(core)
    if kept:
        rest = kept.group("rest")
        if not rest:
            return ClauseKind.remark  # a heading: "Reminder: ..."
        if _statement(rest, standing=standing):
            return ClauseKind.statement
        return ClauseKind.command
    forgotten = _FORGET.match(core)
    if forgotten:
        rest = forgotten.group("rest")
        if _FORGETS_SOMETHING.search(rest):
            return ClauseKind.statement  # what no longer holds, or is not to be kept
        if rest in {"it", "that", "about it", "it all"}:
            return ClauseKind.social  # "never mind"
        return ClauseKind.command
    if _question(core_words, core, starts_sentence=starts_sentence, asks=asks):
        if standing or _EMBEDDED.search(core):
            return ClauseKind.statement
        return ClauseKind.question
    if _command(core_words, core):
        return ClauseKind.statement if standing else ClauseKind.command
    return _declarative(core_words, core, segment)


def _statement(text: str, *, standing: bool) -> bool:
    kind = _kind(text, starts_sentence=True, asks=False, standing=standing)
    return kind is ClauseKind.statement


def _question(words: list[str], core: str, *, starts_sentence: bool, asks: bool) -> bool:
    first = words[0]
    if _FRAMING.search(core):
        return True
    if first in _FIRST_SUBJECT:  # "I like jazz now??": a statement, whatever its tone
        return False
    if asks:
        return True
    if starts_sentence:
        if first in _WH or _ANY_QUESTION.match(core):
            return True
        second = words[1] if len(words) > 1 else ""
        if first in _AUX and (
            second in _PRONOUNS or (first in _AUX_BEFORE_ANY and second in _SUBJECTS)
        ):
            return True
    return not any(w in _FIRST_PERSON for w in words) and _INVERSION.search(core) is not None


def _command(words: list[str], core: str) -> bool:
    first = words[0]
    second = words[1] if len(words) > 1 else ""
    if first in _COMMAND_VERBS and second not in {"is", "was", "are", "were", "'s"}:
        return True
    if first in {"don't", "dont", "never"} or core.startswith("do not "):
        verb = words[2] if core.startswith("do not ") and len(words) > 2 else second
        return verb in _COMMAND_VERBS
    if _REQUEST.search(core):
        return True
    return all(w in _REQUEST_WORDS for w in words) and any(w in _REQUESTING for w in words)


def _declarative(words: list[str], core: str, segment: str) -> ClauseKind:
    first = words[0]
    if any(w in _FIRST_PERSON for w in words) or _FIRST_PERSON_CJK.search(segment):
        if _STATUS.match(core):
            return ClauseKind.social
        return ClauseKind.remark if _REACTION.match(core) else ClauseKind.statement
    if _REACTION.match(core):  # "love it"
        return ClauseKind.remark
    if first in _THIRD_SUBJECT or first in _ELIDED or first in _WORLD:
        return ClauseKind.statement
    if _NAME_HERE.match(core) or _AGE.search(core):
        return ClauseKind.statement
    for n, word in enumerate(words[1:], start=1):
        if word in _WORLD and words[n - 1] in {"the", "his", "her", "their"}:
            return ClauseKind.statement
    if _WORLD_NAMED.search(segment):
        return ClauseKind.statement  # "husband Raj"
    return ClauseKind.remark


def informative_text(text: str) -> str | None:
    """The words of ``text`` to keep as an episode: its clauses that say something about the
    user, with the remarks beside them, without its greetings, thanks, questions and requests
    to the assistant; None when no clause says anything about the user."""
    found = clauses(text)
    if not any(c.kind is ClauseKind.statement for c in found):
        return None
    if all(c.kind in KEPT for c in found):
        return " ".join(_GREETING.sub("", text).split()) or None
    kept_text = ""
    run_start: int | None = None
    new_sentence = False  # a sentence ended between the last part kept and this one
    for i, clause in enumerate([*found, None]):
        if clause is not None and clause.kind in KEPT:
            if run_start is None:
                run_start = clause.start
            continue
        if run_start is not None:  # the run of kept clauses up to found[i - 1] ends
            last = found[i - 1]
            mark = re.match(r"[.!?…]+", last.separator)
            part = text[run_start : last.end + (mark.end() if mark else 0)].strip(
                " ,;:-\u2013\u2014"
            )
            part = _GREETING.sub("", part) if not kept_text else part
            if kept_text and not re.search(r"[.!?…]$", kept_text):
                kept_text += "." if new_sentence else ","
            kept_text = f"{kept_text} {part}" if kept_text else part
            run_start, new_sentence = None, False
        if clause is not None and re.search(r"[.!?…;\n]", clause.separator):
            new_sentence = True
    return " ".join(kept_text.split()) or None


def without_requests(text: str) -> str:
    """``text`` (its first ``READ_CHARS`` characters) with its questions and requests to the
    assistant, and the text a request works on, left out: what a message states."""
    kept = [
        text[c.start : c.end] + c.separator
        if c.kind not in (ClauseKind.question, ClauseKind.command)
        else " . "
        for c in clauses(text)
    ]
    return "".join(kept)
