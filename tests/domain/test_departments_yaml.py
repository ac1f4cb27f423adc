"""The departments YAML file: checking it (every problem, with its line) and importing it."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from handoff_bot.departments import config_file
from handoff_bot.departments.config_file import ConfigFileError, DepartmentsConfig, PairStandardConfig
from handoff_bot.departments.models import Admin, Department, DepartmentPerson, MemberRole, PairStandard
from handoff_bot.departments.standards import Standard

VALID = """\
admins: [U0ADMIN]
departments:
  - name: Finance
    managers: [U0MGR1]
    members: [U0AAA, U0BBB]
    intake_channel: C0FIN
    standard:
      confirm_within: 30m
      remind_every: 2h
      escalate_after: 3
      complete_within: 5d
      working_hours: "Mon-Sat 08:30-17:00"
  - name: Sales
    managers: [U0MGR2, U0MGR1]
    members: [U0CCC, U0MGR2]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigFileError) as caught:
        config_file.load(text)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def imported(db, text: str, clock) -> config_file.ImportSummary:
    with db.transaction() as session:
        return config_file.apply(session, config_file.load(text), clock.now())


def people(db, name: str) -> set[tuple[str, MemberRole]]:
    with db.transaction() as session:
        department = session.scalars(select(Department).where(Department.name == name)).one()
        return {(p.user_id, p.role) for p in department.people}


def test_valid_file_imports_departments_people_admins_and_standards(db, clock):
    summary = imported(db, VALID, clock)

    assert summary.created == ["Finance", "Sales"]
    assert summary.updated == summary.unchanged == summary.kept == []
    assert summary.admins_added == ["U0ADMIN"]
    with db.transaction() as session:
        finance = session.scalars(select(Department).where(Department.name == "Finance")).one()
        assert finance.intake_channel == "C0FIN"
        assert (finance.confirm_within_s, finance.remind_every_s, finance.escalate_after) == (1800, 7200, 3)
        assert finance.complete_within_s == 5 * 86400
        assert finance.working_hours == "Mon-Sat 08:30-17:00"
        assert finance.updated_at == clock.now()
        assert list(session.scalars(select(Admin.user_id))) == ["U0ADMIN"]
    assert people(db, "Finance") == {
        ("U0MGR1", MemberRole.MANAGER), ("U0AAA", MemberRole.MEMBER), ("U0BBB", MemberRole.MEMBER),
    }
    # A manager may also be a member; one person may manage two departments.
    assert people(db, "Sales") == {
        ("U0MGR2", MemberRole.MANAGER), ("U0MGR1", MemberRole.MANAGER),
        ("U0CCC", MemberRole.MEMBER), ("U0MGR2", MemberRole.MEMBER),
    }


def test_defaults_apply_to_what_the_file_leaves_out(db, clock):
    config = config_file.load("departments:\n  - name: Legal\n    standard:\n      confirm_within: 1h\n")

    assert config.admins == []
    legal = config.departments[0]
    assert (legal.managers, legal.members, legal.intake_channel) == ([], [], None)
    assert legal.standard == Standard(confirm_within_s=3600)
    imported(db, "departments:\n  - name: Legal\n", clock)
    with db.transaction() as session:
        department = session.scalars(select(Department)).one()
        assert (department.confirm_within_s, department.remind_every_s) == (4 * 3600, 4 * 3600)
        assert (department.escalate_after, department.complete_within_s) == (2, 3 * 86400)
        assert department.working_hours == "Mon-Fri 09:00-18:00"
        assert department.intake_channel is None


def test_loads_a_path_and_names_it_in_errors(tmp_path: Path):
    path = tmp_path / "departments.yaml"
    path.write_text(VALID, encoding="utf-8")
    assert [d.name for d in config_file.load(path).departments] == ["Finance", "Sales"]
    assert config_file.load(str(path)) == config_file.load(path) == config_file.load(VALID)

    path.write_text("departments:\n  - name: X\n    members: [alice]\n", encoding="utf-8")
    with pytest.raises(ConfigFileError) as caught:
        config_file.load(path)
    assert caught.value.errors[0].startswith(f"{path}:3:15: departments[0].members[0]: 'alice'")


