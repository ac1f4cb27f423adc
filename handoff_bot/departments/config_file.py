"""The departments YAML file: read and check it, then import it into the database.

The database is the source of truth. An import creates or updates the departments the file
names, replaces their people with the file's lists, and leaves every other department alone.
Pair standards (`pair_standards:`, overrides of the receiving department's standard for handoffs
from one department to another) are created or updated as listed; a pair standard between two
departments of the file that the file no longer lists is removed, any other is left alone.

Every problem in a file is reported with the line and column where it is, all at once:

    departments.yaml:7:23: departments[0].standard.confirm_within: '4 hours' is not a duration like 30s, ...
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import holidays
import yaml
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from handoff_bot.departments.models import Admin, Department, DepartmentPerson, MemberRole, PairStandard
from handoff_bot.departments.service import PAIR_OVERRIDES, all_departments, all_pair_standards, standard_of
from handoff_bot.departments.standards import Standard, parse_duration, parse_working_hours

DEFAULT_NAME = "departments.yaml"
TOP_KEYS = ("admins", "departments", "pair_standards", "digest_day", "digest_time")
DEPARTMENT_KEYS = ("name", "managers", "members", "intake_channel", "standard", "holiday_country", "digest_day",
                   "digest_time")
DIGEST_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DIGEST_DAYS_LONG = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DIGEST_DEFAULT = ("mon", "09:00")  # weekly digest: Monday 09:00 in each manager's own time zone
CLOCK_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
DURATION_KEYS = {
    "confirm_within": "confirm_within_s",
    "remind_every": "remind_every_s",
    "complete_within": "complete_within_s",
}
STANDARD_KEYS = ("confirm_within", "remind_every", "escalate_after", "complete_within", "working_hours")
PAIR_KEYS = ("from", "to", *STANDARD_KEYS)
COUNTRY_EXAMPLES = "CN, US, DE, GB or JP"
NAME_MAX = 80
ESCALATE_MAX = 20
DURATION_MAX_S = 365 * 86400
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,31}$")
NULL_TAG = "tag:yaml.org,2002:null"
IMPORT_LOCK = 727275  # PostgreSQL advisory lock key; 727274 serialises migrations


class ConfigFileError(Exception):
    """A departments file that cannot be imported; `errors` lists every problem, one sentence each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class DepartmentConfig:
    """A department; its `standard` carries the file's `holiday_country` too."""

    name: str
    managers: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    intake_channel: str | None = None
    standard: Standard = field(default_factory=Standard)
    digest_day: str = DIGEST_DEFAULT[0]   # when the managers get the weekly digest: mon…sun
    digest_time: str = DIGEST_DEFAULT[1]  # "HH:MM", in each manager's own time zone

    @property
    def holiday_country(self) -> str | None:
        return self.standard.holiday_country


@dataclass(frozen=True)
class PairStandardConfig:
    """Overrides of the receiving department's standard for handoffs from one department to another.

    Departments are named as in the file (matched ignoring case); each override left None is the
    receiving department's own. `from_where`/`to_where` say where the names are in the file
    (`departments.yaml:12:11: pair_standards[0].from`), for errors found on import.
    """

    from_department: str
    to_department: str
    confirm_within_s: int | None = None
    remind_every_s: int | None = None
    escalate_after: int | None = None
    complete_within_s: int | None = None
    working_hours: str | None = None
    from_where: str = field(default="", compare=False, repr=False)
    to_where: str = field(default="", compare=False, repr=False)

    def overrides(self) -> dict[str, int | str | None]:
        """The override columns of a `PairStandard`, None where inherited."""
        return {name: getattr(self, name) for name in PAIR_OVERRIDES}


