"""`paodan rules channels`: counts channels in replay files, proposes, confirms and rejects in the rules file."""

import shutil

import orjson

from config.rules import load_rules
from config.settings import CONFIG_DIR
from paodan import channels_cmd
from tests.chatmsg import T0, record

OWN = {"title": "官方商城", "username": "gh_own01@app", "displayname": "官方商城"}


class Args:
    def __init__(self, rules, files=(), confirm=None, reject=None, write=False):
        self.rules, self.files, self.confirm, self.reject, self.write = rules, list(files), confirm, reject, write
        self.by, self.json = "tester", True


def company_file(tmp_path, senders: int, staff: int = 20):
    lines = []
    for i in range(staff):
        emp = f"e{i:02d}"
        lines.append({"topic": "hr.events", "key": emp, "value": {
            "type": "employee", "employee_id": emp, "team": f"T{i % 3}", "branch": "B1", "ts": T0 - 86_400_000}})
        rec = record("weapp", OWN, sender=emp, msgid=f"m{i}", t=T0 + i) if i < senders \
            else record(text="您好，在吗", sender=emp, msgid=f"m{i}", t=T0 + i)
        lines.append({"topic": "wecom.msgaudit", "key": emp, "value": rec})
    path = tmp_path / "company.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path


def copy_rules(tmp_path):
    shutil.copytree(CONFIG_DIR / "lexicons", tmp_path / "lexicons")
    shutil.copy(CONFIG_DIR / "rules.yaml", tmp_path / "rules.yaml")
    return str(tmp_path / "rules.yaml")


def test_widely_sent_channel_is_proposed_written_then_confirmed_and_audited(tmp_path, capsys):
    rules = copy_rules(tmp_path)
    data = company_file(tmp_path, senders=8)
    assert channels_cmd.cmd_channels(Args(rules, [data], write=True), load_rules) == 0


    loaded = load_rules(rules).rule("chat.content")
    assert loaded.proposed_channels == {"weapp:gh_own01@app"}
    assert channels_cmd.cmd_channels(Args(rules, confirm=["weapp:gh_own01@app"]), load_rules) == 0
    loaded = load_rules(rules).rule("chat.content")
    assert loaded.own_channels == {"weapp:gh_own01@app"} and not loaded.proposed_channels
    assert channels_cmd.cmd_channels(Args(rules, reject=["weapp:gh_own01@app"]), load_rules) == 0
    loaded = load_rules(rules).rule("chat.content")
    assert loaded.rejected_channels == {"weapp:gh_own01@app"} and not loaded.own_channels
    audit = [orjson.loads(x) for x in (tmp_path / "channels-audit.jsonl").read_text().splitlines()]
    assert [(a["action"], a["status"], a["by"]) for a in audit] == [
        ("propose", "proposed", "tester"), ("confirm/reject", "confirmed", "tester"),
        ("confirm/reject", "rejected", "tester")]
    # The rest of the file, comments included, is kept.
    assert (CONFIG_DIR / "rules.yaml").read_text().splitlines()[0] in open(rules).read()


def test_few_senders_propose_nothing(tmp_path, capsys):
    rules = copy_rules(tmp_path)
    data = company_file(tmp_path, senders=2)
    assert channels_cmd.cmd_channels(Args(rules, [data], write=True), load_rules) == 0
    assert orjson.loads(capsys.readouterr().out) == {}
    assert not load_rules(rules).rule("chat.content").proposed_channels


def _replay_rules(rules_path, data) -> list[str]:
    import io

    from streams.replay import Replay

    replay = Replay(load_rules(rules_path), io.BytesIO(), io.StringIO())
    replay.run([str(data)], parallel=False)
    return [orjson.loads(x)["rule"] for x in replay.out.getvalue().splitlines()]


def test_replay_after_write_no_longer_flags_the_proposed_channel(tmp_path, capsys):
    rules = copy_rules(tmp_path)
    data = company_file(tmp_path, senders=8)
    assert _replay_rules(rules, data).count("chat.external_shop") == 8
    assert channels_cmd.cmd_channels(Args(rules, [data], write=True), load_rules) == 0
    assert "chat.external_shop" not in _replay_rules(rules, data)
    # Rejected: it flags again.
    assert channels_cmd.cmd_channels(Args(rules, reject=["weapp:gh_own01@app"]), load_rules) == 0
    assert _replay_rules(rules, data).count("chat.external_shop") == 8
