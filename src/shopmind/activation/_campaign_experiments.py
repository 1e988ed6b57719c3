"""Experiments on a campaign's messages and send times: when a campaign is scheduled, the running
experiments whose decision point names it (by id or name) split its *treated* members between their
variants; the campaign's own holdout stays outside every experiment (it gets nothing, whatever the
variant hash says), so the campaign's uplift and the experiment's comparison stay apart.

- a ``campaign_message`` experiment (on the step it names, the first when none): the variant's
  ``subject`` and ``text`` in the campaign's language replace the step's on every channel. A
  variant that replaces the text also drops the step's e-mail HTML (else the HTML body would show
  the control's words to the variant's customers); a variant giving only a subject keeps it.
- a ``send_time`` experiment: the variant's ``send_time`` sets the hour, ``best_hour`` (the
  customer's habits' hour, else the campaign's) or ``HH:00``; the plan's night rule, caps and end
  apply to the hour the variant chose.

Assignment is the experiments' own (``experiments.Assigner``: layer, traffic, shares, a keyed
BLAKE2b hash of the profile id), under :func:`experiment_key`, a key derived from the workspace's
secret as the holdout's is, so it is the same on every run, every server and in the results. It
is computed here per member (about a microsecond each) and handed to the plan's query as a table.
The experiment's ``target`` (saved or RFM segments) narrows who may enter.

One experiment per message: when two running experiments claim the same member (two tests on one
campaign outside a common layer), the one started first keeps the member (ties: by id); the later
one's members are then a random part of the rest, still split by its own hash. Give both one
``layer`` to split the campaign's members between them explicitly.

A message that is queued is an exposure (``store.record_exposures``: unit = the profile id, at the
message's due time, source = its message key; once per unit and experiment, so a journey's later
steps expose no one again); the outbox row carries ``experiment_id`` and ``variant``. A treated
member the plan excludes (no consent, caps) gets no message and is no exposure. Scheduling splits
a campaign triggered ``now``; the journeys' turns split the members a segment entry or an event
brings in, and those whose later step falls due (``activation._journey.run_journey``).

A Thompson-sampling experiment (``policy: {kind: thompson}``) does not use the variant hash: its
members (target, layer and traffic as above) draw their variant from the policy's chances as
they are (:class:`BanditDraw`), the propensity kept with the exposure, or are held for the
campaign's next wave (``activation._campaign_waves``).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.activation._campaign import Campaign, Step
from shopmind.activation._template import Template, check_template
from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments import (
    Assigner,
    CampaignMessagePoint,
    Experiment,
    SendTimePoint,
    TrafficPolicy,
    Variant,
    parse_experiment,
    unit_point,
)
from shopmind.store import OutboxRow, Store, list_experiments, record_exposures

#: the label the experiments' key is derived under (apart from the holdout's and the links')
EXPERIMENT_KEY_LABEL = b"shopmind experiments v1"
#: what each treated member's variant is, for the plan's query: the experiment and variant, and
#: the send hour a send-time variant sets (``best_hour`` true: the customer's own hour; else
#: ``hour``); both null for a message variant
ASSIGNMENT_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("experiment_id", pa.string()),
        ("variant", pa.string()),
        ("best_hour", pa.bool_()),
        ("hour", pa.int32()),
        # a bandit's member: the chance its policy gave the variant (null for fixed shares)
        ("propensity", pa.float64()),
    ]
)


def experiment_key(workspace_key: bytes) -> str:
    """The experiments' assignment key (hex), derived from the workspace's secret as the holdout's
    key is, under a label of its own: the two draws are independent, and neither can be worked
    out from a profile id."""
    return hmac.new(workspace_key, EXPERIMENT_KEY_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CampaignExperiment:
    """A running experiment on one campaign step, ready to assign."""

    experiment: Experiment
    started_at: datetime | None
    eligible: frozenset[str] | None  # the target's members; None: everyone

    @property
    def id(self) -> str:
        return self.experiment.id

    @property
    def kind(self) -> str:
        return "send_time" if isinstance(self.experiment.point, SendTimePoint) else "campaign_message"

    @property
    def bandit(self) -> bool:
        """Whether a policy that learns (Thompson sampling) chooses the variants, not the hash."""
        return self.experiment.policy.kind != "fixed"


def names_campaign(point: object, campaign_id: str, name: str) -> bool:
    return isinstance(point, CampaignMessagePoint | SendTimePoint) and point.campaign in (campaign_id, name)


def campaign_experiments(
    store: Store, campaign_id: str, campaign: Campaign, step: str | None = None
) -> list[CampaignExperiment]:
    """The running experiments on ``step`` (default: the first) of the campaign, the one started
    first first (ties: by id). A message experiment naming another step is left out; a send-time
    experiment applies to every step planned here."""
    step_id = step if step is not None else campaign.steps[0].id
    first = campaign.steps[0].id
    found = []
    for stored in list_experiments(store, "running"):
        experiment = parse_experiment(stored.definition)
        point = experiment.point
        if not names_campaign(point, campaign_id, campaign.name):
            continue
        if isinstance(point, CampaignMessagePoint) and point.step not in (
            None,
            *(s.id for s in campaign.steps),
        ):
            raise InvalidInputError(
                [
                    FieldError(
                        f"experiments.{experiment.id}.point.step",
                        f"{point.step!r} is not a step of the campaign {campaign.name!r}",
                    )
                ]
            )
        if isinstance(point, CampaignMessagePoint) and (point.step or first) != step_id:
            continue
        if experiment.policy.kind not in ("fixed", "thompson"):
            # a contextual bandit needs a visitor's context: campaigns learn without one
            raise InvalidInputError(
                [
                    FieldError(
                        f"experiments.{experiment.id}.policy.kind",
                        "a campaign's messages are split by fixed shares or Thompson sampling "
                        "(kind: fixed or thompson)",
                    )
                ]
            )
        if isinstance(point, CampaignMessagePoint):
            check_variants(experiment, campaign, campaign.step(step_id))
        found.append(CampaignExperiment(experiment, stored.started_at, target_members(store, experiment)))
    # started first first; a start time unknown sorts last
    return sorted(found, key=lambda e: (e.started_at is None, e.started_at or datetime.min, e.id))


def target_members(store: Store, experiment: Experiment) -> frozenset[str] | None:
    target = experiment.target
    if target is None or not (target.segments or target.rfm):
        return None
    # imported here: the audiences package loads the segment catalogue, which only targeting needs
    from shopmind.audiences import segment_audience

    members: set[str] = set()
    for segment in [*target.segments, *target.rfm]:
        members.update(segment_audience(store, segment).profile_ids.to_pylist())
    return frozenset(members)


def assign_members(
    experiments: Sequence[CampaignExperiment],
    key: str,
    profile_ids: Iterable[str],
    policies: Mapping[str, TrafficPolicy] | None = None,
) -> pa.Table:
    """Each member's variant (``ASSIGNMENT_SCHEMA``; members in no experiment are absent): the
    first experiment (in the order given) whose target, layer and traffic take the member.

    A bandit's member (Thompson sampling) gets the variant its policy draws now (``policies``:
    experiment id → the policy as of now; a keyed draw per member, see :func:`bandit_draw`) with
    its propensity; without the experiment's policy the member is *held* (variant null): the
    campaign's waves send it later (``activation._campaign_waves``). Either way the member is the
    bandit's, and no later experiment takes it."""
    if not experiments:
        return ASSIGNMENT_SCHEMA.empty_table()
    given = policies or {}
    # per experiment, built once: its assigner, each variant's send hour (None: a message test)
    # and, for a bandit whose policy is given, its draw
    prepared = [
        (
            e.id,
            e.eligible,
            Assigner(e.experiment, key),
            {v.name: _send_hour(v) for v in e.experiment.variants} if e.kind == "send_time" else None,
            e.bandit,
            BanditDraw(e.experiment, given[e.id], key) if e.bandit and e.id in given else None,
        )
        for e in experiments
    ]
    no_hour = (None, None)
    ids: list[str] = []
    experiment_ids: list[str] = []
    variants: list[str | None] = []
    best: list[bool | None] = []
    hours: list[int | None] = []
    propensities: list[float | None] = []
    for profile_id in dict.fromkeys(profile_ids):
        if profile_id is None:
            continue
        for experiment_id, eligible, assign, send_hours, bandit, draw in prepared:
            if eligible is not None and profile_id not in eligible:
                continue
            name: str | None
            propensity: float | None = None
            if bandit:
                if not assign.in_experiment(profile_id):
                    continue
                name, propensity = draw(profile_id) if draw is not None else (None, None)
            else:
                name = assign(profile_id)
                if name is None:
                    continue
            own, hour = send_hours[name] if send_hours is not None and name is not None else no_hour
            ids.append(profile_id)
            experiment_ids.append(experiment_id)
            variants.append(name)
            best.append(own)
            hours.append(hour)
            propensities.append(propensity)
            break
    rows = {
        "profile_id": ids,
        "experiment_id": experiment_ids,
        "variant": variants,
        "best_hour": best,
        "hour": hours,
        "propensity": propensities,
    }
    return pa.table(rows, schema=ASSIGNMENT_SCHEMA)