@pytest.mark.parametrize(("text", "expected"), [
    ("departments:\n  - name: A\n    standard:\n      confirm_within: 4 hours\n",
     "departments.yaml:4:23: departments[0].standard.confirm_within: '4 hours' is not a duration like 30s, 15m, "
     "4h or 2d."),
    ("departments:\n  - name: A\n    manager: [U0MGR1]\n",
     "departments.yaml:3:5: departments[0].manager: unknown key. Did you mean 'managers'? The keys allowed here are: "
     "name, managers, members, intake_channel, standard, holiday_country, digest_day, digest_time."),
    ("admin: [U0A]\ndepartments:\n  - name: A\n",
     "departments.yaml:1:1: admin: unknown key. Did you mean 'admins'?"),
    ("departments:\n  - name: A\n    standard:\n      remind: 4h\n",
     "departments.yaml:4:7: departments[0].standard.remind: unknown key. Did you mean 'remind_every'?"),
    ("departments:\n  - managers: [U0MGR1]\n", "departments.yaml:2:5: departments[0].name: every department needs"),
    ("departments:\n  - name: '  '\n", "departments.yaml:2:11: departments[0].name: must not be empty."),
    (f"departments:\n  - name: {'x' * 81}\n", "departments.yaml:2:11: departments[0].name: is 81 characters long"),
    ("departments:\n  - name: Finance\n  - name: FINANCE\n",
     "departments.yaml:3:11: departments[1].name: 'FINANCE' is already the name of departments[0] (line 2)"),
    ("departments:\n  - name: A\n    members: ['@alice']\n",
     "departments.yaml:3:15: departments[0].members[0]: '@alice' is a name, not a Slack user id; in Slack, open the "
     "person's profile → ⋮ → Copy member ID"),
    ("departments:\n  - name: A\n    managers: [u0mgr1]\n",
     "departments.yaml:3:16: departments[0].managers[0]: 'u0mgr1': Slack user ids are in capitals: U0MGR1."),
    ("departments:\n  - name: A\n    members: [U0AAA, U0BBB, U0AAA]\n",
     "departments.yaml:3:29: departments[0].members[2]: U0AAA is listed twice (first at line 3)."),
    ("departments:\n  - name: A\n    members: U0AAA\n",
     "departments.yaml:3:14: departments[0].members: must be a list of Slack user ids"),
    ("departments:\n  - name: A\n    intake_channel: '#finance'\n",
     "departments.yaml:3:21: departments[0].intake_channel: '#finance' is a channel name, not a channel id"),
    ("departments:\n  - name: A\n    intake_channel: #finance\n",
     "departments.yaml:3:20: departments[0].intake_channel: '#finance' is read as a comment in YAML"),
    ("departments:\n  - name: A\n    intake_channel: U0AAA\n",
     "departments.yaml:3:21: departments[0].intake_channel: 'U0AAA' is not a Slack channel id like C012AB3CD"),
    ("departments:\n  - name: A\n    standard:\n      escalate_after: 21\n",
     "departments.yaml:4:23: departments[0].standard.escalate_after: must be a whole number of reminders from 0 "
     "to 20"),
    ("departments:\n  - name: A\n    standard:\n      escalate_after: two\n",
     "departments.yaml:4:23: departments[0].standard.escalate_after: must be a whole number"),
    ("departments:\n  - name: A\n    standard:\n      complete_within: 0d\n",
     "departments.yaml:4:24: departments[0].standard.complete_within: a duration must be longer than zero."),
    ("departments:\n  - name: A\n    standard:\n      complete_within: 400d\n",
     "departments.yaml:4:24: departments[0].standard.complete_within: '400d' is too long; the most is 365d."),
    ("departments:\n  - name: A\n    standard:\n      working_hours: weekdays\n",
     "departments.yaml:4:22: departments[0].standard.working_hours: 'weekdays' is not working hours like"),
    ("departments:\n  - name: A\n    standard: 4h\n",
     "departments.yaml:3:15: departments[0].standard: a standard must be a mapping with the keys"),
    ("departments:\n  - name: A\n    name: B\n", "departments.yaml:3:5: departments[0].name: this key appears twice"),
    ("departments: []\n", "departments.yaml:1:14: departments: must be a list of at least one department"),
    ("admins: [U0A]\n", "departments.yaml:1:1: 'departments' is required"),
    ("- name: A\n", "departments.yaml:1:1: the top level must be a mapping with the keys admins, departments, "
                    "pair_standards, digest_day, digest_time;"),
    ("departments:\n  - name: A\n   members: []\n", "departments.yaml:3:4: YAML syntax error: "),
    ("admins: [@bob]\ndepartments:\n  - name: A\n",
     "departments.yaml:1:10: YAML syntax error: while scanning for the next token, found character '@' that cannot "
     "start any token. Slack user ids look like U012AB3CD, not @name."),
])
def test_each_problem_is_reported_with_its_line_and_column(text: str, expected: str):
    errors = errors_of(text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors[0]


@pytest.mark.parametrize("text", ["", "   \n", "# nothing yet\n"])
def test_an_empty_file_is_a_clear_error(text: str):
    assert errors_of(text) == [
        "departments.yaml: the file is empty; it needs a 'departments' list (each with a name, managers and "
        "members) and optionally 'admins'."
    ]


@pytest.mark.parametrize("as_text", [False, True])
def test_a_missing_file_is_a_clear_error(tmp_path: Path, as_text: bool):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigFileError) as caught:
        config_file.load(str(path) if as_text else path)
    assert caught.value.errors == [f"{path}: there is no such file."]


