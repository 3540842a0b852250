"""Court names: level and province from the name, which court a name denotes, the court one level up,
and the deciding court in a judgment header.

Level and province drive the 类案 ranking (a higher court's or the same province's case weighs more), so
both are read only from what the name says; an unknown province stays ``None`` rather than a guess. The
Art. 4 tiers (``retrieval.tiers``) ask two more questions of names, answered here beside the tables they
need: whether two printed names denote one court (``same_court``) and which court is one level up
(``superior_court_name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.document import Court, CourtLevel


@dataclass(frozen=True)
class Province:
    """A provincial unit: ``name`` as courts print it, ``short`` as a name prefix, ``abbr`` the 简称."""

    name: str
    short: str
    abbr: str
    court_code: str  # the 法院代字 of its high court in 案号 (内蒙古 is 内, not 蒙)


PROVINCES: tuple[Province, ...] = (
    Province("北京市", "北京", "京", "京"),
    Province("天津市", "天津", "津", "津"),
    Province("河北省", "河北", "冀", "冀"),
    Province("山西省", "山西", "晋", "晋"),
    Province("内蒙古自治区", "内蒙古", "蒙", "内"),
    Province("辽宁省", "辽宁", "辽", "辽"),
    Province("吉林省", "吉林", "吉", "吉"),
    Province("黑龙江省", "黑龙江", "黑", "黑"),
    Province("上海市", "上海", "沪", "沪"),
    Province("江苏省", "江苏", "苏", "苏"),
    Province("浙江省", "浙江", "浙", "浙"),
    Province("安徽省", "安徽", "皖", "皖"),
    Province("福建省", "福建", "闽", "闽"),
    Province("江西省", "江西", "赣", "赣"),
    Province("山东省", "山东", "鲁", "鲁"),
    Province("河南省", "河南", "豫", "豫"),
    Province("湖北省", "湖北", "鄂", "鄂"),
    Province("湖南省", "湖南", "湘", "湘"),
    Province("广东省", "广东", "粤", "粤"),
    Province("广西壮族自治区", "广西", "桂", "桂"),
    Province("海南省", "海南", "琼", "琼"),
    Province("重庆市", "重庆", "渝", "渝"),
    Province("四川省", "四川", "川", "川"),
    Province("贵州省", "贵州", "黔", "黔"),
    Province("云南省", "云南", "云", "云"),
    Province("西藏自治区", "西藏", "藏", "藏"),
    Province("陕西省", "陕西", "陕", "陕"),
    Province("甘肃省", "甘肃", "甘", "甘"),
    Province("青海省", "青海", "青", "青"),
    Province("宁夏回族自治区", "宁夏", "宁", "宁"),
    Province("新疆维吾尔自治区", "新疆", "新", "新"),
    Province("新疆生产建设兵团", "新疆生产建设兵团", "兵", "兵"),
)

_BY_NAME = {p.name: p for p in PROVINCES}

PROVINCE_BY_COURT_CODE: dict[str, str] = {p.court_code: p.name for p in PROVINCES}
"""案号 法院代字 first character → province name (军 and 最高法 have none)."""

# Places whose names begin with a province's short name but lie elsewhere; checked before provinces.
_MISLEADING_PREFIXES: dict[str, str | None] = {
    "海南藏族自治州": "青海省",
    "海南区": None,  # 内蒙古乌海市海南区; ambiguous without the city
    "河南蒙古族自治县": "青海省",
    "河南县": "青海省",
}

# Prefecture-level places → province, for names printed without the province: provincial capitals plus
# the cities met in LeCaRD headers. A city matches only when not followed by 区/县/旗 (中山区, 朝阳区 and
# 西安区 are districts elsewhere).
CITY_PROVINCES: dict[str, str] = {
    # provincial capitals
    "石家庄": "河北省", "太原": "山西省", "呼和浩特": "内蒙古自治区", "沈阳": "辽宁省", "长春": "吉林省",
    "哈尔滨": "黑龙江省", "南京": "江苏省", "杭州": "浙江省", "合肥": "安徽省", "福州": "福建省",
    "南昌": "江西省", "济南": "山东省", "郑州": "河南省", "武汉": "湖北省", "长沙": "湖南省",
    "广州": "广东省", "南宁": "广西壮族自治区", "海口": "海南省", "成都": "四川省", "贵阳": "贵州省",
    "昆明": "云南省", "拉萨": "西藏自治区", "西安": "陕西省", "兰州": "甘肃省", "西宁": "青海省",
    "银川": "宁夏回族自治区", "乌鲁木齐": "新疆维吾尔自治区",
    # met in LeCaRD court names without a province
    "包头": "内蒙古自治区", "赤峰": "内蒙古自治区", "鄂尔多斯": "内蒙古自治区",
    "大连": "辽宁省", "鞍山": "辽宁省", "抚顺": "辽宁省", "本溪": "辽宁省", "锦州": "辽宁省",
    "阜新": "辽宁省", "盘锦": "辽宁省", "葫芦岛": "辽宁省",
    "四平": "吉林省", "通化": "吉林省", "延边": "吉林省",
    "七台河": "黑龙江省",
    "苏州": "江苏省", "徐州": "江苏省", "常州": "江苏省", "南通": "江苏省", "连云港": "江苏省",
    "淮安": "江苏省", "扬州": "江苏省", "镇江": "江苏省", "泰州": "江苏省",
    "宁波": "浙江省", "湖州": "浙江省", "绍兴": "浙江省", "金华": "浙江省", "衢州": "浙江省",
    "舟山": "浙江省", "台州": "浙江省",
    "厦门": "福建省",
    "景德镇": "江西省", "萍乡": "江西省", "九江": "江西省",
    "青岛": "山东省", "临沂": "山东省",
    "开封": "河南省", "洛阳": "河南省", "平顶山": "河南省", "安阳": "河南省", "焦作": "河南省",
    "三门峡": "河南省", "南阳": "河南省", "周口": "河南省",
    "黄石": "湖北省", "襄阳": "湖北省",
    "衡阳": "湖南省", "怀化": "湖南省",
    "深圳": "广东省", "东莞": "广东省", "中山": "广东省", "汕头": "广东省", "湛江": "广东省",
    "肇庆": "广东省", "惠州": "广东省",
    "梅州": "广东省", "阳江": "广东省", "河源": "广东省", "云浮": "广东省",
    "贵港": "广西壮族自治区",
    "德阳": "四川省", "绵阳": "四川省", "广元": "四川省", "甘孜": "四川省",
    "临沧": "云南省", "德宏": "云南省",
    "铜川": "陕西省", "宝鸡": "陕西省", "咸阳": "陕西省", "渭南": "陕西省", "延安": "陕西省",
    "汉中": "陕西省", "安康": "陕西省",
    "平凉": "甘肃省",
    "昌吉": "新疆维吾尔自治区", "阿克苏": "新疆维吾尔自治区", "阿勒泰": "新疆维吾尔自治区",
}  # fmt: skip

SPC_NAME = "最高人民法院"
_BINGTUAN = "新疆生产建设兵团"
_BINGTUAN_HIGH = "新疆维吾尔自治区高级人民法院生产建设兵团分院"
_MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})

_NATIONAL_PREFIX = "中华人民共和国"
_WS = re.compile(r"\s+")

_INTERMEDIATE_MARKERS = ("中级人民法院", "中级法院", "知识产权法院", "海事法院", "金融法院")
# Every other 人民法院 is basic: 区/县/市/旗 courts, 东莞市第二人民法院, 三亚市城郊人民法院, 辽河人民法院.
_BASIC_SUFFIXES = ("人民法院", "铁路运输法院", "互联网法院", "人民法庭", "基层法院", "农垦法院")

# Longest names first so that 新疆生产建设兵团 wins over 新疆 and 内蒙古自治区 over 内蒙古.
_PROVINCE_PREFIXES: list[tuple[str, str]] = sorted(
    [(p.name, p.name) for p in PROVINCES] + [(p.short, p.name) for p in PROVINCES],
    key=lambda pair: -len(pair[0]),
)
_CITY_PREFIXES = sorted(CITY_PROVINCES, key=len, reverse=True)


def normalize_court_name(name: str) -> str:
    """Drop whitespace and the ``中华人民共和国`` prefix some headers print before the court."""
    name = _WS.sub("", name)
    if name.startswith(_NATIONAL_PREFIX) and len(name) > len(_NATIONAL_PREFIX):
        name = name[len(_NATIONAL_PREFIX) :]
    return name


def court_level(name: str) -> CourtLevel | None:
    """Level as the name states it; ``None`` for names that do not say (e.g. 军事法院)."""
    name = normalize_court_name(name)
    if name.startswith(SPC_NAME):
        return CourtLevel.SUPREME
    if "高级人民法院" in name:
        return CourtLevel.HIGH  # includes 分院 such as 高级人民法院生产建设兵团分院
    if any(marker in name for marker in _INTERMEDIATE_MARKERS):
        return CourtLevel.INTERMEDIATE
    if name.endswith(_BASIC_SUFFIXES):
        return CourtLevel.BASIC
    return None


def court_province(name: str) -> str | None:
    """Province named by the court's name, or by a known city at its start; ``None`` when unknown."""
    name = normalize_court_name(name)
    if name.startswith(SPC_NAME):
        return None
    if "生产建设兵团" in name:
        return _BINGTUAN
    for prefix, province in _MISLEADING_PREFIXES.items():
        if name.startswith(prefix):
            return province
    for prefix, province in _PROVINCE_PREFIXES:
        if name.startswith(prefix):
            return province
    for city in _CITY_PREFIXES:
        if name.startswith(city) and name[len(city) : len(city) + 1] not in ("区", "县", "旗"):
            return CITY_PROVINCES[city]
    return None


