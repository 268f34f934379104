"""The report: per-phase tables, the stored writes and ratings checked, the targets."""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter
from typing import Any

from sqlalchemy import create_engine, text

from bench.loadgen import (
    Record,
)
from bench.mixed_load.phases import Phase
from bench.mixed_load.traffic import REPORT_KINDS
from bench.mixed_load.writes import WRITE_EXPECTED_4XX, Write
from locator.registry import hours


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value q of the way up the sorted list); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(value: float) -> str:
    return (
        "-"
        if math.isnan(value)
        else f"{value * 1000:.0f}"
        if value >= 0.1
        else f"{value * 1000:.1f}"
    )


def is_error(r: Record) -> bool:
    """An error in the targets' sense: any 5xx but 503, or no HTTP answer at all."""
    return r.error is not None or (r.status >= 500 and r.status != 503)


def summarise(records: list[Record], seconds: float) -> dict[str, Any]:
    """Counts by outcome and latency percentiles (from the scheduled time; everything but
    the backlog, which was never sent, timeouts included at their timeout)."""
    status = Counter(r.status for r in records if r.error is None)
    errors = Counter(r.error for r in records if r.error is not None)
    latency = [r.latency for r in records if r.error != "backlog"]
    ok = [r.latency for r in records if 200 <= r.status < 300]
    busy = [r.latency for r in records if r.status == 503]
    sent = [r.sent - r.sched for r in records if r.error != "backlog" and r.sent]
    return {
        "count": len(records),
        "rate": len(records) / seconds if seconds else math.nan,
        "ok": sum(n for s, n in status.items() if 200 <= s < 300),
        "4xx": {str(s): n for s, n in sorted(status.items()) if 400 <= s < 500},
        "503": status.get(503, 0),
        "5xx_other": {str(s): n for s, n in sorted(status.items()) if s >= 500 and s != 503},
        "client_errors": {k: n for k, n in errors.items() if k != "timeout"},
        "timeouts": errors.get("timeout", 0),
        "errors": sum(1 for r in records if is_error(r)),
        "p50": pct(latency, 0.5),
        "p90": pct(latency, 0.9),
        "p99": pct(latency, 0.99),
        "max": max(latency, default=math.nan),
        "ok_p50": pct(ok, 0.5),
        "ok_p99": pct(ok, 0.99),
        "503_p50": pct(busy, 0.5),
        "503_p99": pct(busy, 0.99),
        "503_max": max(busy, default=math.nan),
        "503_codes": dict(Counter(r.code for r in records if r.status == 503)),
        "503_without_retry_after": sum(1 for r in records if r.status == 503 and not r.retry_after),
        "5xx_codes": dict(Counter(r.code for r in records if r.status >= 500 and r.status != 503)),
        "send_lag_p99": pct(sent, 0.99),
    }


def timeline(phase: Phase, others: list[tuple[float, float]]) -> list[dict[str, Any]]:
    """Per second of the phase, by scheduled time: sent, 2xx, 503, errors, p99; ``done``:
    2xx answers completed in that second (the throughput as it happened); ``others``:
    core-seconds the machine spent on anything but this benchmark in that second."""
    seconds = max(1, math.ceil(phase.end - phase.start - 1e-9))
    rows: list[dict[str, Any]] = [
        {"s": s, "sent": 0, "ok": 0, "503": 0, "err": 0, "lat": [], "done": 0}
        for s in range(seconds)
    ]
    for r in phase.records:
        s = int(r.sched - phase.start)
        if 0 <= s < seconds:
            row = rows[s]
            row["sent"] += r.error != "backlog"
            row["ok"] += 200 <= r.status < 300
            row["503"] += r.status == 503
            row["err"] += is_error(r)
            if r.error != "backlog":
                row["lat"].append(r.latency)
        d = int(r.done - phase.start)
        if 0 <= d < seconds and 200 <= r.status < 300:
            rows[d]["done"] += 1
    for row in rows:
        row["p99"] = pct(row.pop("lat"), 0.99)
        row["others"] = math.nan
    for t, busy in others:
        s = int(t - 0.5 - phase.start)  # the sample covers the second before t
        if 0 <= s < seconds:
            rows[s]["others"] = busy
    return rows


