"""How a suggestion is written down: one renderer per output format, shared by every caller.

- JSON: :meth:`Suggestions.to_dict() <goalmatch.model.suggestions.Suggestions.to_dict>`
  (``goalmatch suggest --json``, the web API, the review app's stored suggestions);
- text: :func:`text_lines`, the readable table of ``goalmatch suggest``;
- flat table: :func:`columns` and :func:`row`, one row per text (``goalmatch score`` and
  the Dask partitions of :mod:`goalmatch.batch.dask`); :func:`swedish_headers` names those
  columns for people (``RUS: mål 1 – sannolikhet`` for ``rus-norrbotten-2030.p_1``) and
  :func:`column_keys` reads such headers back (``goalmatch report`` on a scored spreadsheet).

Standard library only, so the command line can import it without scikit-learn.

>>> clip("  Fiber   till\\nbyarna  ", 12)
'Fiber till …'
>>> columns(["rus"], 1)[0][7:]
['rus.abstained', 'rus.confident', 'rus.goal_1', 'rus.name_1', 'rus.p_1', 'rus.evidence', 'rus.reason']
>>> swedish_headers({"rus": "Regional utvecklingsstrategi för Norrbotten 2030 (RUS)"}, 1)["rus.p_1"]
'RUS: mål 1 – sannolikhet'
>>> column_keys(["Id", "RUS: mål 1 – sannolikhet", "Projektnamn"])
{'Id': 'id', 'RUS: mål 1 – sannolikhet': 'RUS.p_1'}
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from goalmatch.model.suggestions import FrameworkSuggestions, Suggestions

__all__ = ["clip", "column_keys", "columns", "decimal_sv", "flags_sv", "framework_label", "framework_line",
           "local_time_sv", "reason_sv", "row", "support_sv", "surface_words", "swedish_headers", "text_lines"]

logger = logging.getLogger(__name__)

TEXT_CHARS, TITLE_CHARS = 90, 60
"""Text output: a quoted sentence or strategy passage, a project title, at most this long."""
EVIDENCE_CHARS, EXCERPT_CHARS = 160, 100
"""Table output: the evidence cell's quotes, and the excerpt of the scored text."""