def parse_court(name: str) -> Court:
    """A ``Court`` with level and province read from its (whitespace-normalised) name."""
    clean = normalize_court_name(name)
    if not clean:
        raise ValueError("empty court name")
    return Court(name=clean, level=court_level(clean), province=court_province(clean))


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_COURT_PREFIX = re.compile(r".*(?:法院|法庭)")  # greedy: 最高人民法院第一巡回法庭, not 最高人民法院
_DOC_TYPE = re.compile(r"判决|裁定|裁判|调解|决定|通知")
_FULL_PROVINCE_NAME = re.compile("|".join(sorted(_BY_NAME, key=len, reverse=True)) + "|" + SPC_NAME)


def find_court_name(text: str, window: int = 200) -> str | None:
    """The deciding court's name in a judgment header (first ``window`` characters), or ``None``.

    Headers may open with a title ("…一审刑事判决书 浙江省桐乡市人民法院 刑事判决书 …"), so the court is
    the first CJK run (split after any 书 that ends a glued-on title) ending in 法院/法庭 that names a
    court level and is followed by a document type.
    """
    head = text[:window]
    for run in _CJK_RUN.finditer(head):
        piece_start = run.start()
        for piece in run.group().split("书"):
            match = _COURT_PREFIX.match(piece)
            name_end = piece_start + (match.end() if match else 0)
            piece_start += len(piece) + 1
            if match is None:
                continue
            name = normalize_court_name(match.group())
            found = _FULL_PROVINCE_NAME.search(name)
            if found and found.start() > 0:  # OCR noise before the province: "睐安徽省宿松县人民法院"
                name = name[found.start() :]
            if court_level(name) is not None and _DOC_TYPE.search(head, name_end):
                return name
    return None


