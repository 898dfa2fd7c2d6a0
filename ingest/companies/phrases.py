"""The planted diverters' words: a phrase bank written from the seed's cases and everyday sales talk.

Four intents, each in plain and veiled forms: steering the customer to another place, payment outside
the company, moving the conversation off the record, and private inducements. Lines take `{place}`
(the industry's own places and generic ones), `{wxid}`, `{phone}`, `{n}`. `evade` applies the
spellings people use to get past keyword filters (spaces, look-alike characters, digits in words).
"""

from __future__ import annotations

import random

GENERIC_PLACES = ("别的平台", "XX平台", "朋友店里", "我自己的店", "外面", "隔壁那家", "另一家店", "我表姐那边",
                  "一个熟人那里", "我们私下的渠道", "网上另一个店")

STEER = (
    "这个在{place}买便宜不少，要的话我帮你联系。",
    "{place}有同款，能便宜{n}百，你去那边拍吧。",
    "本店这款暂时缺货，建议您到{place}购买，我给你优惠码。",
    "公司这边价格偏高，{place}拿货更划算。",
    "店里没现货了，{place}有，我把地址发你。",
    "别在系统里下了，{place}那边我打好招呼了。",
    "你去{place}下单，报我名字就行。",
    "同样的东西{place}便宜一截，别跟别人说是我讲的。",
)
PAY = (
    "直接转我就行，我这边安排发货。",
    "钱打我卡上，比走公司便宜{n}百。",
    "扫我个人的收款码，不用走公司流程。",
    "付现金也行，我给你写个收据。",
    "这单我们线下开，不走系统。",
    "定金先转我微信，回头我给你补单。",
    "货款打到这个账户就行，是我自己的：6222 0{n}0 1234 5678。",
)
OFF_RECORD = (
    "加我另一个号聊，这个号不方便说：{wxid}",
    "这里说话不方便，换个地方聊。",
    "我晚点私下打给你，{phone}",
    "加一下我生活号 {wxid}，那边细说。",
    "有事打我私人电话 {phone}，别在这里问。",
    "微信搜 {wxid}，通过一下，这边消息公司能看到。",
)
INDUCE = (
    "在我们这下单也行，我私下给你返点。",
    "给你内部价，别跟店里说。",
    "你先把这单取消，我换个方式给你下。",
    "走我这边能多返你{n}百，公司不知道的。",
    "这个价只能私下给你，系统里给不了。",
    "你在店里付一半，剩下的私下给我，价格更低。",
)
# The same intents said so that no single word gives them away.
VEILED = (
    "这款我知道有个地方更实惠，方便的话电话里说。",
    "要不周末约个地方见面聊，价格好商量。",
    "你先别急着在这下，我帮你问问别的路子。",
    "有更划算的办法，回头单独跟你讲。",
    "这边流程太麻烦，我给你走个简单的。",
    "价格的事这里不好说，你懂的。",
    "我有个朋友做这个的，比店里灵活多了。",
)
# Sharing a private contact, a little at a time (the slow drip): low-key, friendly.
DRIP = (
    "以后有需要直接加我这个微信，回复快一些：{wxid}",
    "这是我手机号 {phone}，有事打我更快。",
    "我换了个号，之后联系这个吧：{wxid}",
    "这个号我不常看，加 {wxid} 找我。",
    "存一下我电话 {phone}，周末也能找到我。",
)
# Steering a customer who just asked about the price (the start of a sequence).
AFTER_PRICE = (
    "这个价在这里不好给，加我 {wxid} 细聊。",
    "系统价是死的，{place}那边能低不少，我发你。",
    "我私下给你算个价，电话说：{phone}",
)
CUSTOMER_PRICE = ("这个最低多少？", "能不能再便宜点？", "有没有更优惠的价格？", "这个价格有点贵啊")
CUSTOMER_GOES = ("好，那我加你。", "行，那边说。", "那我这单先取消了哈。", "明白，我去看看。")

# Look-alike spellings (what people type to get past a keyword filter).
_SWAPS = (("微信", "V信"), ("微信", "薇信"), ("微信", "vx"), ("私人", "私 人"), ("转我", "转 我"),
          ("返点", "返 点"), ("平台", "平 台"), ("下单", "下 单"), ("电话", "电 话"))
_DIGITS = "零一二三四五六七八九"


def fill(line: str, rng: random.Random, places: tuple[str, ...], wxid: str, phone: str) -> str:
    return line.format(place=rng.choice(places), wxid=wxid, phone=phone, n=rng.randint(1, 5))


def evade(text: str, rng: random.Random) -> str:
    """One or two filter-dodging rewrites: spaced or swapped words, a phone number's digits in words."""
    for old, new in rng.sample(_SWAPS, 3):
        if old in text and rng.random() < 0.7:
            text = text.replace(old, new, 1)
    if rng.random() < 0.5:
        out, run = [], 0
        for ch in text:
            run = run + 1 if ch.isdigit() else 0
            out.append(_DIGITS[int(ch)] if ch.isdigit() and run > 3 else ch)
        text = "".join(out)
    return text


def intent_lines(subtle: bool) -> tuple[str, ...]:
    """The lines a planted chat diverter draws from: veiled ones only when subtle."""
    return VEILED + DRIP if subtle else STEER + PAY + OFF_RECORD + INDUCE + VEILED