def clip(text: str, width: int) -> str:
    """``text`` on one line (white space folded), cut to ``width`` characters with ``…``."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------ text


def text_lines(result: Suggestions | Mapping[str, Any], text: str | None = None) -> list[str]:
    """The readable table of one text's suggestions, in Swedish: per framework, bars and evidence.

    ``result`` is a :class:`~goalmatch.model.suggestions.Suggestions` or its ``to_dict()``. Goal
    names come first and ids last, in brackets; a probability has a decimal comma; the evidence
    has no character offsets and no similarity figures. With ``text`` (the text that was scored)
    the shared words are shown as the text has them (:func:`surface_words`), not as lemmas.
    """
    data: Mapping[str, Any] = result.to_dict() if hasattr(result, "to_dict") else result
    surface = surface_forms(text) if text is not None else {}  # the text read once, not per suggestion
    lines = [f"Texten: {', '.join(flags_sv(data['flags']))}"]
    for fw in data["frameworks"]:
        lines += ["", f"{fw['name']}  [{fw['framework_id']}]"]
        if fw["abstained"]:
            lines.append(f"  ingen säker träff: {reason_sv(fw)}")
        for s in fw["suggestions"]:
            p = s["probability"]
            bar = "█" * round(p * 20) + "░" * (20 - round(p * 20))
            mark = "✓" if s["confident"] else " "
            lines.append(f"  {mark} {bar} {decimal_sv(p):>5}  {s['name']}  [{s['goal_id']}]")
            terms = list(s["evidence"]["key_terms"])
            words = [surface.get(term, term) for term in terms]
            lines += _evidence_lines(s["evidence"], words, strength=not fw["abstained"])
    return lines


def _evidence_lines(ev: Mapping[str, Any], words: Sequence[str], strength: bool) -> list[str]:
    """A suggestion's evidence lines; ``strength``: say how strongly the sentence speaks for the goal
    (not where the framework abstained: an off-topic text's sentence may still score high)."""
    lines = []
    for sent in ev["sentences"][:1]:
        strength_sv = support_sv(sent.get("probability")) if strength else None
        lines.append(f"        ur texten{f' ({strength_sv})' if strength_sv else ''}: "
                     f"«{clip(sent['text'], TEXT_CHARS)}»")
    if ev["passage"]:
        ps = ev["passage"]
        kind = PASSAGE_KINDS_SV.get(ps["kind"], ps["kind"])
        where = f"  [{ps['goal_id']}]" if ps["kind"] == "target" else ""
        lines.append(f"        i strategin ({kind}): {clip(ps['text'], TEXT_CHARS)}{where}")
    if ev["projects"]:
        pr = ev["projects"][0]
        lines.append(f"        liknande projekt: {clip(pr['title'] or pr['id'], TITLE_CHARS)}  [{pr['id']}]")
    if words:
        lines.append(f"        delade ord: {', '.join(words)}")
    return lines


# ------------------------------------------------------------------ Swedish words

LANGUAGES_SV = {"sv": "svenska", "en": "engelska", "no": "norska", "nn": "nynorska", "da": "danska", "fi": "finska",
                "de": "tyska", "fr": "franska", "es": "spanska", "it": "italienska", "nl": "nederländska",
                "pl": "polska", "et": "estniska", "ru": "ryska", "ar": "arabiska", "so": "somaliska",
                "fa": "persiska", "und": "språket går inte att avgöra"}
"""The languages :func:`goalmatch.text.prepare.detect_language` names, in Swedish."""
PASSAGE_KINDS_SV = {"name": "målets namn", "alias": "målets andra namn", "description": "beskrivning",
                    "example": "exempel", "target": "delmål"}
"""What kind of strategy text a suggestion matched (``PassageEvidence.kind``), in Swedish."""
MONTHS_SV = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
             "november", "december")
TIME_ZONE = "Europe/Stockholm"
"""The time zone people read times in (:func:`local_time_sv`)."""
_REASON_EN = (("too_short", re.compile(r"too short to judge")),
              ("off_topic", re.compile(r"less related to this strategy")),
              ("below_probability", re.compile(r"no goal reaches probability (?P<threshold>[0-9.e-]+)")),
              ("below_thresholds", re.compile(r"no goal reaches its threshold")))


def local_time_sv(moment: datetime) -> str:
    """A moment as a Swedish reader expects it: local time in Sweden (Europe/Stockholm), ``5 december
    2026 kl. 14.03``; a naive ``moment`` is taken as UTC. Where the system's time zone data lack
    Europe/Stockholm (Windows without the ``tzdata`` package), the time is UTC and says so: ``… (UTC)``.

    >>> local_time_sv(datetime(2026, 12, 5, 13, 3, tzinfo=UTC))
    '5 december 2026 kl. 14.03'
    """
    zone = _zone(TIME_ZONE)
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone or UTC)
    text = f"{local.day} {MONTHS_SV[local.month - 1]} {local.year} kl. {local:%H.%M}"
    return text if zone is not None else f"{text} (UTC)"


@functools.lru_cache(maxsize=4)
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("no time zone data for %s (install the tzdata package); times are shown in UTC", name)
        return None


def decimal_sv(value: float, digits: int = 2) -> str:
    """A number with a Swedish decimal comma: ``decimal_sv(0.731)`` → ``'0,73'``."""
    return f"{value:.{digits}f}".replace(".", ",")


def support_sv(probability: float | None) -> str | None:
    """How strongly a sentence speaks for a goal (its probability for that goal alone), in words:
    ``starkt stöd`` from 0.5, ``visst stöd`` from 0.2, else ``svagt stöd``; None without a figure."""
    if probability is None or probability != probability:  # None, or NaN
        return None
    return "starkt stöd" if probability >= 0.5 else "visst stöd" if probability >= 0.2 else "svagt stöd"


