"""What the registry holds: points by kind, source and province, the synthetic and
No-Copy shares, the pin check's counts (`GET /v1/stats`, `locator status`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from locator.db.engine import Executor
from locator.ops.status import collect_status
from locator.registry import pincheck


def registry_stats(conn: Executor) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for kind, source, n in conn.execute(
        text("SELECT kind, source, count(*) FROM service_point GROUP BY 1, 2 ORDER BY 1, 2")
    ):
        by_kind.setdefault(kind, {})[source] = n
    by_source: dict[str, int] = dict(
        conn.execute(text("SELECT source, count(*) FROM service_point GROUP BY 1")).all()
    )
    by_province: dict[str, dict[str, Any]] = {
        code: {"name_en": en, "name_th": th, "points": 0, "real": 0, "generated": 0, "by_kind": {}}
        for code, en, th in conn.execute(
            text(
                "SELECT code, name_en, name_th FROM admin_area WHERE level = 'province' ORDER BY 1"
            )
        )
    }
    for province, kind, source, n in conn.execute(
        text(
            "SELECT left(tambon_code, 2), kind, source, count(*) FROM service_point "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    ):
        entry = by_province.get(province)
        if entry is None:
            continue
        entry["points"] += n
        entry["generated" if source == "generated" else "real"] += n
        entry["by_kind"][kind] = entry["by_kind"].get(kind, 0) + n
    # the same share per province as nationally below: where the rollout lags shows here
    for entry in by_province.values():
        entry.update(offerings=0, no_copy_offerings=0, no_copy_share=None)
    for province, n, no_copy_here in conn.execute(
        text(
            "SELECT left(p.tambon_code, 2), count(*), "
            "count(*) FILTER (WHERE cardinality(o.copies_required) = 0) "
            "FROM offering o JOIN service_point p ON p.id = o.point_id GROUP BY 1"
        )
    ):
        entry = by_province.get(province)
        if entry is not None:
            entry.update(
                offerings=n,
                no_copy_offerings=no_copy_here,
                no_copy_share=round(no_copy_here / n, 4) if n else None,
            )
    provided_hours = conn.execute(
        text(
            "SELECT count(*) FROM service_point "
            "WHERE source <> 'generated' AND 'hours' = ANY(provided)"
        )
    ).scalar_one()
    offerings, no_copy = conn.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE cardinality(copies_required) = 0) "
            "FROM offering"
        )
    ).one()
    total = sum(by_source.values())
    return {
        "points": total,
        "by_source": by_source,
        "by_kind": by_kind,
        "by_province": by_province,
        "offerings": offerings,
        "no_copy_offerings": no_copy,
        "no_copy_share": round(no_copy / offerings, 4) if offerings else None,
        "synthetic_share": round(by_source.get("generated", 0) / total, 4) if total else None,
        # what of the demo registry is made up (locator.registry.provenance): generated points
        # whole; on the real offices their phones, hours (unless their agency provided
        # them) and No-Copy statuses
        "synthetic": {
            "generated_points": by_source.get("generated", 0),
            "real_points": total - by_source.get("generated", 0),
            "made_up_on_real_points": ["phones", "hours", "no_copy"],
            "real_points_with_provided_hours": provided_hours,
        },
        "qa": pincheck.counts(conn),
    }


def database_status(engine: Engine) -> dict[str, Any]:
    """``collect_status`` and, once the schema is there, ``registry_stats`` under
    "registry": all that `locator status` prints."""
    status = collect_status(engine)
    if status["revision"] is not None:
        with engine.connect() as conn:
            status["registry"] = registry_stats(conn)
    return status
