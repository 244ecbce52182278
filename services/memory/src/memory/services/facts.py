"""Facts the user states about themselves, in canonical sentences, and the attribute each sets.

The offline rules (``RuleFactExtractor``) write every fact they find as one of the canonical
sentences of ``CANONICAL`` ("The user lives in Porto."), and ``attribute_of`` reads the
attribute and its value back from such a sentence, whoever wrote it (the rules, an LLM that
phrased it the same way, a client through the API, an earlier version). Consolidation
(memory.services.consolidation) uses the attribute: a newer value of an attribute replaces the
older one instead of standing beside it.

Every attribute is single-valued (docs/memory.md#consolidation has the table):
``name``, ``nickname``, ``age``, ``home``, ``origin``, ``employer``, ``occupation``, ``partner``,
and the keyed families ``favourite:<thing>``, ``preference:<thing>`` (likes or dislikes) and
``allergy:<thing>``. A fact none of them describes ("The user is a vegetarian.") has no
attribute and is only ever merged with a near-duplicate of itself.

Retractions ("forget that I like tea", "I don't live in Lisbon any more", "I quit my job")
are facts too, with ``retract`` set: they name the attribute (and the value, when the user
gave one) of the memory to delete, or, when no rule reads them, the text to look for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memory.services.episodes import informative_text, without_requests

#: A clause ends at a sentence mark, at ", and" / ", but", at "and I" / "but ...", or before
#: a trailing circumstance ("with my wife", "since 2019", "for the NHS", "as an engineer").
_END = (
    # a comma, unless one capitalised word ends the clause ("Berlin, Germany.")
    r"(?=[.!?;]|,(?!\s*(?-i:[A-Z])[\w'\-]*\s*(?:[.!?;]|$))|\s+[-\u2013(]|\s+and\s+i\b"
    r"|\s+but\b|\s+like\s+i\b|\s+(?:with|since|for|because|as|from|until|so|where|which"
    r"|who|though|btw|lol|if)\b|\s+(?:now|still|again|any ?more)\b|$)"
)
#: Words of time that say *when* a value holds, not what it is: "I live in Porto now".
_WHEN = re.compile(
    r"(?:[\s,]+|^)(?:now|still|these days|nowadays|currently|at the moment|any ?more|again|too"
    r"|also|recently|(?:last|this|next) (?:week|month|year|spring|summer|autumn|winter)"
    r"|in (?:the )?(?:spring|summer|autumn|fall|winter)|remember|right|you know|ok|okay)$",
    re.I,
)
_LEADING = re.compile(
    r"^(?:now|currently|actually|really|probably|definitely|honestly|basically)\s+", re.I
)
#: Words for one thing, folded in attribute keys ("favourite movie" is "favourite film").
_SYNONYMS = {"movie": "film", "color": "colour", "tune": "song", "telly": "tv"}


@dataclass(frozen=True)
class Fact:
    """A fact about the user: ``content`` as it is stored; ``retract`` when the user withdrew
    it (then ``attribute`` and ``value`` say what to delete, either may be None); ``forget``
    when they asked for it to be forgotten ("forget that ..."), not only said it changed."""

    content: str
    attribute: str | None = None
    value: str | None = None
    retract: bool = False
    forget: bool = False


@dataclass(frozen=True)
class Reading:
    """What one message says about the user: the facts it states (and takes back), and its
    words to keep as an episode, None when it says nothing about the user
    (memory.services.episodes)."""

    facts: tuple[Fact, ...]
    episode: str | None


def normalise(text: str) -> str:
    """Text compared loosely: lower case, without articles, punctuation and extra spaces."""
    words = re.findall(r"[\w']+", text.casefold())
    return " ".join(w for w in words if w not in {"a", "an", "the"})


def same_value(a: str | None, b: str | None) -> bool:
    """Whether two values name the same thing: equal when normalised, or one a whole-word
    prefix of the other ("Lisbon" and "Lisbon, Portugal")."""
    if a is None or b is None:
        return False
    x, y = normalise(a), normalise(b)
    return bool(x and y) and (x == y or x.startswith(y + " ") or y.startswith(x + " "))


# -- canonical sentences ----------------------------------------------------------------------
#: (sentence pattern, attribute): ``k`` is the key of a keyed family, ``v`` the value.
CANONICAL: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^the user's name is (?P<v>.+?)\.?$", re.I), "name"),
    (re.compile(r"^the user likes to be called (?P<v>.+?)\.?$", re.I), "nickname"),
    (re.compile(r"^the user is (?P<v>\d{1,3}) years old\.?$", re.I), "age"),
    (re.compile(r"^the user lives in (?P<v>.+?)\.?$", re.I), "home"),
    (re.compile(r"^the user is from (?P<v>.+?)\.?$", re.I), "origin"),
    (re.compile(r"^the user works at (?P<v>.+?)\.?$", re.I), "employer"),
    (re.compile(r"^the user works as (?:an? )?(?P<v>.+?)\.?$", re.I), "occupation"),
    (re.compile(r"^the user's partner is (?P<v>.+?)\.?$", re.I), "partner"),
    (re.compile(r"^the user's favou?rite (?P<k>.+?) is (?P<v>.+?)\.?$", re.I), "favourite"),
    (re.compile(r"^the user (?P<v>likes|dislikes) (?P<k>.+?)\.?$", re.I), "preference"),
    (re.compile(r"^the user is allergic to (?P<k>.+?)\.?$", re.I), "allergy"),
]


def attribute_of(content: str) -> tuple[str, str] | None:
    """The attribute a canonical sentence sets and its value (``("home", "Porto")``,
    ``("preference:tea", "likes")``), or None for any other text."""
    text = content.strip()
    if not text[:9].casefold().startswith("the user"):  # every canonical sentence does
        return None
    for pattern, attribute in CANONICAL:
        match = pattern.match(text)
        if match is None:
            continue
        groups = match.groupdict()
        key, value = groups.get("k"), groups.get("v")
        if key is None:
            return attribute, value or ""
        if attribute == "preference":
            value = (value or "").casefold()
        folded = " ".join(_SYNONYMS.get(w, w) for w in normalise(key).split())
        return f"{attribute}:{folded}", value or key
    return None


# -- the rules --------------------------------------------------------------------------------
_V = r"([^.!?;]{2,60}?)"  # a value: up to the end of the clause (_END)
#: A name as people write theirs: one capitalised word (case-sensitive inside re.I patterns).
_NAME = r"((?-i:[A-Z])[\w'\-]{1,30})\b"
#: An organisation: starts with a capital, runs to the end of the clause.
_ORG = r"((?-i:[A-Z0-9])[^.!?;]{0,60}?)"
#: A job: lower-case words, not running into "at/for/in/on ..." (where the employer follows).
_JOB = r"((?:(?!\s(?:at|for|in|on|with)\s)[a-z \-]){2,40}?)"
_ADVERB = r"(?:now |currently |still |actually |really |also |just |finally |recently )?"
#: (pattern, templates): each template is formatted with the pattern's groups and left out
#: when a group it needs did not match ("I work as a nurse (at the Royal Free)").
_POSITIVE: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (
        re.compile(r"\bmy name is ([A-Za-z][\w'\- ]{0,40}?)" + _END, re.I),
        ("The user's name is {0}.",),
    ),
    (re.compile(r"\bname's " + _NAME, re.I), ("The user's name is {0}.",)),
    (  # "hi, I'm Kat", "hey, quick one - I'm Felix btw"
        re.compile(
            r"\b(?:hi|hey|hello|hiya)\b[!,]?[^.!?]{0,25}?\bi(?:'m| am) "
            + _NAME
            + r"(?!\s+(?-i:[A-Z]))",
            re.I,
        ),
        ("The user's name is {0}.",),
    ),
    (
        re.compile(r"(?:^|[.!?]\s+|\b(?:hi|hey|hello)[,!]?\s+)" + _NAME + r" here\b", re.I),
        ("The user's name is {0}.",),
    ),
    (re.compile(r"\bmy name\b[^.!?]{0,40}?\bit's " + _NAME, re.I), ("The user's name is {0}.",)),
    (  # a correction: "It's Aoife, not Alice!"
        re.compile(r"\bit's " + _NAME + r",? not (?-i:[A-Z])", re.I),
        ("The user's name is {0}.",),
    ),
    (  # "Hi, myself Dev, based in ..."
        re.compile(r"(?:^|\b(?:hi|hey|hello)[,!]?\s+)myself " + _NAME, re.I),
        ("The user's name is {0}.",),
    ),
    (re.compile(r"\bcall me " + _NAME, re.I), ("The user likes to be called {0}.",)),
    (
        re.compile(
            r"\bi(?:'m| am) (\d{1,3})(?:\s+(?:years|yrs)(?: old)?|\s*yo)?"
            r"(?=\s*(?:[,.!?;]|and\b|$)|\s+(?:years|yrs)\b)",
            re.I,
        ),
        ("The user is {0} years old.",),
    ),
    (re.compile(r"\bi(?: just)? turned (\d{1,3})\b", re.I), ("The user is {0} years old.",)),
    (
        re.compile(
            r"\bi(?:'ve| have)? (?:been )?"
            + _ADVERB
            + r"(?:live|lived|living) (?:up |down |over |out )?in "
            + _V
            + _END,
            re.I,
        ),
        ("The user lives in {0}.",),
    ),
    (
        re.compile(
            # "I'm based in Hyderabad", and in an introduction: "I'm Olivia, 34, living in ..."
            r"(?:\bi(?:'m| am) " + _ADVERB + r"|(?:^|[,;]\s*|\bi(?:'m| am)\b[^.!?;]{0,30}?,\s*))"
            r"(?:living|based|settled|staying) in " + _V + _END,
            re.I,
        ),
        ("The user lives in {0}.",),
    ),
    (
        re.compile(
            r"(?:^|\b(?:i|we)\b[^.!?;]{0,30}?)\b(?:moved|relocated|shifted) "
            r"(?:down |up |over |back |out )?(?:(?:away )?from [^.!?;]{2,60}? )?"
            r"(?:to|into (?:a|an|my|our|the) [a-z ]{1,30}? in) " + _V + _END,
            re.I,
        ),
        ("The user lives in {0}.",),
    ),
    (
        re.compile(r"\bi(?:'m| am) (?:originally )?from " + _V + _END, re.I),
        ("The user is from {0}.",),
    ),
    (
        re.compile(r"\bi " + _ADVERB + r"work (?:at|for) " + _V + _END, re.I),
        ("The user works at {0}.",),
    ),
    (
        re.compile(
            r"\bi(?:'ve| have)? " + _ADVERB + r"(?:started working|began working"
            r"|got a (?:new )?job|started a (?:new )?job|took a (?:new )?job|joined)"
            r" (?:at|for|with)? ?" + _ORG + _END,
            re.I,
        ),
        ("The user works at {0}.",),
    ),
    (
        re.compile(
            r"\bi(?:'m| am)? "
            + _ADVERB
            + r"work(?:ing)? as an? "
            + _JOB
            + r"(?: (?:at|for) "
            + _ORG
            + ")?"
            r"(?=\s+(?:in|on|at|with)\b|" + _END[3:],
            re.I,
        ),
        ("The user works as {0:a}.", "The user works at {1}."),
    ),
    (  # "I'm a line cook at Osteria Lupo", "started last Monday as a developer at Brightwave"
        re.compile(
            r"\b(?:i(?:'m| am) "
            + _ADVERB
            + r"|(?:started|began|joined)\b[^.!?;]{0,30}?\bas )an? "
            + _JOB
            + r" (?:at|for|with) "
            + _ORG
            + _END,
            re.I,
        ),
        ("The user works as {0:a}.", "The user works at {1}."),
    ),
    (  # "I am a chef at a small restaurant", "I'm a nurse in Leeds": a job, where the
        # employer (if any) is not a name
        re.compile(
            r"\bi(?:'m| am) "
            + _ADVERB
            + r"an? "
            + _JOB
            + r"(?= (?:at|for|with) (?:a|an|the|my) | in (?-i:[A-Z]))",
            re.I,
        ),
        ("The user works as {0:a}.",),
    ),
    (
        re.compile(
            r"\bmy (?:wife|husband|partner|girlfriend|boyfriend|fianc[ée]e?)(?:'s name)?"
            r"(?: is(?: called| named)?|,)? " + _NAME,
            re.I,
        ),
        ("The user's partner is {0}.",),
    ),
    (
        # not "a bit tired", "a little late", "a big fan of ..." (a liking, not a kind), nor a
        # job at a place (above)
        re.compile(
            r"\bi(?:'m| am) an? (?!(?:bit|little|lot|tad|few|couple|big fan|huge fan|fan)\b)"
            + _JOB
            + r"(?!\s(?:at|for|with)\s|\sin\s(?-i:[A-Z]))"
            + _END,
            re.I,
        ),
        ("The user is a {0}.",),
    ),
    (
        re.compile(
            r"\bmy (?:all-time )?favou?rite ([a-z ]{2,30}?) is (?:now )?([^.!?;]{1,60}?)" + _END,
            re.I,
        ),
        ("The user's favourite {0} is {1}.",),
    ),
    (  # "blue is my favourite colour now"
        re.compile(
            r"(?:^|[.!?,]\s*|\bso\s+)([\w' ]{1,40}?) is my (?:all-time )?favou?rite "
            r"([a-z]{2,20})\b",
            re.I,
        ),
        ("The user's favourite {1} is {0}.",),
    ),
    (
        re.compile(
            r"\bi (?:really |actually |also |still |now |absolutely |totally )?"
            r"(?:like|love|enjoy|prefer) ([^.!?;]{2,80}?)" + _END,
            re.I,
        ),
        ("The user likes {0}.",),
    ),
    (
        re.compile(
            r"\bi (?:really )?(?:dislike|hate|can't stand|cannot stand|don't like|do not like) "
            r"([^.!?;]{2,80}?)" + _END,
            re.I,
        ),
        ("The user dislikes {0}.",),
    ),
    (
        re.compile(r"\bi(?:'m| am) (?:severely |very )?allergic to " + _V + _END, re.I),
        ("The user is allergic to {0}.",),
    ),
]
#: Values that name nothing by themselves: a fact with one is left out ("I like them now").
_PRONOUNS = frozenset(
    ["it", "them", "that", "this", "those", "these", "him", "her", "he", "she", "they", "you"]
)
#: "remember (that) ...": the user's words, read by the rules above first.
_REMEMBER = re.compile(r"\bremember(?: that|:)? ([^?]{3,300}?)(?=[.!]|$)", re.I)
#: "forget (that) ...": what follows, read by the rules above, is what to delete.
_FORGET = re.compile(r"\bforget (?:that |about )?([^.!?;]{3,200})", re.I)
#: "forget the shellfish thing": the words to look for.
_FORGET_THING = re.compile(
    r"\bforget (?:about )?the ([a-z][a-z \-]{1,30}?) (?:thing|stuff|bit)\b", re.I
)
#: "forget my name / address / job ...": the attribute alone.
_FORGET_ATTRIBUTE = re.compile(
    r"\bforget my (name|nickname|age|address|home|job|employer|occupation|partner)\b", re.I
)
_NAMED_ATTRIBUTES = {
    "name": "name", "nickname": "nickname", "age": "age", "address": "home", "home": "home",
    "job": "employer", "employer": "employer", "occupation": "occupation", "partner": "partner",
}  # fmt: skip
#: Statements that an attribute's value no longer holds: (pattern, attribute); the value is
#: the group, when the pattern has one.
_NO_LONGER: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\b(?:(?-i:([A-Z][\w'\-]+)) and i|we|i)(?: have| 've|'ve)? (?:just )?"
            r"(?:split up|broke up|separated|got divorced|divorced)\b",
            re.I,
        ),
        "partner",
    ),
    (re.compile(r"\bi (?:don't|do not|no longer) live in " + _V + _END, re.I), "home"),
    (re.compile(r"\bi(?:'m| am) (?:not|no longer) living in " + _V + _END, re.I), "home"),
    (
        re.compile(
            r"\bi(?:'ve| have)? moved (?:away )?(?:out of|from) " + _V + r"(?=\s+to\b|[.!?;,]|$)",
            re.I,
        ),
        "home",
    ),
    (re.compile(r"\bi (?:don't|do not|no longer) work (?:at|for) " + _V + _END, re.I), "employer"),
    (
        re.compile(
            r"\bi(?:'ve| have)? (?:quit|left) my job(?: (?:at|with|for) " + _V + ")?" + _END, re.I
        ),
        "employer",
    ),
    (
        re.compile(r"\bi (?:don't|do not|no longer) work as (?:an? )?" + _V + _END, re.I),
        "occupation",
    ),
    (re.compile(r"\bmy name is(?:n't| not) ([A-Za-z][\w'\-]{0,40})\b", re.I), "name"),
    (re.compile(r"\bi(?:'m| am) (?:not|no longer) allergic to " + _V + _END, re.I), "allergy"),
    (
        re.compile(r"\bi no longer (?:like|love|enjoy) ([^.!?;]{2,80}?)" + _END, re.I),
        "preference",
    ),
]


class Value(str):
    """A captured value; formatted with ``:a`` it gets its indefinite article ("a teacher",
    "an engineer")."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if spec == "a":
            return f"{'an' if self[:1].casefold() in 'aeiou' else 'a'} {self}"
        return str.__format__(str(self), spec)