def flags_sv(flags: Mapping[str, Any]) -> list[str]:
    """A text's flags (``Suggestions.flags``) as short Swedish notes, the language first."""
    code = str(flags.get("language") or "und")
    notes = [LANGUAGES_SV.get(code, f"språk {code}")]
    notes += ["reparerad PDF-text"] if flags.get("repaired") else []
    notes += ["FÖR KORT för en säker bedömning"] if flags.get("too_short") else []
    replaced = flags.get("replaced_characters") or 0
    notes += [f"{replaced} tecken gick inte att läsa och ersattes"] if replaced else []
    return notes


def reason_sv(framework: FrameworkSuggestions | Mapping[str, Any]) -> str | None:
    """Why a framework has no confident goal, in plain Swedish for a case officer; None when it has one.

    ``framework`` is a :class:`~goalmatch.model.suggestions.FrameworkSuggestions` or its
    ``to_dict()``. The reason is read from ``reason_code`` and ``reason_figures``; suggestions
    stored before the codes existed have only the English ``reason``, which is read instead.
    The one Swedish wording of the reasons: the command line and the review app both show it.

    >>> figures = {"best_probability": 0.312, "threshold": 0.4}
    >>> print(reason_sv({"abstained": True, "reason_code": "below_probability", "reason_figures": figures}))
    ... # doctest: +NORMALIZE_WHITESPACE
    Texten berör strategin, men inget mål är tillräckligt sannolikt: det mest sannolika har 0,31 och ett
    säkert förslag kräver minst 0,40.
    """
    data: Mapping[str, Any] = framework.to_dict() if hasattr(framework, "to_dict") else framework
    if not data.get("abstained"):
        return None
    code, figures = data.get("reason_code"), dict(data.get("reason_figures") or {})
    if code is None:
        code, figures = _code_of(data.get("reason") or "")
    best, threshold = figures.get("best_probability"), figures.get("threshold")
    if code == "too_short":
        return ("Texten är för kort för en säker bedömning. Målen nedan är bara en gissning; "
                "en längre projektbeskrivning ger säkrare förslag.")
    if code == "off_topic":
        return ("Texten liknar ingen av strategins beskrivningar tillräckligt – den verkar handla om något annat "
                "än strategin. Den liknar strategin mindre än nästan alla verkliga projekt gör.")
    if code == "below_probability" and threshold is not None:
        figure = f"det mest sannolika har {decimal_sv(best)} och " if best is not None else ""
        return (f"Texten berör strategin, men inget mål är tillräckligt sannolikt: {figure}"
                f"ett säkert förslag kräver minst {decimal_sv(threshold)}.")
    if code in ("below_probability", "below_thresholds"):
        return ("Texten berör strategin, men inget mål är tillräckligt sannolikt för ett säkert förslag "
                "(varje mål har sin egen gräns).")
    return "Modellen står inte bakom något av målen för den här texten."


def _code_of(reason: str) -> tuple[str | None, dict[str, float]]:
    """The code and figures of an English ``reason`` written before the codes existed."""
    for code, pattern in _REASON_EN:
        if match := pattern.search(reason):
            return code, {k: float(v) for k, v in match.groupdict().items()}
    return None, {}


def surface_words(text: str, lemmas: Sequence[str]) -> list[str]:
    """Each lemma as the word stands in ``text``: its most frequent form there (``gammal`` → ``äldre``),
    in lower case unless the text capitalises it inside a sentence too (a name); the lemma where the
    text lacks it.

    >>> surface_words("Äldre bor kvar. Fler äldre, bättre service i Soutujärvi.", ["gammal", "soutujärvi", "x"])
    ['äldre', 'Soutujärvi', 'x']
    """
    surface = surface_forms(text)
    return [surface.get(lemma, lemma) for lemma in lemmas]


