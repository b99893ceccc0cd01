"""The version tree of a chat, as plain data: which messages a branch holds and what choosing a version changes.

No database here: ``chats.selectors`` loads a chat's nodes (one query, a few columns per message; chats are
small) and ``chats.services`` writes what these functions decide. The rules are those of ``Message``: a user
message hangs off the previous user message of its branch, an answer off its user message; among siblings one
is ``selected``; the current branch starts at the first turn and follows each turn's selected version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

USER = "user"
ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class Node:
    id: UUID
    role: str
    position: int
    version: int
    parent_id: UUID | None
    reply_to_id: UUID | None
    selected: bool
    is_current: bool

    @property
    def family(self) -> tuple[str, int, UUID | None, UUID | None]:
        """What its siblings share (see ``Message.siblings``)."""
        return self.role, self.position, self.parent_id, self.reply_to_id


@dataclass(frozen=True)
class Selection:
    """The flags to change so that a chosen version is shown with its branch."""

    select: frozenset[UUID]
    deselect: frozenset[UUID]
    show: frozenset[UUID]  # is_current becomes true
    hide: frozenset[UUID]  # is_current becomes false

    @property
    def empty(self) -> bool:
        return not (self.select or self.deselect or self.show or self.hide)


class Tree:
    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = {node.id: node for node in nodes}
        self.families: dict[tuple[str, int, UUID | None, UUID | None], list[Node]] = defaultdict(list)
        self.users_after: dict[UUID | None, list[Node]] = defaultdict(list)  # user messages by parent
        self.answers_to: dict[UUID, list[Node]] = defaultdict(list)
        for node in sorted(self.nodes.values(), key=lambda n: (n.position, n.version)):
            self.families[node.family].append(node)
            if node.role == USER:
                self.users_after[node.parent_id].append(node)
            elif node.reply_to_id is not None:
                self.answers_to[node.reply_to_id].append(node)

    def chain(self, user_id: UUID | None) -> list[Node]:
        """The user messages from the first turn down to ``user_id``, oldest first."""
        chain: list[Node] = []
        while user_id is not None and user_id in self.nodes:
            chain.append(self.nodes[user_id])
            user_id = self.nodes[user_id].parent_id
        return chain[::-1]

    def selected_answer(self, user_id: UUID, selected: set[UUID]) -> Node | None:
        return next((answer for answer in self.answers_to[user_id] if answer.id in selected), None)

    def branch(self, selected: set[UUID]) -> set[UUID]:
        """The messages of the branch that follows the ``selected`` versions from the first turn."""
        shown: set[UUID] = set()
        parent: UUID | None = None
        while True:
            user = next((node for node in self.users_after[parent] if node.id in selected), None)
            if user is None or user.id in shown:
                return shown
            shown.add(user.id)
            answer = self.selected_answer(user.id, selected)
            if answer is not None:
                shown.add(answer.id)
            parent = user.id

    def selection(self, target: UUID) -> Selection:
        """Choose ``target`` among its siblings, and every message above it among theirs, so that its branch
        is shown; below it, the versions chosen when it was last shown come back."""
        before = {node.id for node in self.nodes.values() if node.selected}
        after = set(before)
        node = self.nodes[target]
        path = [node, *self.chain(node.reply_to_id if node.role == ASSISTANT else node.parent_id)]
        for chosen in path:
            after -= {sibling.id for sibling in self.families[chosen.family]}
            after.add(chosen.id)
        shown_before = {node.id for node in self.nodes.values() if node.is_current}
        shown = self.branch(after)
        return Selection(
            select=frozenset(after - before),
            deselect=frozenset(before - after),
            show=frozenset(shown - shown_before),
            hide=frozenset(shown_before - shown),
        )

    def history(self, last_user_id: UUID | None) -> list[UUID]:
        """The ids of the branch up to and including the user message ``last_user_id`` and its selected answer:
        what a model is shown before the turn that follows it."""
        selected = {node.id for node in self.nodes.values() if node.selected}
        ids: list[UUID] = []
        for user in self.chain(last_user_id):
            ids.append(user.id)
            answer = self.selected_answer(user.id, selected)
            if answer is not None:
                ids.append(answer.id)
        return ids