def test_every_problem_is_reported_at_once_in_file_order():
    errors = errors_of("""\
admins: [U0ADMIN, '@bob']
departments:
  - name: Finance
    manager: [U0MGR1]
    intake_channel: '#finance'
    standard:
      confirm_within: 4 hours
      escalate_after: 30
  - name: Sales
    members: [U0AAA, U0AAA]
  - name: finance
""")

    assert [e.split(": ")[0] for e in errors] == [
        "departments.yaml:1:19", "departments.yaml:4:5", "departments.yaml:5:21", "departments.yaml:7:23",
        "departments.yaml:8:23", "departments.yaml:10:22", "departments.yaml:11:11",
    ]
    assert errors[3] == (
        "departments.yaml:7:23: departments[0].standard.confirm_within: '4 hours' is not a duration like 30s, 15m, "
        "4h or 2d."
    )


def test_reimport_replaces_people_and_updates_the_standard(db, clock):
    imported(db, VALID, clock)
    with db.transaction() as session:
        finance_id = session.scalars(select(Department.id).where(Department.name == "Finance")).one()
    clock.advance(timedelta(hours=1))

    summary = imported(db, """\
departments:
  - name: finance
    managers: [U0MGR1]
    members: [U0BBB, U0DDD]
  - name: Sales
    managers: [U0MGR2, U0MGR1]
    members: [U0MGR2, U0CCC]
""", clock)

    assert (summary.created, summary.updated, summary.unchanged) == ([], ["finance"], ["Sales"])
    assert summary.admins_added == []
    assert people(db, "finance") == {
        ("U0MGR1", MemberRole.MANAGER), ("U0BBB", MemberRole.MEMBER), ("U0DDD", MemberRole.MEMBER),
    }
    with db.transaction() as session:
        finance = session.get(Department, finance_id)
        assert finance.name == "finance"
        assert finance.intake_channel is None
        assert config_file.from_database(session).departments[0].standard == Standard()
        assert finance.updated_at == clock.now()
        sales = session.scalars(select(Department).where(Department.name == "Sales")).one()
        assert sales.updated_at == clock.now() - timedelta(hours=1)
        assert session.scalars(select(DepartmentPerson).where(DepartmentPerson.user_id == "U0AAA")).all() == []
        assert list(session.scalars(select(Admin.user_id))) == ["U0ADMIN"]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(db, clock):
    imported(db, VALID, clock)
    with db.transaction() as session:
        before = config_file.from_database(session)
    clock.advance(timedelta(days=1))

    summary = imported(db, VALID, clock)

    assert (summary.created, summary.updated, summary.unchanged) == ([], [], ["Finance", "Sales"])
    assert summary.admins_added == []
    assert str(summary).endswith("Nothing changed.")
    with db.transaction() as session:
        assert config_file.from_database(session) == before
        assert {d.updated_at for d in session.scalars(select(Department))} == {clock.now() - timedelta(days=1)}


