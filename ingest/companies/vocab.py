"""What each industry sells and how its staff and customers talk: SKUs with price ranges, chat lines.

Written from how these trades sell in China (showrooms and installation for furniture, test drives and
deposits at a 4S dealer, counters and live-stream promotions for cosmetics, member stores for
maternal/baby goods, quotations and purchase orders for industrial parts). Lines take `{product}`,
`{price}`, `{brand}`, `{shop}`, `{n}` and `{day}` slots; `chat.py` fills them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sku:
    code: str
    name: str
    low: float     # list price range, yuan
    high: float
    category: str  # commission policies and approvals may differ by category
    weight: float = 0.0  # how often it sells; 0: the cheaper, the more often


@dataclass(frozen=True)
class Industry:
    key: str
    label: str
    skus: tuple[Sku, ...]
    staff: tuple[str, ...]       # what a salesperson writes in an ordinary follow-up
    customer: tuple[str, ...]    # what customers ask
    after_sale: tuple[str, ...]  # delivery, installation, service
    compare: tuple[str, ...]     # customers comparing with competitors (innocent)
    compare_reply: tuple[str, ...]
    closers: tuple[str, ...]     # customers ending a thread (no answer needed)
    basket: tuple[int, int]      # items per order
    places: tuple[str, ...]      # where this trade's diverter sends customers (phrases.py adds generic ones)


FURNITURE = Industry(
    key="furniture", label="家居",
    skus=(
        Sku("SF-301", "三人位真皮沙发", 5800, 16800, "sofa"), Sku("SF-118", "布艺转角沙发", 3200, 8900, "sofa"),
        Sku("BD-220", "实木双人床", 3900, 12800, "bed"), Sku("MT-090", "独立弹簧床垫", 1800, 7600, "mattress"),
        Sku("MT-160", "乳胶床垫 1.8m", 2600, 9800, "mattress"), Sku("DT-045", "岩板餐桌", 2200, 6800, "table"),
        Sku("CH-012", "餐椅（单把）", 280, 980, "chair"), Sku("WD-330", "定制衣柜（每延米）", 1500, 4200, "custom"),
        Sku("TV-210", "电视柜", 1200, 3900, "cabinet"), Sku("CU-501", "整体橱柜（每延米）", 1800, 5600, "custom"),
        Sku("LP-008", "落地灯", 260, 1200, "deco"), Sku("RG-070", "羊毛地毯", 600, 3800, "deco"),
    ),
    staff=(
        "您好，上次您看的{product}这周有活动，到手价{price}，要不要约个时间来展厅再体验一下？",
        "{product}的面料小样已经寄出，注意查收哦。", "量尺师傅明天下午两点上门，您看方便吗？",
        "{product}现货不多了，需要的话我先帮您锁一套。", "设计师出了两版效果图，我发您看看。",
        "周末展厅有设计师驻店，可以带户型图过来聊聊。", "这款{product}是环保E0级板材，家里有小孩也放心。",
        "您家客厅4米的话，{product}选3.2米的比例最好。", "定金500可以抵1000，活动到{day}号截止。",
        "安装后有三年质保，师傅会上门做调平。", "您要的颜色已经到仓库了，可以安排送货了。",
        "好的，我这边记下了，有新款第一时间告诉您。", "价格方面我帮您申请一下，稍等我回复您。",
    ),
    customer=(
        "{product}最低多少钱？", "这个能不能再便宜点？", "什么时候能送货？", "安装要另外收费吗？",
        "有没有灰色的？", "床垫可以试睡吗？", "定制的要多久？", "我家电梯小，能送上去吗？",
        "你们展厅周日开门吗？", "上次买的餐桌有点晃，能来看看吗？", "旧家具可以帮忙搬走吗？",
        "我想再买两把椅子，和上次一样的", "有没有分期？", "发票能开吗？",
    ),
    after_sale=(
        "送货师傅大概下午三点到，到之前会给您打电话。", "售后师傅周三上门处理，您留意一下电话。",
        "保修卡已经放在说明书里了。", "安装完记得帮我们评价一下哦。",
    ),
    compare=(
        "某东上同款便宜八百呢", "隔壁那家报价比你们低", "宜家类似的才三千多", "网上有一模一样的，价格差一半",
        "别的店送床垫，你们送吗？", "我朋友在另一个品牌店买的，说质量也不错",
    ),
    compare_reply=(
        "网上同款很多是仿款，材质不一样，您可以来展厅对比一下。", "价格我帮您申请一下，另外可以送您一套床品。",
        "我们是全国联保，售后有保障，这个价格已经是活动价了。", "您可以对比一下板材和五金，差别挺大的。",
    ),
    closers=("好的", "好嘞谢谢", "行，我跟家里人商量下", "知道了", "OK", "了解了", "嗯嗯"),
    basket=(1, 3),
    places=("工厂店", "朋友开的家具店", "我认识的一个工厂", "建材市场那边"),
)

CAR_4S = Industry(
    key="auto4s", label="汽车4S",
    skus=(
        Sku("CAR-A3", "紧凑型轿车 1.5T 豪华版", 118_000, 156_000, "vehicle", 0.0006),
        Sku("CAR-S5", "中型SUV 2.0T 四驱版", 189_000, 268_000, "vehicle", 0.0006),
        Sku("CAR-E7", "纯电轿车 长续航版", 199_000, 259_000, "vehicle", 0.0006),
        Sku("INS-01", "商业保险套餐", 4200, 9800, "insurance"), Sku("ACC-FM", "全车贴膜", 2800, 8800, "accessory"),
        Sku("ACC-MT", "脚垫+行车记录仪", 800, 2600, "accessory"), Sku("SRV-10", "首保套餐", 600, 1500, "service"),
        Sku("WAR-03", "延保三年", 3000, 6800, "service"),
    ),
    staff=(
        "您好，上次试驾的{product}本月有置换补贴，落地价大概{price}，要不要再来店里细聊？",
        "周六店里有试驾活动，我帮您预约一个时段？", "您的首保可以约了，这周三上午有空位。",
        "贷款方案我算了一下，首付三成月供大概{n}千。", "{product}白色现车还有两台，颜色要的话得抓紧。",
        "置换的话旧车我们可以免费评估，开过来半小时就好。", "保险续保的报价出来了，我发您看看。",
        "交车仪式定在{day}号上午，到时候我在店门口等您。", "您的车今天保养完了，可以过来提车了。",
        "这个月厂家有金融贴息，分期更划算。",
    ),
    customer=(
        "{product}最低能到多少？", "能送什么？", "置换补贴多少？", "提车要等多久？", "保险必须在店里买吗？",
        "我想周末带家人来试驾", "贷款利率多少？", "上牌你们帮办吗？", "保养一次多少钱？", "车子有个异响，能看看吗？",
    ),
    after_sale=(
        "您的车已经进车间了，预计两小时完工。", "上牌资料都齐了，下周一可以提车。", "救援电话已经发您，有问题随时打。",
    ),
    compare=(
        "另一家4S店报价比你们低五千", "懂车帝上说裸车价能再低", "隔壁品牌的SUV同价位配置更高",
        "网上说这车有现金优惠一万", "二手车市场准新车便宜好多",
    ),
    compare_reply=(
        "同城的价格都是厂家指导的，我帮您申请一下额外的精品礼包。", "准新车看着便宜，但没有原厂质保，您得考虑清楚。",
        "我们这边有置换补贴和金融贴息，算下来不比别家贵。",
    ),
    closers=("好的", "收到", "行，周末见", "嗯，我考虑考虑", "明白了", "好的谢谢你"),
    basket=(1, 2),
    places=("私人车库", "朋友的车行", "我自己的二手车行", "外面的车商那边"),
)

COSMETICS = Industry(
    key="cosmetics", label="美妆",
    skus=(
        Sku("SK-WT30", "焕白精华 30ml", 380, 680, "skincare"), Sku("SK-CR50", "修护面霜 50ml", 420, 880, "skincare"),
        Sku("SK-TN", "保湿水乳套装", 298, 598, "skincare"), Sku("MU-LP", "丝绒口红", 159, 320, "makeup"),
        Sku("MU-FD", "持妆粉底液", 260, 520, "makeup"), Sku("MU-EY", "眼影盘", 199, 460, "makeup"),
        Sku("MK-10", "补水面膜 10片", 99, 229, "mask"), Sku("SC-SS", "防晒乳", 139, 289, "suncare"),
        Sku("GF-BX", "节日礼盒", 699, 1599, "gift"),
    ),
    staff=(
        "亲，您上次用的{product}快用完了吧？这周会员价{price}，还送小样哦。",
        "今晚八点直播间有{product}的秒杀，记得来看看～", "新品到柜了，色号我帮您留了一支试用装。",
        "您是混合肌的话，{product}早晚都可以用。", "积分可以兑换面膜了，要帮您兑吗？",
        "会员日全场满399减60，可以叠加优惠券。", "有任何使用上的问题随时问我哦～",
        "您要的色号补货了，现在下单明天就能到。", "这个是专柜正品，可以扫码查防伪。",
    ),
    customer=(
        "{product}还有货吗？", "敏感肌能用吗？", "有没有小样？", "这个色号适合黄皮吗？", "会员有折扣吗？",
        "直播间价格和柜台一样吗？", "能帮我包装成礼物吗？", "快递几天到？", "上次买的好像过敏了",
    ),
    after_sale=(
        "快递已经发出，单号稍后发您。", "过敏的话先停用，可以拍照给我看看，我们帮您申请退换。",
        "礼盒已经帮您包好了，附了贺卡。",
    ),
    compare=(
        "某宝旗舰店比你们便宜三十", "免税店买更便宜吧？", "直播间别的主播卖得更便宜", "代购说能便宜一半",
        "拼团价好像更低",
    ),
    compare_reply=(
        "网上低价的有不少是临期或者假货，专柜的您放心。", "会员价加上积分其实更划算，我帮您算一下。",
        "代购的没有售后保障，过敏了也没法退。",
    ),
    closers=("好的亲", "谢谢", "收到～", "OK", "[爱心]", "好滴", "嗯嗯"),
    basket=(1, 4),
    places=("代购", "我朋友的工作室", "我自己开的小店", "海外仓直发那边"),
)

MATERNAL = Industry(
    key="maternal", label="母婴",
    skus=(
        Sku("MF-S3", "婴儿配方奶粉 3段 800g", 238, 368, "formula"), Sku("MF-S1", "婴儿配方奶粉 1段 800g", 258, 398, "formula"),
        Sku("DP-L", "纸尿裤 L码 整箱", 169, 269, "diaper"), Sku("ST-01", "婴儿推车", 1280, 4280, "gear"),
        Sku("CS-02", "安全座椅", 1680, 3980, "gear"), Sku("TY-05", "早教玩具套装", 199, 599, "toy"),
        Sku("CL-10", "婴儿连体衣三件装", 129, 299, "clothes"), Sku("NT-03", "辅食米粉", 59, 128, "food"),
    ),
    staff=(
        "宝妈您好，{product}这周会员日买二送一，到手{price}，需要给您留几罐吗？",
        "宝宝快一岁了吧？{product}可以换下一段了。", "门店周六有育儿讲座，带宝宝来玩呀。",
        "您的积分可以换一包纸尿裤，下次来店里找我。", "{product}到货了，需要送货上门吗？",
        "新会员首单有礼，您朋友需要的话可以推荐给我。", "这款推车可以上飞机，出门很方便。",
        "奶粉是官方渠道进货，可以扫码溯源。",
    ),
    customer=(
        "{product}还有吗？", "能送货到小区吗？", "这个奶粉宝宝拉肚子怎么办？", "有没有试用装？",
        "会员价多少？", "推车可以先试一下吗？", "买一箱有优惠吗？", "什么时候再有活动？",
    ),
    after_sale=(
        "送货员下午到，到了给您打电话。", "奶粉批次是今年的，生产日期很新。", "座椅安装视频我发您。",
    ),
    compare=(
        "网上旗舰店便宜二十一罐", "超市搞活动比你们便宜", "海淘的更便宜吧", "别的母婴店送赠品",
    ),
    compare_reply=(
        "奶粉一定要认准正规渠道，门店的都能扫码溯源。", "我们会员积分能抵现金，算下来差不多。",
        "海淘的没有中文标签，售后也麻烦。",
    ),
    closers=("好的", "谢谢", "嗯嗯好", "收到", "好的呀", "👌"),
    basket=(1, 4),
    places=("代购", "我朋友的母婴店", "我自己的团购群", "微商那边"),
)

B2B_PARTS = Industry(
    key="b2b_parts", label="工业配件",
    skus=(
        Sku("BRG-6205", "深沟球轴承 6205 (箱)", 1800, 5200, "bearing"), Sku("BRG-NU3", "圆柱滚子轴承 (箱)", 4200, 12_800, "bearing"),
        Sku("VLV-DN50", "电动球阀 DN50", 2600, 7800, "valve"), Sku("PMP-15", "离心泵 15kW", 16_000, 48_000, "pump"),
        Sku("MTR-7K", "三相异步电机 7.5kW", 5200, 14_800, "motor"), Sku("PLC-S7", "PLC 控制模块", 8800, 32_000, "control"),
        Sku("SEN-PT", "压力变送器", 1200, 3600, "control"), Sku("HOS-25", "液压软管总成 (批)", 900, 4200, "hydraulic"),
    ),
    staff=(
        "王工您好，{product}的报价单已发您邮箱，含税{price}，交期两周。", "图纸收到了，技术部明天给您回复选型。",
        "月底前下单可以按上季度价格执行。", "{product}库存有三十套，急用的话可以先发一半。",
        "合同已经盖章扫描给您了，请查收。", "样品已经寄出，顺丰单号稍后发您。",
        "你们产线改造的项目，我们可以派工程师去现场看一下。", "账期按合同约定六十天，没问题。",
    ),
    customer=(
        "{product}含税多少？", "交期能不能提前？", "能开13%专票吗？", "最小起订量多少？",
        "有没有替代型号？", "帮我们出一份技术参数对比", "上批货有两件有划痕", "账期能放到九十天吗？",
    ),
    after_sale=(
        "货已经发出，物流单号稍后发您。", "技术支持电话我发您，现场有问题随时打。", "质检报告附在箱子里。",
    ),
    compare=(
        "另一家供应商报价低百分之八", "1688上同型号便宜不少", "代理商说能直接从厂家拿货", "国产替代品便宜一半",
    ),
    compare_reply=(
        "我们是原厂授权，质保和技术支持都有，可以出授权书。", "价格我跟领导申请一下，量大可以再谈。",
        "替代型号寿命差不少，我把测试数据发您参考。",
    ),
    closers=("好的", "收到", "行，我跟采购说一下", "明白", "谢谢", "OK"),
    basket=(1, 3),
    places=("我另外一家贸易公司", "一个朋友的公司", "代理商那边", "我们私下的渠道"),
)

INDUSTRIES: dict[str, Industry] = {i.key: i for i in (FURNITURE, CAR_4S, COSMETICS, MATERNAL, B2B_PARTS)}

# Lines every trade has: staff keeping the company's rules, customers who ask for what they should not get.
PRIVATE_ACCOUNT_ASK = ("能加你个人微信吗？方便联系", "你有私人号吗？这个企业号我老是收不到", "留个你的手机号吧",
                       "能不能直接转账给你，省得麻烦", "你私下给我便宜点呗")
PRIVATE_ACCOUNT_REFUSE = ("不好意思，公司要求都在企业微信上沟通，您有事随时找我就行。",
                          "这个号就是我的工作号，您发消息我都能收到的。",
                          "付款请走我们官方渠道，转账给个人是没有保障的，您放心在系统里下单。",
                          "价格都是系统统一的，我私下不能改价，不过可以帮您申请赠品。")
FAKE_SHOP_WARNING = ("提醒一下，最近网上有冒充我们的店铺，价格很低但都是假货，认准官方渠道下单哦。",
                     "如果有人自称我们员工让您转账到个人账户，千万别转，直接打我们热线核实。",
                     "有客户被假店骗了，您买之前可以先发链接给我确认一下。")
REBATE_ASK = ("你们有没有返点？", "买得多能返现吗？", "别的店说能给返点")
REBATE_REFUSE = ("公司没有返点政策哦，有活动会第一时间通知您。", "返现只有官方活动才有，我这边不能私下给。")