def surface_forms(text: str) -> dict[str, str]:
    """Every lemma of ``text`` → its form there, as :func:`surface_words` gives it (one pass over the text)."""
    from goalmatch.text.lemmas import lemmatize  # not at import: the lemma table is not needed for --json

    forms: dict[str, Counter[str]] = {}
    names: dict[str, str] = {}  # casefolded → a form written with a capital inside a sentence
    for word in lemmatize(text):
        form = text[word.start:word.end]
        forms.setdefault(word.text, Counter())[form.casefold()] += 1
        if form[:1].isupper() and _before(text, word.start) not in ("", ".", "!", "?", ":", "\n", "»", '"'):
            names.setdefault(form.casefold(), form)
    out = {}
    for lemma, seen in forms.items():
        best = seen.most_common(1)[0][0]
        out[lemma] = names.get(best, best)
    return out


def _before(text: str, index: int) -> str:
    """The last character before ``index`` that is not white space ("" at the start), without copying."""
    i = index - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return text[i] if i >= 0 else ""


def framework_line(summary: Mapping[str, Any]) -> str:
    """One line of ``goalmatch frameworks``, in Swedish: id, number of goals and sub-goals, whether a
    project may serve several goals, name."""
    sub_goals = f" (+{summary['sub_goals']} delmål)" if summary["sub_goals"] else ""
    multi = "  flera mål per projekt" if summary["multi_label"] else ""
    return f"{summary['id']:<26} {summary['goals']:>3} mål{sub_goals}{multi}  {summary['name']}"


# ------------------------------------------------------------------ flat table


def columns(framework_ids: Sequence[str], top_k: int) -> tuple[list[str], dict[str, str]]:
    """The table's columns and their types (``int``, ``float``, ``bool``; text otherwise).

    ``row``, ``id``, ``status``, ``excerpt``, the text flags ``language``, ``repaired``,
    ``too_short``; per framework ``<fid>.abstained``, ``<fid>.confident`` (``;``-separated
    goals), ``<fid>.goal_k``, ``<fid>.name_k``, ``<fid>.p_k`` for k = 1..top_k,
    ``<fid>.evidence`` (the best sentence and the strategy passage it matched) and
    ``<fid>.reason`` (why it abstained).
    """
    names = ["row", "id", "status", "excerpt", "language", "repaired", "too_short"]
    types = {"row": "int", "repaired": "bool", "too_short": "bool"}
    for fid in framework_ids:
        names += [f"{fid}.abstained", f"{fid}.confident"]
        types[f"{fid}.abstained"] = "bool"
        for k in range(1, top_k + 1):
            names += [f"{fid}.goal_{k}", f"{fid}.name_{k}", f"{fid}.p_{k}"]
            types[f"{fid}.p_{k}"] = "float"
        names += [f"{fid}.evidence", f"{fid}.reason"]
    return names, types


def row(number: int, row_id: str, text: str, result: Suggestions, top_k: int) -> dict[str, Any]:
    """The table row of a scored text (:func:`columns`), ``status`` ``scored``."""
    flags = result.flags
    out: dict[str, Any] = {"row": number, "id": row_id, "status": "scored", "excerpt": clip(text, EXCERPT_CHARS),
                           "language": flags["language"],
                           "repaired": bool(flags["repaired"]), "too_short": bool(flags["too_short"])}
    for fw in result.frameworks:
        fid = fw.framework_id
        out[f"{fid}.abstained"] = bool(fw.abstained)
        out[f"{fid}.confident"] = ";".join(s.goal_id for s in fw.confident)
        for k, s in enumerate(fw.suggestions[:top_k], start=1):
            out[f"{fid}.goal_{k}"], out[f"{fid}.name_{k}"] = s.goal_id, s.name
            out[f"{fid}.p_{k}"] = round(float(s.probability), 4)
        out[f"{fid}.evidence"] = _evidence_cell(fw)
        out[f"{fid}.reason"] = fw.reason
    return out