def recovery_second(ok_per_second: list[int], threshold: float, window: int = 3) -> int | None:
    """The first second from which the 2xx rate, as a ``window``-second mean, never falls
    below ``threshold`` again (a mean: one slow second of a shared box is no relapse)."""
    n = len(ok_per_second)
    means = [statistics.mean(ok_per_second[s : min(n, s + window)]) for s in range(n)]
    return next((s for s in range(n) if all(m >= threshold for m in means[s:])), None)


def fault_analysis(phase: Phase) -> dict[str, Any]:
    """When the 503s began and ended, and when the answers were 2xx again: the first one
    (to a request sent after `db stop` returned), and steadily (the scheduled time from
    which every request was answered without a 503 or an error). Given from ``db start``
    returning (the target's reference) and from the postmaster's start (when PostgreSQL
    really took connections again; negative: before that reference)."""
    ev = {k: phase.start + v for k, v in phase.events.items()}
    if "start_returned" not in ev:
        return {"note": "the fault did not run to its end"}
    recs = [r for r in phase.records if r.error != "backlog"]
    bad = [r for r in recs if r.status == 503 or is_error(r)]
    first_bad = min((r.done for r in bad if r.done >= ev["stop_called"]), default=math.nan)
    last_bad = max((r.done for r in bad), default=math.nan)
    # `db stop` has returned: the database is down, so a 2xx to a request sent after that
    # was served by the restarted one
    first_ok = min(
        (r.done for r in recs if 200 <= r.status < 300 and r.sent >= ev["stop_returned"]),
        default=math.nan,
    )
    steady = ev["stop_called"]
    for r in recs:  # in scheduled order
        if (r.status == 503 or is_error(r)) and r.sched >= steady:
            steady = r.sched + 1e-6
    out: dict[str, Any] = {
        "events_s": phase.events,
        "first_bad_after_stop_called_s": first_bad - ev["stop_called"],
    }
    for ref in ("start_returned", "postmaster_started"):
        back = ev.get(ref, math.nan)
        out[f"last_bad_answer_after_{ref}_s"] = last_bad - back
        out[f"first_2xx_after_{ref}_s"] = first_ok - back
        out[f"steady_2xx_after_{ref}_s"] = steady - back
    window = [r for r in recs if ev["stop_called"] <= r.sched < steady]
    out["outcomes_while_down"] = dict(Counter(r.error or str(r.status) for r in window))
    return out


def engine_fault_analysis(phase: Phase) -> dict[str, Any]:
    """Routes' 503s while the engine is down, whether any other kind noticed, and when
    routes were steadily answered again."""
    ev = {k: phase.start + v for k, v in phase.events.items()}
    if "start_returned" not in ev:
        return {"note": "the fault did not run to its end"}
    recs = [r for r in phase.records if r.error != "backlog"]
    routes = [r for r in recs if r.kind == "route"]
    busy = [r for r in routes if r.status == 503]
    steady = ev["stop_called"]
    for r in routes:  # in scheduled order
        if (r.status == 503 or is_error(r)) and r.sched >= steady:
            steady = r.sched + 1e-6
    down = [r for r in recs if ev["stop_called"] <= r.sched < steady]
    return {
        "events_s": phase.events,
        "route_503": len(busy),
        "route_503_p99_ms": round(pct([r.latency for r in busy], 0.99) * 1000, 1),
        "route_503_without_retry_after": sum(1 for r in busy if not r.retry_after),
        "others_503_while_down": sum(1 for r in down if r.kind != "route" and r.status == 503),
        "routes_steady_after_start_returned_s": round(steady - ev["start_returned"], 2),
        "outcomes_while_down": dict(Counter(f"{r.kind}:{r.error or r.status}" for r in down)),
    }


def check_ratings(url: str, phases: list[Phase]) -> dict[str, Any]:
    """Every rating acknowledged with 201 must be in the database (queried as owner)."""
    out: dict[str, Any] = {}
    engine = create_engine(url)
    with engine.connect() as conn:
        for phase in phases:
            ids = [r.rating_id for r in phase.records if r.status == 201 and r.rating_id]
            found = (
                set(
                    conn.execute(text("SELECT id FROM rating WHERE id = ANY(:ids)"), {"ids": ids})
                    .scalars()
                    .all()
                )
                if ids
                else set()
            )
            out[phase.name] = {
                "acknowledged": len(ids),
                "missing": sorted(set(ids) - found),
            }
    engine.dispose()
    return out