def test_departments_not_in_the_file_are_kept_and_admins_only_added(db, clock):
    imported(db, VALID, clock)

    summary = imported(db, "admins: [U0BOSS]\ndepartments:\n  - name: Legal\n    managers: [U0LAW]\n", clock)

    assert (summary.created, summary.kept, summary.admins_added) == (["Legal"], ["Finance", "Sales"], ["U0BOSS"])
    assert str(summary) == (
        "Departments: 1 created, 0 updated, 0 unchanged, 2 not in file (kept).\n"
        "  created: Legal\n"
        "  not in file, kept: Finance, Sales\n"
        "Admins: 1 added (U0BOSS)."
    )
    with db.transaction() as session:
        current = config_file.from_database(session)
    assert [d.name for d in current.departments] == ["Finance", "Legal", "Sales"]
    assert current.admins == ["U0ADMIN", "U0BOSS"]
    assert people(db, "Finance") == {
        ("U0MGR1", MemberRole.MANAGER), ("U0AAA", MemberRole.MEMBER), ("U0BBB", MemberRole.MEMBER),
    }


def test_from_database_reads_back_what_was_imported(db, clock):
    config = config_file.load(VALID)
    imported(db, VALID, clock)

    with db.transaction() as session:
        current = config_file.from_database(session)

    assert current == DepartmentsConfig(admins=config.admins, departments=config.departments)


def test_an_invalid_file_changes_nothing(db, clock):
    imported(db, VALID, clock)
    with db.transaction() as session:
        before = config_file.from_database(session)

    errors_of(VALID.replace("members: [U0AAA, U0BBB]", "members: [U0AAA, alice]"))

    with db.transaction() as session:
        assert config_file.from_database(session) == before


def test_concurrent_imports_on_postgresql_wait_for_each_other(db, clock):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE")
    config = config_file.load(VALID)
    summaries: list[config_file.ImportSummary] = []
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND NOT granted")
    with db.transaction() as first:
        summaries.append(config_file.apply(first, config, clock.now()))
        second = threading.Thread(target=lambda: summaries.append(imported(db, VALID, clock)))
        second.start()
        deadline = time.monotonic() + 30
        while not first.scalar(waiting, {"key": config_file.IMPORT_LOCK}):
            assert time.monotonic() < deadline, "the second import never waited"
    second.join(30)

    assert [(s.created, s.unchanged) for s in summaries] == [(["Finance", "Sales"], []), ([], ["Finance", "Sales"])]


# --------------------------------------------------------------------------- holiday country and pair standards

PAIRS = """\
departments:
  - name: Finance
    holiday_country: cn
    standard:
      confirm_within: 4h
      complete_within: 3d
  - name: Sales
  - name: IT
    standard:
      working_hours: always
pair_standards:
  - from: Sales
    to: finance
    confirm_within: 2h
  - from: Finance
    to: IT
    remind_every: 30m
    escalate_after: 0
    complete_within: 1d
    working_hours: "Mon-Fri 09:00-18:00"
"""


def pair_rows(db) -> dict[tuple[str, str], dict[str, object]]:
    """Every pair standard in the database as {(from, to): overrides}."""
    with db.transaction() as session:
        return {(p.from_department, p.to_department): p.overrides()
                for p in config_file.from_database(session).pair_standards}