@dataclass(frozen=True)
class DepartmentsConfig:
    admins: list[str] = field(default_factory=list)
    departments: list[DepartmentConfig] = field(default_factory=list)
    pair_standards: list[PairStandardConfig] = field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    """What an import did, by department name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    admins_added: list[str] = field(default_factory=list)
    pairs_created: list[str] = field(default_factory=list)
    pairs_updated: list[str] = field(default_factory=list)
    pairs_unchanged: list[str] = field(default_factory=list)
    pairs_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # imported, but probably not what was meant

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.admins_added
                    or self.pairs_created or self.pairs_updated or self.pairs_removed)

    def __str__(self) -> str:
        lines = [
            f"Departments: {len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.kept)} not in file (kept)."
        ]
        for label, names in (("created", self.created), ("updated", self.updated),
                             ("unchanged", self.unchanged), ("not in file, kept", self.kept)):
            if names:
                lines.append(f"  {label}: {', '.join(names)}")
        if self.pairs_created or self.pairs_updated or self.pairs_unchanged or self.pairs_removed:
            lines.append(
                f"Pair standards: {len(self.pairs_created)} created, {len(self.pairs_updated)} updated, "
                f"{len(self.pairs_unchanged)} unchanged, {len(self.pairs_removed)} removed."
            )
            for label, names in (("created", self.pairs_created), ("updated", self.pairs_updated),
                                 ("unchanged", self.pairs_unchanged), ("removed", self.pairs_removed)):
                if names:
                    lines.append(f"  {label}: {', '.join(names)}")
        if self.admins_added:
            lines.append(f"Admins: {len(self.admins_added)} added ({', '.join(self.admins_added)}).")
        else:
            lines.append("Admins: none added.")
        if not self.changed:
            lines.append("Nothing changed.")
        lines.extend(f"Warning: {warning}" for warning in self.warnings)
        return "\n".join(lines)


def load(source: str | os.PathLike[str], *, name: str | None = None,
         known: Iterable[str] | None = None) -> DepartmentsConfig:
    """Read and check a departments file.

    Args:
        source: the file's path (a `str` or path-like), or the YAML text itself: a `str` with a line
            break in it, or an empty one, is taken as the text.
        name: what to call the file in error messages; default: the path as given, or
            `departments.yaml` for text.
        known: the departments already in the database, when known: a pair standard naming one
            neither there nor in the file is a problem listed with the others (`apply` checks it
            in any case).

    Raises:
        ConfigFileError: the file cannot be read, is not YAML, or breaks any rule; every problem is listed.
    """
    if isinstance(source, str) and ("\n" in source or not source.strip()):
        text, label = source, name or DEFAULT_NAME
    else:
        label = name or os.fspath(source)
        text = _read(Path(source), label)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigFileError([_syntax_error(label, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError([f"{label}: this is not valid YAML: {exc}"]) from None
    if root is None:
        raise ConfigFileError([
            f"{label}: the file is empty; it needs a 'departments' list "
            "(each with a name, managers and members) and optionally 'admins'."
        ])
    checker = _Checker(label, known)
    config = checker.config(root)
    if checker.problems or config is None:
        raise ConfigFileError([message for _, message in sorted(checker.problems, key=lambda p: p[0])])
    return config


def apply(session: Session, config: DepartmentsConfig, now: datetime) -> ImportSummary:
    """Import a checked file: create or update its departments and add its admins.

    Departments are matched by name ignoring case, so they keep their ids (and their handoffs);
    a matched department takes the file's spelling, people, intake channel and standard.
    Departments not in the file are kept as they are; admins are only ever added.
    Pair standards name departments of the file or of the database (ignoring case); each listed
    one is created or updated, and those between two departments of the file that the file does
    not list are removed.
    On PostgreSQL, imports wait for each other (several app processes may import on start).

    Args:
        session: the transaction to work in; the caller commits it.
        config: what `load` returned.
        now: the time recorded as `updated_at` on what changes, and as `added_at` on the places of the people
            it adds.

    Raises:
        ConfigFileError: a pair standard names a department that is neither in the file nor in the
            database; nothing was changed.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
    existing = list(all_departments(session))
    exact = {d.name: d for d in existing}
    folded: dict[str, Department] = {}
    for department in sorted(existing, key=lambda d: d.id):
        folded.setdefault(department.name.casefold(), department)
    _check_pair_names(config, existing)

    summary = ImportSummary()
    matched: set[int] = set()
    in_file: dict[str, Department] = {}
    for wanted in config.departments:
        department = exact.get(wanted.name) or folded.get(wanted.name.casefold())
        if department is None:
            department = _new_department(wanted, now)
            session.add(department)
            summary.created.append(wanted.name)
        else:
            matched.add(department.id)
            if _update_department(department, wanted, now):
                department.updated_at = now
                summary.updated.append(wanted.name)
            else:
                summary.unchanged.append(wanted.name)
        in_file[wanted.name.casefold()] = department
    summary.kept.extend(d.name for d in existing if d.id not in matched)
    summary.warnings.extend(
        f"{d.name} has no manager: its escalations, overdue notices and weekly digest reach nobody there."
        for d in config.departments if not d.managers)

    for user_id in config.admins:
        if session.get(Admin, user_id) is None:
            session.add(Admin(user_id=user_id))
            summary.admins_added.append(user_id)
    session.flush()

    def named(name: str) -> Department:  # every name is known: _check_pair_names said so
        return in_file.get(name.casefold()) or exact.get(name) or folded[name.casefold()]

    wanted_pairs = [(p, named(p.from_department), named(p.to_department)) for p in config.pair_standards]
    _apply_pairs(session, wanted_pairs, {d.id for d in in_file.values()}, summary)
    session.flush()
    return summary