def acknowledged_writes(phase: Phase) -> list[Write]:
    """The phase's agency writes answered 2xx (reads of an ETag are no writes)."""
    return [
        r.ctx
        for r in phase.records
        if isinstance(r.ctx, Write) and r.ctx.op != "etag_get" and 200 <= r.status < 300
    ]


def _lost(write: Write, row: Any, markers: set[tuple[int, str, str]], offer: Any) -> str | None:
    """Why an acknowledged write is not in the database (None: it is)."""
    what = f"{write.op} of point {write.target} acknowledged as v{write.version}"
    if row is None:
        return f"{what}: no such point"
    if write.version is None or row.version < write.version:
        return f"{what}: the point is at v{row.version}"
    field = {"patch": "phones", "offering": f"offerings.{write.service}", "create": "create"}
    if (row.id, field[write.op], write.marker) not in markers:
        return f"{what}: no change-log row {field[write.op]} = {write.marker!r}"
    if row.version != write.version:
        return None  # a later write landed there: its values may have replaced these
    values = write.values
    if write.op == "create":
        wrong = [] if row.name_th == values["name_th"] else ["name_th"]
    elif write.op == "offering":
        if offer is None:
            wrong = ["offering (none)"]
        else:
            found = {"copies_required": list(offer.copies), "notes": offer.notes}
            wrong = [name for name, value in values.items() if found[name] != value]
    else:
        checks = {
            "phones": lambda v: list(row.phones) == v,
            "wheelchair": lambda v: row.wheelchair == v,
            "opening_hours": lambda v: row.opening_hours == hours.from_osm(v),
            "lat": lambda v: abs(row.lat - v) < 1e-6,
            "lon": lambda v: abs(row.lon - v) < 1e-6,
        }
        wrong = [name for name, value in values.items() if not checks[name](value)]
    return (
        f"{what}: the database, at that version, differs in {', '.join(wrong)}" if wrong else None
    )


