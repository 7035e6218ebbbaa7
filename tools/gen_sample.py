#!/usr/bin/env python3
"""A realistic sample data set for demos and the dashboard, made through the real registration path.

Onboards ``--enterprises`` enterprises (valid 统一社会信用代码, spread over the configured districts
and the region's main industries, registration dates over the last three years with the pace picking
up, as a regional programme does) through the registry, then registers identifiers with metadata for
most of them through the bulk path: a long-tailed count per enterprise (a few register thousands,
many a handful, about one in six none: "registered but not using"). Identifiers carry today's date;
the three-year history is in the enterprises' registration dates.

    .venv/bin/python tools/gen_sample.py --data-dir ./data [--enterprises 3000] [--max-identifiers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchlib import console
from rich.progress import Progress

from idnode.config import load_settings
from idnode.core import open_core
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.permissions import Principal
from idnode.sample import make_uscc

INDUSTRIES = {  # the region's manufacturing, weighted roughly by firm count
    "汽车制造业": 14,
    "电气机械和器材制造业": 16,  # solar modules, wind turbine parts, batteries
    "通用设备制造业": 18,
    "专用设备制造业": 10,
    "纺织业": 9,
    "化学原料和化学制品制造业": 7,
    "金属制品业": 9,
    "农副食品加工业": 6,
    "计算机、通信和其他电子设备制造业": 8,
    "橡胶和塑料制品业": 3,
}
PRODUCTS = {
    "汽车制造业": ("AUTOPART", "制动盘"),
    "电气机械和器材制造业": ("PV-MODULE", "单晶光伏组件 550W"),
    "通用设备制造业": ("PUMP", "离心泵 IS80-65-160"),
    "专用设备制造业": ("MACHINE", "数控折弯机"),
    "纺织业": ("FABRIC", "涤纶面料"),
    "化学原料和化学制品制造业": ("CHEM", "工业涂料"),
    "金属制品业": ("STEEL", "紧固件 M12"),
    "农副食品加工业": ("FOOD", "大米 5kg"),
    "计算机、通信和其他电子设备制造业": ("PCB", "控制板"),
    "橡胶和塑料制品业": ("RUBBER", "密封圈"),
}


def identifier_count(rng: random.Random, most: int) -> int:
    if rng.random() < 0.17:
        return 0
    return min(most, int(rng.paretovariate(1.2) * 5))


def values(prefix: str, kind: str, name: str, n: int) -> list[dict[str, Any]]:
    return [
        {"index": 1, "type": "URL", "data": f"https://trace.example.com/{prefix}/{kind}-{n:06d}"},
        {"index": 2, "type": "PRODUCT_NAME", "data": name},
        {"index": 3, "type": "BATCH", "data": f"B{2024 + n % 3}{n % 97:03d}"},
    ]


async def generate(data_dir: Path, enterprises: int, most: int, seed: int) -> None:
    rng = random.Random(seed)
    settings = load_settings({"data_dir": data_dir}, environ={})
    start = date.today() - timedelta(days=3 * 365)
    async with open_core(settings) as core:
        with Progress(console=console) as progress:
            task = progress.add_task("enterprises and their identifiers", total=enterprises)
            for serial in range(1, enterprises + 1):
                industry = rng.choices(list(INDUSTRIES), weights=list(INDUSTRIES.values()))[0]
                registered = start + timedelta(days=int(3 * 365 * rng.random() ** 0.7))  # the pace picks up
                district = rng.choice(settings.districts)
                draft = EnterpriseDraft.from_json(
                    {
                        "name": f"盐城{district[:2]}{industry[:2]}样例企业{serial}有限公司",
                        "uscc": make_uscc(10_000 + serial),
                        "district": district,
                        "industry": industry,
                        "contact_name": "联系人",
                        "registered_on": registered.isoformat(),
                    },
                    settings.districts,
                )
                enterprise, _ = await core.registry.add_enterprise(core.local_operator, draft)
                kind, name = PRODUCTS[industry]
                items = [
                    (f"{enterprise.prefix}/{kind}-{n:06d}", values(enterprise.prefix, kind, name, n))
                    for n in range(identifier_count(rng, most))
                ]
                if items:
                    await core.bulk.register(Principal(f"{enterprise.prefix}/ADMIN", 300), items)
                progress.advance(task)
        summary = await core.stats.summary()
    firms, identifiers = summary["enterprises"]["total"], summary["identifiers"]
    console.print(f"{firms:,} enterprises, {identifiers:,} identifiers in {data_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--enterprises", type=int, default=3000)
    parser.add_argument(
        "--max-identifiers", type=int, default=2000, help="most identifiers of one enterprise"
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    asyncio.run(generate(args.data_dir, args.enterprises, args.max_identifiers, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