# --------------------------------------------------------------------------- which court a name denotes

# A prefecture-level unit at the start of a basic court's name, then at least one more character
# (district, county, 第一, 城郊 …) before 人民法院/法院: "杭州市" + "西湖区", "东莞市" + "第一".
_CITY_THEN_PLACE = re.compile(r"^(?P<city>[\u4e00-\u9fff]{2,}?(?:市|自治州|地区|盟))(?P<rest>.+)$")
# Whether a province-less name still starts with a place, so that it may match a name with a province.
_STARTS_WITH_PLACE = re.compile(r"^[\u4e00-\u9fff]{2,}?(?:市|自治州|地区|盟|县|区|旗)")
# 派出人民法庭 decide in the name of their basic court: "…西湖区人民法院留下人民法庭" is that court.
_TRIBUNAL = re.compile(r"^(?P<court>.+?人民法院).+人民法庭$")


def level_of(court: Court) -> CourtLevel | None:
    """The level the record gives, else the one its name states."""
    return court.level or court_level(court.name)


def province_of(court: Court) -> str | None:
    """The province the record gives, else the one its name states."""
    return court.province or court_province(court.name)


def _clean(name: str) -> str:
    """Normalised name, a 人民法庭 replaced by its basic court."""
    name = normalize_court_name(name)
    match = _TRIBUNAL.match(name)
    return match.group("court") if match else name


