"""Reading HR-system (EHR) exports: scored exemplar answers and employee records.

An export is a CSV or JSON file of one of two kinds, told apart by its columns (keys):

* **exemplars** (a column ``answer_text``): past answers with a human rating, used by the scorer as
  scored examples. Columns: ``record_id`` (optional), ``role``, ``question_id`` (optional if
  ``competency`` is given), ``competency`` (optional if ``question_id`` is given and the role's flow is
  known), ``answer_text``, ``rating``, ``scale_max`` (optional, default 5), ``scale_min`` (optional,
  default 1), ``source``, ``performance_rating`` (optional, 1..5), ``language`` (optional; detected),
  ``rated_at`` (optional ISO date).
* **employees** (columns ``employee_id`` and ``performance_rating``): one row per employee with a
  rating per competency (column name = competency id, 1..5, empty = unknown), the performance rating
  (1..5) and optionally ``promoted`` (true/false, yes/no, y/n, 1/0, 是/否). These feed
  `knowledge.competency_model.derive_weights`.

Personal data never leaves this module: columns holding names or contact data (name, email, phone,
address, WeChat ... and anything whose header suggests them) and demographic columns (gender, age,
ethnicity ...; those belong to the fairness report, never to scoring) are dropped before a row is read, and
external identifiers (``record_id``, ``employee_id``) are replaced by a keyed hash
(HMAC-SHA256 with a key the caller reads from the environment). Problem messages never quote
identifiers, and hide any quoted value that looks like contact data.

Ratings are stored on the rubric's 1..5 scale: ``1 + 4 * (rating - scale_min) / (scale_max - scale_min)``.
A scale is 1-based unless the file says otherwise: an export on 0..10 needs a ``scale_min`` column
of 0 (a rating of 0 without it is reported, with that hint). Guessing the minimum from the data would
let one row change how every other row is read.

Bad rows are reported (`RowProblem`, numbered as a person counts them: in a CSV the header is row 1
and the first data row is row 2; in JSON the first item is 1) and the rest imported. A file that
cannot be read at all (not UTF-8, broken CSV quoting or JSON syntax, neither kind of export) raises
`ExportError` naming the file and line.

Importing the same file twice gives the same record keys, so a store can skip what it already has.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from flows.schema import LANGUAGES, Flow, Language

Kind = Literal["exemplars", "employees"]

SCALE = (1.0, 5.0)
"""The rubric scale every rating is normalised to; also the scale of performance and competency ratings."""

KEY_CHARS = 32
MIN_KEY_BYTES = 16

EXEMPLAR_FIELDS = (
    "record_id",
    "role",
    "question_id",
    "competency",
    "answer_text",
    "rating",
    "scale_max",
    "scale_min",
    "source",
    "performance_rating",
    "language",
    "rated_at",
)
EMPLOYEE_FIELDS = ("employee_id", "role", "performance_rating", "promoted")

# Headers (normalised) that hold personal data, and words that mark a header as personal data.
PERSONAL_COLUMNS = frozenset(
    {
        "name", "full_name", "first_name", "last_name", "given_name", "family_name", "middle_name",
        "surname", "firstname", "lastname", "fullname", "preferred_name", "display_name", "nickname",
        "email", "e_mail", "mail", "phone", "mobile", "telephone", "tel", "cell", "fax", "address",
        "street", "postcode", "postal_code", "zip", "zip_code", "wechat", "weixin", "wx", "qq",
        "whatsapp", "telegram", "skype", "linkedin", "contact", "birthday", "birth_date",
        "date_of_birth", "dob", "ssn", "national_id", "id_card", "passport", "photo", "gender", "sex",
        "age", "ethnicity", "race", "nationality", "religion", "marital_status",
    }
)  # fmt: skip
PERSONAL_WORDS = frozenset(
    {
        "name", "surname", "email", "mail", "phone", "mobile", "tel", "telephone", "cell", "fax",
        "address", "addr", "street", "postcode", "zip", "wechat", "weixin", "qq", "whatsapp",
        "telegram", "skype", "linkedin", "contact", "birthday", "dob", "ssn", "passport", "photo",
        "gender", "sex", "ethnicity", "nationality", "religion",
    }
)  # fmt: skip
PERSONAL_CJK = (
    "姓名", "名字", "电话", "手机", "邮箱", "邮件", "地址", "微信", "身份证", "联系", "生日", "性别", "年龄",
    "民族", "籍贯",
)  # fmt: skip
# Identifiers of people that an exemplar export may carry; the exemplar keeps none of them.
PERSON_IDS = frozenset({"employee_id", "candidate_id", "staff_id", "person_id", "user_id", "worker_id"})

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_EMAIL_OR_PHONE = re.compile(r"@|\d[\d\s().-]{6,}\d")
_TRUE = frozenset({"true", "yes", "y", "1", "t", "是", "对"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "否", "不"})


class ExportError(Exception):
    """The file cannot be read as an export at all; nothing was imported."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass(frozen=True)