class BanditDraw:
    """A bandit's choice for one member: the policy's current chances, and a uniform point keyed
    by the member (the experiment's salt and the policy's batch number), so the same member
    draws the same until the policy learns, whatever order members come in or how often a
    turn is repeated; the propensity is the chance of the variant drawn."""

    def __init__(self, experiment: Experiment, policy: TrafficPolicy, key: str) -> None:
        chances = policy.probabilities()
        self.names = list(chances)
        self.chances = [float(chances[n]) for n in self.names]
        self.cumulative = list(itertools.accumulate(self.chances))
        batches = int(policy.state().get("batches") or 0)
        self.salt = f"{experiment.salt or experiment.id}:bandit:{batches}"
        self.key = key

    def __call__(self, unit: str) -> tuple[str, float]:
        u = unit_point(self.key, self.salt, unit) * self.cumulative[-1]
        i = min(bisect.bisect_right(self.cumulative, u), len(self.names) - 1)
        while self.chances[i] <= 0.0:  # a variant with no chance is never drawn (rounding at an edge)
            i = (i + 1) % len(self.names)
        return self.names[i], self.chances[i]


def _send_hour(variant: Variant) -> tuple[bool, int | None]:
    if variant.send_time == "best_hour" or variant.send_time is None:
        return True, None
    return False, int(variant.send_time.split(":")[0])


