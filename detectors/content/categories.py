"""The categories the intent model composes, each a set of folded words (detectors.textnorm.fold).

Words are written as they fold (simplified, no spaces or punctuation), so a message written with
traditional characters, full-width letters or separators between characters matches the same.
A category says what a word does in a sales chat, not which phrase it belongs to: `place` is any
other seller or place (named or not), `pay` a way of paying someone other than the company, and so on.
"""

from __future__ import annotations

CATEGORIES: dict[str, tuple[str, ...]] = {
    # Another place or seller: generic, disguised or the employee's own.
    "place": ("别的平台", "其他平台", "别家", "别处", "另一家", "另外那家", "另外一家", "另外一个店", "外面", "外头",
              "朋友店", "朋友的店", "朋友那", "熟人", "亲戚", "表哥", "同学那", "隔壁", "代购", "车行", "车库", "库里",
              "工厂店", "厂家那", "工厂那", "我自己开", "我自己的店", "我的店", "我那个", "我那边", "我另开", "我另外",
              "另开", "网店", "抖店", "平台", "渠道货", "别的路子", "我的渠道", "另外有渠道", "我的朋友圈", "仓库",
              "我家里", "外面的师傅", "私人的小程序", "合作商", "展厅", "xx平台", "汽配城", "换个平台", "从别处",
              "老板朋友", "在别处", "私人那边", "地方给你", "我给的", "给的店", "那边拿", "那里拍", "那里买"),
    # Payment to a person rather than the company.
    "pay": ("转我", "转给我", "打我卡", "我卡", "我的卡", "打给我", "钱给我", "给我就行", "款给我", "私下给我",
            "个人收款码", "我个人的收款码", "收款码发你", "个人账户", "私人账户", "我老婆的", "我支付宝",
            "我个人这边", "我个人收", "我发的这个码", "给你个码", "给你发卡号", "打到这个账户", "给安装师傅",
            "现金给我", "付现金给我", "走线下", "线下开", "不用开票", "不开票", "发票我另外", "钱打给我",
            "转我支付宝", "打给我本人", "给我本人", "不用交给店里"),
    # Off the archived channel: another account, a call, a private card or code.
    "offrecord": ("另一个号", "另一个", "生活号", "换个地方聊", "私下打给你", "打给你", "电话里说", "电话聊", "打我电话",
                  "私人电话", "私人手机", "个人手机", "我手机号", "自己手机", "自己的号", "私人的那个", "私人微信",
                  "个人微信", "私人号", "私人的", "别的软件", "线下见面", "私信你", "加我", "我自己的微信",
                  "不在这说", "不在这里发", "不能在这里", "不在公司号", "有记录", "被看到", "不能留记录", "名片", "二维码", "以后用我", "以后找我", "以后直接找我",
                  # Saying the real talk happens elsewhere: 回头单独跟你讲, 这里不好说, 约个地方.
                  "回头单独", "单独聊", "单独跟你讲", "这里不好说", "这儿不好说", "在这不好说", "约个地方"),
    # What the customer gets for it, privately.
    "induce": ("返点", "返现", "返你", "返钱", "回扣", "内部价", "员工价", "员工折扣", "出厂价", "成本价", "好处",
               "提成分你", "佣金我退", "差价退你", "补你", "贴点", "红包", "便宜", "少你", "少两百", "少一成",
               "优惠码", "更低的价", "提成", "分你", "这价",  "压下来", "改价", "打折", "多返"),
    # Keeping it from the company.
    "secret": ("私下", "私底下", "偷偷", "悄悄", "别跟店里说", "别跟经理", "别让公司", "不要告诉", "别告诉",
               "别说出去", "别说是我", "别声张", "别外传", "别跟别人", "不走系统", "不录系统", "不走公司", "不用走公司",
               "不用经过公司", "不走店里", "不用走店里", "别在系统", "别从公司", "别走公司", "不用登记", "私人给",
               "我私人", "我个人给", "单独给你", "只给你", "别在店里", "别在这", "别在柜台", "别买专柜",
               "别用店里", "别扫", "公司那个码先别", "别转公司", "不用在系统", "换个方式下"),
    # A call to act.
    "act": ("去", "到", "找", "搜", "拍", "下单", "买", "拿", "订", "提货", "联系", "对接", "做",
            "装", "带你", "介绍", "帮你", "取消", "扫", "付", "转", "打"),
    # A refusal or a denial: the employee says no.
    "negation": ("不能", "不可以", "不行", "不允许", "不会让", "不会私", "从不", "没法", "不合规", "没有的", "没有，",
                 "千万别", "别转我", "只能", "只用", "必须", "不用的", "抱歉", "不好意思", "不是", "真不行", "不要转"),
    # A warning against others.
    "warning": ("谨防", "小心", "冒充", "假冒", "诈骗", "举报", "假货", "仿的", "水货", "翻新", "来路不明", "警惕",
                "没人管", "没有保修", "没有溯源", "自称", "如果有人", "核实", "骗局"),
    # The company's own channels and people.
    "own": ("公司的", "公司账", "对公", "官方", "企业微信", "门店电话", "座机", "店里的", "小程序", "收银", "系统里",
            "400", "旗舰店", "我们门店", "城东店", "城西店", "城南店", "同事", "店长", "售后", "工作号",
            "客服", "公众号", "会员", "我们的", "公司发", "申请", "我们另", "门店",
            # The employee placing the order for the customer: in the company's system.
            "给您下单", "帮您下单", "给你下单", "帮你下单"),
    # Comparing with another seller (不比别家贵): the price talk of selling here, not a pointer there.
    "compare": ("不比", "比别家", "比外面", "比隔壁", "比其他", "比别的", "比别处", "跟别家比", "和别家比", "对比"),
    # Saying yes to what the customer asked.
    "agree": ("可以", "行", "好的", "好", "没问题", "对", "有"),
}