def _evidence_cell(fw: FrameworkSuggestions) -> str | None:
    if not fw.suggestions:
        return None
    ev = fw.suggestions[0].evidence
    parts = []
    if ev.sentences:
        parts.append(f"«{clip(ev.sentences[0].text, EVIDENCE_CHARS)}»")
    if ev.passage is not None:
        parts.append(f"matches {ev.passage.kind} {ev.passage.goal_id} ({ev.passage.similarity:.2f}): "
                     f"{clip(ev.passage.text, EVIDENCE_CHARS)}")
    return " ".join(parts) or None


# ------------------------------------------------------------------ Swedish headers

SWEDISH_BASE = {"row": "Rad", "id": "Id", "status": "Status", "excerpt": "Utdrag ur texten", "language": "Språk",
                "repaired": "Reparerad PDF-text", "too_short": "För kort text"}
"""The headers of the columns every scored table has, for people."""
_SWEDISH_FIELDS = {"abstained": "ingen säker träff", "confident": "säkra mål", "evidence": "belägg",
                   "reason": "varför ingen säker träff"}
_SWEDISH_RANKED = {"goal": "mål {k} – id", "name": "mål {k}", "p": "mål {k} – sannolikhet"}
_LABEL = re.compile(r"\(([^()]{1,12})\)\s*$")
_SWEDISH_HEADER = re.compile(
    r"^(?P<fw>.+): (?:mål (?P<k>[1-9][0-9]*)(?P<kind> – id| – sannolikhet)?|(?P<field>"
    + "|".join(map(re.escape, _SWEDISH_FIELDS.values())) + "))$")


def framework_label(name: str) -> str:
    """A framework's short label for a column header: the abbreviation its name ends with in brackets
    (``… Norrbotten 2030 (RUS)`` → ``RUS``), else the name before a dash (``Agenda 2030 – de globala
    målen …`` → ``Agenda 2030``), else the name."""
    if match := _LABEL.search(name):
        return match.group(1).strip()
    return name.split(" – ", 1)[0].strip() or name


def swedish_headers(frameworks: Mapping[str, str], top_k: int) -> dict[str, str]:
    """Column key (:func:`columns`) → Swedish header, ``frameworks`` mapping framework ids to their names.

    Frameworks whose short labels (:func:`framework_label`) would be the same, or hold a ``:``,
    are labelled by their ids, so every header is distinct and :func:`column_keys` reads it back.
    """
    labels = {fid: framework_label(name) for fid, name in frameworks.items()}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label.casefold()] = counts.get(label.casefold(), 0) + 1
    headers = dict(SWEDISH_BASE)
    for fid, label in labels.items():
        if counts[label.casefold()] > 1 or ":" in label or not label:
            label = fid
        for key, text in _SWEDISH_FIELDS.items():
            headers[f"{fid}.{key}"] = f"{label}: {text}"
        for k in range(1, top_k + 1):
            for key, text in _SWEDISH_RANKED.items():
                headers[f"{fid}.{key}_{k}"] = f"{label}: {text.format(k=k)}"
    return headers


def column_keys(headers: Sequence[str]) -> dict[str, str]:
    """Swedish header → column key, for the headers among ``headers`` that :func:`swedish_headers` writes;
    the framework part of a key is the header's label (``RUS.p_1``), not the framework id."""
    base = {v: k for k, v in SWEDISH_BASE.items()}
    ranked = {" – id": "goal", "": "name", " – sannolikhet": "p"}
    fields = {v: k for k, v in _SWEDISH_FIELDS.items()}
    keys = {}
    for header in headers:
        if header in base:
            keys[header] = base[header]
        elif match := _SWEDISH_HEADER.match(header):
            if match.group("field"):
                keys[header] = f"{match.group('fw')}.{fields[match.group('field')]}"
            else:
                keys[header] = f"{match.group('fw')}.{ranked[match.group('kind') or '']}_{match.group('k')}"
    return keys