def test_holiday_country_and_pair_standards_are_read():
    config = config_file.load(PAIRS)

    assert [d.holiday_country for d in config.departments] == ["CN", None, None]
    assert config.departments[0].standard == Standard(complete_within_s=3 * 86400, holiday_country="CN")
    assert config.pair_standards == [
        PairStandardConfig("Sales", "finance", confirm_within_s=7200),
        PairStandardConfig("Finance", "IT", remind_every_s=1800, escalate_after=0, complete_within_s=86400,
                           working_hours="Mon-Fri 09:00-18:00"),
    ]
    assert config.pair_standards[0].from_where == "departments.yaml:12:11: pair_standards[0].from"
    assert config.pair_standards[0].to_where == "departments.yaml:13:9: pair_standards[0].to"


@pytest.mark.parametrize("value", ["~", "''", "null"])
def test_an_empty_holiday_country_means_none(value: str):
    config = config_file.load(f"departments:\n  - name: A\n    holiday_country: {value}\n")
    assert config.departments[0].holiday_country is None


@pytest.mark.parametrize(("code", "stored"), [("US", "US"), ("de", "DE"), (" gb ", "GB"), ("NO", "NO"), ("JPN", "JPN")])
def test_any_country_the_holidays_package_knows_is_accepted_upper_cased(code: str, stored: str):
    config = config_file.load(f"departments:\n  - name: A\n    holiday_country: '{code}'\n")
    assert config.departments[0].holiday_country == stored