def _clean(value: str) -> str:
    """A captured value without the words of time around it and stray punctuation."""
    value = value.strip(" ,\"'")
    previous = None
    while previous != value:
        previous = value
        value = _WHEN.sub("", value).strip(" ,")
        value = _LEADING.sub("", value)
    return value


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!")) else text + "."


class RuleFactExtractor:
    """Facts by pattern: what the user says about themselves in the first person, as
    canonical sentences (see the module's docstring), and what they take back."""

    name = "rules"

    async def read(self, user_text: str) -> Reading:
        """What ``user_text`` says about the user: the facts of what it states (not of its
        questions and requests to the assistant, ``without_requests``) and the clauses of it
        that say something about the user (``informative_text``)."""
        facts = await self.facts(without_requests(user_text))
        return Reading(tuple(facts), informative_text(user_text))

    async def facts(self, user_text: str) -> list[Fact]:
        """The facts of ``user_text``: retractions first, then the facts stated (a clause
        to forget states nothing: "forget that I like tea" is not a liking of tea; the
        rules for facts do not read the negative forms of ``_NO_LONGER``)."""
        found: list[Fact] = []
        masked = user_text
        for match in _FORGET_THING.finditer(user_text):
            found.append(Fact(_sentence(match.group(1)), retract=True, forget=True))
            masked = masked.replace(match.group(0), " . ")
        for match in _FORGET.finditer(masked):
            inner = match.group(1)
            stated = self._stated(inner)
            if stated:
                found += [
                    Fact(f.content, f.attribute, f.value, retract=True, forget=True) for f in stated
                ]
            elif _FORGET_ATTRIBUTE.search(match.group(0)) is None:
                found.append(Fact(_sentence(_clean(inner)), retract=True, forget=True))
            masked = masked.replace(match.group(0), " . ")
        for match in _FORGET_ATTRIBUTE.finditer(user_text):
            attribute = _NAMED_ATTRIBUTES[match.group(1).casefold()]
            found.append(
                Fact(
                    f"The user's {match.group(1).casefold()}.", attribute, retract=True, forget=True
                )
            )
        for pattern, attribute in _NO_LONGER:
            for match in pattern.finditer(masked):
                value = match.group(1) if match.groups() else None
                value = _clean(value) if value else None
                named: str = attribute
                if attribute in {"allergy", "preference"} and value:  # keyed by the thing
                    liked = "likes" if attribute == "preference" else value
                    named, value = f"{attribute}:{normalise(value)}", liked
                found.append(Fact(match.group(0), named, value, retract=True))
        for fact in self._stated(masked):
            if fact not in found:
                found.append(fact)
        return found

    def _stated(self, text: str) -> list[Fact]:
        found: list[Fact] = []
        remembered = list(_REMEMBER.finditer(text))
        for match in remembered:  # "remember that I ...": the rules first, else the words
            inner = match.group(1)
            stated = self._stated(inner) if not _REMEMBER.search(inner) else []
            found += stated or [canonical_fact(_sentence(inner))]
            text = text.replace(match.group(0), " . ")
        for pattern, templates in _POSITIVE:
            for match in pattern.finditer(text):
                groups = [Value(_clean(g or "")) for g in match.groups()]
                for template in templates:
                    needed = [int(n) for n in re.findall(r"\{(\d)", template)]
                    if any(not groups[n] or groups[n].casefold() in _PRONOUNS for n in needed):
                        continue
                    fact = canonical_fact(template.format(*groups))
                    if fact not in found:
                        found.append(fact)
        return found


def canonical_fact(content: str) -> Fact:
    """A stated fact, with the attribute and value ``attribute_of`` reads in it."""
    known = attribute_of(content)
    return Fact(content, *known) if known is not None else Fact(content)
