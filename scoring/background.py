"""Other occupations' work and life outside work, in English and Chinese: what an answer from another
job, or about a trip, a race or a new phone, sounds like.

The on-topic check's "whose job is this" test (`Scorer`, check ``off_topic``, detail ``another job``)
compares an answer with its question's own material and with these texts: a well-told story of a
nurse's night shift or a milk-tea shop's rush is close to any behavioural question of any role
(raw embedding cosines put every working-day story together), but it is closer still to a story
of that other job. Texts are first-person accounts of the kind candidates tell, one per occupation
and language; an occupation whose texts are as close to a role's own material as the role's own
exemplars (sales for a sales role, software for an engineering role) is left out for that role
(`Scorer._calibrate_topics`), so the list may hold every kind of work. Accounts of life outside work
(`LIFE_OUTSIDE_WORK`, detail ``life outside work``) are a second kind with their own calibration
(`background_kind`).

Model material, not wording: nobody reads these texts, and they are embedded once with the flow.
"""

from __future__ import annotations

OTHER_OCCUPATIONS: dict[str, dict[str, str]] = {
    "nursing": {
        "en": "On a night shift on the ward I looked after six patients. One patient's breathing rate "
        "and blood pressure changed, so I called the doctor, repeated the observations, gave the "
        "medication and handed over to the morning nurses.",
        "zh": "我在病房值夜班，负责六个病人。有个病人呼吸和血压不对，我马上叫了值班医生，"
        "复测生命体征，按医嘱给药，早上和白班护士做了交接。",
    },
    "medicine": {
        "en": "In the emergency department I saw a patient with chest pain, ordered an ECG and blood "
        "tests, made the diagnosis and referred him to cardiology; I explained the treatment to his "
        "family.",
        "zh": "我在急诊接诊了一个胸痛的病人，开了心电图和抽血检查，诊断后转到心内科，"
        "还和家属解释了治疗方案和手术风险。",
    },
    "restaurant kitchen": {
        "en": "I was the chef on a busy Saturday service in the restaurant kitchen. We had a full "
        "book, the grill station fell behind, so I moved a cook, changed the menu and got the plates "
        "out to the tables on time.",
        "zh": "我在餐厅后厨当厨师长，周六晚上客满，出菜太慢，我调整了灶台分工，改了菜单，"
        "让服务员先给客人上凉菜，最后按时出完了菜。",
    },
    "cafe and milk tea shop": {
        "en": "I managed a coffee and bubble tea shop. During the lunch rush the queue was long, so I "
        "split the orders and the drink making, prepared the toppings in advance and trained the new "
        "baristas on the cups and the sealing machine.",
        "zh": "我在奶茶店当店长，中午高峰排队很长，我把点单和制作分开，提前备好珍珠和小料，"
        "教新店员用封口机，出杯快了很多，顾客也少了差评。",
    },
    "retail store": {
        "en": "As a store manager in a clothing shop I planned the staff rota, arranged the shelves "
        "and the window display, handled a customer's refund and got the stock delivered before the "
        "holiday sale.",
        "zh": "我在服装店做店长，排店员的班，调整货架和橱窗陈列，处理顾客退换货，"
        "节假日促销前催仓库把货送到门店。",
    },
    "hotel": {
        "en": "At the hotel front desk a tour group arrived and the rooms were overbooked. I moved "
        "guests to a partner hotel, upgraded others, and arranged breakfast and taxis for them.",
        "zh": "我在酒店前台，一个旅游团到店发现房间超订了，我给部分客人升级房型，"
        "安排到合作酒店，还报销了打车费和早餐。",
    },
    "parcel delivery": {
        "en": "I was a delivery driver with 140 parcels on my route. The road was closed by snow, so I "
        "re-ordered my stops, swapped drops with another driver and called the customers about "
        "delivery times.",
        "zh": "我做快递员，每天派一百多个包裹。有次下大雪路封了，我重新规划派送路线，"
        "和同事换了片区，给收件人打电话约时间，快递站爆仓时还加班分拣。",
    },
    "warehouse": {
        "en": "In the warehouse during peak season, the pick rate was low, so I moved the fast-moving "
        "stock closer to packing, changed the shifts and the forklifts' routes, and we shipped every "
        "order on time.",
        "zh": "我在仓库当班组长，旺季拣货太慢，我把畅销货挪到靠近打包区的货架，调整了叉车路线和排班，"
        "订单都按时发货了。",
    },
    "factory": {
        "en": "As a team leader on the production line I found the bottleneck at the grinding "
        "station, changed the fixtures and the work steps, and the line's daily output and the "
        "defect rate improved.",
        "zh": "我在工厂车间当班组长，产线日产量上不去，我发现瓶颈在打磨工位，换了夹具，调整了工序，"
        "日产量提高了，返工率也降了。",
    },
    "construction": {
        "en": "As site foreman I scheduled the concrete pour around the rain, coordinated the crew and "
        "the crane, checked the rebar before inspection and kept the building on schedule.",
        "zh": "我在工地当施工员，下雨前调整了混凝土浇筑时间，协调工人和塔吊，验收前检查钢筋，保证工程进度。",
    },
    "teaching": {
        "en": "As a teacher my class kept losing marks in the exams, so I planned extra lessons, gave "
        "the students short quizzes, met their parents and their grades went up.",
        "zh": "我当老师的时候，班上学生考试成绩不理想，我给学生加了小测验和辅导课，开家长会，"
        "期末平均分提高了，孩子们上课也更积极了。",
    },
    "hairdressing and beauty": {
        "en": "At my hair salon a stylist left and I called every client, moved the appointments, did "
        "the colour and haircuts myself in the evenings and kept most of our regular customers.",
        "zh": "我开理发店，有个发型师突然离职，我给每位顾客打电话改预约，晚上自己加班剪发染发，"
        "大部分老顾客都留住了。",
    },
    "pharmacy": {
        "en": "As a pharmacist I found two near-misses with the wrong dose of a prescription, changed "
        "the dispensing checks and the shelves, and there were no more errors.",
        "zh": "我在药店做药剂师，发现两次差点发错药的剂量，我改了配药核对流程和药品摆放，之后再没有出过错。",
    },
    "air cabin crew": {
        "en": "On a long flight a passenger fainted in the aisle. As cabin crew I brought the oxygen "
        "and the medical kit, found a doctor among the passengers and kept the captain informed.",
        "zh": "我做空乘，有一次航班上一位乘客晕倒了，我拿来氧气瓶和急救箱，广播找医生，"
        "随时向机长报告情况，最后没有备降。",
    },
    "real estate": {
        "en": "As an estate agent I learned every flat in my neighbourhood, its price and its owner, "
        "showed buyers around at weekends and closed twenty sales in a year.",
        "zh": "我做房产中介，把负责小区每套房的户型、楼层和成交价都记下来，周末带客户看房，"
        "一年成交了二十多套。",
    },
    "accounting": {
        "en": "At month end I reconciled the accounts, found a mismatch in the invoices and the bank "
        "statements, corrected the ledger and closed the books before the audit.",
        "zh": "我做会计，月底对账发现发票和银行流水对不上，查出来是一笔重复入账，改了账，"
        "在审计前按时结账报税。",
    },
    "law": {
        "en": "As a lawyer I prepared the case for court, interviewed the witnesses, drafted the "
        "contract clauses and negotiated a settlement for my client.",
        "zh": "我做律师，为开庭准备证据材料，和证人谈话，起草合同条款，最后帮当事人达成了和解。",
    },
    "emergency services": {
        "en": "As a firefighter we were called to a fire in an apartment block at night; I led the "
        "team up the stairs, evacuated the residents and the fire was out within an hour.",
        "zh": "我做消防员，有天夜里接警去一栋居民楼救火，我带队上楼疏散住户，一个小时内把火扑灭了。",
    },
    "fitness coaching": {
        "en": "As a personal trainer I designed a training plan for a member after knee surgery, "
        "started with light exercises and after three months he could squat again without pain.",
        "zh": "我做健身教练，给一个膝盖受过伤的会员设计训练计划，从简单的动作开始，"
        "三个月后他能正常深蹲了，体重也减了十公斤。",
    },
    "tourism": {
        "en": "As a tour guide with a group of forty, our coach broke down, so I hired another bus, "
        "changed the itinerary and the show tickets, and the trip went on.",
        "zh": "我当导游带一个四十人的旅游团，大巴车坏了，我联系车队租了新车，调整了行程和演出门票，"
        "游客都很满意。",
    },
    "farming": {
        "en": "On our farm the harvest was late because of the rain, so we hired extra pickers, "
        "stored the crop in the barn and sold it at the market.",
        "zh": "我家种果园，下雨耽误了采摘，我们请了临时工抢收，把水果放进冷库，再拉到市场上卖。",
    },
    "journalism": {
        "en": "As a reporter I interviewed the witnesses, checked the facts with two sources and "
        "wrote the story before the newspaper's deadline.",
        "zh": "我当记者，采访了几位目击者，和两个信源核实事实，赶在截稿前写完了稿子。",
    },
    "event planning": {
        "en": "I planned a wedding for 180 guests; when rain was forecast I rented a marquee, moved "
        "the dinner into the barn and the ceremony ran on time.",
        "zh": "我做婚礼策划，一场一百八十人的婚礼遇上下雨，我临时租了帐篷，把晚宴挪到室内，仪式按时进行。",
    },
    "call centre": {
        "en": "In the call centre I answered customers' complaints on the phone, calmed an angry "
        "caller, refunded the order and my satisfaction score went up.",
        "zh": "我在呼叫中心做客服，每天接投诉电话，有位客户很生气，我耐心安抚，给他办了退款，"
        "满意度评分提高了。",
    },
    "childcare": {
        "en": "As a nursery teacher the children could not settle for their nap, so I added a quiet "
        "story time, dimmed the lights and within two weeks they slept easily.",
        "zh": "我在幼儿园带班，孩子们午睡前总是很吵，我加了绘本时间，调暗灯光，两周后孩子们很快就能入睡了。",
    },
    "selling": {
        "en": "I was negotiating a renewal with a customer who asked for a big discount; I prepared my "
        "walk-away, traded a longer contract for a small discount and closed the deal above quota.",
        "zh": "我做销售，客户续约时要求大幅降价，我提前准备好底线，用更长的合同期换了小一点的折扣，"
        "最后签了单，完成了季度业绩。",
    },
    "software engineering": {
        "en": "Our service's API was slow and failing after a release, so I checked the logs and the "
        "database queries, rolled back, fixed the code, added tests and deployed again.",
        "zh": "我们的后端服务上线后接口变慢报错，我看日志和慢查询，先回滚版本，改了代码，"
        "补了单元测试再重新发布。",
    },
    "mechanic": {
        "en": "At the garage a car came in with a noise from the engine; I ran the diagnostics, found "
        "a worn belt, replaced the parts and the customer picked it up the same day.",
        "zh": "我在汽修厂，有辆车发动机有异响，我用诊断仪检查，发现皮带磨损，换了配件，"
        "车主当天就把车开走了。",
    },
}
"""Per occupation: a first-person account of its work, in English and in Chinese."""