def _split_province(name: str, province: str | None) -> str:
    """``name`` without its leading province ("浙江省", or "浙江" when not the start of a city: 吉林市)."""
    if province is None:
        return name
    if name.startswith(province):
        return name[len(province) :]
    known = _BY_NAME.get(province)
    short = known.short if known else None
    if short and name.startswith(short) and name[len(short) : len(short) + 1] != "市":
        return name[len(short) :]
    return name


def _city_of_basic(body: str) -> str | None:
    """The prefecture-level unit a basic court's name (province and 法院 removed) starts with."""
    match = _CITY_THEN_PLACE.match(body)
    if match:
        return match.group("city")
    for city in _CITY_PREFIXES:  # 苏州工业园区, 杭州互联网, 深圳前海合作区: a known city without 市
        rest = body[len(city) :]
        if body.startswith(city) and rest and rest[0] not in "市区县旗":
            return city + "市"
    return None


def superior_court_name(court: Court) -> str | None:
    """The court one level up, read from the name; ``None`` when the name does not tell.

    Basic courts map to the 中级人民法院 of the city their name starts with; a name that gives no city
    (浙江省淳安县人民法院, 浙江省桐乡市人民法院: county-level units whose prefecture is not printed) is
    unknown, as are courts in the four municipalities (several numbered 中级法院: which one is not in the
    name), 铁路运输法院 (their 铁路运输中级法院 does not follow the city: 杭州 → 上海) and 兵团 courts.
    """
    name = _clean(court.name)
    cleaned = Court(name, court.level, court.province)
    level, province = level_of(cleaned), province_of(cleaned)
    if level is CourtLevel.SUPREME or level is None:
        return None
    if level is CourtLevel.HIGH:
        return SPC_NAME
    if level is CourtLevel.INTERMEDIATE:
        if province == _BINGTUAN:
            return _BINGTUAN_HIGH
        return f"{province}高级人民法院" if province else None
    # basic
    if province in _MUNICIPALITIES or province == _BINGTUAN or "运输法院" in name:
        return None
    body = _split_province(name, province)
    for suffix in ("人民法院", "法院"):
        if body.endswith(suffix):
            body = body[: -len(suffix)]
            break
    else:
        return None
    city = _city_of_basic(body)
    if city is None:
        return None
    return f"{province or ''}{city}中级人民法院"


def same_court(a: str, b: str) -> bool:
    """Whether two printed names denote one court: equal once normalised, the province prefix aside.

    "杭州市中级人民法院" equals "浙江省杭州市中级人民法院"; a 人民法庭 is its basic court. Names whose
    provinces both resolve must agree on them ("上海市第一中级人民法院" is not "重庆市第一中级人民法院").
    """
    a, b = _clean(a), _clean(b)
    if not a or not b:
        return False
    if a == b:
        return True
    pa, pb = court_province(a), court_province(b)
    rest_a, rest_b = _split_province(a, pa), _split_province(b, pb)
    if rest_a != rest_b:
        return False
    if pa == pb:
        return True
    return (pa is None or pb is None) and bool(_STARTS_WITH_PLACE.match(rest_a))
