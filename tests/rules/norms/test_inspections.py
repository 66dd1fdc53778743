"""Inspection due dates with fixed times."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from protocol import SmokeReading, SmokeSensor, SmokeState
from rules import (
    CompletionRecord,
    DueStatus,
    RecordSource,
    ScheduleEntry,
    Site,
    SiteFlag,
    automatic_records,
    inspection_schedule,
    needing_attention,
)

ZONE = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


def make_site(function: str = "elderly_care") -> Site:
    return Site.model_validate(
        {
            "id": "s1",
            "name": "中心",
            "opening_hours": [{"days": [0, 1, 2, 3, 4], "open": "08:00", "close": "18:00"}],
            "rooms": [{"id": "r1", "name": "活动室", "function": function, "floor": 1}],
            "gateways": [
                {
                    "id": "gw1",
                    "devices": [
                        {"id": "smk1", "kind": "smoke", "room": "r1"},
                        {"id": "smk2", "kind": "smoke", "room": "r1"},
                        {"id": "heat1", "kind": "heat", "room": "r1"},
                        {"id": "fd1", "kind": "door", "room": "r1", "role": "fire_door"},
                        {"id": "fd2", "kind": "door", "room": "r1", "role": "fire_door_hold_open"},
                        {"id": "ent", "kind": "door", "room": "r1", "role": "entrance"},
                    ],
                }
            ],
        }
    )


SITE = make_site()


def done(item: str, subject: str, when: datetime, source: str = "manual") -> CompletionRecord:
    return CompletionRecord(
        item=item, subject=subject, completed_at=when, source=RecordSource(source)
    )


def entry(
    records: list[CompletionRecord],
    now: datetime,
    item: str,
    subject: str = "s1",
    *,
    flags: tuple[SiteFlag, ...] | list[SiteFlag] = (),
    in_service_since: dict[str, datetime] | None = None,
) -> ScheduleEntry:
    schedule = inspection_schedule(
        SITE, records, now=now, flags=flags, in_service_since=in_service_since
    )
    found = [e for e in schedule if e.item == item and e.subject == subject]
    assert len(found) == 1, (item, subject, [(e.item, e.subject) for e in schedule])
    return found[0]


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (at(2026, 1, 6, 6, 59), DueStatus.OK),
        (at(2026, 1, 6, 7, 0), DueStatus.DUE_SOON),  # 2 h before due
        (at(2026, 1, 6, 9, 0), DueStatus.DUE_SOON),  # exactly due
        (at(2026, 1, 6, 9, 1), DueStatus.OVERDUE),
    ],
)
def test_daily_patrol(now: datetime, status: DueStatus) -> None:
    e = entry([done("patrol.daily", "s1", at(2026, 1, 5, 9))], now, "patrol.daily")
    assert e.due_at == at(2026, 1, 6, 9)
    assert e.last_done == at(2026, 1, 5, 9)
    assert e.status is status
    assert e.source.article_zh == "第二十五条"


def test_nothing_on_record_is_never_done() -> None:
    e = entry([], at(2026, 1, 6), "check.periodic")
    assert (e.status, e.due_at, e.last_done) == (DueStatus.NEVER_DONE, None, None)
    assert e.status_zh == "从未进行"


def test_monthly_check_uses_calendar_months_and_public_institutions_go_quarterly() -> None:
    records = [done("check.periodic", "s1", at(2026, 1, 31, 10))]
    e = entry(records, at(2026, 2, 20), "check.periodic")
    assert (e.due_at, e.status) == (at(2026, 2, 28, 10), DueStatus.OK)
    e = entry(records, at(2026, 3, 1), "check.periodic")
    assert e.status is DueStatus.OVERDUE
    e = entry(records, at(2026, 3, 1), "check.periodic", flags=[SiteFlag.PUBLIC_INSTITUTION])
    assert (e.due_at, e.status, e.every.months) == (at(2026, 4, 30, 10), DueStatus.OK, 3)


@pytest.mark.parametrize(
    ("flags", "due"), [((), at(2027, 3, 1, 9)), ((SiteFlag.KEY_UNIT,), at(2026, 9, 1, 9))]
)
def test_drill_every_12_months_or_6_at_key_units(
    flags: tuple[SiteFlag, ...], due: datetime
) -> None:
    e = entry([done("drill", "s1", at(2026, 3, 1, 9))], at(2026, 4, 1), "drill", flags=flags)
    assert e.due_at == due
    assert e.source.article_en == "art. 40"


def test_each_smoke_detector_has_its_own_tests_and_self_tests_count_as_functional() -> None:
    records = [
        done("detector.self_test", "smk1", at(2026, 1, 10, 3), "automatic"),
        done("smoke.functional", "smk2", at(2025, 1, 10, 10)),
    ]
    schedule = inspection_schedule(SITE, records, now=at(2026, 2, 1))
    functional = {e.subject: e for e in schedule if e.item == "smoke.functional"}
    assert set(functional) == {"smk1", "smk2"}  # heat detectors are not smoke detectors
    assert functional["smk1"].due_at == at(2027, 1, 10, 3)
    assert functional["smk1"].last_source is RecordSource.AUTOMATIC
    assert functional["smk1"].status is DueStatus.OK
    assert functional["smk2"].status is DueStatus.OVERDUE
    assert functional["smk1"].room == "r1"
    visual = {e.subject: e for e in schedule if e.item == "smoke.visual"}
    assert visual["smk1"].status is DueStatus.NEVER_DONE  # a self-test is not a visual check


def test_a_test_mode_alarm_counts_too_and_records_of_other_subjects_do_not() -> None:
    records = [
        done("detector.test_alarm", "smk2", at(2026, 1, 10, 3), "automatic"),
        done("smoke.functional", "smk1", at(2026, 1, 12, 3)),
    ]
    e = entry(records, at(2026, 2, 1), "smoke.functional", "smk2")
    assert e.last_done == at(2026, 1, 10, 3)


def test_sensitivity_first_12_months_after_install_then_every_24() -> None:
    since = {"smk1": at(2026, 1, 15, 12)}
    e = entry([], at(2026, 6, 1), "smoke.sensitivity", "smk1", in_service_since=since)
    assert (e.due_at, e.status) == (at(2027, 1, 15, 12), DueStatus.OK)
    e = entry([], at(2026, 12, 20), "smoke.sensitivity", "smk1", in_service_since=since)
    assert e.status is DueStatus.DUE_SOON  # within 30 days
    tested = [done("smoke.sensitivity", "smk1", at(2027, 1, 5, 10))]
    e = entry(tested, at(2027, 2, 1), "smoke.sensitivity", "smk1", in_service_since=since)
    assert e.due_at == at(2029, 1, 5, 10)


def test_fire_doors_only_get_the_annual_inspection() -> None:
    schedule = inspection_schedule(SITE, [], now=at(2026, 1, 1))
    assert {e.subject for e in schedule if e.item == "door.annual"} == {"fd1", "fd2"}
    assert {e.subject_kind for e in schedule if e.item == "door.annual"} == {"door"}


@pytest.mark.parametrize(
    ("item", "last", "due"),
    [
        ("light.monthly", at(2026, 1, 1, 10), at(2026, 1, 31, 10)),  # every 30 days
        ("light.annual", at(2026, 1, 1, 10), at(2027, 1, 1, 10)),
        ("extinguisher.monthly", at(2026, 1, 1, 10), at(2026, 1, 31, 10)),
        ("system.annual_test", at(2024, 2, 29, 10), at(2025, 2, 28, 10)),
    ],
)
def test_site_items(item: str, last: datetime, due: datetime) -> None:
    assert entry([done(item, "s1", last)], at(2026, 1, 2), item).due_at == due


class TestPatrolWhileOpen:
    """Every 2 h while a public-gathering site is open (Mon–Fri 08:00–18:00)."""

    def test_only_public_gathering_sites(self) -> None:
        schedule = inspection_schedule(SITE, [], now=at(2026, 1, 5, 9))
        assert "patrol.open_hours" not in {e.item for e in schedule}

    @pytest.mark.parametrize(
        ("now", "status"),
        [
            (at(2026, 1, 5, 11, 0), DueStatus.OK),
            (at(2026, 1, 5, 11, 20), DueStatus.DUE_SOON),
            (at(2026, 1, 5, 11, 31), DueStatus.OVERDUE),
        ],
    )
    def test_two_hours_after_the_last_patrol(self, now: datetime, status: DueStatus) -> None:
        e = entry(
            [done("patrol.open_hours", "s1", at(2026, 1, 5, 9, 30))],
            now,
            "patrol.open_hours",
            flags=[SiteFlag.PUBLIC_GATHERING],
        )
        assert (e.due_at, e.status) == (at(2026, 1, 5, 11, 30), status)

    def test_counts_from_opening_and_is_not_due_while_closed(self) -> None:
        records = [done("patrol.open_hours", "s1", at(2026, 1, 2, 17))]  # Friday
        flags = [SiteFlag.PUBLIC_GATHERING]
        e = entry(records, at(2026, 1, 5, 9), "patrol.open_hours", flags=flags)  # Monday
        assert (e.due_at, e.status) == (at(2026, 1, 5, 10), DueStatus.OK)
        e = entry(records, at(2026, 1, 4, 12), "patrol.open_hours", flags=flags)  # Sunday
        assert (e.due_at, e.status) == (at(2026, 1, 5, 10), DueStatus.OK)
        e = entry(records, at(2026, 1, 5, 10, 1), "patrol.open_hours", flags=flags)
        assert e.status is DueStatus.OVERDUE


class TestNightPatrol:
    def test_only_for_elderly_and_child_care_sites(self) -> None:
        culture = make_site("culture")
        assert "patrol.night" not in {
            e.item for e in inspection_schedule(culture, [], now=at(2026, 1, 5))
        }
        for function in ("elderly_care", "infant_care", "after_school"):
            site = make_site(function)
            assert "patrol.night" in {
                e.item for e in inspection_schedule(site, [], now=at(2026, 1, 5))
            }

    def test_each_night_needs_a_patrol_and_day_rounds_do_not_count(self) -> None:
        records = [
            done("patrol.night", "s1", at(2026, 1, 5, 23)),  # Monday night
            done("patrol.night", "s1", at(2026, 1, 6, 14)),  # afternoon: not a night patrol
        ]
        e = entry(records, at(2026, 1, 6, 15), "patrol.night")
        assert e.last_done == at(2026, 1, 5, 23)
        # Monday night ends Tuesday 06:00; Tuesday night must be patrolled by Wednesday 06:00.
        assert (e.due_at, e.status) == (at(2026, 1, 7, 6), DueStatus.OK)
        assert entry(records, at(2026, 1, 7, 6, 1), "patrol.night").status is DueStatus.OVERDUE


def test_records_after_now_are_ignored() -> None:
    e = entry([done("drill", "s1", at(2026, 5, 1))], at(2026, 4, 1), "drill")
    assert e.status is DueStatus.NEVER_DONE


def test_the_site_pack_decides_the_items() -> None:
    site = make_site().model_copy(update={"jurisdiction": "hangzhou"})
    items = {e.item for e in inspection_schedule(site, [], now=at(2026, 1, 1))}
    assert {"patrol.daily", "check.periodic", "drill", "smoke.functional", "door.annual"} <= items
    dumped = inspection_schedule(site, [], now=at(2026, 1, 1))[0].model_dump(mode="json")
    assert dumped["status_en"] == "never done"


def test_needing_attention_puts_never_done_first_then_by_due_time() -> None:
    records = [
        done("patrol.daily", "s1", at(2026, 1, 5, 9)),
        done("check.periodic", "s1", at(2025, 11, 1, 9)),
        done("drill", "s1", at(2025, 12, 1, 9)),
    ]
    schedule = inspection_schedule(SITE, records, now=at(2026, 1, 6, 8))
    urgent = needing_attention(schedule)
    assert all(e.status is not DueStatus.OK for e in urgent)
    assert urgent[0].status is DueStatus.NEVER_DONE
    dated = [e for e in urgent if e.due_at is not None]
    assert [e.item for e in dated] == ["check.periodic", "patrol.daily"]
    assert "drill" not in {e.item for e in urgent}


def test_a_public_gathering_site_without_hours_or_patrols_is_never_done() -> None:
    site = make_site().model_copy(update={"opening_hours": ()})
    schedule = inspection_schedule(
        site, [], now=at(2026, 1, 5, 9), flags=[SiteFlag.PUBLIC_GATHERING]
    )
    e = next(e for e in schedule if e.item == "patrol.open_hours")
    assert (e.status, e.due_at) == (DueStatus.NEVER_DONE, None)
    done_at = [done("patrol.open_hours", "s1", at(2026, 1, 5, 2))]  # always open: due at 04:00
    schedule = inspection_schedule(
        site, done_at, now=at(2026, 1, 5, 9), flags=[SiteFlag.PUBLIC_GATHERING]
    )
    e = next(e for e in schedule if e.item == "patrol.open_hours")
    assert (e.status, e.due_at) == (DueStatus.OVERDUE, at(2026, 1, 5, 4))


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        inspection_schedule(SITE, [], now=datetime(2026, 1, 1))


def test_a_smoke_detector_in_test_state_is_an_automatic_functional_test() -> None:
    readings = [
        SmokeReading(id="a1", device="smk1", ts=at(2026, 1, 10, 3), state=SmokeState.TEST),
        SmokeReading(id="a2", device="smk2", ts=at(2026, 1, 10, 3), state=SmokeState.NORMAL),
        SmokeReading(
            id="a3",
            device="heat1",
            ts=at(2026, 1, 10, 3),
            state=SmokeState.TEST,
            sensor=SmokeSensor.HEAT,
        ),
    ]
    records = automatic_records(readings)
    assert [(r.subject, r.item, r.source) for r in records] == [
        ("smk1", "detector.test_alarm", RecordSource.AUTOMATIC)
    ]
    e = entry(records, at(2026, 2, 1), "smoke.functional", "smk1")
    assert (e.last_done, e.last_source) == (at(2026, 1, 10, 3), RecordSource.AUTOMATIC)


def test_entries_carry_bilingual_messages_in_site_time() -> None:
    utc_record = done("check.periodic", "s1", at(2026, 1, 1, 10).astimezone(UTC))
    e = entry([utc_record], at(2026, 3, 1), "check.periodic")
    assert e.due_local == "2026-02-01 10:00"
    assert e.message_zh == "防火检查已逾期，应于2026-02-01 10:00前完成"
    assert e.message_en == "Fire safety check: overdue, due by 2026-02-01 10:00"
    d = entry([], at(2026, 3, 1), "smoke.visual", "smk1")
    assert d.message_zh == "感烟探测器外观检查（smk1）从未进行"


def test_months_count_in_site_time() -> None:
    # 1 February 01:00 in Shanghai is 31 January 17:00 UTC; a month later is 1 March 01:00 local.
    record = done("check.periodic", "s1", at(2026, 2, 1, 1).astimezone(UTC))
    assert entry([record], at(2026, 2, 10), "check.periodic").due_at == at(2026, 3, 1, 1)


class TestBaotouOperatorDuties:
    SITE = make_site().model_copy(update={"jurisdiction": "baotou"})

    def find(
        self, records: list[CompletionRecord], now: datetime, item: str, **kw: object
    ) -> ScheduleEntry:
        schedule = inspection_schedule(self.SITE, records, now=now, **kw)  # type: ignore[arg-type]
        return next(e for e in schedule if e.item == item)

    @pytest.mark.parametrize(
        ("done_at", "due"),
        [
            (at(2026, 12, 20, 10), at(2028, 1, 1)),  # the 2026 report; the 2027 one by 31 Dec 2027
            (at(2026, 6, 1, 10), at(2028, 1, 1)),
            (at(2027, 1, 10, 10), at(2029, 1, 1)),  # made in 2027: counts as the 2027 report
        ],
    )
    def test_annual_report_before_the_end_of_december(
        self, done_at: datetime, due: datetime
    ) -> None:
        e = self.find(
            [done("ops.annual_report", "s1", done_at)], at(2027, 2, 1), "ops.annual_report"
        )
        assert e.due_at == due
        assert e.source.article_zh == "第三十二条"

    def test_annual_report_of_a_new_site_is_due_at_the_end_of_its_first_year(self) -> None:
        since = {"s1": at(2026, 3, 1)}
        e = self.find([], at(2026, 12, 15), "ops.annual_report", in_service_since=since)
        assert (e.due_at, e.status) == (at(2027, 1, 1), DueStatus.DUE_SOON)
        e = self.find([], at(2027, 1, 2), "ops.annual_report", in_service_since=since)
        assert e.status is DueStatus.OVERDUE

    def test_quarterly_report_and_yearly_assessment(self) -> None:
        records = [
            done("ops.quarterly_report", "s1", at(2026, 1, 5, 10)),
            done("ops.self_assessment", "s1", at(2026, 1, 5, 10)),
        ]
        assert self.find(records, at(2026, 2, 1), "ops.quarterly_report").due_at == at(
            2026, 4, 5, 10
        )
        e = self.find(records, at(2026, 2, 1), "ops.self_assessment")
        assert (e.due_at, e.source.article_zh) == (at(2027, 1, 5, 10), "第三十六条")

    def test_other_packs_have_no_operator_duties(self) -> None:
        items = {e.item for e in inspection_schedule(SITE, [], now=at(2026, 1, 1))}
        assert not {i for i in items if i.startswith("ops.")}