LIFE_OUTSIDE_WORK: dict[str, dict[str, str]] = {
    "sport training": {
        "en": "I trained for a half marathon for four months: three runs a week, a long run on Sundays, "
        "intervals on the track, stretching and a knee strap after an injury; I finished in under two hours.",
        "zh": "我为半程马拉松练了四个月，每周跑三次，周末拉长距离，在操场练间歇跑，"
        "膝盖受伤后开始做拉伸和力量训练，最后两小时内跑完了。",
    },
    "gadget review": {
        "en": "I bought the new phone last month. The screen is bright, the camera is great at night, the "
        "battery lasts a day and a half, but it gets warm when gaming and the charger is not in the box.",
        "zh": "上个月买了这款新手机，屏幕很亮，夜景拍照效果不错，续航一天半没问题，"
        "就是玩游戏会发热，充电器还要另外买，总体性价比还可以。",
    },
    "travel": {
        "en": "On our trip to Japan we took the train from Tokyo to Kyoto, visited the temples early to "
        "avoid the crowds, got lost looking for the hotel and ate the best ramen of our lives.",
        "zh": "国庆我们去云南旅游，从昆明坐高铁到大理，租车环洱海，住了一家民宿，"
        "路上找不到酒店迷了路，还吃到了特别好吃的米线。",
    },
    "cooking at home": {
        "en": "On Sunday I cooked dinner for the family: I chopped onions and garlic, simmered the tomato "
        "sauce for an hour, boiled the pasta and baked a cake for dessert; the kids asked for seconds.",
        "zh": "周末我给家里人做饭，先切好葱姜蒜，红烧肉炖了一个小时，又炒了两个青菜，"
        "烤了个蛋糕当甜点，孩子们吃得很开心。",
    },
    "home and family": {
        "en": "When we moved flat I packed the boxes, found a moving van, painted the children's room, "
        "argued with the landlord about the deposit and got the kids settled in their new school.",
        "zh": "去年搬家，我打包箱子、找搬家公司、给孩子的房间刷墙，和房东为了押金吵了一架，"
        "还帮孩子办了转学，周末带他们熟悉新小区。",
    },
    "hobby": {
        "en": "My hobby is photography: I joined a club, learned to shoot in manual mode, went out at "
        "sunrise for landscapes, edited the photos in the evening and had two of them shown at an "
        "exhibition.",
        "zh": "我业余爱好是摄影，加入了摄影社，学会用手动挡拍，周末早起去拍日出风景，"
        "晚上修图，有两张作品还参加了社区影展。",
    },
    "school exams": {
        "en": "Before my final exams I made a revision timetable, went through past papers, studied with "
        "friends in the library every evening and got an A in maths.",
        "zh": "高考前我做了复习计划，每天刷往年真题，晚上和同学在图书馆自习，"
        "错题整理成本子，最后数学考了一百三十多分。",
    },
    "company profile": {
        "en": "Founded in 2005, our company is a leading provider of innovative solutions, serving "
        "customers in over thirty countries with a passionate team committed to quality and excellence.",
        "zh": "公司成立于2005年，是行业领先的综合解决方案提供商，业务覆盖三十多个国家，"
        "秉承客户至上、追求卓越的理念，致力于为客户创造价值。",
    },
    "news": {
        "en": "According to the report, heavy rain flooded several districts on Tuesday; the city closed "
        "schools, rescue teams evacuated residents and officials said the damage would be assessed.",
        "zh": "据报道，周二的暴雨导致多个区域积水，市里宣布停课，救援队转移了受困居民，"
        "相关部门表示将尽快评估损失。",
    },
    "film and books": {
        "en": "I watched the film last weekend. The story starts slowly but the acting is brilliant, the "
        "ending surprised me and the soundtrack is beautiful; the book is still better.",
        "zh": "周末看了这部电影，前半段节奏有点慢，但演员演技很好，结局很意外，"
        "配乐也很好听，不过原著小说更精彩。",
    },
    "volunteering and pets": {
        "en": "On Saturdays I volunteer at the animal shelter: I walk the dogs, clean the kennels, help "
        "families choose a pet, and last month I adopted a cat myself.",
        "zh": "我周末去流浪动物救助站做志愿者，遛狗、打扫笼子、帮来领养的家庭挑宠物，"
        "上个月自己也领养了一只猫。",
    },
    "health and diet": {
        "en": "Last year I tried to lose ten kilos: I counted calories, cut out sugar, went to the gym "
        "after dinner, but I gave up after two months and put the weight back on.",
        "zh": "去年我想减十斤，每天算热量、戒糖、晚饭后去健身房，坚持了两个月就放弃了，体重又反弹回去了。",
    },
    "neighbours": {
        "en": "My neighbour kept parking in my spot, so I left a note, then we talked it over, agreed on "
        "a schedule and now we even share a barbecue in the summer.",
        "zh": "邻居老是占我家的车位，我先贴了纸条，后来当面聊了聊，约好轮流停车，"
        "现在夏天还会一起在楼下烧烤。",
    },
    "games": {
        "en": "In the game I led our guild through the raid: we practised the boss fight every night, I "
        "assigned the healers, we wiped ten times and finally won at two in the morning.",
        "zh": "我在游戏里带公会打副本，每天晚上练习打最终boss，我安排奶妈和坦克的位置，"
        "灭团十几次，凌晨两点终于通关了。",
    },
}
"""Per topic of life outside work: a first-person account (for a company profile and the news, the
text itself), in English and in Chinese: a story of a race, a trip or a phone is not an answer either."""


WORK = "work"
LIFE = "life"


def background_kind(topic: str) -> str:
    """``life`` for a topic of `LIFE_OUTSIDE_WORK`, else ``work`` (an occupation): each kind is
    calibrated on its own, so adding topics of one kind never moves the other's threshold."""
    return LIFE if topic in LIFE_OUTSIDE_WORK else WORK


def background_texts() -> list[tuple[str, str, str]]:
    """(occupation or topic, language, text) for every built-in text."""
    return [
        (topic, code, text)
        for accounts in (OTHER_OCCUPATIONS, LIFE_OUTSIDE_WORK)
        for topic, texts in accounts.items()
        for code, text in texts.items()
    ]