def check_writes(url: str, phases: list[Phase]) -> dict[str, Any]:
    """Every agency write answered 2xx must be in the database (queried as owner): the
    point's version at least the acknowledged one, the write's marker in the change log
    (its phone number, its offering's note, the new office's name), and, when the point
    is still at that version (no later write landed), the values it wrote."""
    writes = {phase.name: acknowledged_writes(phase) for phase in phases}
    every = [w for ws in writes.values() for w in ws]
    ids = sorted({w.target for w in every})
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT id, version, name_th, phones, wheelchair, opening_hours, "
                    "ST_Y(geog::geometry) AS lat, ST_X(geog::geometry) AS lon "
                    "FROM service_point WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        }
        offers = {
            (r.point_id, r.service_code): r
            for r in conn.execute(
                text(
                    "SELECT point_id, service_code, copies_required AS copies, notes "
                    "FROM offering WHERE point_id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        }
        markers: set[tuple[int, str, str]] = set()
        for record, action, name, new in conn.execute(
            text(
                "SELECT record_id, action, field, new_value FROM change "
                "WHERE table_name = 'service_point' AND record_id = ANY(:ids) "
                "AND (action = 'create' OR field = 'phones' OR field LIKE 'offerings.%')"
            ),
            {"ids": [str(i) for i in ids]},
        ):
            if action == "create":
                markers.add((int(record), "create", str((new or {}).get("name_th"))))
            elif name == "phones":
                markers.update((int(record), "phones", str(p)) for p in new or [])
            else:
                markers.add((int(record), name, str((new or {}).get("notes"))))
    engine.dispose()
    out: dict[str, Any] = {}
    for name, acked in writes.items():
        lost = []
        for w in acked:
            why = _lost(w, rows.get(w.target), markers, offers.get((w.target, w.service or "")))
            if why:
                lost.append(why)
        out[name] = {
            "acknowledged": len(acked),
            "by_op": dict(Counter(w.op for w in acked)),
            "values_checked": sum(
                1 for w in acked if w.target in rows and rows[w.target].version == w.version
            ),
            "lost": lost,
        }
    return out


def write_outcomes(phase: Phase) -> dict[str, Any]:
    """The agency requests' answers by operation, and a few refusals' messages."""
    recs = [r for r in phase.records if isinstance(r.ctx, Write)]
    outcomes = Counter(f"{r.kind}:{r.error or r.status}" for r in recs)
    refusals = Counter(
        f"{r.kind} {r.status} {r.ctx.refusal}"
        for r in recs
        if r.ctx.refusal and 400 <= r.status < 500
    )
    unexpected = sum(
        1 for r in recs if 400 <= r.status < 500 and r.status not in WRITE_EXPECTED_4XX
    )
    return {
        "outcomes": dict(sorted(outcomes.items())),
        "expected_4xx": {str(s): sum(1 for r in recs if r.status == s) for s in WRITE_EXPECTED_4XX},
        "unexpected_4xx": unexpected,
        "refusals": dict(refusals.most_common(8)),
    }


def print_report(
    phases: list[Phase],
    probes: list[Record],
    lags: list[tuple[float, float]],
    others: list[tuple[float, float]],
    ratings: dict[str, Any],
    writes: dict[str, Any],
    rate: float,
) -> dict[str, Any]:
    """The tables and the pass/fail of each target; returns the same as data."""
    report: dict[str, Any] = {"phases": {}, "checks": {}}
    print(
        "\nper phase and kind (latency in ms from the scheduled time; 'cli' = backlog, "
        "connect and connection errors)"
    )
    head = (
        f"{'phase':24s} {'kind':8s} {'n':>6s} {'/s':>6s} {'2xx':>6s} {'4xx':>10s} "
        f"{'503':>5s} {'5xx':>9s} {'cli':>5s} {'t/o':>4s} {'p50':>6s} {'p90':>6s} "
        f"{'p99':>6s} {'max':>6s}"
    )
    print(head)
    for phase in phases:
        seconds = phase.end - phase.start
        data: dict[str, Any] = {
            "label": phase.label,
            "rate_offered": phase.rate,
            "seconds": seconds,
            "cpu": phase.cpu,
            "peak_connections": phase.peak_connections,
            "kinds": {},
        }
        for kind in (*REPORT_KINDS, "all"):
            recs = [r for r in phase.records if kind in ("all", r.kind)]
            s = summarise(recs, seconds)
            data["kinds"][kind] = s
            four = " ".join(f"{k}:{v}" for k, v in s["4xx"].items()) or "0"
            five = " ".join(f"{k}:{v}" for k, v in s["5xx_other"].items()) or "0"
            print(
                f"{phase.name + ' ' + phase.label:24.24s} {kind:8s} {s['count']:6d} "
                f"{s['rate']:6.0f} {s['ok']:6d} {four:>10s} {s['503']:5d} {five:>9s} "
                f"{sum(s['client_errors'].values()):5d} {s['timeouts']:4d} {ms(s['p50']):>6s} "
                f"{ms(s['p90']):>6s} {ms(s['p99']):>6s} {ms(s['max']):>6s}"
            )
        hz = [r for r in probes if phase.start <= r.sched < phase.end]
        # from the send: the probe measures the server, not the client's own lateness
        hz_lat = [r.done - r.sent for r in hz if r.error is None]
        stalls = [lag for t, lag in lags if phase.start <= t < phase.end]
        data["client_stall"] = {"p99": pct(stalls, 0.99), "max": max(stalls, default=math.nan)}
        data["healthz"] = {
            "count": len(hz),
            "p50": pct(hz_lat, 0.5),
            "p99": pct(hz_lat, 0.99),
            "max": max(hz_lat, default=math.nan),
            "missed": sum(1 for r in hz if r.error is not None),
        }
        report["phases"][phase.name] = data
    print(
        "\nper phase: 2xx and 503 latency (ms), 503 error codes, healthz (every 100 ms; ms "
        "from the send), CPU seconds, the client's own lateness (send lag: scheduled to sent; "
        "stall: its event loop waking late)"
    )
    for phase in phases:
        data = report["phases"][phase.name]
        s, hz, cpu = data["kinds"]["all"], data["healthz"], data["cpu"]
        capacity = (os.cpu_count() or 1) * (phase.end - phase.start)
        print(
            f"({phase.name}) 2xx p50/p99 {ms(s['ok_p50'])}/{ms(s['ok_p99'])}; 503 "
            f"p50/p99/max {ms(s['503_p50'])}/{ms(s['503_p99'])}/{ms(s['503_max'])} "
            f"{s['503_codes'] or ''} (no Retry-After: {s['503_without_retry_after']}); "
            f"5xx codes {s['5xx_codes'] or '-'}; healthz n={hz['count']} p50/p99/max "
            f"{ms(hz['p50'])}/{ms(hz['p99'])}/{ms(hz['max'])} missed {hz['missed']}; CPU "
            f"client {cpu['client_s']:.1f} server {cpu['server_s']:.1f} postgres "
            f"{cpu['postgres_ours_s']:.1f} (all of it {cpu['postgres_all_s']:.1f}), others "
            f"{cpu['others_s']:.1f} of {capacity:.0f} core-s; send lag p99 "
            f"{ms(s['send_lag_p99'])}, stall p99/max {ms(data['client_stall']['p99'])}/"
            f"{ms(data['client_stall']['max'])}; peak conn. {data['peak_connections']}"
        )

    by_name = {p.name: p for p in phases}
    for name in ("b", "c", "d", "e", "f"):
        if name not in by_name:
            continue
        phase = by_name[name]
        rows = timeline(phase, others)
        report["phases"][name]["timeline"] = rows
        if name == "b":
            continue  # kept in the JSON, not printed: (b) is the baseline
        marks = {int(v): k for k, v in phase.events.items()}
        print(
            f"\n({name}) {phase.label}, per second by scheduled time (done: 2xx completed "
            "in that second; others: core-seconds of anything else on the machine, of "
            f"{os.cpu_count()})"
        )
        print(
            f"{'s':>3s} {'sent':>6s} {'ok':>6s} {'503':>6s} {'err':>5s} {'p99 ms':>7s} "
            f"{'done':>6s} {'others':>6s}"
        )
        for row in rows:
            print(
                f"{row['s']:3d} {row['sent']:6d} {row['ok']:6d} {row['503']:6d} "
                f"{row['err']:5d} {ms(row['p99']):>7s} {row['done']:6d} {row['others']:6.2f}  "
                f"{marks.get(row['s'], '')}"
            )

    checks: dict[str, tuple[bool, str]] = {}
    if "b" in by_name:
        s = report["phases"]["b"]["kinds"]["all"]
        checks["b: at R, no errors (5xx but 503, client errors, timeouts)"] = (
            s["errors"] == 0,
            f"errors {s['errors']} (503 separately: {s['503']}), p99 {ms(s['p99'])} ms",
        )
    if "c" in by_name:
        s = report["phases"]["c"]["kinds"]["all"]
        hz = report["phases"]["c"]["healthz"]
        checks["c: at 2R, the excess gets a quick 503 (503 p99 < 1 s, with Retry-After)"] = (
            s["503"] > 0 and s["503_p99"] < 1.0 and not s["503_without_retry_after"],
            f"{s['503']} 503s, p99 {ms(s['503_p99'])} ms, max {ms(s['503_max'])} ms, "
            f"{s['503_without_retry_after']} without Retry-After",
        )
        checks["c: at 2R, nobody waits without bound (no timeouts or client errors, p99 < 2 s)"] = (
            s["errors"] == 0 and s["p99"] < 2.0,
            f"errors {s['errors']} ({s['timeouts']} timeouts, client {s['client_errors']}), "
            f"p99 of all {ms(s['p99'])} ms",
        )
        checks["c: at 2R, healthz p99 < 100 ms"] = (
            hz["p99"] < 0.1 and hz["missed"] == 0,
            f"p99 {ms(hz['p99'])} ms, max {ms(hz['max'])} ms, missed {hz['missed']}",
        )
    if "d" in by_name:
        d = by_name["d"]
        offered = d.rate
        # whole seconds only: a last partial second offers less than the rate
        d_rows = report["phases"]["d"]["timeline"][: max(1, int(d.end - d.start + 1e-9))]
        d_ok = [row["ok"] for row in d_rows]
        recovered = recovery_second(d_ok, 0.95 * offered)
        shed_after = sum(row["503"] for row in d_rows[(recovered or 0) :])
        checks["d: the moment 2R stops, everything offered is served again (within 2 s)"] = (
            recovered is not None and recovered <= 2,
            f"at {offered:.0f}/s ({d.label}): 3-second mean of 2xx/s >= 95 % of it from "
            f"second {recovered} on, {shed_after} 503s from then on; 2xx per second: "
            + " ".join(str(ok) for ok in d_ok[:8])
            + (" ..." if len(d_ok) > 8 else ""),
        )
    if "e" in by_name:
        phase = by_name["e"]
        s = report["phases"]["e"]["kinds"]["all"]
        fa = fault_analysis(phase)
        report["phases"]["e"]["fault"] = fa
        print(
            "\n(e) database restart, seconds from the phase's start: "
            + ", ".join(f"{k} {v:.2f}" for k, v in fa.get("events_s", {}).items())
        )
        for key, value in fa.items():
            if key.endswith("_s") and key != "events_s":
                print(f"  {key.removesuffix('_s').replace('_', ' ')}: {value:.2f} s")
        print(
            "  outcomes of the requests scheduled from `db stop` to the steady 2xx: "
            f"{fa.get('outcomes_while_down')}"
        )
        checks["e: 503 with Retry-After (not 500, no client errors or timeouts) while down"] = (
            s["errors"] == 0 and s["503"] > 0 and not s["503_without_retry_after"],
            f"503 {s['503']} {s['503_codes']} ({s['503_without_retry_after']} without "
            f"Retry-After), 5xx other {s['5xx_other'] or 0} {s['5xx_codes'] or ''}, "
            f"client {s['client_errors'] or 0}, timeouts {s['timeouts']}",
        )
        steady = fa.get("steady_2xx_after_start_returned_s", math.nan)
        checks["e: normal again within 5 s of `db start` returning"] = (
            steady <= 5.0,
            f"first 2xx {fa.get('first_2xx_after_start_returned_s', math.nan):.2f} s, steady "
            f"2xx {steady:.2f} s after `db start` returned",
        )
    if "f" in by_name:
        fa = engine_fault_analysis(by_name["f"])
        report["phases"]["f"]["fault"] = fa
        print(
            "\n(f) routing engine restart, seconds from the phase's start: "
            + ", ".join(f"{k} {v:.2f}" for k, v in fa.get("events_s", {}).items())
        )
        for key, value in fa.items():
            if key != "events_s":
                print(f"  {key.replace('_', ' ')}: {value}")
        s = report["phases"]["f"]["kinds"]["all"]
        checks["f: no errors (5xx but 503, client errors, timeouts) across the restart"] = (
            s["errors"] == 0,
            f"errors {s['errors']}, 5xx other {s['5xx_other'] or 0}, timeouts {s['timeouts']}",
        )
        checks["f: routes get 503 with Retry-After while the engine is down, quickly"] = (
            fa.get("route_503", 0) > 0 and fa.get("route_503_p99_ms", math.inf) < 1000,
            f"{fa.get('route_503')} route 503s, p99 {fa.get('route_503_p99_ms')} ms",
        )
        checks["f: nothing but routes notices (no 503 on other kinds while down)"] = (
            fa.get("others_503_while_down", 1) == 0,
            f"{fa.get('others_503_while_down')} 503s on other kinds while the engine was down",
        )
        back = fa.get("routes_steady_after_start_returned_s", math.nan)
        checks["f: routes normal again within 2 s of `roads start` returning"] = (
            back <= 2.0,
            f"steady 2xx routes {back:.2f} s after `roads start` returned",
        )
    if ratings:
        missing = {k: v["missing"] for k, v in ratings.items() if v["missing"]}
        acked = {k: v["acknowledged"] for k, v in ratings.items()}
        print(
            f"\nratings acknowledged with 201, per phase: {acked}; "
            f"missing={sum(len(v) for v in missing.values())} {missing or ''}"
        )
        if "e" in ratings:
            checks["e: every rating acknowledged with 201 is in the database"] = (
                not ratings["e"]["missing"],
                f"{ratings['e']['acknowledged']} acknowledged, missing="
                f"{len(ratings['e']['missing'])} {ratings['e']['missing'][:20] or ''}",
            )
    if writes:
        print(
            "\nagency writes per phase: acknowledged (2xx) and lost (not in the database "
            "after the run); the writes' answers; the refusals most often seen"
        )
        for phase in phases:
            if phase.name not in writes:
                continue
            w, seen = writes[phase.name], write_outcomes(phase)
            report["phases"][phase.name]["writes"] = {**w, **seen}
            print(
                f"({phase.name}) acknowledged agency writes: {w['acknowledged']} "
                f"{w['by_op']}, lost: {len(w['lost'])} (values compared at the acknowledged "
                f"version: {w['values_checked']}); 409/412/422: "
                + "/".join(str(n) for n in seen["expected_4xx"].values())
                + f", other 4xx: {seen['unexpected_4xx']}; answers {seen['outcomes']}"
            )
            for why in w["lost"][:10]:
                print(f"    LOST {why}")
            for refusal, n in seen["refusals"].items():
                print(f"    {n} x {refusal}")
        if "e" in writes:
            checks["e: every agency write acknowledged with 2xx is in the database"] = (
                not writes["e"]["lost"] and writes["e"]["acknowledged"] > 0,
                f"acknowledged agency writes: {writes['e']['acknowledged']}, lost: "
                f"{len(writes['e']['lost'])} {writes['e']['lost'][:5] or ''}",
            )
        rest = [k for k in writes if k != "e"]
        lost = [why for k in rest for why in writes[k]["lost"]]
        checks["every agency write acknowledged in the other phases is in the database"] = (
            not lost,
            f"acknowledged agency writes: {sum(writes[k]['acknowledged'] for k in rest)} "
            f"in ({', '.join(rest)}), lost: {len(lost)} {lost[:5] or ''}",
        )
        unexpected = {p.name: n for p in phases if (n := write_outcomes(p)["unexpected_4xx"])}
        checks["agency writes: no 4xx but 409, 412 and 422 (honest races, the pin check)"] = (
            not unexpected,
            f"other 4xx per phase: {unexpected or 0}",
        )
    print("\ntargets")
    for name, (passed, detail) in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
    report["checks"] = {k: {"pass": v[0], "detail": v[1]} for k, v in checks.items()}
    report["ratings"] = ratings
    return report


def print_abuse(
    report: dict[str, Any],
    phases: list[Phase],
    hostile: list[Record],
    attackers: dict[str, Any],
    writes: dict[str, Any],
) -> dict[str, Any]:
    """(g) against (h): normal traffic's latency without and beside the attacks (target:
    p99 within 2x), the agency writes of both (none lost), and what each hostile file got
    (a 422 that says what to fix, a 429 past the account's import limit, or a quick 503
    while the one import slot is busy; never a 5xx, a timeout or a broken connection)."""
    by_name = {p.name: p for p in phases}
    if "g" not in by_name or "h" not in by_name:
        return {}
    quiet, attacked = report["phases"]["g"]["kinds"]["all"], report["phases"]["h"]["kinds"]["all"]
    out: dict[str, Any] = {"attackers": attackers, "files": {}}
    print(
        f"\n(g)/(h) normal traffic at {by_name['g'].rate:.0f}/s: p50 {ms(quiet['p50'])} / "
        f"{ms(attacked['p50'])} ms, p99 {ms(quiet['p99'])} / {ms(attacked['p99'])} ms, errors "
        f"{quiet['errors']} / {attacked['errors']}, 503 {quiet['503']} / {attacked['503']}"
    )
    print(f"attackers in (h): {attackers}")
    for name in sorted({str(r.ctx) for r in hostile}):
        recs = [r for r in hostile if str(r.ctx) == name]
        s = summarise(recs, 1.0)
        statuses = dict(Counter(str(r.status or r.error) for r in recs))
        out["files"][name] = {"count": len(recs), "statuses": statuses, "p50": s["p50"],
                              "max": s["max"]}  # fmt: skip
        print(
            f"    hostile {name:26s} n={len(recs):4d} answers {statuses} p50/max "
            f"{ms(s['p50'])}/{ms(s['max'])} ms"
        )
    ratio = attacked["p99"] / quiet["p99"] if quiet["p99"] else math.nan
    refused = [r for r in hostile if r.status in (422, 429, 503)]
    lost = [why for k in ("g", "h") for why in writes.get(k, {}).get("lost", [])]
    checks = {
        "h: normal traffic's p99 under attack within 2x of (g)'s": (
            ratio <= 2.0,
            f"p99 {ms(attacked['p99'])} ms against {ms(quiet['p99'])} ms: {ratio:.2f}x",
        ),
        "h: every hostile file refused (422; 429 past the account's limit; 503 while the "
        "import slot is busy)": (
            bool(hostile) and len(refused) == len(hostile),
            f"{len(refused)} of {len(hostile)}; others "
            f"{Counter(str(r.status or r.error) for r in hostile if r not in refused) or 0}",
        ),
        "g, h: every agency write acknowledged is in the database": (
            not lost and any(writes.get(k, {}).get("acknowledged") for k in ("g", "h")),
            f"acknowledged {sum(writes.get(k, {}).get('acknowledged', 0) for k in ('g', 'h'))}"
            f", lost {len(lost)} {lost[:5] or ''}",
        ),
    }
    print("\nabuse targets")
    for name, (passed, detail) in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
    out["checks"] = {k: {"pass": v[0], "detail": v[1]} for k, v in checks.items()}
    return out