def _check_pair_names(config: DepartmentsConfig, existing: list[Department]) -> None:
    """Raise `ConfigFileError` for every pair standard's department that is neither in the file nor in the database."""
    spellings = [*(d.name for d in config.departments), *(d.name for d in existing)]
    errors = [f"{where or 'pair_standards'}: {unknown}"
              for pair in config.pair_standards
              for name, where in ((pair.from_department, pair.from_where), (pair.to_department, pair.to_where))
              if (unknown := _unknown_department(name, spellings))]
    if errors:
        raise ConfigFileError(errors)


def _unknown_department(name: str, spellings: list[str]) -> str | None:
    """Why `name` names no department of `spellings` (the file's and the database's), or None when it does."""
    if name.casefold() in {known.casefold() for known in spellings}:
        return None
    close = difflib.get_close_matches(name, list(dict.fromkeys(spellings)), n=1, cutoff=0.7)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"{name!r} is neither a department in this file nor one already in the database.{hint} Add it under "
            "'departments', or correct the name.")


def _apply_pairs(
    session: Session,
    wanted_pairs: list[tuple[PairStandardConfig, Department, Department]],
    file_ids: set[int],
    summary: ImportSummary,
) -> None:
    """Create or update the file's pair standards; remove those between file departments it no longer lists.

    Args:
        session: the transaction, with the file's departments flushed (they have ids).
        wanted_pairs: each pair standard of the file with its sending and receiving department.
        file_ids: the ids of the file's departments.
        summary: where to record what changed.
    """
    existing = {(p.from_department_id, p.to_department_id): p for p in all_pair_standards(session)}
    listed: set[tuple[int, int]] = set()
    for wanted, sender, receiver in wanted_pairs:
        key, label, values = (sender.id, receiver.id), f"{sender.name} → {receiver.name}", wanted.overrides()
        listed.add(key)
        pair = existing.get(key)
        if pair is None:
            session.add(PairStandard(from_department_id=sender.id, to_department_id=receiver.id, **values))
            summary.pairs_created.append(label)
        elif any(getattr(pair, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(pair, name, value)
            summary.pairs_updated.append(label)
        else:
            summary.pairs_unchanged.append(label)
    for key, pair in existing.items():
        if key not in listed and key[0] in file_ids and key[1] in file_ids:
            summary.pairs_removed.append(f"{pair.from_department.name} → {pair.to_department.name}")
            session.delete(pair)


def from_database(session: Session) -> DepartmentsConfig:
    """The set-up now in the database, in the shape of a departments file (departments by name).

    Args:
        session: the transaction to read in.
    """
    departments = [
        DepartmentConfig(
            name=d.name,
            managers=[p.user_id for p in d.people if p.role == MemberRole.MANAGER],
            members=[p.user_id for p in d.people if p.role == MemberRole.MEMBER],
            intake_channel=d.intake_channel,
            standard=standard_of(d),
            digest_day=d.digest_day,
            digest_time=d.digest_time,
        )
        for d in all_departments(session)
    ]
    pairs = [
        PairStandardConfig(
            from_department=p.from_department.name,
            to_department=p.to_department.name,
            **{name: getattr(p, name) for name in PAIR_OVERRIDES},
        )
        for p in all_pair_standards(session)
    ]
    admins = list(session.scalars(select(Admin.user_id).order_by(Admin.user_id)))
    return DepartmentsConfig(admins=admins, departments=departments, pair_standards=pairs)


def _new_department(wanted: DepartmentConfig, now: datetime) -> Department:
    department = Department(name=wanted.name, intake_channel=wanted.intake_channel, updated_at=now,
                            digest_day=wanted.digest_day, digest_time=wanted.digest_time)
    _set_standard(department, wanted.standard)
    department.people = [DepartmentPerson(user_id=u, role=r, added_at=now) for u, r in _people(wanted)]
    return department


def _update_department(department: Department, wanted: DepartmentConfig, now: datetime) -> bool:
    """Make `department` match `wanted` (the people it adds added at `now`); True when anything changed."""
    changed = (
        department.name != wanted.name
        or department.intake_channel != wanted.intake_channel
        or standard_of(department) != wanted.standard
        or (department.digest_day, department.digest_time) != (wanted.digest_day, wanted.digest_time)
    )
    department.name = wanted.name
    department.intake_channel = wanted.intake_channel
    department.digest_day, department.digest_time = wanted.digest_day, wanted.digest_time
    _set_standard(department, wanted.standard)

    # Remove and add only the differences, so nobody's row is deleted and re-inserted in one flush.
    target = _people(wanted)
    for person in list(department.people):
        if (person.user_id, person.role) not in target:
            department.people.remove(person)
            changed = True
    present = {(p.user_id, p.role) for p in department.people}
    for user_id, role in target:
        if (user_id, role) not in present:
            department.people.append(DepartmentPerson(user_id=user_id, role=role, added_at=now))
            changed = True
    return changed


def _people(wanted: DepartmentConfig) -> dict[tuple[str, MemberRole], None]:
    """The (user, role) pairs of a department, managers first, in file order."""
    pairs = [(u, MemberRole.MANAGER) for u in wanted.managers] + [(u, MemberRole.MEMBER) for u in wanted.members]
    return dict.fromkeys(pairs)


def _set_standard(department: Department, standard: Standard) -> None:
    department.confirm_within_s = standard.confirm_within_s
    department.remind_every_s = standard.remind_every_s
    department.escalate_after = standard.escalate_after
    department.complete_within_s = standard.complete_within_s
    department.working_hours = standard.working_hours
    department.holiday_country = standard.holiday_country


def _read(path: Path, label: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigFileError([f"{label}: there is no such file."]) from None
    except IsADirectoryError:
        raise ConfigFileError([f"{label}: this is a directory; give the path of the YAML file."]) from None
    except UnicodeDecodeError:
        raise ConfigFileError([f"{label}: this is not UTF-8 text; save the file as UTF-8."]) from None
    except OSError as exc:
        raise ConfigFileError([f"{label}: cannot read the file: {exc.strerror}."]) from None


def _syntax_error(label: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
    message = ", ".join(part for part in (exc.context, exc.problem) if part)
    if exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
        message += f" (see line {exc.context_mark.line + 1})"
    if exc.problem and "'@'" in exc.problem:
        message += ". Slack user ids look like U012AB3CD, not @name"
    return f"{where}: YAML syntax error: {message}. Check the indentation, colons and quotes there."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG


def _commented_out(node: yaml.Node) -> str | None:
    """The `#word` YAML took for a comment where a value was expected (e.g. `intake_channel: #finance`)."""
    mark = node.start_mark
    if not _is_null(node) or mark.buffer is None:
        return None
    end = mark.buffer.find("\n", mark.pointer)
    match = re.match(r"[ \t]*(#\S+)", mark.buffer[mark.pointer:end if end >= 0 else None])
    return match.group(1) if match else None


@functools.cache
def _holiday_countries() -> frozenset[str]:
    """The country codes (ISO 3166 alpha-2 and alpha-3, and a few aliases such as UK) `holidays` knows."""
    return frozenset(holidays.list_supported_countries())


def _country_named(text: str) -> tuple[str, str] | None:
    """(name, code) of the country whose English name `text` is, such as `United States` → (…, "US")."""
    wanted = re.sub(r"[^a-z]", "", text.casefold())
    registry = getattr(holidays, "registry", None)  # the package's table of countries: (ClassName, code, …)
    for entry in getattr(registry, "COUNTRIES", {}).values():
        if wanted and len(entry) >= 2 and re.sub(r"[^a-z]", "", str(entry[0]).casefold()) == wanted:
            return str(entry[0]), str(entry[1])
    return None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "empty" if _is_null(node) else f"{node.value!r}"


class _Checker:
    """Walks the YAML nodes, collecting every problem with its position."""

    def __init__(self, label: str, known: Iterable[str] | None = None) -> None:
        self.label = label
        self.problems: list[tuple[tuple[int, int], str]] = []
        self.known = list(known) if known is not None else None  # departments in the database
        self.names: list[str] = []  # the file's department names, as spelled

    def error(self, node: yaml.Node, path: str, message: str) -> None:
        mark = node.start_mark
        self.problems.append(((mark.line, mark.column), f"{self.where(node, path)}: {message}"))

    def where(self, node: yaml.Node, path: str) -> str:
        """`file:line:column: path` (or without the path), as an error about `node` begins."""
        mark = node.start_mark
        where = f"{self.label}:{mark.line + 1}:{mark.column + 1}"
        return f"{where}: {path}" if path else where

    def config(self, root: yaml.Node) -> DepartmentsConfig | None:
        fields = self.mapping(root, "", TOP_KEYS, "the top level")
        if fields is None:
            return None
        admins = self.user_ids(fields["admins"], "admins") if "admins" in fields else []
        if "departments" not in fields:
            self.error(root, "", "'departments' is required: a list of departments, each with a name.")
            return None
        departments_node = fields["departments"]
        if not isinstance(departments_node, yaml.SequenceNode) or not departments_node.value:
            found = "an empty list" if isinstance(departments_node, yaml.SequenceNode) else _kind(departments_node)
            self.error(departments_node, "departments",
                       f"must be a list of at least one department (each starting with '- name: …'), not {found}.")
            return None
        schedule = self.schedule(fields, "", DIGEST_DEFAULT)
        departments = []
        names: dict[str, tuple[str, int]] = {}
        for index, node in enumerate(departments_node.value):
            department = self.department(node, f"departments[{index}]", names, schedule)
            if department is not None:
                departments.append(department)
        pairs = self.pair_standards(fields["pair_standards"]) if "pair_standards" in fields else []
        return DepartmentsConfig(admins=admins, departments=departments, pair_standards=pairs)

    def mapping(self, node: yaml.Node, path: str, allowed: tuple[str, ...], what: str) -> dict[str, yaml.Node] | None:
        """The values of a mapping by key; unknown and repeated keys are reported and left out."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, f"{what} must be a mapping with the keys {', '.join(allowed)}; "
                                   f"found {_kind(node)}.")
            return None
        fields: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.error(key, path, f"a key must be a plain word, one of {', '.join(allowed)}.")
            elif key.value not in allowed:
                close = difflib.get_close_matches(key.value, allowed, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                self.error(key, _join(path, key.value),
                           f"unknown key.{hint} The keys allowed here are: {', '.join(allowed)}.")
            elif key.value in fields:
                self.error(key, _join(path, key.value), "this key appears twice; keep only one.")
            else:
                fields[key.value] = value
        return fields

    def department(self, node: yaml.Node, path: str, names: dict[str, tuple[str, int]],
                   schedule: tuple[str, str] = DIGEST_DEFAULT) -> DepartmentConfig | None:
        """A department, or None when it has problems; `names` maps the names seen so far to where;
        `schedule` is the file's digest day and time, for a department that names none."""
        fields = self.mapping(node, path, DEPARTMENT_KEYS, "a department")
        if fields is None:
            return None
        problems_before = len(self.problems)
        name = self.name(fields.get("name"), node, f"{path}.name")
        if name is not None:
            self.names.append(name)
            line = fields["name"].start_mark.line + 1
            if (first := names.get(name.casefold())) is not None:
                self.error(fields["name"], f"{path}.name",
                           f"{name!r} is already the name of {first[0]} (line {first[1]}); "
                           "names must differ by more than upper/lower case.")
            else:
                names[name.casefold()] = (path, line)
        managers = self.user_ids(fields["managers"], f"{path}.managers") if "managers" in fields else []
        members = self.user_ids(fields["members"], f"{path}.members") if "members" in fields else []
        channel = self.channel_id(fields["intake_channel"], f"{path}.intake_channel") \
            if "intake_channel" in fields else None
        standard = self.standard(fields["standard"], f"{path}.standard") if "standard" in fields else Standard()
        if "holiday_country" in fields:
            standard = replace(standard, holiday_country=self.country(fields["holiday_country"],
                                                                      f"{path}.holiday_country"))
        digest_day, digest_time = self.schedule(fields, path, schedule)
        if name is None or len(self.problems) > problems_before:
            return None
        return DepartmentConfig(name=name, managers=managers, members=members,
                                intake_channel=channel, standard=standard, digest_day=digest_day,
                                digest_time=digest_time)

    def schedule(self, fields: dict[str, yaml.Node], path: str, default: tuple[str, str]) -> tuple[str, str]:
        """`digest_day` and `digest_time` among `fields`, each `default`'s when absent or wrong."""
        day, clock = default
        if "digest_day" in fields:
            node, where = fields["digest_day"], _join(path, "digest_day")
            text = node.value.strip().lower() if isinstance(node, yaml.ScalarNode) and not _is_null(node) else ""
            if text[:3] in DIGEST_DAYS and (len(text) == 3 or text == DIGEST_DAYS_LONG[DIGEST_DAYS.index(text[:3])]):
                day = text[:3]
            else:
                self.error(node, where, f"must be a day of the week: {', '.join(DIGEST_DAYS)}; not {_kind(node)}.")
        if "digest_time" in fields:
            node, where = fields["digest_time"], _join(path, "digest_time")
            text = node.value.strip() if isinstance(node, yaml.ScalarNode) and not _is_null(node) else ""
            # (The node's text as written: YAML 1.1 would read an unquoted 18:30 as a number.)
            if match := CLOCK_TIME.match(text):
                clock = f"{int(match.group(1)):02d}:{match.group(2)}"
            else:
                self.error(node, where, f'must be a time of day like "09:00" (24-hour clock), not {_kind(node)}.')
        return day, clock

    def name(self, node: yaml.Node | None, department: yaml.Node, path: str) -> str | None:
        if node is None or _is_null(node):
            self.error(node or department, path, "every department needs a name.")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"must be text, not {_kind(node)}.")
            return None
        name = node.value.strip()
        if not name:
            self.error(node, path, "must not be empty.")
        elif len(name) > NAME_MAX:
            self.error(node, path, f"is {len(name)} characters long; the most is {NAME_MAX}.")
        elif not name.isprintable():
            self.error(node, path, "must be one line of plain text.")
        else:
            return name
        return None

    def user_ids(self, node: yaml.Node, path: str) -> list[str]:
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, f"must be a list of Slack user ids like [U012AB3CD, U045EF6GH], "
                                   f"not {_kind(node)}.")
            return []
        ids: list[str] = []
        lines: dict[str, int] = {}
        for index, item in enumerate(node.value):
            item_path = f"{path}[{index}]"
            user_id = self.user_id(item, item_path)
            if user_id is None:
                continue
            if user_id in lines:
                self.error(item, item_path, f"{user_id} is listed twice (first at line {lines[user_id]}).")
                continue
            lines[user_id] = item.start_mark.line + 1
            ids.append(user_id)
        return ids

    def user_id(self, node: yaml.Node, path: str) -> str | None:
        if (comment := _commented_out(node)) is not None:
            self.error(node, path, f"{comment!r} is read as a comment in YAML, so this is empty; "
                                   "write the Slack user id, like U012AB3CD.")
            return None
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            self.error(node, path, f"must be a Slack user id like U012AB3CD, not {_kind(node)}.")
            return None
        text = node.value.strip()
        if USER_ID.match(text):
            return text
        how = "in Slack, open the person's profile → ⋮ → Copy member ID"
        if text.startswith("@"):
            self.error(node, path, f"{text!r} is a name, not a Slack user id; {how} (it looks like U012AB3CD).")
        elif USER_ID.match(text.upper()):
            self.error(node, path, f"{text!r}: Slack user ids are in capitals: {text.upper()}.")
        else:
            self.error(node, path, f"{text!r} is not a Slack user id like U012AB3CD; {how}.")
        return None

    def channel_id(self, node: yaml.Node, path: str) -> str | None:
        if (comment := _commented_out(node)) is not None:
            self.error(node, path, f"{comment!r} is read as a comment in YAML, so this is empty; "
                                   "write the Slack channel id, like C012AB3CD.")
            return None
        if _is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"must be a Slack channel id like C012AB3CD, not {_kind(node)}.")
            return None
        text = node.value.strip()
        if CHANNEL_ID.match(text):
            return text
        how = "in Slack, open the channel, click its name at the top, and copy the Channel ID shown at the bottom"
        if text.startswith("#"):
            self.error(node, path, f"{text!r} is a channel name, not a channel id; {how} (it looks like C012AB3CD).")
        elif CHANNEL_ID.match(text.upper()):
            self.error(node, path, f"{text!r}: Slack channel ids are in capitals: {text.upper()}.")
        else:
            self.error(node, path, f"{text!r} is not a Slack channel id like C012AB3CD; {how}.")
        return None

    def standard(self, node: yaml.Node, path: str) -> Standard:
        default = Standard()
        if _is_null(node):
            return default
        fields = self.mapping(node, path, STANDARD_KEYS, "a standard")
        if fields is None:
            return default
        return replace(default, **self.standard_values(fields, path))

    def standard_values(self, fields: dict[str, yaml.Node], path: str) -> dict[str, int | str]:
        """The valid standard values among `fields`, by `Standard` field name."""
        values: dict[str, int | str] = {}
        for key, attribute in DURATION_KEYS.items():
            if key in fields and (seconds := self.duration(fields[key], f"{path}.{key}")) is not None:
                values[attribute] = seconds
        if "escalate_after" in fields:
            count = self.escalate_after(fields["escalate_after"], f"{path}.escalate_after")
            if count is not None:
                values["escalate_after"] = count
        if "working_hours" in fields:
            hours = self.working_hours(fields["working_hours"], f"{path}.working_hours")
            if hours is not None:
                values["working_hours"] = hours
        return values

    def country(self, node: yaml.Node, path: str) -> str | None:
        """A country code the `holidays` package knows, upper-cased; None when empty or wrong."""
        if (comment := _commented_out(node)) is not None:
            self.error(node, path, f"{comment!r} is read as a comment in YAML, so this is empty; "
                                   "write the country code, like CN.")
            return None
        if _is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"must be a country code like CN, not {_kind(node)}.")
            return None
        text = node.value.strip()
        if not text:
            return None
        if text.upper() in _holiday_countries():
            return text.upper()
        if (named := _country_named(text)) is not None:
            self.error(node, path, f"{text!r} is the name of a country; write its code instead: {named[1]}.")
        else:
            self.error(node, path, f"{text!r} is not a country code the holidays package knows; use an ISO 3166 "
                                   f"code such as {COUNTRY_EXAMPLES}, or leave holiday_country out for no public "
                                   "holidays.")
        return None

    def pair_standards(self, node: yaml.Node) -> list[PairStandardConfig]:
        path = "pair_standards"
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, "must be a list of pair standards, each starting with '- from: …', "
                                   f"not {_kind(node)}.")
            return []
        pairs = []
        seen: dict[tuple[str, str], tuple[str, int]] = {}
        for index, item in enumerate(node.value):
            pair = self.pair_standard(item, f"{path}[{index}]", seen)
            if pair is not None:
                pairs.append(pair)
        return pairs

    def pair_standard(self, node: yaml.Node, path: str, seen: dict[tuple[str, str], tuple[str, int]]
                      ) -> PairStandardConfig | None:
        """A pair standard, or None when it has problems; `seen` maps the pairs so far to where they are."""
        fields = self.mapping(node, path, PAIR_KEYS, "a pair standard")
        if fields is None:
            return None
        problems_before = len(self.problems)
        sender = self.pair_end(fields.get("from"), node, f"{path}.from",
                               "the department whose handoffs the standard is for")
        receiver = self.pair_end(fields.get("to"), node, f"{path}.to", "the department that receives them")
        values = self.standard_values(fields, path)
        if all(isinstance(key, yaml.ScalarNode) and key.value in ("from", "to") for key, _ in node.value):
            self.error(node, path, f"agrees nothing: give at least one of {', '.join(STANDARD_KEYS)} (whatever is "
                                   "left out is the receiving department's own standard).")
        if sender is not None and receiver is not None:
            key = (sender.casefold(), receiver.casefold())
            if key[0] == key[1]:
                self.error(fields["to"], f"{path}.to",
                           f"{receiver!r} is also the 'from' department; a pair standard is between two different "
                           "departments (a department's own standard goes under its 'standard').")
            elif (first := seen.get(key)) is not None:
                self.error(fields["from"], path, f"{sender} → {receiver} already has a pair standard at {first[0]} "
                                                 f"(line {first[1]}); keep only one.")
            else:
                seen[key] = (path, fields["from"].start_mark.line + 1)
        if self.known is not None:
            for end, name in (("from", sender), ("to", receiver)):
                if name is not None and (unknown := _unknown_department(name, [*self.names, *self.known])):
                    self.error(fields[end], f"{path}.{end}", unknown)
        if sender is None or receiver is None or len(self.problems) > problems_before:
            return None
        return PairStandardConfig(sender, receiver, **values,
                                  from_where=self.where(fields["from"], f"{path}.from"),
                                  to_where=self.where(fields["to"], f"{path}.to"))

    def pair_end(self, node: yaml.Node | None, pair: yaml.Node, path: str, what: str) -> str | None:
        """The department name at one end of a pair standard."""
        if node is None or _is_null(node):
            self.error(node or pair, path, f"every pair standard needs '{path.rsplit('.', 1)[1]}': {what}.")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"must be the name of a department, not {_kind(node)}.")
            return None
        name = node.value.strip()
        if not name:
            self.error(node, path, "must not be empty.")
            return None
        return name

    def duration(self, node: yaml.Node, path: str) -> int | None:
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            self.error(node, path, f"must be a duration like 30s, 15m, 4h or 2d, not {_kind(node)}.")
            return None
        try:
            seconds = parse_duration(node.value)
        except ValueError as exc:
            self.error(node, path, f"{exc}.")
            return None
        if seconds > DURATION_MAX_S:
            self.error(node, path, f"{node.value!r} is too long; the most is 365d.")
            return None
        return seconds

    def escalate_after(self, node: yaml.Node, path: str) -> int | None:
        text = node.value.strip() if isinstance(node, yaml.ScalarNode) and not _is_null(node) else ""
        if text.isdigit() and text.isascii() and int(text) <= ESCALATE_MAX:
            return int(text)
        self.error(node, path, f"must be a whole number of reminders from 0 to {ESCALATE_MAX}, not {_kind(node)}.")
        return None

    def working_hours(self, node: yaml.Node, path: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            self.error(node, path, f'must be like "Mon-Fri 09:00-18:00" or "always", not {_kind(node)}.')
            return None
        try:
            parse_working_hours(node.value)
        except ValueError as exc:
            self.error(node, path, f"{exc}.")
            return None
        text = " ".join(node.value.split())
        return "always" if text.lower() == "always" else text
