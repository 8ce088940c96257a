"""Deleting a person, and with `erase` every piece of their biometric data (the right to be forgotten)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from amyplant_store.events import erase_person_events
from amyplant_store.people import delete_person, get_person
from amyplant_store.visitors import delete_person_visitors


@dataclass(frozen=True)
class Deletion:
    """What deleting a person removed."""

    person_id: int
    erased: bool
    events_erased: int
    visitors_deleted: int


def delete_or_erase_person(session: Session, *, person_id: int, erase: bool) -> Deletion:
    """Delete the person with their samples and negatives. With `erase`, also the snapshots, crops and
    descriptors of every event that names them, and the visitors that became them; the events stay, as
    anonymous records of a sighting at that time and camera. Without it, events keep their snapshots and
    become unknown sightings."""
    get_person(session, person_id=person_id, lock=True)
    events = erase_person_events(session, person_id=person_id) if erase else 0
    visitors = delete_person_visitors(session, person_id=person_id) if erase else 0
    delete_person(session, person_id=person_id)
    return Deletion(person_id=person_id, erased=erase, events_erased=events, visitors_deleted=visitors)
