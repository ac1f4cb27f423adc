"""The departments YAML file: checking it (every problem, with its line) and importing it."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from handoff_bot.departments import config_file
from handoff_bot.departments.config_file import ConfigFileError, DepartmentsConfig
from handoff_bot.departments.models import Admin, Department, DepartmentPerson, MemberRole
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
     "name, managers, members, intake_channel, standard."),
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
    ("- name: A\n", "departments.yaml:1:1: the top level must be a mapping with the keys admins, departments"),
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