def variant_content(
    campaign: Campaign, step: Step, channel: str, variant: Variant
) -> tuple[str, str | None, str | None]:
    """The (text, subject, html) of ``step``'s message on ``channel`` for a message variant."""
    content = step.messages[channel]
    text, subject, html = content.text, content.subject, content.html
    if variant.text and campaign.locale in variant.text:
        text, html = variant.text[campaign.locale], None
    if variant.subject and campaign.locale in variant.subject:
        subject = variant.subject[campaign.locale]
    return text, subject, html


def variant_template(campaign: Campaign, step: Step, channel: str, variant: Variant) -> Template:
    content = step.messages[channel]
    text, subject, html = variant_content(campaign, step, channel, variant)
    return Template(
        text=text,
        subject=subject,
        html=html,
        template_code=content.template_code,
        image_url=content.image_url,
        locale=campaign.locale,
    )


def check_variants(experiment: Experiment, campaign: Campaign, step: Step) -> None:
    """Refuse a message experiment whose variants cannot be sent in this campaign: a text or
    subject missing in the campaign's language, a template the step's channels cannot use.
    InvalidInputError names the experiment's field (``variants[1].text.ko``)."""
    errors: list[FieldError] = []
    for i, variant in enumerate(experiment.variants):
        where = f"experiments.{experiment.id}.variants[{i}]"
        for name in ("text", "subject"):
            given = getattr(variant, name)
            if given and campaign.locale not in given:
                errors.append(
                    FieldError(
                        f"{where}.{name}.{campaign.locale}",
                        f"the campaign is in {campaign.locale!r}: give the variant's {name} in it",
                    )
                )
        if errors:
            continue
        for channel in step.messages:
            template = variant_template(campaign, step, channel, variant)
            errors.extend(check_template(template, channel, step.kind, f"{where}.{channel}"))
    if errors:
        raise InvalidInputError(errors)


def treated_assignments(assignments: pa.Table, plan_table: pa.Table) -> pa.Table:
    """The assignments of the plan's treated members only (the holdout is in no experiment)."""
    treated = plan_table.filter(pc.equal(plan_table.column("arm"), "treated")).column("profile_id")
    return assignments.filter(pc.is_in(assignments.column("profile_id"), value_set=treated.combine_chunks()))


def chosen_assignments(assignments: pa.Table) -> pa.Table:
    """The assignments with a variant (a bandit's held members have none yet)."""
    return assignments.filter(pc.is_valid(assignments.column("variant")))


def exposures_of(
    rows: Sequence[OutboxRow], assignments: Mapping[str, tuple[str, str, float | None]]
) -> list[dict[str, Any]]:
    """The exposures the queued ``rows`` make (``store.EXPOSURE_SCHEMA``), for the members in an
    experiment (``assignments``: profile id → (experiment id, variant, propensity: a bandit's
    chance of the variant, None for fixed shares))."""
    out = []
    for row in rows:
        found = assignments.get(row.profile_id)
        if found is None:
            continue
        out.append(
            {
                "experiment_id": found[0],
                "unit_id": row.profile_id,
                "variant": found[1],
                "exposed_at": row.due_at,
                "propensity": found[2],
                "source": row.message_key,
            }
        )
    return out


def record_campaign_exposures(
    store: Store, campaign_id: str, step: str, rows: Sequence[OutboxRow], assignments: pa.Table
) -> int:
    """Mark the campaign step's outbox rows with their experiment and variant and record the
    exposures (once per unit and experiment: a journey's later step exposes no one again); how
    many exposures were new (a second call adds none)."""
    assignments = chosen_assignments(assignments)
    if assignments.num_rows == 0 or not rows:
        return 0
    pairs = assignments.select(["profile_id", "experiment_id", "variant"])
    by_member = {
        p: (e, v, w)
        for p, e, v, w in zip(
            assignments.column("profile_id").to_pylist(),
            assignments.column("experiment_id").to_pylist(),
            assignments.column("variant").to_pylist(),
            assignments.column("propensity").to_pylist(),
            strict=True,
        )
    }
    with store.atomically(), store.staged("_campaign_variants", pairs) as src:
        store.sql(
            f"""UPDATE outbox SET experiment_id = a.experiment_id, variant = a.variant
            FROM {src} a
            WHERE outbox.campaign_id = ? AND outbox.step = ? AND outbox.profile_id = a.profile_id
              AND outbox.experiment_id IS NULL""",
            [campaign_id, step],
        )
        return record_exposures(store, exposures_of(rows, by_member))
