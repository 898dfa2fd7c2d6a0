"""Channels: the company's own (sent by many staff across teams, all legitimate) and a diverter's private ones.

A company has an official mini-program, web domains, a 400 hotline, store phone numbers, its own shops
on the big platforms, a WeCom customer-service link and staff contact cards carrying its corp name.
None of them is in any shipped allow-list. A diverter has a personal WeChat id, a personal phone, and
sometimes a mini-program or web shop of their own.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass


def _hex(seed: str, n: int) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()[:n]


@dataclass(frozen=True)
class OwnChannels:
    corpname: str
    weapp_username: str      # gh_…: the mini-program's original id
    weapp_name: str
    domains: tuple[str, ...]
    hotline: str
    store_phones: tuple[str, ...]
    shops: tuple[str, ...]   # the company's own stores on the platforms
    kf_link: str             # WeCom customer service (微信客服)
    mp_account: str          # official account (公众号) name


def own_channels(company: str, brand: str, stem: str, area_code: str, rng: random.Random) -> OwnChannels:
    tag = f"{company}|{stem}"
    return OwnChannels(
        corpname=company,
        weapp_username="gh_" + _hex(tag + "weapp", 12),
        weapp_name=rng.choice((f"{brand}官方商城", f"{brand}会员中心", f"{brand}小程序", f"{brand}线上旗舰店")),
        domains=(f"m.{stem}.com", f"www.{stem}.com.cn", f"{stem}-mall.cn"),
        hotline=f"400-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        store_phones=tuple(f"{area_code}-{rng.randint(5_000_000, 8_999_999)}" for _ in range(3)),
        shops=(f"{brand}天猫旗舰店", f"{brand}京东自营旗舰店", f"{brand}抖音官方店"),
        kf_link=f"https://work.weixin.qq.com/kfid/kfc{_hex(tag + 'kf', 18)}",
        mp_account=f"{brand}服务号",
    )


def own_share(ch: OwnChannels, rng: random.Random, colleague: str) -> tuple[str, dict]:
    """One message pointing a customer at one of the company's own channels: (msgtype, payload)."""
    kind = rng.randrange(8)
    if kind == 0:
        return "weapp", {"title": rng.choice(("会员专享价", "新品上市", "限时活动", "下单享积分")),
                         "description": f"{ch.weapp_name}", "username": ch.weapp_username + "@app",
                         "displayname": ch.weapp_name}
    if kind == 1:
        path = rng.choice(("item", "promo", "member", "store"))
        return "link", {"title": rng.choice(("本周活动详情", "门店地址与营业时间", "会员权益说明")),
                        "description": ch.corpname, "link_url": f"https://{rng.choice(ch.domains)}/{path}/{rng.randint(1000, 99999)}",
                        "image_url": f"https://{ch.domains[0]}/static/cover.jpg"}
    if kind == 2:
        return "text", {"content": rng.choice((f"售后问题可以拨打我们的客服热线 {ch.hotline}。",
                                               f"有问题也可以打 {ch.hotline}，全天有人接。"))}
    if kind == 3:
        return "text", {"content": rng.choice((f"门店电话 {rng.choice(ch.store_phones)}，来之前可以先打个电话。",
                                               f"到店可以先打前台电话 {rng.choice(ch.store_phones)}。"))}
    if kind == 4:
        return "text", {"content": rng.choice((f"线上也可以在「{rng.choice(ch.shops)}」下单，价格和门店一样。",
                                               f"您在{rng.choice(ch.shops)}搜{ch.corpname[:2]}就能找到我们。"))}
    if kind == 5:
        return "card", {"corpname": ch.corpname, "userid": colleague}
    if kind == 6:
        return "link", {"title": "在线客服", "description": f"{ch.corpname}客服", "link_url": ch.kf_link,
                        "image_url": ""}
    return "text", {"content": rng.choice((f"关注我们的公众号「{ch.mp_account}」，活动会第一时间推送。",
                                           f"小程序搜「{ch.weapp_name}」就能下单，积分自动累计。"))}


@dataclass(frozen=True)
class PrivateChannels:
    wxid: str
    phone: str
    weapp_username: str
    weapp_name: str
    shop_url: str


def private_channels(userid: str, surname_cn: str, label: str, rng: random.Random) -> PrivateChannels:
    handle = rng.choice((f"{userid[:6]}{rng.randint(10, 99)}", f"xiao{userid[:3]}_{rng.randint(100, 999)}",
                         f"{userid[:4]}{rng.choice(('vip', 'shop', 'home', 'best'))}{rng.randint(1, 9)}"))
    return PrivateChannels(
        wxid=handle,
        phone=f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
        weapp_username="gh_" + _hex(userid + "private", 12),
        weapp_name=rng.choice((f"{surname_cn}姐{label}优选", f"{label}好物小铺", f"{surname_cn}记{label}工厂店")),
        shop_url=rng.choice((f"https://shop{rng.randint(10_000_000, 99_999_999)}.youzan.com/v2/showcase",
                             f"https://weidian.com/?userid={rng.randint(100_000_000, 999_999_999)}",
                             f"https://{_hex(userid, 6)}.shop.example.cn/goods/{rng.randint(100, 999)}")),
    )


def private_share(p: PrivateChannels, rng: random.Random) -> tuple[str, dict]:
    """A diverter sending a channel of their own (not text: a mini-program, a link, a contact card)."""
    kind = rng.randrange(3)
    if kind == 0:
        return "weapp", {"title": "好物推荐", "description": p.weapp_name, "username": p.weapp_username + "@app",
                         "displayname": p.weapp_name}
    if kind == 1:
        return "link", {"title": "点开看看，价格更好", "description": "", "link_url": p.shop_url, "image_url": ""}
    return "card", {"corpname": "", "userid": p.wxid}