PAIR_HEAD = "departments:\n  - name: Sales\n  - name: Finance\npair_standards:\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("departments:\n  - name: A\n    holiday_country: XX\n",
     "departments.yaml:3:22: departments[0].holiday_country: 'XX' is not a country code the holidays package knows; "
     "use an ISO 3166 code such as CN, US, DE, GB or JP, or leave holiday_country out for no public holidays."),
    ("departments:\n  - name: A\n    holiday_country: China\n",
     "departments.yaml:3:22: departments[0].holiday_country: 'China' is the name of a country; write its code "
     "instead: CN."),
    ("departments:\n  - name: A\n    holiday_country: #CN\n",
     "departments.yaml:3:21: departments[0].holiday_country: '#CN' is read as a comment in YAML, so this is empty; "
     "write the country code, like CN."),
    ("departments:\n  - name: A\n    holiday_country: [CN]\n",
     "departments.yaml:3:22: departments[0].holiday_country: must be a country code like CN, not a list."),
    ("departments:\n  - name: A\n    standard:\n      holiday_country: CN\n",
     "departments.yaml:4:7: departments[0].standard.holiday_country: unknown key."),
    (PAIR_HEAD[:-1] + " Sales -> Finance\n",
     "departments.yaml:4:17: pair_standards: must be a list of pair standards, each starting with '- from: …', not "
     "'Sales -> Finance'."),
    (PAIR_HEAD + "  - Sales\n",
     "departments.yaml:5:5: pair_standards[0]: a pair standard must be a mapping with the keys from, to, "
     "confirm_within, remind_every, escalate_after, complete_within, working_hours; found 'Sales'."),
    (PAIR_HEAD + "  - to: Finance\n    confirm_within: 2h\n",
     "departments.yaml:5:5: pair_standards[0].from: every pair standard needs 'from': the department whose "
     "handoffs the standard is for."),
    (PAIR_HEAD + "  - from: Sales\n    to:\n    confirm_within: 2h\n",
     "departments.yaml:6:8: pair_standards[0].to: every pair standard needs 'to': the department that receives "
     "them."),
    (PAIR_HEAD + "  - from: [Sales]\n    to: Finance\n    confirm_within: 2h\n",
     "departments.yaml:5:11: pair_standards[0].from: must be the name of a department, not a list."),
    (PAIR_HEAD + "  - from: Sales\n    to: SALES\n    confirm_within: 2h\n",
     "departments.yaml:6:9: pair_standards[0].to: 'SALES' is also the 'from' department; a pair standard is between "
     "two different departments (a department's own standard goes under its 'standard')."),
    (PAIR_HEAD + "  - from: Sales\n    to: Finance\n",
     "departments.yaml:5:5: pair_standards[0]: agrees nothing: give at least one of confirm_within, remind_every, "
     "escalate_after, complete_within, working_hours (whatever is left out is the receiving department's own "
     "standard)."),
    (PAIR_HEAD + "  - from: Sales\n    to: Finance\n    confirm: 2h\n",
     "departments.yaml:7:5: pair_standards[0].confirm: unknown key. Did you mean 'confirm_within'?"),
    (PAIR_HEAD + "  - from: Sales\n    to: Finance\n    confirm_within: 2 hours\n",
     "departments.yaml:7:21: pair_standards[0].confirm_within: '2 hours' is not a duration like 30s, 15m, 4h or 2d."),
    (PAIR_HEAD + "  - from: Sales\n    to: Finance\n    escalate_after: 99\n",
     "departments.yaml:7:21: pair_standards[0].escalate_after: must be a whole number of reminders from 0 to 20"),
    (PAIR_HEAD + "  - from: Sales\n    to: Finance\n    working_hours: nights\n",
     "departments.yaml:7:20: pair_standards[0].working_hours: 'nights' is not working hours like"),
    (PAIR_HEAD + "  - from: Sales\n    to: Finance\n    confirm_within: 2h\n"
                 "  - from: sales\n    to: FINANCE\n    remind_every: 1h\n",
     "departments.yaml:8:11: pair_standards[1]: sales → FINANCE already has a pair standard at pair_standards[0] "
     "(line 5); keep only one."),
])
def test_each_holiday_and_pair_problem_is_reported_with_its_line_and_column(text: str, expected: str):
    errors = errors_of(text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors[0]


def test_the_same_pair_in_both_directions_is_two_pairs():
    config = config_file.load(PAIR_HEAD + "  - from: Sales\n    to: Finance\n    confirm_within: 2h\n"
                                          "  - from: Finance\n    to: Sales\n    confirm_within: 1h\n")
    assert [(p.from_department, p.to_department) for p in config.pair_standards] == [
        ("Sales", "Finance"), ("Finance", "Sales"),
    ]


def test_pair_problems_are_reported_with_the_others_in_file_order():
    errors = errors_of("""\
departments:
  - name: Sales
    holiday_country: Mars
pair_standards:
  - from: Sales
    to: Sales
  - from: Sales
    to: Finance
    complete_within: 0d
""")

    assert [e.split(": ")[0] for e in errors] == [
        "departments.yaml:3:22", "departments.yaml:5:5", "departments.yaml:6:9", "departments.yaml:9:22",
    ]


def test_pair_standards_and_holiday_country_are_imported(db, clock):
    summary = imported(db, PAIRS, clock)

    assert (summary.pairs_created, summary.pairs_updated, summary.pairs_removed) == (
        ["Sales → Finance", "Finance → IT"], [], [],
    )
    assert str(summary) == (
        "Departments: 3 created, 0 updated, 0 unchanged, 0 not in file (kept).\n"
        "  created: Finance, Sales, IT\n"
        "Pair standards: 2 created, 0 updated, 0 unchanged, 0 removed.\n"
        "  created: Sales → Finance, Finance → IT\n"
        "Admins: none added.\n"
        + "\n".join(f"Warning: {name} has no manager: its escalations, overdue notices and weekly digest reach "
                    "nobody there." for name in ("Finance", "Sales", "IT"))
    )
    with db.transaction() as session:
        finance = session.scalars(select(Department).where(Department.name == "Finance")).one()
        assert finance.holiday_country == "CN"
        pair = session.scalars(select(PairStandard).where(PairStandard.to_department_id == finance.id)).one()
        assert pair.from_department.name == "Sales"
        assert (pair.confirm_within_s, pair.remind_every_s, pair.escalate_after) == (7200, None, None)
        assert (pair.complete_within_s, pair.working_hours) == (None, None)
    assert pair_rows(db) == {
        ("Finance", "IT"): {"confirm_within_s": None, "remind_every_s": 1800, "escalate_after": 0,
                            "complete_within_s": 86400, "working_hours": "Mon-Fri 09:00-18:00"},
        ("Sales", "Finance"): {"confirm_within_s": 7200, "remind_every_s": None, "escalate_after": None,
                               "complete_within_s": None, "working_hours": None},
    }


def test_reimporting_the_same_pairs_changes_nothing(db, clock):
    imported(db, PAIRS, clock)
    with db.transaction() as session:
        before = config_file.from_database(session)
    clock.advance(timedelta(days=1))

    summary = imported(db, PAIRS, clock)

    assert summary.unchanged == ["Finance", "Sales", "IT"]
    assert summary.pairs_unchanged == ["Sales → Finance", "Finance → IT"]
    assert summary.pairs_created == summary.pairs_updated == summary.pairs_removed == []
    assert str(summary).splitlines()[-4] == "Nothing changed."  # then the three warnings: no managers
    with db.transaction() as session:
        assert config_file.from_database(session) == before
        assert {d.updated_at for d in session.scalars(select(Department))} == {clock.now() - timedelta(days=1)}


def test_reimport_updates_changed_pairs_and_removes_unlisted_ones_between_file_departments(db, clock):
    imported(db, PAIRS, clock)
    imported(db, "departments:\n  - name: Legal\npair_standards:\n"
                 "  - from: Legal\n    to: Sales\n    confirm_within: 1h\n", clock)

    summary = imported(db, PAIRS.replace("confirm_within: 2h", "confirm_within: 90m")
                       .replace("    remind_every: 30m\n", "").replace("  - from: Finance\n", "  - from: Sales\n")
                       .replace("holiday_country: cn", "holiday_country: US"), clock)

    assert summary.updated == ["Finance"]
    assert (summary.pairs_created, summary.pairs_updated) == (["Sales → IT"], ["Sales → Finance"])
    assert summary.pairs_removed == ["Finance → IT"]
    assert "Pair standards: 1 created, 1 updated, 0 unchanged, 1 removed.\n" in str(summary)
    assert "  removed: Finance → IT\n" in str(summary)
    # Legal → Sales is kept: Legal is not in this file.
    assert set(pair_rows(db)) == {("Sales", "Finance"), ("Sales", "IT"), ("Legal", "Sales")}
    assert pair_rows(db)[("Sales", "Finance")]["confirm_within_s"] == 5400
    with db.transaction() as session:
        assert session.scalars(select(Department.holiday_country).where(Department.name == "Finance")).one() == "US"


def test_an_empty_pair_list_removes_the_pairs_between_the_files_departments(db, clock):
    imported(db, PAIRS, clock)

    summary = imported(db, PAIRS.split("pair_standards:")[0] + "pair_standards: []\n", clock)

    assert summary.pairs_removed == ["Finance → IT", "Sales → Finance"]
    assert pair_rows(db) == {}


def test_a_pair_may_name_a_department_already_in_the_database(db, clock, dept):
    dept("Legal")

    summary = imported(db, "departments:\n  - name: Sales\npair_standards:\n"
                           "  - from: legal\n    to: Sales\n    complete_within: 1d\n", clock)

    assert summary.pairs_created == ["Legal → Sales"]
    assert summary.kept == ["Legal"]
    assert set(pair_rows(db)) == {("Legal", "Sales")}


def test_a_pair_naming_an_unknown_department_is_refused_at_import_and_changes_nothing(db, clock, dept):
    dept("Legal")
    config = config_file.load("""\
admins: [U0NEW]
departments:
  - name: Sales
pair_standards:
  - from: Sales
    to: Finanse
    confirm_within: 2h
  - from: Lgal
    to: Nobody
    confirm_within: 2h
""")
    with pytest.raises(ConfigFileError) as caught, db.transaction() as session:
        config_file.apply(session, config, clock.now())

    assert caught.value.errors == [
        "departments.yaml:6:9: pair_standards[0].to: 'Finanse' is neither a department in this file nor one already "
        "in the database. Add it under 'departments', or correct the name.",
        "departments.yaml:8:11: pair_standards[1].from: 'Lgal' is neither a department in this file nor one already "
        "in the database. Did you mean 'Legal'? Add it under 'departments', or correct the name.",
        "departments.yaml:9:9: pair_standards[1].to: 'Nobody' is neither a department in this file nor one already "
        "in the database. Add it under 'departments', or correct the name.",
    ]
    with db.transaction() as session:
        assert list(session.scalars(select(Department.name))) == ["Legal"]
        assert list(session.scalars(select(Admin.user_id))) == []


def test_deleting_a_department_deletes_its_pair_standards(db, clock):
    imported(db, PAIRS, clock)

    with db.transaction() as session:
        session.delete(session.scalars(select(Department).where(Department.name == "IT")).one())

    assert set(pair_rows(db)) == {("Sales", "Finance")}


def test_from_database_reads_back_pairs_and_holiday_country(db, clock):
    config = config_file.load(PAIRS)
    imported(db, PAIRS, clock)

    with db.transaction() as session:
        current = config_file.from_database(session)

    assert {d.name: d.holiday_country for d in current.departments} == {"Finance": "CN", "IT": None, "Sales": None}
    assert current.pair_standards == [  # by the sending department's name; names as the database spells them
        config.pair_standards[1],
        PairStandardConfig("Sales", "Finance", confirm_within_s=7200),
    ]


def test_the_example_file_imports_and_reimports_unchanged(db, clock):
    example = Path(__file__).resolve().parents[2] / "departments.example.yml"
    config = config_file.load(example)
    assert [d.holiday_country for d in config.departments] == ["CN", None, None]
    assert [(p.from_department, p.to_department) for p in config.pair_standards] == [("Sales", "Finance"),
                                                                                     ("Finance", "IT")]
    with db.transaction() as session:
        first = config_file.apply(session, config, clock.now())
    with db.transaction() as session:
        second = config_file.apply(session, config, clock.now())

    assert first.pairs_created == ["Sales → Finance", "Finance → IT"]
    assert not second.changed


DIGESTS = """\
digest_day: fri
digest_time: "16:30"
departments:
  - name: Finance
    managers: [U0MGR1]
  - name: Sales
    managers: [U0MGR2]
    digest_day: Monday
    digest_time: 7:05
  - name: IT
"""


def test_the_digest_day_and_time_default_per_file_and_per_department(db, clock):
    config = config_file.load(DIGESTS)
    assert [(d.name, d.digest_day, d.digest_time) for d in config.departments] == [
        ("Finance", "fri", "16:30"), ("Sales", "mon", "07:05"), ("IT", "fri", "16:30")]
    assert [(d.digest_day, d.digest_time) for d in config_file.load(VALID).departments] == [("mon", "09:00")] * 2
    imported(db, DIGESTS, clock)
    with db.transaction() as session:
        assert [(d.name, d.digest_day, d.digest_time) for d in config_file.from_database(session).departments] == [
            ("Finance", "fri", "16:30"), ("IT", "fri", "16:30"), ("Sales", "mon", "07:05")]
    assert not imported(db, DIGESTS, clock).changed
    assert imported(db, DIGESTS.replace('"16:30"', '"16:45"'), clock).updated == ["Finance", "IT"]


@pytest.mark.parametrize(("text", "expected"), [
    ("digest_day: someday\ndepartments:\n  - name: A\n",
     "departments.yaml:1:13: digest_day: must be a day of the week: mon, tue, wed, thu, fri, sat, sun; not 'someday'."),
    ("departments:\n  - name: A\n    digest_time: 9am\n",
     'departments.yaml:3:18: departments[0].digest_time: must be a time of day like "09:00" (24-hour clock), '
     "not '9am'."),
    ("digest_time: '24:00'\ndepartments:\n  - name: A\n",
     'departments.yaml:1:14: digest_time: must be a time of day like "09:00" (24-hour clock), not \'24:00\'.'),
    ("departments:\n  - name: A\n    digest_day: [mon]\n",
     "departments.yaml:3:17: departments[0].digest_day: must be a day of the week: mon, tue, wed, thu, fri, sat, "
     "sun; not a list."),
])
def test_a_wrong_digest_day_or_time_is_reported_with_its_line_and_column(text: str, expected: str):
    assert errors_of(text) == [expected]
