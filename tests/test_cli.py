"""The `interviewer` command as HR and candidates use it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.helpers import FLOWS, sample_flow, strong_answers, write

INTERVIEWER = str(Path(sys.executable).parent / "interviewer")


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INTERVIEWER, *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def test_flows_check_accepts_the_samples_and_lists_them() -> None:
    checked = run("flows", "check", str(FLOWS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = run("flows", "list")
    assert listed.stdout.splitlines() == ["rd_engineer", "sales_manager"]


def test_flows_check_prints_every_problem_with_its_line(tmp_path: Path) -> None:
    text = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8")
    broken = text.replace("weight: 0.2\n", "weight: 0.3\n", 1)
    first_question = sample_flow("sales_manager").questions[0]
    broken = broken.replace(f"competency: {first_question.competency}", "competency: charisma", 1)
    broken = broken.replace("id: forecast_miss", f"id: {first_question.id}", 1)
    broken = broken.replace("languages: [en]", "languages: [en, zh]", 1)
    path = write(tmp_path / "broken.yml", broken)
    result = run("flows", "check", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert all(line.startswith(f"{path}:") for line in lines)
    joined = "\n".join(lines)
    assert "weights sum to 1.100; they must sum to 1" in joined
    assert "unknown competency 'charisma'" in joined
    assert f"duplicate question id '{first_question.id}'" in joined
    assert "missing 'zh' translation" in joined
    unknown = next(line for line in lines if "charisma" in line)
    line_number = int(unknown.split(":")[1])
    assert "competency: charisma" in broken.splitlines()[line_number - 1]


def test_flows_check_reports_yaml_syntax_errors_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yml", "role: x\ntitle: {en: X\nquestions: []\n")
    result = run("flows", "check", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:3: YAML syntax error")


def test_invalid_config_names_the_key_and_exits_2(tmp_path: Path) -> None:
    config = write(tmp_path / "config.yml", "nlu:\n  threshold: lots\n")
    result = run("--config", str(config), "flows", "list")
    assert result.returncode == 2
    assert "nlu.threshold" in result.stderr and "Traceback" not in result.stderr
    result = run("flows", "list", env={"INTERVIEWER_SERVER__PORT": "seventy"})
    assert result.returncode == 2 and "server.port" in result.stderr
    result = run("flows", "list", env={"DATABASE_URL": "mysql://nope"})
    assert result.returncode == 2 and "database_url" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("role", "language"), [("sales_manager", "en"), ("rd_engineer", "zh")])
def test_scripted_interview_in_the_terminal(settings: Settings, role: str, language: str) -> None:
    flow = sample_flow(role)
    script = "\n".join(["/yes", *strong_answers(flow, language)]) + "\n"
    args = ["chat", "--role", role] + (["--lang", "zh"] if language == "zh" else [])
    result = run(*args, stdin=script, env={"DATABASE_URL": settings.database_url})
    assert result.returncode == 0, result.stderr
    assert flow.questions[-1].text[language] in result.stdout
    assert flow.closing[language] in result.stdout


def test_ehr_import_reports_bad_rows_imports_the_rest_and_is_idempotent(
    settings: Settings, tmp_path: Path
) -> None:
    export = write(
        tmp_path / "export.csv",
        "record_id,role,question_id,competency,answer_text,rating,source,name,email\n"
        "A1,sales_manager,forecast_miss,pipeline_management,I rebuilt the forecast weekly with my reps.,4,"
        "past_interview,Ann Lee,ann@example.com\n"
        "A2,sales_manager,forecast_miss,pipeline_management,,3,past_interview,Bo,bo@example.com\n"
        "A3,sales_manager,no_such_q,pipeline_management,Some answer,3,past_interview,Cy,c@example.com\n"
        "A4,sales_manager,forecast_miss,pipeline_management,Other answer,9,past_interview,Di,d@example.com\n",
    )
    env = {"DATABASE_URL": settings.database_url}
    assert run("flows", "publish", str(FLOWS), env=env).returncode == 0
    first = run("ehr", "import", str(export), env=env)
    assert first.returncode == 0, first.stderr
    assert "4 row(s) read, 1 added, 0 already imported, 3 rejected" in first.stdout
    assert "export.csv: row 3: " in first.stdout and "export.csv: row 4: " in first.stdout
    assert "row 5: rating 9 is outside 1..5" in first.stdout
    assert "ann@example.com" not in first.stdout + first.stderr
    second = run("ehr", "import", str(export), env=env)
    assert "1 already imported" in second.stdout and "1 added" not in second.stdout


def test_a_campaign_from_the_command_line_sends_its_invitations_by_email(
    settings: Settings, tmp_path: Path
) -> None:
    from aiosmtpd.controller import Controller
    from cryptography.fernet import Fernet

    from tests.campaigns.test_delivery import Inbox, free_port

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        "DATABASE_URL": settings.database_url,
        "INTERVIEWER_CONTACT_KEY": Fernet.generate_key().decode(),
        "INTERVIEWER_CAMPAIGNS__SMTP__HOST": "127.0.0.1",
        "INTERVIEWER_CAMPAIGNS__SMTP__PORT": str(port),
        "INTERVIEWER_CAMPAIGNS__SMTP__STARTTLS": "false",
    }
    try:
        assert run("flows", "publish", str(FLOWS), env=env).returncode == 0
        created = run(
            "campaign", "create", "Campus", "--role", "rd_engineer", "--window", "00:00-00:00", env=env
        )
        assert created.returncode == 0, created.stderr
        campaign = created.stdout.split("\t")[0]
        people = write(
            tmp_path / "people.csv",
            "external_id,email,language,time_zone\nE1,li@example.com,zh,Asia/Shanghai\nE2,nope,en,UTC\n",
        )
        added = run("campaign", "add", campaign, str(people), env=env)
        assert added.returncode == 1 and "people.csv:3: email: not an email address" in added.stderr
        assert "1 added, 0 already in the campaign, 1 problem(s)" in added.stdout
        sent = run("campaign", "send", campaign, env=env)
        assert sent.returncode == 0, sent.stderr
        assert "queued: invitation 1; sent now: 1" in sent.stdout
        assert run("campaign", "send", campaign, env=env).stdout.startswith("queued: nothing due")
        status = run("campaign", "status", campaign, env=env)
        assert '"invitation": {\n      "sent": 1' in status.stdout
        listed = run("campaign", "list", env=env)
        assert (
            listed.returncode == 0
            and f"{campaign}\tactive\trd_engineer\tCampus\t1\t1\t0\t0\t0\t0" in listed.stdout
        )
        assert run("campaign", "pause", campaign, env=env).stdout.startswith(f"{campaign}\tpaused")
        assert run("campaign", "resume", campaign, env=env).stdout.startswith(f"{campaign}\tactive")
        missing = run("campaign", "pause", "999", env=env)
        assert missing.returncode == 1 and "no campaign 999" in missing.stderr
    finally:
        controller.stop()
    ((recipients, message),) = inbox.messages
    assert recipients == ["li@example.com"] and "面试" in str(message["Subject"])
