"""Reading EHR exports: bad rows reported by number, personal data dropped, ids hashed, keys stable."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flows.schema import load_flow_file
from knowledge.ehr import (
    ExportError,
    ImportResult,
    RoleSchema,
    detect_language,
    is_personal_column,
    parse_export,
    pseudonymise,
    read_export,
    role_schemas,
)

ROOT = Path(__file__).resolve().parents[2]
EHR = ROOT / "dialogues" / "ehr"
KEY = b"test-key-0123456789abcdef"

HEADER = (
    "record_id,role,question_id,competency,answer_text,rating,scale_max,source,performance_rating,"
    "name,email,notes"
)
GOOD = (
    "R-1,sales_manager,customer_needs_discovery,,I asked what problem they had,4,,past_interview,,"
    "Ann Lee,ann@example.com,x"
)


@pytest.fixture(scope="module")
def known() -> dict[str, RoleSchema]:
    flows = [load_flow_file(p).flow for p in sorted((ROOT / "dialogues" / "flows").glob("*.yml"))]
    return role_schemas(flows)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def csv_text(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


def problems(result: ImportResult) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for problem in result.problems:
        found.setdefault(problem.row, []).append(problem.reason)
    return found


def test_role_schema_maps_questions_to_competencies(known: dict[str, RoleSchema]) -> None:
    sales = known["sales_manager"]
    assert sales.questions["customer_needs_discovery"] == "customer_focus"
    assert sales.competencies == {
        "customer_focus",
        "pipeline_management",
        "negotiation",
        "team_leadership",
        "integrity_resilience",
    }


def test_bad_exemplar_rows_are_reported_by_row_and_the_rest_imported(
    tmp_path: Path, known: dict[str, RoleSchema]
) -> None:
    rows = [
        GOOD,  # 2
        "R-2,sales_manager,customer_needs_discovery,,   ,4,,past_interview,,,,",  # 3 blank answer
        "R-3,sales_manager,customer_needs_discovery,,Some answer,four,,past_interview,,,,",  # 4
        "R-4,sales_manager,customer_needs_discovery,,Some answer,6,,past_interview,,,,",  # 5
        "R-5,marketing_lead,customer_needs_discovery,,Some answer,3,,past_interview,,,,",  # 6
        "R-6,sales_manager,no_such_question,,Some answer,3,,past_interview,,,,",  # 7
        "R-7,sales_manager,customer_needs_discovery,negotiation,Some answer,3,,past_interview,,,,",  # 8
        "R-8,sales_manager,,charisma,Some answer,3,,past_interview,,,,",  # 9
        "R-9,sales_manager,,negotiation,Some answer,3,,past_interview,7,,,",  # 10
        "R-1,sales_manager,,negotiation,Another answer,3,,past_interview,,,,",  # 11 duplicate id
        "R-10,sales_manager,,,Some answer,3,,past_interview,,,,",  # 12 neither question nor competency
        "R-11,sales_manager,,negotiation,Fine answer,2,,employee,4,,,",  # 13 good
        "R-12,sales_manager,,negotiation,Too,many,fields,3,,employee,,,,",  # 14
    ]
    result = read_export(write(tmp_path, "x.csv", csv_text(*rows)), id_key=KEY, known=known)

    found = problems(result)
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]
    assert found[3] == ["answer_text is empty"]
    assert found[4] == ["rating 'four' is not a number"]
    assert found[5] == ["rating 6 is outside 1..5"]
    assert found[6][0].startswith("unknown role 'marketing_lead' (known: rd_engineer, sales_manager)")
    assert found[7] == ["unknown question_id 'no_such_question' for role sales_manager"]
    assert found[8] == [
        "competency 'negotiation' does not match question customer_needs_discovery's "
        "competency 'customer_focus'"
    ]
    assert found[9][0].startswith("unknown competency 'charisma' for role sales_manager (known: ")
    assert found[10] == ["performance_rating 7 is outside 1..5"]
    assert found[11] == ["duplicate record_id (same as row 2); this row is skipped"]
    assert found[12] == ["needs a question_id or a competency"]
    assert found[14][0].startswith("has 14 fields but the header has 12")

    assert result.kind == "exemplars"
    assert [e.text for e in result.exemplars] == ["I asked what problem they had", "Fine answer"]
    first, second = result.exemplars
    assert first.competency == "customer_focus"  # looked up from the question
    assert first.question_id == "customer_needs_discovery"
    assert second.question_id is None  # a competency-level exemplar
    assert (second.rating, second.source, second.performance) == (2.0, "employee", 4.0)
    assert result.rejected_rows == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]
    assert "2 exemplars imported, 11 rows rejected" in result.summary()


def test_missing_answer_text_and_bad_json_items_are_numbered_from_one(
    tmp_path: Path, known: dict[str, RoleSchema]
) -> None:
    items: list[Any] = [
        {"role": "rd_engineer", "competency": "collaboration", "answer_text": "我和测试团队一起复盘",
         "rating": 4, "source": "past_interview"},
        {"role": "rd_engineer", "competency": "collaboration", "rating": 4, "source": "past_interview"},
        "not an object",
        {"role": "rd_engineer", "competency": ["collaboration"], "answer_text": "x", "rating": 4,
         "source": "past_interview"},
        {"role": "rd_engineer", "question_id": "technical_disagreement", "answer_text": "We argued.",
         "rating": 3.5, "source": "past_interview", "rated_at": "2024-05-02"},
    ]  # fmt: skip
    result = read_export(write(tmp_path, "x.json", json.dumps(items)), id_key=KEY, known=known)
    assert problems(result) == {
        2: ["missing answer_text"],
        3: ["is not an object with keys"],
        4: ["competency must be a single value, not a list or object"],
    }
    zh, en = result.exemplars
    assert (zh.language, en.language) == ("zh", "en")
    assert en.competency == "collaboration"
    assert en.rated_at == date(2024, 5, 2)
    assert en.rating == 3.5


def test_csv_rows_count_as_in_a_spreadsheet_even_with_multiline_cells(tmp_path: Path) -> None:
    rows = [
        'R-1,sales_manager,,negotiation,"First line\nsecond line, with a comma",4,,past_interview,,,,',
        "R-2,sales_manager,,negotiation,Fine,9,,past_interview,,,,",
    ]
    result = read_export(write(tmp_path, "x.csv", csv_text(*rows)), id_key=KEY)
    assert [p.row for p in result.problems] == [3]
    assert result.exemplars[0].text == "First line\nsecond line, with a comma"


def test_without_schemas_a_question_alone_is_not_enough(tmp_path: Path) -> None:
    text = csv_text(GOOD, "R-2,any_role,some_question,,An answer,3,,past_interview,,,,")
    result = read_export(write(tmp_path, "x.csv", text), id_key=KEY)
    assert problems(result)[2][0].startswith("missing competency")
    assert problems(result)[3][0].startswith("missing competency")
    assert result.exemplars == []


def test_keys_are_stable_across_reads_line_endings_and_formats(
    tmp_path: Path, known: dict[str, RoleSchema]
) -> None:
    rows = [
        GOOD,
        "R-2,sales_manager,,negotiation,Line one,3,,past_interview,,,,",
        ',sales_manager,,negotiation,"No id\nat all",5,,past_interview,,,,',
    ]
    lf = write(tmp_path, "lf.csv", csv_text(*rows))
    crlf = write(tmp_path, "crlf.csv", csv_text(*rows).replace("\n", "\r\n"))
    bom = write(tmp_path, "bom.csv", "\ufeff" + csv_text(*rows))
    fields = HEADER.split(",")
    items = [
        dict(zip(fields, row.replace('"No id\nat all"', "No id\nat all").split(","), strict=True))
        for row in rows
    ]
    items[2]["answer_text"] = "No id\nat all"
    as_json = write(tmp_path, "x.json", json.dumps(items, ensure_ascii=False))

    def keys(path: Path) -> list[str]:
        result = read_export(path, id_key=KEY, known=known)
        assert result.problems == []
        return [e.key for e in result.exemplars]

    first = keys(lf)
    assert len(set(first)) == 3
    assert keys(lf) == first
    assert keys(crlf) == first
    assert keys(bom) == first
    assert keys(as_json) == first
    assert first[0] == pseudonymise("R-1", KEY)
    assert read_export(lf, id_key=b"another-key-0123456789", known=known).exemplars[0].key != first[0]


def test_the_same_answer_twice_without_an_id_is_a_duplicate(tmp_path: Path) -> None:
    row = ",sales_manager,,negotiation,Same answer,4,,past_interview,,,,"
    result = read_export(write(tmp_path, "x.csv", csv_text(row, row)), id_key=KEY)
    assert len(result.exemplars) == 1
    assert problems(result) == {
        3: [
            "duplicate answer (same role, question, competency, text and rating) (same as row 2); "
            "this row is skipped"
        ]
    }


def test_personal_columns_are_dropped_and_ids_hashed(tmp_path: Path) -> None:
    text = (
        "employee_id,Full Name,E-mail,Mobile Phone,WeChat ID,Home Address,manager_name,gender,"
        "role,negotiation,performance_rating,promoted\n"
        "E10001,Ann Lee,ann.lee@example.com,+44 7700 900123,annlee88,1 High St,Bob Stone,F,"
        "sales_manager,4,4,yes\n"
        "E10002,Bo Chen,bo.chen@example.com,+44 7700 900456,bochen,2 Low St,Bob Stone,M,"
        "sales_manager,2,3,否\n"
    )
    result = read_export(write(tmp_path, "e.csv", text), id_key=KEY)
    assert result.dropped_columns == [
        "Full Name", "E-mail", "Mobile Phone", "WeChat ID", "Home Address", "manager_name", "gender"
    ]  # fmt: skip
    everything = repr(result)
    for secret in (
        "Ann Lee",
        "ann.lee",
        "7700",
        "annlee88",
        "High St",
        "Bob Stone",
        "Bo Chen",
        "E10001",
        "E10002",
    ):
        assert secret not in everything
    assert [e.key for e in result.employees] == [pseudonymise("E10001", KEY), pseudonymise("E10002", KEY)]
    assert all(len(e.key) == 32 for e in result.employees)
    assert [e.promoted for e in result.employees] == [True, False]
    assert result.employees[0].ratings == {"negotiation": 4.0}


@pytest.mark.parametrize(
    ("header", "personal"),
    [
        ("name", True), ("姓名", True), ("手机号", True), ("emergency_contact", True), ("username", True),
        ("customer_focus", False), ("role", False), ("team_leadership", False), ("learning_agility", False),
    ],
)  # fmt: skip
def test_personal_column_detection(header: str, personal: bool) -> None:
    assert is_personal_column(header) is personal


def test_problem_messages_never_quote_ids_or_contact_data(
    tmp_path: Path, known: dict[str, RoleSchema]
) -> None:
    text = (
        "employee_id,role,customer_focus,performance_rating\n"
        "E77,sales_manager,4,4\n"
        "E77,sales_manager,4,4\n"
        "E78,sales_manager,ann@example.com,4\n"
    )
    result = read_export(write(tmp_path, "e.csv", text), id_key=KEY, known=known)
    messages = result.summary()
    assert "E77" not in messages and "ann@example.com" not in messages
    assert problems(result) == {
        3: ["duplicate employee_id (same as row 2); this row is skipped"],
        4: ["customer_focus (value hidden: looks like contact data) is not a number"],
    }


def test_bad_employee_rows(tmp_path: Path, known: dict[str, RoleSchema]) -> None:
    text = (
        "employee_id,name,role,technical_depth,problem_solving,collaboration,engineering_quality,"
        "learning_agility,performance_rating,promoted,department\n"
        "E1,A,rd_engineer,4,5,,3,3,4,Y,Platform\n"  # 2 good, one blank rating
        "E2,B,rd_engineer,4,5,3,3,3,6,N,Platform\n"  # 3 performance out of range
        "E3,C,rd_engineer,0,5,3,3,3,4,N,Platform\n"  # 4 competency rating out of range
        "E4,D,rd_engineer,4,5,3,3,3,,N,Platform\n"  # 5 performance missing
        "E5,E,designer,4,5,3,3,3,3,N,Platform\n"  # 6 unknown role
        ",F,rd_engineer,4,5,3,3,3,3,N,Platform\n"  # 7 no id
        "E7,G,rd_engineer,4,5,3,3,3,3,maybe,Platform\n"  # 8 promoted unreadable
        "E8,H,rd_engineer,,,,,,2,是,Platform\n"  # 9 good, no competency ratings
    )
    result = read_export(write(tmp_path, "e.csv", text), id_key=KEY, known=known)
    found = problems(result)
    assert found == {
        3: ["performance_rating 6 is outside 1..5"],
        4: ["technical_depth 0 is outside 1..5"],
        5: ["missing performance_rating"],
        6: [found[6][0]],
        7: ["missing employee_id"],
        8: ["promoted 'maybe' must be yes/no, true/false, y/n, 1/0 or 是/否"],
    }
    assert found[6][0].startswith("unknown role 'designer'")
    good, empty = result.employees
    assert good.ratings == {
        "technical_depth": 4.0,
        "problem_solving": 5.0,
        "engineering_quality": 3.0,
        "learning_agility": 3.0,
    }
    assert (good.performance, good.promoted) == (4.0, True)
    assert (empty.ratings, empty.performance, empty.promoted) == ({}, 2.0, True)
    assert result.ignored_columns == ["department"]
    assert result.notices == [
        "personal-data columns dropped unread: name",
        "columns ignored (not used by the importer): department",
    ]


def test_without_schemas_rating_columns_are_recognised_by_their_values(tmp_path: Path) -> None:
    text = (
        "employee_id,role,grit,hire_date,tenure_years,performance_rating\n"
        "E1,any,4,2020-01-01,7,3\nE2,any,,2021-01-01,2,4\n"
    )
    result = read_export(write(tmp_path, "e.csv", text), id_key=KEY)
    assert result.ignored_columns == ["hire_date", "tenure_years"]
    assert [e.ratings for e in result.employees] == [{"grit": 4.0}, {}]


def test_scales_are_normalised_to_one_to_five(tmp_path: Path) -> None:
    header = "role,competency,answer_text,rating,scale_min,scale_max,source\n"
    text = header + (
        "r,c,ten of ten,10,,10,past_interview\n"  # 1-based 1..10: 10 -> 5
        "r,c,five of ten,5.5,,10,past_interview\n"  # midpoint of 1..10 -> 3
        "r,c,zero based,0,0,10,past_interview\n"  # 0..10: 0 -> 1
        "r,c,zero based mid,5,0,10,past_interview\n"  # 0..10: 5 -> 3
        "r,c,zero without scale_min,0,,10,past_interview\n"
        "r,c,upside down,3,5,5,past_interview\n"
        'r,c,decimal comma,"3,5",,,past_interview\n'
    )
    result = read_export(write(tmp_path, "s.csv", text), id_key=KEY)
    assert [e.rating for e in result.exemplars] == [5.0, 3.0, 1.0, 3.0, 3.5]
    assert [(e.raw_rating, e.scale_min, e.scale_max) for e in result.exemplars][2] == (0.0, 0.0, 10.0)
    assert problems(result) == {
        6: ["rating 0 is outside 1..10; if this scale starts at 0, add a scale_min column with 0"],
        7: ["scale_max 5 must be greater than scale_min 5"],
    }


def test_language_detection() -> None:
    assert detect_language("我们在 Kafka 集群上做了压测，发现消费者组重平衡太频繁") == "zh"
    assert detect_language("We moved the Beijing (北京) team onto the new pipeline.") == "en"
    assert detect_language("") == "en"


def test_language_column_overrides_and_is_checked(tmp_path: Path) -> None:
    text = (
        "role,competency,answer_text,rating,source,language,rated_at\n"
        "r,c,English text,3,past_interview,zh-CN,2024-01-31\n"
        "r,c,Texte,3,past_interview,fr,\n"
        "r,c,Text,3,past_interview,,31/01/2024\n"
        "r,c,Text,3,past interview!,,\n"
    )
    result = read_export(write(tmp_path, "l.csv", text), id_key=KEY)
    assert result.exemplars[0].language == "zh"
    assert problems(result) == {
        3: ["language 'fr' is not supported (en, zh)"],
        4: ["rated_at '31/01/2024' is not an ISO date (YYYY-MM-DD)"],
        5: ["source 'past interview!' must be one short word such as past_interview or employee"],
    }


def test_unknown_columns_give_one_notice(tmp_path: Path) -> None:
    text = "role,competency,answer_text,rating,source,interviewer_team,batch\nr,c,Text,3,past_interview,A,7\n"
    result = read_export(write(tmp_path, "n.csv", text), id_key=KEY)
    assert result.notices == ["columns ignored (not used by the importer): interviewer_team, batch"]
    assert len(result.exemplars) == 1


def test_semicolon_and_tab_delimited_exports(tmp_path: Path) -> None:
    for delimiter in ";\t":
        text = delimiter.join(["role", "competency", "answer_text", "rating", "source"]) + "\n"
        text += delimiter.join(["r", "c", "Text, with comma", "4", "past_interview"]) + "\n"
        result = read_export(write(tmp_path, "d.csv", text), id_key=KEY)
        assert [e.text for e in result.exemplars] == ["Text, with comma"]


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("a.json", '[\n{"role": "r",\n"answer_text": }\n]', 3, "JSON syntax error"),
        ("a.csv", 'role,answer_text\nr,"fine"\nr,"broken"x\n', 3, "CSV syntax error"),
        ("a.csv", 'role,answer_text\nr,"never closed\nr,more\nr,lines\n', 2, "is never closed"),
        ("a.csv", "role,competency,rating\nr,c,3\n", 1, "not an EHR export"),
        ("a.json", '{"rows": []}', 1, "expected a list of records"),
        ("a.csv", "role,Role ,answer_text\nr,r,x\n", 1, "column 'Role' appears twice"),
        ("a.csv", "  \n", 1, "the file is empty"),
    ],
)
def test_unreadable_files_raise_one_clear_error(
    tmp_path: Path, name: str, content: str, line: int, message: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ExportError) as caught:
        read_export(path, id_key=KEY)
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_non_utf8_files_are_refused_with_the_line(tmp_path: Path) -> None:
    text = "role,competency,answer_text,rating,source\nr,c,Café crème,3,past_interview\n"
    with pytest.raises(ExportError, match=r":2: not UTF-8 text .*CSV UTF-8"):
        read_export(write(tmp_path, "latin1.csv", text, encoding="latin-1"), id_key=KEY)
    with pytest.raises(ExportError, match="UTF-16"):
        read_export(write(tmp_path, "utf16.csv", text, encoding="utf-16"), id_key=KEY)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        parse_export(b"employee_id,performance_rating\nE1,3\n", name="e.csv", id_key=b"short")


def test_bytes_are_read_like_files() -> None:
    result = parse_export(
        b'[{"employee_id": "E1", "role": "r", "performance_rating": 3}]', name="upload", id_key=KEY
    )
    assert result.kind == "employees"
    assert result.employees[0].key == pseudonymise("E1", KEY)


@pytest.mark.parametrize(("role", "count"), [("sales_manager", 78), ("rd_engineer", 66)])
def test_sample_employee_exports_import_cleanly(known: dict[str, RoleSchema], role: str, count: int) -> None:
    path = EHR / f"{role}_employees.csv"
    result = read_export(path, id_key=KEY, known=known)
    assert result.problems == []
    assert len(result.employees) == count
    assert {e.role for e in result.employees} == {role}
    assert result.dropped_columns == ["name", "email"]
    text = path.read_text(encoding="utf-8")
    everything = repr(result)
    for line in text.splitlines()[1:]:
        employee_id, name, email = line.split(",")[:3]
        assert employee_id not in everything and name not in everything and email not in everything


@pytest.mark.parametrize("name", ["sales_manager_exemplars.csv", "rd_engineer_exemplars.json"])
def test_sample_exemplar_exports_import_cleanly(known: dict[str, RoleSchema], name: str) -> None:
    path = EHR / name
    if not path.exists():
        pytest.skip(f"{name} is not there yet")
    result = read_export(path, id_key=KEY, known=known)
    assert result.kind == "exemplars"
    assert result.problems == [], result.summary()
    assert result.exemplars
    assert [e.key for e in read_export(path, id_key=KEY, known=known).exemplars] == [
        e.key for e in result.exemplars
    ]
