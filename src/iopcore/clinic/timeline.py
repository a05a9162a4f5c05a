"""One call per participant view: everything scheduled, due, decided and planned for one
participant, in local-day order (see :func:`iopcore.core.timeline.build_timeline`)."""

from __future__ import annotations

import contextlib
from datetime import date

from iopcore.clinic.services import records_of
from iopcore.core.aftercare import AftercarePlan
from iopcore.core.course import held_course
from iopcore.core.decisions import Decision
from iopcore.core.errors import StorageError
from iopcore.core.measures import Due
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence
from iopcore.core.stepdown import StepDownPlan, position, step_down_plan
from iopcore.core.timeline import Timeline, build_timeline
from iopcore.io.storage import Store


def timeline_for(
    store: Store,
    participant_id: str,
    *,
    as_of: date,
    staff_view: bool = True,
    purpose: str = "treatment",
) -> Timeline:
    """The participant's whole timeline as of a date: track sessions (individual and family
    ones included) as their history went and the current phase held until a decision,
    screens drawn and ordered (staff view only), check-ins and assessments due, decisions,
    the step-down plan (later stages marked projected) and aftercare.

    The read is audited (the store's actor, ``purpose``, the time; never the data).
    """
    store.participant(participant_id)  # a StorageError naming the store if unknown
    programs: dict[str, Program] = {}
    sessions: list[Occurrence] = []
    decisions: list[Decision] = []
    aftercare: AftercarePlan | None = None
    for enrollment in store.enrollments(participant_id):
        if enrollment.program not in programs:
            programs[enrollment.program] = store.program(enrollment.program)
        history = store.history(enrollment.id)
        sessions += held_course(
            programs[enrollment.program], enrollment, history, as_of=max(as_of, enrollment.start)
        )
        decisions += store.decisions(enrollment.id)
        with contextlib.suppress(StorageError):  # no aftercare plan for this enrollment
            aftercare = store.aftercare(enrollment.id)
    records = records_of(store, participant_id, as_of, programs)
    dues: tuple[Due, ...] = ()
    plan: StepDownPlan | None = None
    if records is not None:
        dues = records.dues()
        where = position(records, records.history)
        plan = step_down_plan(records.program, where, as_of=as_of)
    timeline = build_timeline(
        participant_id,
        sessions,
        dues=dues,
        draws=store.draws(participant_id) if staff_view else (),
        orders=store.screening_orders(participant_id) if staff_view else (),
        plan=plan,
        aftercare=aftercare,
        decisions=decisions,
        staff_view=staff_view,
    )
    store.record_reads("timeline", [participant_id], purpose=purpose)
    return timeline
