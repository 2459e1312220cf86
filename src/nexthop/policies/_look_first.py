"""Look first: after a call fails because what it names does not exist, the model is told to look around.

Read step by step in the task benchmark (nexthop at 31c02b9, all 22 tools), a small model
meets "not found" with a guess: it creates what was missing (a ``city`` table, when
``cities`` held the rows; a new ``shopping_list.md``, when the list was
``shopping_list.txt``), or tries the same name through a sibling tool, or writes made-up
content. In 4 of the 7 failed recovery runs a tool on offer would have shown the right
name (``list_tables``, ``list_directory``, ``describe_table``) and was never called.

This policy reads each failure with `names_missing` (``ENOENT``, ``no such table``,
``not found``, ``does not exist``, ``could not find``: the words servers use, not one
server's) and answers the step with a hint: look at what does exist before trying
again or creating anything, naming up to three of the tools on offer that list,
describe or search (read-only tools of the failing tool's server first). Each distinct
failure is hinted once; the model then decides: a folder that really is missing is
still created, one step later.

Off by default (``look_first: true`` or ``--look-first`` turns it on): measured on the
task benchmark it did not raise success. At 05be724 (all 44 tasks) it helped where it was
meant to (``rc_wrong_file_name``: listed, shown ``meeting_notes.txt``, used it) and hurt
elsewhere (``ms_merge_parts``: a read of the output file not yet written drew the hint,
and the model created a folder instead of writing); recovery 4/10 and multi-step 2/12
against 3/10 and 3/12 without it at 31c02b9. A more imperative wording at 1481c36 was
copied into the model's own remaining work and ran to listing loops (multi-step 1/12,
recovery 3/10). With the embedded model's worked run (``local?exemplar=on``), which
already lists a folder after "not found", it gained ``rc_wrong_file_name`` and lost
nothing (23/44 against 22/44 at db07e5d). With an API model that can take advice it may
do better; measure first.

It sees the tools before narrowing does (pinning's and the skips' withholding aside),
and narrowing offers at the next step every tool a hint names, so the model can take
the advice even when the task alone did not bring those tools in.

Looking is only half of it: at dc93858 the model listed the folder, was shown
``meeting_notes.txt``, and asked for ``meeting-notes.txt`` again. So the policy keeps the
names the call used that its error repeats (``meeting-notes.txt``, ``city``, ``email``)
and the names that the run's listing and describing tools have shown. When a shown name
is near a missing one (difflib's ratio at least 0.75, or one contains the other), the
hint says so, like a shell's "did you mean": ``meeting-notes.txt does not exist (step 1),
but step 2 shows meeting_notes.txt: if that is what the task means, use
meeting_notes.txt.`` At the failure itself, when a listing already showed the near name,
that replaces the advice to look. Names from other results (a file's content) are not
used: any text holds words near any name.

Each thing missing is hinted once, whichever tool meets it: at dc93858 the model met a
missing ``backup`` folder with ``list_directory``, then ``list_directory_with_sizes``,
then ``directory_tree``, each time told again to look. A listing or describing tool that
itself fails "not found" has looked, so the hint then says the thing does not exist:
create it if the task needs it.

Records: ``hint`` (``{"tool", "named"}``) for the advice to look, ``confirmed``
(``{"tool"}``) when a looking tool found nothing, ``near`` (``{"missing", "near",
"seen_at"}``) for a near match, on the step they answer.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from nexthop._toolset import FINISH_TOOL, ToolDef, is_write, name_words
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import GO_ON, RunPolicy, RunView, ToolOffer, Verdict
from nexthop.policies._transient import argument_strings, names_missing

__all__ = ["LookFirst"]

# Measured: "list or describe where it should be" (1481c36) was copied into the model's
# remaining_work and the run went on listing; this wording was not.
_HINT = (
    "{tool} failed because something it names does not exist. Before you try again or create it, look at what "
    "does exist{named}: the task may name it slightly differently, and the exact name you find is the one to use."
)
_CONFIRMED = (
    "{tool} looked and found nothing there: it does not exist. If the task needs it, create it; if not, go on "
    "without it or call finish and say what is missing."
)
_NEAR = (
    "{missing} does not exist (step {step}), but step {seen} shows {near}: if that is what the task means, use {near}."
)
_LOOK_WORDS = frozenset({"list", "describe", "search", "find", "tree", "schema", "info", "tables"})
_MAX_NAMED = 3
_Said = tuple[str, PolicyRecord]  # a hint and its record
# A name as servers print one: a file, a folder, a table, a column (split at "/", quotes, commas).
_NAME = re.compile(r"[A-Za-z0-9][\w.\-]*")
_MIN_NAME = 3
# difflib's ratio: city/cities 0.8, shopping_list.md/.txt 0.85, meeting-notes/meeting_notes 0.94; below
# 0.75 unrelated short names start to pair up.
_NEAR_RATIO = 0.75


class LookFirst(RunPolicy):
    """Hints to look at what exists after a "not found", then names a near match once seen; see the module docstring."""

    name = "look_first"

    def __init__(self) -> None:
        self._offered: tuple[ToolDef, ...] = ()
        self._hinted: set[str] = set()  # what was missing (names, else the error), once hinted
        self._seen: dict[str, int] = {}  # name -> step a listing or description first showed it
        self._missing: dict[str, int] = {}  # name -> step of the failure that named it, until a near match is seen
        self._nearest: dict[str, str | None] = {}  # `_near`'s answers this step: what listings showed is fixed by then

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        """Offer ``tools`` unchanged; note them, for the hint to name tools the run may call."""
        self._offered = tuple(tools)
        return ToolOffer(tools=self._offered)

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        step = view.step_index
        pairs = [(c, o) for c, o in zip(calls, observations, strict=False) if c.name != FINISH_TOOL.name]
        lookers = {t.name for t in self._offered if _looks(t)}
        for call, obs in pairs:
            if call.name in lookers and not obs.failed:
                for name in _names(obs.content):
                    self._seen.setdefault(name, step)
        self._nearest.clear()
        said = [
            self._missing_answer(call, obs, call.name in lookers, step) for call, obs in pairs if names_missing(obs)
        ]
        said += self._near_matches()
        hints = [hint for hint, _ in filter(None, said)]
        if not hints:
            return GO_ON
        records = tuple(record for _, record in filter(None, said))
        detail = "a call named something that does not exist"
        return Verdict(kind="hint", policy=self.name, detail=detail, hint=" ".join(hints), records=records)

    def _missing_answer(self, call: ToolCall, obs: Observation, looking: bool, step: int) -> _Said | None:
        """What to say about a "not found": look first, or (after looking) that it does not exist; once per thing."""
        # A path's last part only: its folders ("tmp", "work") exist, or the error is about the last part.
        used = " ".join(text.rsplit("/", 1)[-1] for text in argument_strings(call.arguments))
        missing = (_names(used) & _names(obs.content)) - self._seen.keys()
        # Said once per thing missing, whichever tool met it (read_file, then read_text_file ...).
        key = " ".join(sorted(missing)) or obs.content
        if key in self._hinted:
            return None
        self._hinted.add(key)
        for name in sorted(missing):
            self._missing.setdefault(name, step)
        if looking:  # it was already looking, and found nothing: looking again will not help
            return _CONFIRMED.format(tool=call.name), PolicyRecord(
                policy=self.name, event="confirmed", data={"tool": call.name}
            )
        if any(self._near(name) for name in missing):  # a near match says more (`_near_matches`)
            return None
        named = self._lookers(call.name)
        hint = _HINT.format(tool=call.name, named=f" (with {_or(named)})" if named else "")
        return hint, PolicyRecord(policy=self.name, event="hint", data={"tool": call.name, "named": named})

    def _near_matches(self) -> list[_Said | None]:
        """A hint for each missing name a listing has now shown a near match of (each said once)."""
        said: list[_Said | None] = []
        for name, failed_at in list(self._missing.items()):
            near = self._near(name)
            if near is not None:
                del self._missing[name]
                data = {"missing": name, "near": near, "seen_at": self._seen[near]}
                hint = _NEAR.format(missing=name, step=failed_at, seen=self._seen[near], near=near)
                said.append((hint, PolicyRecord(policy=self.name, event="near", data=data)))
        return said

    def _near(self, missing: str) -> str | None:
        """The name a listing showed that is closest to ``missing``: near-identical, or containing it (or it them)."""
        if missing not in self._nearest:
            self._nearest[missing] = self._nearest_now(missing)
        return self._nearest[missing]

    def _nearest_now(self, missing: str) -> str | None:
        known = [name for name in self._seen if name != missing]
        close = difflib.get_close_matches(missing, known, n=1, cutoff=_NEAR_RATIO)
        if close:
            return close[0]
        if len(missing) < 4:
            return None
        within = [name for name in known if len(name) >= 4 and (missing in name or name in missing)]
        return min(within, key=lambda name: abs(len(name) - len(missing)), default=None)

    def _lookers(self, failed: str) -> list[str]:
        """Up to three read-only tools on offer that list, describe or search; the failed tool's server first."""
        server = next((t.server for t in self._offered if t.name == failed), None)
        lookers = [t for t in self._offered if t.name != failed and _looks(t)]
        lookers.sort(key=lambda t: t.server != server)  # stable: the servers' own order otherwise
        return [t.name for t in lookers[:_MAX_NAMED]]


def _names(text: str) -> set[str]:
    return {name for name in (m.rstrip(".-") for m in _NAME.findall(text)) if len(name) >= _MIN_NAME}


def _looks(tool: ToolDef) -> bool:
    return not is_write(tool) and bool(name_words(tool) & _LOOK_WORDS)


def _or(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
