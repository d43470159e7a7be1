"""Per-type facts from the universe, memoised: a kill names few types, and they repeat a lot.

Everything here is a function of the (immutable) universe and a type id, so memoising cannot
change an answer; it only keeps the per-kill cost to dictionary hits. Only known types are
kept, so the memos are bounded by the static data however odd the input.
"""

from __future__ import annotations

from typing import Final

from engine.enrich.tags import classify
from engine.enrich.universe import Universe
from engine.model import TypeInfo

__all__ = ["FITTED_FLAGS", "ModuleGrade", "TypeCatalog"]

# ESI inventory flags of fitting slots: LoSlot0-7, MedSlot0-7, HiSlot0-7, RigSlot0-7,
# SubSystemSlot0-7 and the Upwell ServiceSlot0-7. A slot's loaded charge shares its flag.
FITTED_FLAGS: Final = frozenset(
    (*range(11, 35), *range(92, 100), *range(125, 133), *range(164, 172))
)

# Categories whose types are fitted modules: Module 7, Subsystem 32, Structure Module 66.
# (Charges, category 8, sit in the same slots and are not modules.)
_MODULE_CATEGORIES: Final = frozenset({7, 32, 66})

ModuleGrade = str  # a ModuleCounts field name: tech1, tech2, faction, deadspace, officer, other

# SDE meta group id -> ModuleCounts field. Storyline items count as faction (both are the
# "navy/pirate" tier between Tech II and deadspace); the Structure * groups count as their
# ship equivalents. Tech III, Abyssal (mutated), Premium and Limited Time count as other.
_GRADES: Final[dict[int, ModuleGrade]] = {
    1: "tech1",
    54: "tech1",  # Structure Tech I
    2: "tech2",
    53: "tech2",  # Structure Tech II
    3: "faction",  # Storyline
    4: "faction",
    52: "faction",  # Structure Faction
    6: "deadspace",
    5: "officer",
}


class TypeCatalog:
    """TypeInfo, victim classification and module grade per type id, from one universe."""

    __slots__ = ("_classes", "_grades", "_infos", "_universe")

    def __init__(self, universe: Universe) -> None:
        self._universe = universe
        self._infos: dict[int, TypeInfo] = {}
        self._classes: dict[int, tuple[frozenset[str], str]] = {}
        self._grades: dict[int, ModuleGrade | None] = {}

    @property
    def universe(self) -> Universe:
        return self._universe

    def info(self, type_id: int) -> TypeInfo:
        """The type with its group and category names; a placeholder for an unknown id."""
        found = self._infos.get(type_id)
        if found is not None:
            return found
        u = self._universe
        item_type = u.type(type_id)
        if item_type is None:
            return TypeInfo(type_id, f"Type {type_id}", None, None, None, None)
        group = u.group(item_type.group_id)
        category = u.category(item_type.category_id)
        info = TypeInfo(
            type_id,
            item_type.name,
            item_type.group_id,
            group.name if group else None,
            item_type.category_id,
            category.name if category else None,
        )
        self._infos[type_id] = info
        return info

    def classify(self, type_id: int) -> tuple[frozenset[str], str]:
        """Victim tags and one-word class (see ``engine.enrich.tags``)."""
        found = self._classes.get(type_id)
        if found is not None:
            return found
        result = classify(self.info(type_id))
        if self._universe.type(type_id) is not None:
            self._classes[type_id] = result
        return result

    def module_grade(self, type_id: int) -> ModuleGrade | None:
        """The ModuleCounts field a fitted item of this type counts in; None if not a module.

        A module with no meta group counts as Tech I: the SDE leaves the group blank on about a
        hundred base items (Large Micro Jump Drive, Civilian modules, doomsdays...), nearly all
        of them Tech I in all but name.
        """
        if type_id in self._grades:
            return self._grades[type_id]
        item_type = self._universe.type(type_id)
        if item_type is None:
            return None
        grade: ModuleGrade | None = None
        if item_type.category_id in _MODULE_CATEGORIES:
            meta = item_type.meta_group_id
            grade = "tech1" if meta is None else _GRADES.get(meta, "other")
        self._grades[type_id] = grade
        return grade
