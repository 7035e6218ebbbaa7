"""Sample data for demos and tests: valid unified social credit codes and a few demo enterprises."""

from __future__ import annotations

from stdnum.cn import uscc

YANCHENG_DIVISION = "320900"


def make_uscc(serial: int, division: str = YANCHENG_DIVISION) -> str:
    """A syntactically valid 统一社会信用代码 for an enterprise (type 91) with a check digit."""
    body = f"91{division}MA{serial:07d}"[:17]
    return body + uscc.calc_check_digit(body)


DEMO_ENTERPRISES = [
    {"name": "盐城示范泵业有限公司", "district": "盐都区", "industry": "通用设备制造业"},
    {"name": "东台光伏组件有限公司", "district": "东台市", "industry": "电气机械和器材制造业"},
    {"name": "大丰风电部件有限公司", "district": "大丰区", "industry": "通用设备制造业"},
]
