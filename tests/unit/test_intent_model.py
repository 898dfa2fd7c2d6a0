"""The intent model (detectors.content.meaning): what the employee does, from categories, and the
floors it must keep on the dev half of the intent corpus (the test half is scored by bench_language)."""

from __future__ import annotations

from bench.bench_language import score
from detectors.content.meaning import agrees, read

DEV_MIN_RECALL = 0.9
DEV_MAX_FALSE = 0.05


def test_everyday_diversions_without_the_lexicons_words_are_read_as_intents():
    assert read("在我们这下单，我私下给你返点")[0] == "induce"
    assert read("建议您到XX平台购买，我这边有优惠码")[0] == "steer"
    assert read("我带你去我私人车库看车")[0] == "steer"
    assert read("钱直接轉給我")[0] == "pay"  # traditional characters fold first
    assert read("加我生活号，那边说")[0] == "offrecord"


def test_refusals_warnings_and_the_companys_own_channels_are_no_intent():
    assert read("不好意思，我不能私下收钱，请在系统里付款") is None
    assert read("千万不要给个人转账，公司不会这样要求") is None
    assert read("定金请转公司对公账户") is None
    assert read("我们明天在门店见") is None


def test_two_categories_are_high_one_is_medium():
    assert read("扫我个人收款码，别跟店里说")[1] == "high"
    assert read("尾款打我卡里就行")[1] == "medium"


def test_only_a_yes_takes_up_the_customers_proposal():
    assert agrees("可以，加我") and agrees("行，发你")
    assert not agrees("不可以的") and not agrees("我们只用企业微信")


def test_a_word_that_starts_with_yes_or_a_sale_here_is_no_yes():
    assert agrees("好的呀，回头聊")
    assert not agrees("有任何使用上的问题随时问我哦～")  # 有 opens a longer word
    assert not agrees("好的，给您下单了，付款链接稍后发您。")  # the sale is made in the company


def test_a_polite_yes_that_goes_on_about_something_else_is_no_yes():
    assert not agrees("好的，我这边记下了，有新款第一时间告诉您。")
    assert agrees("行吧，晚点发你")  # short: the yes is the answer
    assert agrees("行吧，晚点我加你，你先别在这说了")  # long, but private itself


def test_weak_words_are_matched_as_they_fold():
    # 另一个 folds to 另1个: a weak word must stay weak once folded.
    assert read("我朋友在另一个品牌店买的，说质量也不错") is None
    assert read("加我另一个号，这个号不方便")[0] == "offrecord"


def test_a_place_and_a_price_is_market_talk_until_the_employee_points_there():
    assert read("某东上同款便宜八百呢") is None
    assert read("你去某东买，便宜八百")[0] == "steer"


def test_cheaper_than_the_company_is_steering_away_from_it():
    assert read("我另外有个渠道，比门店便宜很多")[0] == "steer"
    assert read("我们的价格和其他平台一致") is None


def test_everyday_words_that_hold_an_act_are_no_call_to_act():
    assert read("厂里排产要一周，到货后我打电话给您") is None
    assert read("厂里直接出货，你找我拿")[0] == "steer"


def test_the_dev_half_keeps_its_floors():
    recall, false, missed, flagged = score("dev")
    assert recall["all"] >= DEV_MIN_RECALL, missed
    assert false <= DEV_MAX_FALSE, flagged


def test_pinyin_inside_an_address_is_no_word_of_the_employee():
    from config.rules import load_rules
    from config.settings import CONFIG_DIR
    from detectors.content.pipeline import analyse
    from tests.chatmsg import record, view

    rules = load_rules(CONFIG_DIR / "rules.yaml")
    link = record(text="点这里联系官方客服 https://work.weixin.qq.com/kfid/kfc0123456789abcdef", sender="zhangsan")
    assert not [s for s in analyse(view(link), link, rules) if s.normalized == "微信" or s.at_least("medium")]
    plain = record(text="加我weixin聊", sender="zhangsan")
    assert [s for s in analyse(view(plain), plain, rules) if s.at_least("medium")]


def test_the_alert_names_the_intent_and_its_categories_and_quotes_the_words():
    """What a compliance officer reads (issue 14: explanations quote the words and name the categories)."""
    import io

    import orjson

    from config.rules import load_rules
    from config.settings import CONFIG_DIR
    from ingest.simulator import Employee, chat
    from streams.replay import Replay
    from tests.integration.test_chat_risk_live import _Ids

    amy = Employee("amy", "amy", "一组", "SH-01", "boss")
    replay = Replay(load_rules(CONFIG_DIR / "rules.yaml"), io.BytesIO(), io.StringIO())
    topic, key, value = chat(_Ids("intent"), amy, "wmc1", 1_764_554_400_000, True, "在我们这下单，我私下给你返点")
    replay.line("l1", orjson.dumps({"topic": topic, "key": key, "value": value}))
    alerts = [orjson.loads(line) for line in replay.out.getvalue().splitlines()]
    (alert,) = [a for a in alerts if a["rule"] == "chat.diversion_phrase"]
    assert alert["severity"] in ("medium", "high")
    text = alert["explanation"]
    assert "私下利益诱导" in text                          # the intent
    assert "利益" in text and "隐瞒公司" in text            # the categories that made it
    assert "返点" in text and "私下" in text                # the words, quoted