class RoleSchema:
    """What an export may say about one role: its questions (id -> competency) and competencies."""

    role: str
    questions: Mapping[str, str]
    competencies: frozenset[str]


def role_schema(flow: Flow) -> RoleSchema:
    return RoleSchema(
        role=flow.role,
        questions={q.id: q.competency for q in flow.questions},
        competencies=frozenset(c.id for c in flow.competencies),
    )


def role_schemas(flows: Iterable[Flow]) -> dict[str, RoleSchema]:
    """The ``known`` argument of `read_export`, from the published flows."""
    return {flow.role: role_schema(flow) for flow in flows}


@dataclass(frozen=True)
class ExemplarRecord:
    """A scored answer from the export.

    Attributes:
        key: stable content key: the hashed ``record_id`` when given, else a digest of role, question,
            competency, text and rating. The same row imported twice has the same key.
        question_id: ``None`` for a competency-level exemplar (any question of that competency).
        rating: on the rubric's 1..5 scale; ``raw_rating``, ``scale_min`` and ``scale_max`` keep what
            the file said.
        performance: the answerer's performance rating (1..5) where the export gives one.
    """

    key: str
    role: str
    question_id: str | None
    competency: str
    text: str
    rating: float
    source: str
    performance: float | None
    language: Language
    rated_at: date | None
    raw_rating: float
    scale_min: float = SCALE[0]
    scale_max: float = SCALE[1]


@dataclass(frozen=True)
class EmployeeRecord:
    """One employee, pseudonymised: ratings per competency id (1..5; unknown ones absent)."""

    key: str
    role: str
    ratings: dict[str, float]
    performance: float
    promoted: bool | None = None


@dataclass(frozen=True)
class RowProblem:
    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class ImportResult:
    """What an export yielded: the good records, and every problem found in the rest."""

    path: str
    kind: Kind
    exemplars: list[ExemplarRecord] = field(default_factory=list)
    employees: list[EmployeeRecord] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    """Personal-data columns (as headed in the file) whose values were never read."""
    ignored_columns: list[str] = field(default_factory=list)
    """Columns the importer has no use for (as headed in the file)."""
    notices: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return len(self.exemplars) + len(self.employees)

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({p.row for p in self.problems})

    def summary(self) -> str:
        """A short report for the person who ran the import: counts, notices, then each problem."""
        lines = [f"{self.path}: {self.records} {self.kind} imported, {len(self.rejected_rows)} rows rejected"]
        lines.extend(f"{self.path}: note: {notice}" for notice in self.notices)
        lines.extend(f"{self.path}: {problem}" for problem in self.problems)
        return "\n".join(lines)


def pseudonymise(value: str, key: bytes) -> str:
    """The keyed hash that replaces an external identifier (HMAC-SHA256, hex, 32 characters)."""
    return hmac.new(key, value.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:KEY_CHARS]


def detect_language(text: str) -> Language:
    """``"zh"`` when Chinese characters outnumber Latin-script words, else ``"en"``."""
    return "zh" if len(_CJK.findall(text)) > len(_LATIN_WORD.findall(text)) else "en"


