"""The rules file's `media` section: typed, validated with file and line, the own-code allow-list."""
import pytest

from config.media_rules import MediaRule
from config.rules import load_rules
from config.yamlfile import ConfigError

REPO_RULES = __import__("pathlib").Path(__file__).parents[2] / "config" / "rules.yaml"


def _rules(tmp_path, body: str):
    p = tmp_path / "rules.yaml"
    p.write_text('version: "t1"\nrules:\n  media:\n' + body)
    return load_rules(p)


def test_defaults_when_absent(tmp_path):
    p = tmp_path / "rules.yaml"
    p.write_text('version: "t1"\n')
    assert load_rules(p).rule("media") == MediaRule()


def test_repo_rules_have_a_valid_media_section():
    cfg = load_rules(REPO_RULES).rule("media")
    assert cfg.enabled and cfg.queue >= 1 and cfg.ocr_queue >= 0


def test_values_and_own_codes(tmp_path):
    cfg = _rules(tmp_path, "    ocr: false\n    queue: 7\n    missing_retry_minutes: 0\n"
                           "    own_wecom_codes: [HTTPS://WORK.WEIXIN.QQ.COM/ca/Ab1, work.weixin.qq.com/u/vc_ours_*]\n"
                 ).rule("media")
    assert (cfg.ocr, cfg.queue, cfg.missing_retry_ms) == (False, 7, 0)
    assert cfg.own_wecom_codes == ("https://work.weixin.qq.com/ca/Ab1", "https://work.weixin.qq.com/u/vc_ours_*")


@pytest.mark.parametrize("body,line,words", [
    ("    queue: 0\n", 4, "queue"),
    ("    ocr: maybe\n", 4, "ocr"),
    ("    colour: red\n", 4, "unknown key"),
    ("    ocr_min_score: 2\n", 4, "ocr_min_score"),
    ("    own_wecom_codes:\n      - https://u.wechat.com/personal\n", 5, "not a WeCom code"),
    ("    own_wecom_codes:\n      - https://work.weixin.qq.com/u/ok1\n      - https://work.weixin.qq.com/u/*\n",
     6, "too short"),
])
def test_bad_values_fail_with_line(tmp_path, body, line, words):
    with pytest.raises(ConfigError) as exc:
        _rules(tmp_path, body)
    assert words in str(exc.value) and f"rules.yaml:{line}" in str(exc.value)


def test_speech_engine_needs_an_existing_model_directory(tmp_path):
    assert _rules(tmp_path, "    speech_engine: none\n").rule("media").speech_engine == "none"
    with pytest.raises(ConfigError, match=r"rules.yaml:4: .*needs media.speech_model"):
        _rules(tmp_path, "    speech_engine: vosk\n")
    with pytest.raises(ConfigError, match=r"rules.yaml:5: .*not a directory"):
        _rules(tmp_path, "    speech_engine: vosk\n    speech_model: models/none-here\n")
    with pytest.raises(ConfigError, match="speech_engine"):
        _rules(tmp_path, "    speech_engine: whisper\n")
    (tmp_path / "models" / "cn").mkdir(parents=True)
    cfg = _rules(tmp_path, "    speech_engine: sherpa-onnx\n    speech_model: models/cn\n").rule("media")
    assert cfg.speech_model == (tmp_path / "models" / "cn").resolve()


def test_speech_loader_says_what_is_missing(tmp_path):
    from ingest.media.speech import SpeechUnavailable, load

    assert load("none", None) is None
    with pytest.raises(SpeechUnavailable, match="not found"):
        load("vosk", tmp_path / "absent")
    try:
        import vosk  # noqa: F401
    except ImportError:
        with pytest.raises(SpeechUnavailable, match="pip install vosk"):
            load("vosk", tmp_path)
