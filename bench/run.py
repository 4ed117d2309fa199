#!/usr/bin/env python3
"""Runs Baton's benchmarks one after the other and prints one table of figures.

Each benchmark is its own script (bench/<name>.py) writing JSON; this one runs them,
keeps every JSON under bench/results/<timestamp>/ and writes the table there as
results.md (and bench/results/latest.md). Figures are medians over the runs each
benchmark states; comparisons (Baton against the bare endpoint, a 100,000-message store
against an empty one) are measured in the same run and given as ratios or differences.

It exits non-zero when a benchmark could not run or one of its correctness figures
(unanswered, lost, duplicated, refused, failed, out of order, unexpected exit statuses…)
is not what it must be; never because of a speed figure. --smoke runs every benchmark
once with tiny counts and durations (for CI, on a debug build): that check is its point.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ALL = ["restart", "killloop", "drain", "throughput", "store", "gateway", "durability", "scale", "startup", "history", "retention", "matrix", "cluster"]

# Benchmarks that are another's script with other arguments.
SCRIPT = {"history": "startup"}

# Arguments of a full run, where a benchmark's own defaults are not the ones wanted.
FULL = {
    # Item 4 of issue 10: a gateway that has run for months (554 MiB of history).
    "history": ["--runs", "5", "--messages", "2000000", "--sessions", "500000"],
}

# Fewer runs and smaller loads, to try things out.
QUICK = {
    "restart": ["--cycles", "2", "--idle-cycles", "2"],
    "killloop": ["--kills", "5", "--duration", "15"],
    "drain": ["--runs", "3"],
    "throughput": ["--runs", "2", "--duration", "3", "--latency-duration", "2"],
    "store": ["--runs", "3", "--messages", "50000"],
    "gateway": ["--runs", "3", "--messages", "50000"],
    "durability": ["--runs", "1"],
    "scale": ["--runs", "1", "--sessions", "2000", "--delay", "8"],
    "startup": ["--runs", "3", "--messages", "20000"],
    "history": ["--runs", "3", "--messages", "500000", "--sessions", "100000"],
    "retention": ["--duration", "150", "--retention-seconds", "61"],
    "matrix": ["--rounds", "20", "--duration", "20", "--kills", "3", "--restarts", "2"],
    "cluster": ["--settle", "2", "--duration", "3"],
}

# Each benchmark once, as small as still exercises it: does it run, are its correctness
# figures right. Speed means nothing here (a debug build, tiny loads).
SMOKE = {
    "restart": ["--cycles", "1", "--idle-cycles", "1", "--clients", "4", "--sessions-per-client", "2",
                "--rate", "20", "--before", "1", "--after", "1"],
    "killloop": ["--kills", "3", "--duration", "6", "--clients", "4", "--sessions-per-client", "2", "--rate", "20"],
    "drain": ["--runs", "1", "--turns", "4", "--delay", "0.3"],
    "throughput": ["--runs", "1", "--duration", "1", "--connections", "16", "--wrk-sessions", "100",
                   "--latency-sessions", "4", "--latency-duration", "1"],
    "store": ["--runs", "1", "--messages", "2000"],
    "gateway": ["--runs", "1", "--messages", "2000", "--clients", "8"],
    "durability": ["--runs", "1", "--posts", "20"],
    "scale": ["--runs", "1", "--sessions", "200", "--delay", "4", "--connections", "16"],
    "startup": ["--runs", "1", "--messages", "2000", "--sessions", "100"],
    "history": ["--runs", "1", "--messages", "5000", "--sessions", "2000"],
    "retention": ["--duration", "75", "--retention-seconds", "61", "--rate", "20", "--sessions", "10", "--sample", "5"],
    "matrix": ["--rounds", "5", "--warmup", "1", "--duration", "8", "--kills", "2", "--restarts", "2"],
    "cluster": ["--clients", "3", "--rate", "10", "--settle", "1", "--lease", "2", "--duration", "1", "--connections", "16",
                "--wrk-sessions", "100"],
}


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run(name, extra, folder):
    """Runs one benchmark; its JSON, or None when it could not run."""
    out = os.path.join(folder, f"{name}.json")
    command = [sys.executable, os.path.join(HERE, f"{SCRIPT.get(name, name)}.py"), "--json", out, *extra]
    print(f"bench: {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    before = load_average()
    started = time.monotonic()
    finished = subprocess.run(command, env=dict(os.environ, BENCH_RESULTS=folder))
    if finished.returncode != 0 or not os.path.exists(out):
        print(f"bench: {name} could not run (exit status {finished.returncode})", file=sys.stderr, flush=True)
        return None
    with open(out) as f:
        result = json.load(f)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["load_average_before"] = before
    result["load_average_after"] = load_average()
    with open(out, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    return result


def correctness(name, r):
    """What is wrong with a benchmark's correctness figures (its speed aside): a list of
    failures, empty when every one is right."""
    checks = []

    def must(what, ok):
        if not ok:
            checks.append(what)

    m = r.get("median", {})
    if name == "restart":
        for key in ("refused_total", "non_202_total", "unanswered_total", "duplicates_total",
                    "out_of_order_sessions_total", "reload_failures"):
            must(f"{key} = {m[key]}", m[key] == 0)
        must("a cycle did not restart exactly once", m["all_restarted"])
    elif name == "killloop":
        for key in ("lost", "answered_twice", "out_of_order_sessions", "refused", "non_202", "timeouts",
                    "kill_failures", "crash_lines_in_log"):
            must(f"{key} = {r[key]}", r[key] == 0)
        must(f"{r['restarts']} restarts for {r['kills']} kills", r["restarts"] == r["kills"])
        must("no message acknowledged", r["acknowledged"] > 0)
    elif name == "drain":
        must(f"exit statuses {m['exit_statuses']}", m["exit_statuses"] == [75])
        untold = sum(1 for run in r["all"] if run.get("drain_told_after_signal_ms") is None)
        must(f"{untold} drains never told systemd (no STATUS=Draining… nor STOPPING=1)", untold == 0)
        must(f"exit statuses without NOTIFY_SOCKET {r['unsupervised']['exit_statuses']}",
             r["unsupervised"]["exit_statuses"] == [75])
    elif name == "throughput":
        must("a stored message was not answered", m["all_answered"])
        must(f"wrk errors {m['baton.wrk.errors']}, {m['bare.wrk.errors']}",
             m["baton.wrk.errors"] == 0 and m["bare.wrk.errors"] == 0)
        failures = sum(run[side]["latency"]["failures"] for run in r["all"] for side in ("baton", "bare"))
        must(f"{failures} POSTs not answered 202 in the closed loop", failures == 0)
        must("a POST with an empty session was stored, or not refused", m["all_refused"])
    elif name == "store":
        must("a stored message was not answered", m["all_answered"])
    elif name == "gateway":
        must("a message was refused or not answered", m["all_answered"])
    elif name == "durability":
        must(f"syncs per POST {m['syncs_per_post']}", m["syncs_per_post"] >= 1)
        must(f"control syncs per commit {m['control_syncs_per_commit']}", m["control_syncs_per_commit"] >= 1)
    elif name == "scale":
        must("not every turn in flight at once", m["all_in_flight"])
        must("not every message answered in the store", m["all_answered"])
        must(f"exit statuses {m['exit_statuses']}", m["exit_statuses"] == [75])
    elif name in ("startup", "history"):
        statuses = {run[f"{label}_exit_status"] for run in r["all"] for label in ("seeded", "empty")}
        must(f"exit statuses {sorted(statuses)}", statuses == {0})
    elif name == "retention":
        must(f"exit status {r['exit_status']}", r["exit_status"] == 0)
        must(f"{r['refused']} POSTs not answered 202", r["refused"] == 0)
        must(f"{r['unanswered_kept']} stored messages not answered", r["unanswered_kept"] == 0)
        must("nothing pruned", r["pruned"].get("messages", 0) > 0 and r["pruned"].get("events", 0) > 0)
    elif name == "matrix":
        latency, k = r["latency"], r["kill_loop"]
        must(f"{latency['baton']['unanswered']} round trips unanswered by Baton", latency["baton"]["unanswered"] == 0)
        must(f"{latency['echo']['unanswered']} round trips unanswered by the echo bot", latency["echo"]["unanswered"] == 0)
        for key in ("lost", "duplicated", "out_of_order", "unexpected_exits"):
            must(f"kill loop {key} = {k[key]}", k[key] == 0)
        must("no message sent in the kill loop", k["sent"] > 0)
    elif name == "cluster":
        c = r["cluster"]
        for key in ("failed", "lost", "answered_twice", "sessions_out_of_order"):
            must(f"cluster {key} = {c[key]}", c[key] == 0)
        expected = [75] * c["processes"] + [-9]
        must(f"exit statuses {c['exit_statuses']}, not {expected}", c["exit_statuses"] == expected)
        must("no message acknowledged", c["acknowledged"] > 0)
        t = r["throughput"]
        must(f"wrk errors {t['sqlite']['errors']}, {t['postgres']['errors']}", t["sqlite"]["errors"] == 0 and t["postgres"]["errors"] == 0)
    return checks


def verdict(ok):
    return "met" if ok else "**missed**"


def fmt(value, unit=""):
    if value is None:
        return "n/a"
    if isinstance(value, float) and value.is_integer() and not unit:
        value = int(value)  # counts: medians of whole numbers
    if isinstance(value, float):
        value = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{value}{unit}"


def table(results):
    rows = []

    def row(benchmark, figure, value, goal="", met=None):
        rows.append(f"| {benchmark} | {figure} | {value} | {goal} | {'' if met is None else verdict(met)} |")

    if "restart" in results:
        r = results["restart"]
        m = r["median"]
        name = f"restart under load ({r['cycles']} cycles)"
        row(name, f"load: {r['clients']} clients, {r['sessions']} sessions, ≤{fmt(r['rate_per_client'])} msg/s each, "
            f"turns {r['delay_s']} s; POSTs per cycle", fmt(m["posts"]))
        row(name, "every cycle restarted exactly once (NRestarts +1 over the cycle, new MainPID)",
            "yes" if m["all_restarted"] else f"no: {m['extra_restarts']} restarts nobody asked for", "yes", m["all_restarted"])
        errors = "; ".join(m["reload_errors"])
        row(name, "`systemctl --user reload-or-restart` exiting non-zero (all restarts)",
            f"{m['reload_failures']} of {m['reloads']}" + (f" ({errors})" if errors else ""), "0", m["reload_failures"] == 0)
        row(name, "`systemctl reload-or-restart` duration, median (max); how many waited > 200 ms (for the whole restart)",
            f"{fmt(m['reload_command_all_median_ms'], ' ms')} ({fmt(m['reload_command_max_ms'], ' ms')}); "
            f"{m['reload_command_slow']} of {m['reloads']}")
        row(name, "refused connections (all cycles)", fmt(m["refused_total"]), "0", m["refused_total"] == 0)
        row(name, "failed POSTs, non-202 (all cycles)", fmt(m["non_202_total"]), "0", m["non_202_total"] == 0)
        row(name, "requests whose connection closed before the answer, resent with the same id (all cycles)",
            fmt(m["dropped_total"]), "0", m["dropped_total"] == 0)
        row(name, "idle keep-alive connections closed by the old process, replaced before use (all cycles)",
            fmt(m["idle_closed_total"]))
        row(name, "acknowledged but unanswered (all cycles, checked in the store)", fmt(m["unanswered_total"]), "0",
            m["unanswered_total"] == 0)
        row(name, "duplicate replies / sessions out of order (all cycles)",
            f"{m['duplicates_total']} / {m['out_of_order_sessions_total']}", "0 / 0",
            m["duplicates_total"] == 0 and m["out_of_order_sessions_total"] == 0)
        row(name, "slowest POST during the restart, median (max)",
            f"{fmt(m['slowest_post_in_restart_ms'], ' ms')} ({fmt(m['slowest_post_in_restart_max_ms'], ' ms')})")
        row(name, "POST p50 / p99 over the whole cycle", f"{fmt(m['post_p50_ms'], ' ms')} / {fmt(m['post_p99_ms'], ' ms')}")
        row(name, "old process exit → READY=1 (systemd ActiveEnterTimestamp), median (max)",
            f"{fmt(m['exit_to_ready_ms'], ' ms')} ({fmt(m['exit_to_ready_max_ms'], ' ms')})", "< 100 ms",
            m["exit_to_ready_max_ms"] < 100)
        row(name, "… of which exit → new process forked / fork → READY=1",
            f"{fmt(m['exit_to_exec_ms'], ' ms')} / {fmt(m['exec_to_ready_ms'], ' ms')}")
        row(name, "old process exit → new instance answers /readyz 200", fmt(m["exit_to_readyz_ms"], " ms"))
        if r.get("idle"):
            i = r["idle"]
            row(name, f"no load ({r['idle_cycles']} more restarts): exit → READY=1 (exit → fork / fork → READY=1)",
                f"{fmt(i['exit_to_ready_ms'], ' ms')} ({fmt(i['exit_to_exec_ms'], ' ms')} / {fmt(i['exec_to_ready_ms'], ' ms')})",
                "< 100 ms", i["exit_to_ready_ms"] < 100)
        row(name, "SIGUSR1 → drain over (first goodbye) → old process exit",
            f"{fmt(m['signal_to_goodbye_ms'], ' ms')} → +{fmt(m['goodbye_to_exit_ms'], ' ms')}")
    if "killloop" in results:
        r = results["killloop"]
        name = f"SIGKILL loop ({r['kills']} kills, seed {r['seed']})"
        row(name, f"load: {r['clients']} clients, {r['sessions']} sessions, ≤{fmt(r['rate_per_client'])} msg/s each, "
            f"turns {r['delay_s']} s, {fmt(r['duration_s'])} s under a real user manager; messages acknowledged (202)",
            fmt(r["acknowledged"]))
        row(name, "lost (acknowledged, no reply) / answered twice / sessions out of order",
            f"{r['lost']} / {r['answered_twice']} / {r['out_of_order_sessions']}", "0 / 0 / 0",
            r["lost"] == 0 and r["answered_twice"] == 0 and r["out_of_order_sessions"] == 0)
        row(name, "relaunched by `Restart=on-failure` (NRestarts) / refused connections / non-202",
            f"{r['restarts']} of {r['kills']} / {r['refused']} / {r['non_202']}", f"{r['kills']} / 0 / 0",
            r["restarts"] == r["kills"] and r["refused"] == 0 and r["non_202"] == 0)
        row(name, "requests whose connection the kill closed, resent with the same id", fmt(r["dropped"]))
    if "drain" in results:
        r = results["drain"]
        m = r["median"]
        name = f"drain exit ({r['runs']} runs)"
        row(name, f"last in-flight turn ends (goodbye event) → process exit; {r['turns']} turns of {r['delay_s']} s",
            fmt(m["exit_after_goodbye_ms"], " ms"), "< 10 ms", m["exit_after_goodbye_ms"] < 10)
        row(name, "… min – max over the runs (turn ends spread over one second)",
            f"{fmt(m['exit_after_goodbye_min_ms'], ' ms')} – {fmt(m['exit_after_goodbye_max_ms'], ' ms')}")
        row(name, "cross-check: last 202 + agent delay → exit", fmt(m["exit_after_estimated_turn_end_ms"], " ms"))
        u = r["unsupervised"]
        row(name, "diagnostic: the same without NOTIFY_SOCKET, median (min – max)",
            f"{fmt(u['exit_after_goodbye_ms'], ' ms')} ({fmt(u['exit_after_goodbye_min_ms'], ' ms')} – "
            f"{fmt(u['exit_after_goodbye_max_ms'], ' ms')})")
        row(name, "SIGUSR1 → systemd told of the drain (`STATUS=Draining…`; `STOPPING=1` only for a stop)",
            fmt(m.get("drain_told_after_signal_ms"), " ms"))
        row(name, "exit status", ", ".join(map(str, m["exit_statuses"])), "75", m["exit_statuses"] == [75])
    if "throughput" in results:
        r = results["throughput"]
        m = r["median"]
        w = r["wrk"]
        name = f"throughput ({r['runs']} runs)"

        def by_thread(side):
            return " / ".join(fmt(m[f"{side}.cpu_us_by_thread.{kind}"]) for kind in r["thread_kinds"]) + " µs"
        row(name, f"POST /v1/messages req/s, wrk -t{w['threads']} -c{w['connections']} -d{w['duration_s']}s: Baton (delay 0)",
            fmt(m["baton.wrk.rps"]))
        row(name, "… bare Hummingbird endpoint, same run", fmt(m["bare.wrk.rps"]))
        row(name, "Baton / bare (median of per-run ratios)", fmt(m["rps_ratio"]), "≥ 0.5", m["rps_ratio"] >= 0.5)
        row(name, "wrk POST latency p50 / p99: Baton", f"{fmt(m['baton.wrk.p50_ms'], ' ms')} / {fmt(m['baton.wrk.p99_ms'], ' ms')}")
        row(name, "wrk POST latency p50 / p99: bare", f"{fmt(m['bare.wrk.p50_ms'], ' ms')} / {fmt(m['bare.wrk.p99_ms'], ' ms')}")
        row(name, "messages answered per second under that load (from the store)",
            fmt(m["baton.answered.answered_per_s"]), "", None)
        row(name, "CPU time per message accepted, stored and answered (user + system, /proc/PID/stat): Baton; "
            "bare per POST", f"{fmt(m['baton.answered.cpu_us_per_message'], ' µs')}; {fmt(m['bare.cpu_us_per_post'], ' µs')}",
            "≤ 2 × bare", m["baton.answered.cpu_us_per_message"] is not None and m["bare.cpu_us_per_post"]
            and m["baton.answered.cpu_us_per_message"] <= 2 * m["bare.cpu_us_per_post"])
        row(name, "… of which, by thread: SwiftNIO's event loops / Swift's cooperative pool / the store's commit thread / "
            "other: Baton; bare", f"{by_thread('baton.answered')}; {by_thread('bare')}")
        row(name, "… Baton's HTTP layer alone: CPU time per POST it refuses (400, an empty session; nothing stored), same load",
            fmt(m["refused.cpu_us_per_post"], " µs"))
        row(name, "every stored message answered (store: done = messages = replies)",
            "yes" if m["all_answered"] else "no", "yes", m["all_answered"])
        row(name, "every refused POST answered 400, none stored", "yes" if m["all_refused"] else "no", "yes", m["all_refused"])
        row(name, "wrk errors (Baton, bare)", f"{fmt(m['baton.wrk.errors'])}, {fmt(m['bare.wrk.errors'])}", "0",
            m["baton.wrk.errors"] == 0 and m["bare.wrk.errors"] == 0)
        lc = r["latency_client"]
        row(name, f"POST → reply p50 / p99, {lc['sessions']} sessions in a closed loop (Python)",
            f"{fmt(m['baton.latency.reply_p50_ms'], ' ms')} / {fmt(m['baton.latency.reply_p99_ms'], ' ms')}")
        row(name, "… POST → 202 p50 / p99 (Baton; bare with the same client)",
            f"{fmt(m['baton.latency.ack_p50_ms'], ' ms')} / {fmt(m['baton.latency.ack_p99_ms'], ' ms')}; "
            f"{fmt(m['bare.latency.ack_p50_ms'], ' ms')} / {fmt(m['bare.latency.ack_p99_ms'], ' ms')}")
        row(name, "… replies per second in that loop", fmt(m["baton.latency.replies_per_s"]))
    if "store" in results:
        r = results["store"]
        m = r["median"]
        name = f"store alone ({r['runs']} runs)"
        row(name, f"CPU time per message stored and answered by Baton's SQLite store alone (store-bench: {r['messages']:,} messages, "
            f"{r['batch']} new and {r['batch']} ended per commit, {r['sessions']:,} sessions; no HTTP, no turns)",
            fmt(m["cpu_us_per_message"], " µs"))
        row(name, "… the same statements in the same commits from python's sqlite3, same schema and settings (SQLite's own floor)",
            fmt(m["control_cpu_us_per_message"], " µs"))
        row(name, "messages stored and answered per second, one writer", fmt(m["messages_per_s"]))
        row(name, "pages written to the WAL per commit (SQLite's count; each a 4 KiB write before the sync)",
            fmt(m["pages_per_commit"]))
        row(name, "every message answered (store: none pending)", "yes" if m["all_answered"] else "no", "yes", m["all_answered"])
    if "gateway" in results:
        r = results["gateway"]
        m = r["median"]
        name = f"gateway alone ({r['runs']} runs)"
        row(name, f"CPU time per message accepted, its turn run and answered by the gateway alone (gateway-bench: {r['messages']:,} "
            f"messages from {r['clients']} callers, demo agent, a store that keeps nothing, commits of {r['commit_us']} µs; "
            "no HTTP, no SQLite)", fmt(m["cpu_us_per_message"], " µs"))
        row(name, "messages per commit; messages per second", f"{fmt(m['messages_per_commit'])}; {fmt(m['messages_per_s'])}")
        row(name, "every message accepted and answered (inserted, replied to, done)",
            "yes" if m["all_answered"] else "no", "yes", m["all_answered"])
    if "durability" in results:
        r = results["durability"]
        m = r["median"]
        name = f"durability ({r['runs']} runs)"
        row(name, f"fsync/fdatasync calls per acknowledged POST, {m['posts']} POSTs one at a time (strace -c)",
            fmt(m["syncs_per_post"]), "≥ 1", m["syncs_per_post"] >= 1)
        row(name, "… control: python sqlite3, WAL, synchronous = FULL, syncs per commit", fmt(m["control_syncs_per_commit"]),
            "≥ 1", m["control_syncs_per_commit"] >= 1)
        row(name, "sequential POST → 202 p50", fmt(m["post_p50_ms"], " ms"))
    if "scale" in results:
        r = results["scale"]
        m = r["median"]
        name = f"scale ({r['runs']} runs)"
        row(name, f"VmRSS with {r['sessions']:,} sessions each with a turn in flight", fmt(m["rss_loaded_mib"], " MiB"),
            "< 100 MB", m["rss_loaded_mib"] * 1.048576 < 100 and m["all_in_flight"])
        row(name, "… growth per in-flight turn (VmRSS loaded − idle) / sessions", fmt(m["kib_per_turn"], " KiB"))
        row(name, "VmRSS idle before the load; threads under load", f"{fmt(m['rss_idle_mib'], ' MiB')}; {fmt(m['threads_loaded'])}")
        row(name, "last turn ends (goodbye event) → process exit", fmt(m["exit_after_goodbye_ms"], " ms"))
        row(name, "cross-check: last 202 + agent delay → exit", fmt(m["exit_after_estimated_last_turn_end_ms"], " ms"))
        row(name, "all in flight at once / all answered in the store",
            f"{m['all_in_flight']} / {m['all_answered']}", "yes / yes", m["all_in_flight"] and m["all_answered"])
    if "startup" in results:
        r = results["startup"]
        m = r["median"]
        name = f"startup ({r['runs']} runs)"
        row(name, f"process start → READY=1, store of {r['messages']:,} messages ({r['store_mib']} MiB)",
            fmt(m["seeded_ready_ms"], " ms"), "< 200 ms", m["seeded_ready_ms"] < 200)
        row(name, "… empty store, same run; difference", f"{fmt(m['empty_ready_ms'], ' ms')}; {fmt(m['difference_ms'], ' ms')}")
        row(name, "`baton check-config` (exec + runtime + configuration, no store)", fmt(m["check_config_ms"], " ms"))
    if "history" in results:
        r = results["history"]
        m = r["median"]
        name = f"startup over history ({r['runs']} runs)"
        row(name, f"process start → READY=1, store of {r['messages']:,} finished messages in {r['sessions']:,} sessions "
            f"({r['store_mib']} MiB)", fmt(m["seeded_ready_ms"], " ms"))
        row(name, "… empty store, same run; difference", f"{fmt(m['empty_ready_ms'], ' ms')}; {fmt(m['difference_ms'], ' ms')}",
            "< 100 ms", m["difference_ms"] < 100)
        row(name, "VmRSS once ready: that store / empty store (difference)",
            f"{fmt(m['seeded_rss_mib'], ' MiB')} / {fmt(m['empty_rss_mib'], ' MiB')} ({fmt(m['rss_difference_mib'], ' MiB')})")
    if "retention" in results:
        r = results["retention"]
        name = f"retention ({fmt(r['retention_s'])} s, {fmt(r['duration_s'])} s of load)"
        row(name, f"load: {fmt(r['rate_per_s'])} msg/s over {r['sessions']} sessions, demo agent; messages sent (202)", fmt(r["sent"]))
        row(name, f"store file (+ WAL) once the first retention period is over ({fmt(r['settled_at_s'])} s) → at the end "
            "(growth); without retention, projected", f"{fmt(r['settled_mib'], ' MiB')} → {fmt(r['final_mib'], ' MiB')} "
            f"({fmt(r['growth_after_settling_pct'], ' %')}); {fmt(r['projected_without_retention_mib'], ' MiB')}")
        kept, expected = r["messages_kept"], r["expected_kept"]
        row(name, "messages kept at the end, against rate × retention", f"{kept} / {expected}", "≤ 1.5 ×",
            kept <= 1.5 * expected)
        row(name, "events kept; pruned (`baton_store_pruned_total`)",
            f"{r['events_kept']}; {r['pruned'].get('messages', 0)} messages, {r['pruned'].get('events', 0)} events")
        row(name, "stored messages not answered (pending ones are never pruned)", fmt(r["unanswered_kept"]), "0",
            r["unanswered_kept"] == 0)
    if "matrix" in results:
        r = results["matrix"]
        lat, k = r["latency"], r["kill_loop"]
        name = f"Matrix (Synapse {r.get('synapse_version') or '?'}, {r['rounds']} round trips each)"
        row(name, "person's message → reply on their own /sync, p50 / p99: Baton (demo agent, delay 0)",
            f"{fmt(lat['baton']['p50_ms'], ' ms')} / {fmt(lat['baton']['p99_ms'], ' ms')}")
        row(name, "… bare Python echo bot on the same Synapse, same run (the homeserver's floor)",
            f"{fmt(lat['echo']['p50_ms'], ' ms')} / {fmt(lat['echo']['p99_ms'], ' ms')}")
        row(name, "Baton − echo bot at p50 (ratio)",
            f"{fmt(lat.get('p50_difference_ms'), ' ms')} ({fmt(lat.get('p50_ratio'))})")
        row(name, f"kill loop, seed {k['seed']}: a message every {k['interval_s']} s for {fmt(k['duration_s'])} s, "
            f"{k['kills']} SIGKILLs, {k['restarts']} SIGUSR1, {k['stops']} SIGTERM; messages sent", fmt(k["sent"]))
        row(name, "… lost (no reply) / duplicated (more than one) / out of order, from the room's /messages",
            f"{k['lost']} / {k['duplicated']} / {k['out_of_order']}", "0 / 0 / 0",
            k["lost"] == 0 and k["duplicated"] == 0 and k["out_of_order"] == 0)
    if "cluster" in results:
        r = results["cluster"]
        c, t = r["cluster"], r["throughput"]
        name = f"cluster ({c['processes']} processes on PostgreSQL behind HAProxy, seed {r['seed']})"
        row(name, "each restarted in turn (SIGUSR1, exit 75, started again), then one SIGKILLed; messages acknowledged",
            fmt(c["acknowledged"]))
        row(name, "failed requests (anything but 202 through HAProxy)", fmt(c["failed"]), "0", c["failed"] == 0)
        row(name, "acknowledged but unanswered / answered twice / sessions out of order",
            f"{c['lost']} / {c['answered_twice']} / {c['sessions_out_of_order']}", "0 / 0 / 0",
            c["lost"] == 0 and c["answered_twice"] == 0 and c["sessions_out_of_order"] == 0)
        row(name, "202 → reply committed, p50 / p99 / longest (the longest: a message waiting for a peer)",
            f"{fmt(c['wait_p50_ms'], ' ms')} / {fmt(c['wait_p99_ms'], ' ms')} / {fmt(c['longest_wait_ms'], ' ms')}")
        row(name, "one process, POST req/s: PostgreSQL (fsync on) / SQLite, same run; ratio",
            f"{fmt(t['postgres']['rps'])} / {fmt(t['sqlite']['rps'])}; {fmt(t['postgres_to_sqlite'])}")
        row(name, "… PostgreSQL's work per message accepted and answered (pg_stat_database): transactions; rows written",
            f"{fmt(t['postgres'].get('transactions_per_message'))}; {fmt(t['postgres'].get('rows_written_per_message'))}")
        row(name, "… POST p50 / p99: PostgreSQL; SQLite",
            f"{fmt(t['postgres']['p50_ms'], ' ms')} / {fmt(t['postgres']['p99_ms'], ' ms')}; "
            f"{fmt(t['sqlite']['p50_ms'], ' ms')} / {fmt(t['sqlite']['p99_ms'], ' ms')}")
    head = ["| benchmark | figure | value | goal | |", "|---|---|---|---|---|"]
    loads = ", ".join(
        f"{name} {r['load_average_before']:.1f}→{r['load_average_after']:.1f} ({r['seconds']:.0f} s)"
        for name, r in results.items()
    )
    return "\n".join(head + rows) + f"\n\n1-minute load average before→after each benchmark: {loads}.\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmarks", nargs="*", default=ALL, help=f"any of {', '.join(ALL)} (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer runs and shorter loads, to try things out")
    mode.add_argument("--smoke", action="store_true",
                      help="each benchmark once with tiny loads: checks they run and their correctness figures")
    args = parser.parse_args()
    unknown = set(args.benchmarks) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = os.path.join(HERE, "results", stamp)
    os.makedirs(folder, exist_ok=True)
    started = time.monotonic()
    results, problems = {}, []
    for name in [n for n in ALL if n in args.benchmarks]:
        extra = SMOKE[name] if args.smoke else QUICK[name] if args.quick else FULL.get(name, [])
        result = run(name, extra, folder)
        if result is None:
            problems.append(f"{name}: could not run")
            continue
        results[name] = result
        problems += [f"{name}: {failure}" for failure in correctness(name, result)]
    commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", HERE, "status", "--porcelain", "--", "../Sources", "../Package.swift"], capture_output=True, text=True
    ).stdout.strip()
    if dirty:
        commit += " + uncommitted changes in Sources/ or Package.swift"
    kind = " (smoke: tiny loads, figures mean nothing but correctness)" if args.smoke else " (quick)" if args.quick else ""
    header = (
        f"Baton benchmarks, {stamp}, commit {commit}, {platform.node()}, {os.cpu_count()} CPUs{kind}. "
        "Values are medians over the runs named in each row.\n\n"
    )
    text = header + (table(results) if results else "No benchmark ran.\n") + "\n"
    if problems:
        text += "Correctness failures:\n\n" + "".join(f"- {p}\n" for p in problems) + "\n"
    for path in (os.path.join(folder, "results.md"), os.path.join(HERE, "results", "latest.md")):
        with open(path, "w") as f:
            f.write(text)
    print(text)
    took = time.monotonic() - started
    print(f"bench: results in {folder}; {took:.0f} s", file=sys.stderr)
    if problems:
        print(f"bench: FAILED: {len(problems)} problem(s):\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print("bench: every benchmark ran and its correctness figures are right", file=sys.stderr)


if __name__ == "__main__":
    main()