def read_export(path: Path, *, id_key: bytes, known: Mapping[str, RoleSchema] | None = None) -> ImportResult:
    """Read one CSV or JSON export.

    Args:
        path: the file; ``.json`` is read as JSON, anything else as CSV (comma, semicolon or tab).
        id_key: the key for hashing identifiers (at least 16 bytes), from the environment.
        known: the schema per role (see `role_schemas`); when given, roles, question ids and
            competencies are checked against it and employee ratings are read for the role's
            competencies only. Without it those checks are skipped.

    Raises:
        ExportError: the file is unreadable, not UTF-8, not valid CSV/JSON, or neither kind of export.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError(str(path), 1, f"cannot read: {exc.strerror}") from exc
    return parse_export(data, name=str(path), id_key=id_key, known=known)


def parse_export(
    data: bytes, *, name: str, id_key: bytes, known: Mapping[str, RoleSchema] | None = None
) -> ImportResult:
    """`read_export` over bytes already in memory (an upload); ``name`` is used in messages and to
    tell JSON (``*.json``, or content starting with ``[``/``{``) from CSV."""
    if len(id_key) < MIN_KEY_BYTES:
        raise ValueError(f"id_key must be at least {MIN_KEY_BYTES} bytes (got {len(id_key)})")
    text = _decode(data, name)
    is_json = name.lower().endswith(".json") or (
        not name.lower().endswith((".csv", ".tsv", ".txt")) and text.lstrip()[:1] in {"[", "{"}
    )
    headers, rows = _json_rows(text, name) if is_json else _csv_rows(text, name)
    return _Reader(name, headers, id_key, known).read(rows)


# --- reading the table --------------------------------------------------------------------------------

Row = tuple[int, dict[str, Any] | str]
"""A row number and either the row's values by original header, or why the row cannot be read."""


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportError(name, 1, "the file is UTF-16; export it again as UTF-8 (Excel: 'CSV UTF-8')")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ExportError(
            name,
            line,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); export it again as UTF-8 (Excel: 'CSV UTF-8')",
        ) from exc
    if not text.strip():
        raise ExportError(name, 1, "the file is empty")
    return text


def _csv_rows(text: str, name: str) -> tuple[list[str], list[Row]]:
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    start = 1
    try:
        for record in reader:
            records.append(record)
            start = reader.line_num + 1
    except csv.Error as exc:
        if "end of data" in str(exc):
            raise ExportError(
                name, start, "CSV syntax error: a quoted cell in this row is never closed (a missing '\"')"
            ) from exc
        raise ExportError(name, reader.line_num, f"CSV syntax error: {exc}") from exc
    headers = [h.strip() for h in records[0]]
    rows: list[Row] = []
    # Row numbers follow a spreadsheet: the header is row 1, and a quoted multi-line cell stays one row.
    for number, values in enumerate(records[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(headers):
            rows.append(
                (
                    number,
                    f"has {len(values)} fields but the header has {len(headers)} "
                    "(an unquoted delimiter in a text, or a missing one?)",
                )
            )
            continue
        rows.append((number, dict(zip(headers, values, strict=True))))
    return headers, rows


def _json_rows(text: str, name: str) -> tuple[list[str], list[Row]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError(name, exc.lineno, f"JSON syntax error: {exc.msg} (column {exc.colno})") from exc
    if isinstance(data, dict):
        lists = [v for k, v in data.items() if k in {"records", "items", "data", "exemplars", "employees"}]
        if len(lists) != 1 or not isinstance(lists[0], list):
            raise ExportError(name, 1, "expected a list of records, or an object with a 'records' list")
        data = lists[0]
    if not isinstance(data, list):
        raise ExportError(name, 1, "expected a list of records")
    headers: list[str] = []
    rows: list[Row] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            rows.append((number, "is not an object with keys"))
            continue
        headers.extend(str(k).strip() for k in item if str(k).strip() not in headers)
        rows.append((number, {str(k).strip(): v for k, v in item.items()}))
    return headers, rows


def _normal_header(header: str) -> str:
    return re.sub(r"[\s\-.]+", "_", unicodedata.normalize("NFKC", header).strip().lower())


def _normal_role(role: str) -> str:
    return re.sub(r"[\s\-]+", "_", role.strip().lower())


def is_personal_column(header: str) -> bool:
    """Whether a column's header suggests names or contact data (such columns are never read)."""
    normal = _normal_header(header)
    if normal in PERSONAL_COLUMNS or any(word in normal for word in PERSONAL_CJK):
        return True
    words = set(normal.split("_"))
    return bool(words & PERSONAL_WORDS) or any(
        normal.endswith(suffix) for suffix in ("name", "email", "phone", "mobile", "address")
    )


# --- reading the values -------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shown(value: Any) -> str:
    """A cell value for a problem message, hidden when it may be contact data."""
    text = str(value).strip()
    if _EMAIL_OR_PHONE.search(text):
        return "(value hidden: looks like contact data)"
    return repr(text if len(text) <= 24 else text[:21] + "...")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if re.fullmatch(r"[+-]?\d+,\d+", text):
            text = text.replace(",", ".")  # decimal comma
        try:
            number = float(text)
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _fixed_float(value: float) -> str:
    return f"{value:.6f}"


class _Reader:
    """Reads the rows of one export, collecting records and problems."""

    def __init__(
        self, name: str, headers: list[str], id_key: bytes, known: Mapping[str, RoleSchema] | None
    ) -> None:
        self.name = name
        self.id_key = id_key
        self.known = None if known is None else {_normal_role(r): s for r, s in known.items()}
        self.columns: dict[str, str] = {}  # normalised field -> header in the file
        seen: dict[str, str] = {}
        for header in headers:
            normal = _normal_header(header)
            if not normal:
                continue
            if normal in seen:
                raise ExportError(name, 1, f"column {header!r} appears twice (also as {seen[normal]!r})")
            seen[normal] = header
        self.kind = self._kind(set(seen))
        self.result = ImportResult(path=name, kind=self.kind)
        fields = EXEMPLAR_FIELDS if self.kind == "exemplars" else EMPLOYEE_FIELDS
        competencies = self._competency_ids()
        for normal, header in seen.items():
            if normal in fields or (self.kind == "employees" and normal in competencies):
                self.columns[normal] = header
            elif is_personal_column(header) or (self.kind == "exemplars" and normal in PERSON_IDS):
                self.result.dropped_columns.append(header)
            else:
                self.result.ignored_columns.append(header)
        self.keys: dict[str, int] = {}

    def _kind(self, columns: set[str]) -> Kind:
        if "answer_text" in columns:
            return "exemplars"
        if {"employee_id", "performance_rating"} <= columns:
            return "employees"
        raise ExportError(
            self.name,
            1,
            "not an EHR export: an exemplar export needs an 'answer_text' column, an employee export "
            "'employee_id' and 'performance_rating' columns (found: "
            f"{', '.join(sorted(columns)) or 'none'})",
        )

    def _competency_ids(self) -> set[str]:
        if self.known is not None:
            return {c for schema in self.known.values() for c in schema.competencies}
        return set()

    def read(self, rows: list[Row]) -> ImportResult:
        if self.kind == "employees" and self.known is None:
            self._guess_competency_columns(rows)
        if self.result.dropped_columns:
            self.result.notices.append(
                "personal-data columns dropped unread: " + ", ".join(self.result.dropped_columns)
            )
        if self.result.ignored_columns:
            self.result.notices.append(
                "columns ignored (not used by the importer): " + ", ".join(self.result.ignored_columns)
            )
        for number, values in rows:
            if isinstance(values, str):
                self.result.problems.append(RowProblem(number, values))
                continue
            cells = {normal: values.get(header) for normal, header in self.columns.items()}
            if all(_blank(v) for v in cells.values()):
                continue
            problems: list[str] = []
            nested = [n for n, v in cells.items() if isinstance(v, dict | list)]
            if nested:
                problems.extend(f"{n} must be a single value, not a list or object" for n in nested)
            elif self.kind == "exemplars":
                self._exemplar(number, cells, problems)
            else:
                self._employee(number, cells, problems)
            self.result.problems.extend(RowProblem(number, reason) for reason in problems)
        return self.result

    def _guess_competency_columns(self, rows: list[Row]) -> None:
        """Without role schemas, a leftover column whose values are all ratings (1..5) is a competency."""
        for header in list(self.result.ignored_columns):
            values = [v.get(header) for _, v in rows if isinstance(v, dict)]
            present = [v for v in values if not _blank(v)]
            numbers = [_number(v) for v in present]
            if present and all(n is not None and SCALE[0] <= n <= SCALE[1] for n in numbers):
                self.columns[_normal_header(header)] = header
                self.result.ignored_columns.remove(header)

    def _claim(self, key: str, number: int, what: str, problems: list[str]) -> bool:
        first = self.keys.get(key)
        if first is not None:
            problems.append(f"duplicate {what} (same as row {first}); this row is skipped")
            return False
        self.keys[key] = number
        return True

    def _role(self, cells: dict[str, Any], problems: list[str]) -> tuple[str | None, RoleSchema | None]:
        if _blank(cells.get("role")):
            problems.append("missing role")
            return None, None
        role = _normal_role(_text(cells["role"]))
        if self.known is None:
            return role, None
        schema = self.known.get(role)
        if schema is None:
            problems.append(
                f"unknown role {_shown(cells['role'])} (known: {', '.join(sorted(self.known)) or 'none'})"
            )
        return role, schema

    def _rating(
        self, value: Any, what: str, low: float, high: float, problems: list[str], *, required: bool
    ) -> float | None:
        if _blank(value):
            if required:
                problems.append(f"missing {what}")
            return None
        number = _number(value)
        if number is None:
            problems.append(f"{what} {_shown(value)} is not a number")
            return None
        if not low <= number <= high:
            problems.append(f"{what} {number:g} is outside {low:g}..{high:g}")
            return None
        return number

    def _exemplar(self, number: int, cells: dict[str, Any], problems: list[str]) -> None:
        role, schema = self._role(cells, problems)

        answer = cells.get("answer_text")
        text = ""
        if answer is None:
            problems.append("missing answer_text")
        else:
            text = unicodedata.normalize("NFC", str(answer).replace("\r\n", "\n").replace("\r", "\n")).strip()
            if not text:
                problems.append("answer_text is empty")

        question_id = None if _blank(cells.get("question_id")) else _text(cells["question_id"])
        competency = None if _blank(cells.get("competency")) else _text(cells["competency"])
        if question_id is None and competency is None:
            problems.append("needs a question_id or a competency")
        elif schema is not None:
            if question_id is not None:
                expected = schema.questions.get(question_id)
                if expected is None:
                    problems.append(f"unknown question_id {_shown(question_id)} for role {schema.role}")
                elif competency is None:
                    competency = expected
                elif competency != expected:
                    problems.append(
                        f"competency {_shown(competency)} does not match question {question_id}'s "
                        f"competency {expected!r}"
                    )
            if competency is not None and competency not in schema.competencies:
                problems.append(
                    f"unknown competency {_shown(competency)} for role {schema.role} "
                    f"(known: {', '.join(sorted(schema.competencies))})"
                )
        elif competency is None and self.known is None:
            problems.append(
                "missing competency: give one, or import with the role's flow so the question's is used"
            )

        scale_min = self._rating(
            cells.get("scale_min"), "scale_min", -math.inf, math.inf, problems, required=False
        )
        scale_max = self._rating(
            cells.get("scale_max"), "scale_max", -math.inf, math.inf, problems, required=False
        )
        low = SCALE[0] if scale_min is None else scale_min
        high = SCALE[1] if scale_max is None else scale_max
        rating: float | None = None
        if high <= low:
            problems.append(f"scale_max {high:g} must be greater than scale_min {low:g}")
        else:
            raw = cells.get("rating")
            rating = self._rating(raw, "rating", -math.inf, math.inf, problems, required=True)
            if rating is not None and not low <= rating <= high:
                hint = (
                    "; if this scale starts at 0, add a scale_min column with 0"
                    if rating < low and scale_min is None and rating >= 0
                    else ""
                )
                problems.append(f"rating {rating:g} is outside {low:g}..{high:g}{hint}")
                rating = None

        source = ""
        if _blank(cells.get("source")):
            problems.append("missing source (past_interview, employee, ...)")
        else:
            source = _normal_header(_text(cells["source"]))
            if not _SOURCE.match(source):
                problems.append(
                    f"source {_shown(cells['source'])} must be one short word "
                    "such as past_interview or employee"
                )

        performance = self._rating(
            cells.get("performance_rating"), "performance_rating", *SCALE, problems, required=False
        )

        language: Language = detect_language(text)
        if not _blank(cells.get("language")):
            code = _text(cells["language"]).lower().replace("_", "-").split("-")[0]
            if code in LANGUAGES:
                language = "zh" if code == "zh" else "en"
            else:
                problems.append(
                    f"language {_shown(cells['language'])} is not supported ({', '.join(LANGUAGES)})"
                )

        rated_at = None
        if not _blank(cells.get("rated_at")):
            try:
                rated_at = datetime.fromisoformat(_text(cells["rated_at"])).date()
            except ValueError:
                problems.append(f"rated_at {_shown(cells['rated_at'])} is not an ISO date (YYYY-MM-DD)")

        if problems or role is None or competency is None or rating is None:
            return
        level = SCALE[0] + (SCALE[1] - SCALE[0]) * (rating - low) / (high - low)
        if not _blank(cells.get("record_id")):
            key = pseudonymise(_text(cells["record_id"]), self.id_key)
            what = "record_id"
        else:
            content = "\x1f".join((role, question_id or "", competency, text, _fixed_float(level)))
            key = hashlib.sha256(content.encode("utf-8")).hexdigest()[:KEY_CHARS]
            what = "answer (same role, question, competency, text and rating)"
        if not self._claim(key, number, what, problems):
            return
        self.result.exemplars.append(
            ExemplarRecord(
                key=key,
                role=role,
                question_id=question_id,
                competency=competency,
                text=text,
                rating=level,
                source=source,
                performance=performance,
                language=language,
                rated_at=rated_at,
                raw_rating=rating,
                scale_min=low,
                scale_max=high,
            )
        )

    def _employee(self, number: int, cells: dict[str, Any], problems: list[str]) -> None:
        employee_id = None if _blank(cells.get("employee_id")) else _text(cells["employee_id"])
        if employee_id is None:
            problems.append("missing employee_id")
        role, schema = self._role(cells, problems)
        performance = self._rating(
            cells.get("performance_rating"), "performance_rating", *SCALE, problems, required=True
        )
        promoted: bool | None = None
        value = cells.get("promoted")
        if isinstance(value, bool):
            promoted = value
        elif not _blank(value):
            word = _text(value).lower()
            if word in _TRUE:
                promoted = True
            elif word in _FALSE:
                promoted = False
            else:
                problems.append(f"promoted {_shown(value)} must be yes/no, true/false, y/n, 1/0 or 是/否")
        fixed = set(EMPLOYEE_FIELDS)
        competencies = [c for c in self.columns if c not in fixed]
        if schema is not None:
            competencies = [c for c in competencies if c in schema.competencies]
        ratings: dict[str, float] = {}
        for competency in competencies:
            rating = self._rating(cells.get(competency), competency, *SCALE, problems, required=False)
            if rating is not None:
                ratings[competency] = rating
        if problems or employee_id is None or role is None or performance is None:
            return
        key = pseudonymise(employee_id, self.id_key)
        if not self._claim(key, number, "employee_id", problems):
            return
        self.result.employees.append(
            EmployeeRecord(key=key, role=role, ratings=ratings, performance=performance, promoted=promoted)
        )
