#!/usr/bin/env python
"""Re-run the queries of this cavewidgets export bundle and check them against the stored hashes.

Usage::

    python reproduce.py                      # every query, against the server in manifest.json
    python reproduce.py --server https://... --datastack minnie65_public --queries 0 3
    CAVE_TOKEN=... python reproduce.py       # or --token-env NAME; else caveclient's usual places

A bundle made on the cavewidgets sample datastack ("CAVE in a box") names the local service it
was made on, whose port and token died with its kernel. When that server does not answer (or
no token was given and it refuses the one caveclient finds), this script starts the sample service itself (cavewidgets must be
installed) on the recorded sample build and work directory, saves its token in the per-server
file caveclient reads (``~/.cloudvolume/secrets/127.0.0.1:<port>-cave-secret.json``, removed
again at the end), and re-runs the queries there.

Each query runs with the same table, filters, columns, resolution and the same materialization
version or timestamp as when it was recorded; its result is hashed the way the recording kernel
hashed it (row and column order do not matter) and compared. One line per query, then a summary.
The bundle never holds a token.

Exit status: 0 every re-run query is identical; 1 at least one differs; 2 none differs but at
least one could not be run (service down, version expired, bad token). Needs caveclient, pandas,
numpy and pyarrow (for the row-level diff against the stored parquet); cavewidgets only to start
the sample service.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from cavewidgets.reproducible.hashing import HASH_ALGORITHM, result_hash, row_hashes  # <<HASHING>>

STATUS_WIDTH = 7


def decode(value):
    """Undo the export's JSON encoding of call arguments (datetimes, non-finite floats)."""
    if isinstance(value, dict):
        if set(value) == {"__datetime__"}:
            return _dt.datetime.fromisoformat(value["__datetime__"])
        if set(value) == {"__date__"}:
            return _dt.date.fromisoformat(value["__date__"])
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def make_client(datastack: str, server: str, token: str | None):
    from caveclient import CAVEclient

    kwargs = {"server_address": server}
    if token:
        kwargs["auth_token"] = token
    try:
        return CAVEclient(datastack, write_server_cache=False, **kwargs)
    except TypeError:  # caveclient without write_server_cache
        return CAVEclient(datastack, **kwargs)


def start_sample(record: dict):
    """Start the cavewidgets sample service described by the manifest's ``sample_services`` record."""
    try:
        from cavewidgets.sample import serve
    except ImportError as err:
        raise RuntimeError("the bundle was made on the cavewidgets sample datastack, whose service is not "
                           f"running; install cavewidgets to let reproduce.py start it ({err})") from None

    def existing(rec, key, marker=None):
        path = rec.get(key)
        if path and Path(path).is_dir() and (marker is None or (Path(path) / marker).exists()):
            return path
        if path:
            print(f"note: the sample's {key} {path} is gone; using the default")
        return None

    # the token goes where caveclient looks for a server's token; the client is made without one
    handle = serve(data_dir=existing(record, "data_dir", "COMPLETE"), work_dir=existing(record, "work_dir"),
                   save_token=True)
    for more in record.get("more_datastacks", []):  # one service served several datastacks
        handle.add_datastack(more["datastack"], data_dir=existing(more, "data_dir", "COMPLETE"),
                             work_dir=existing(more, "work_dir"))
    return handle


def connect(datastack: str, server: str, token: str | None, sample: dict | None, started: list):
    """A client for ``server``; for a sample service that is gone, one for a newly started sample."""
    try:
        return make_client(datastack, server, token)
    except Exception as err:  # noqa: BLE001 - a sample bundle goes on below
        from requests.exceptions import ConnectionError as Unreachable

        # a token the user gave and the server refused is their error to see, not a reason to
        # start another service; no token found, or no server there, is the expected case later
        if sample is None or (token is not None and not isinstance(err, Unreachable)):
            raise
        reason = f"{type(err).__name__}: {str(err)[:120]}"
    if not started:
        started.append(start_sample(sample))
        print(f"the sample service {server} does not answer ({reason}); started the cavewidgets "
              f"sample service at {started[0].url}")
    return make_client(datastack, started[0].url, None)  # the started service serves every recorded datastack


def describe(entry: dict) -> str:
    when = (f"timestamp {entry['timestamp']}" if entry.get("timestamp")
            else f"version {entry['version']}" if entry.get("version") is not None else "no version")
    what = entry.get("table") or entry.get("root_id") or ""
    return f"#{entry['n']} ({entry['record_id']}) {entry['method']} {what} @ {when}"


def row_diff(stored_file: Path, result) -> str:
    """'+a -b rows' between the stored parquet and the new result (multiset of row hashes)."""
    if not isinstance(result, pd.DataFrame) or not stored_file.exists():
        return ""
    try:
        stored = pd.read_parquet(stored_file)
        extra = f"; columns now {sorted(map(str, result.columns))}" \
            if sorted(map(str, stored.columns)) != sorted(map(str, result.columns)) else ""
        old = pd.Series(row_hashes(stored)).value_counts()
        new = pd.Series(row_hashes(result)).value_counts()
        delta = new.sub(old, fill_value=0)
        return f" (+{int(delta[delta > 0].sum())} -{int(-delta[delta < 0].sum())} rows){extra}"
    except Exception as err:  # noqa: BLE001 - the diff is a courtesy; the hash decides
        return f" (row diff unavailable: {type(err).__name__})"


def check(entry: dict, client, bundle: Path) -> dict:
    replay = entry.get("replay")
    out = {"n": entry["n"], "record_id": entry["record_id"], "method": entry["method"],
           "table": entry.get("table"), "expected_hash": entry.get("result_hash"),
           "expected_rows": entry.get("n_rows")}
    if not replay:
        out.update(status="SKIP", message=entry.get("replay_problem") or "not re-runnable")
        return out
    if not entry.get("result_hash"):
        out.update(status="SKIP", message="no result hash was recorded")
        return out
    kwargs = decode(replay["kwargs"])
    t0 = time.perf_counter()
    try:
        result = getattr(client.materialize, replay["method"])(**kwargs)
    except Exception as err:  # noqa: BLE001 - reported per query, the run goes on
        out.update(status="ERROR", message=f"{type(err).__name__}: {str(err)[:300]}")
        return out
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["rows"] = len(result) if hasattr(result, "__len__") else None
    out["hash"] = result_hash(result)
    if out["hash"] == entry["result_hash"]:
        out.update(status="OK", message=f"{out['rows']} rows, identical")
    else:
        stored = bundle / entry["result_file"] if entry.get("result_file") else Path("/nonexistent")
        out.update(status="DIFF", message=(
            f"{entry.get('n_rows')} rows recorded, {out['rows']} now{row_diff(stored, result)}; "
            f"hash {entry['result_hash'][:12]}... != {out['hash'][:12]}..."))
    return out


def main(argv=None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description="Re-run the recorded queries and compare hashes.")
    parser.add_argument("--bundle", type=Path, default=here, help="export directory (default: this file's)")
    parser.add_argument("--server", help="server address to use instead of the recorded one")
    parser.add_argument("--datastack", help="datastack to use instead of the recorded one")
    parser.add_argument("--token-env", default="CAVE_TOKEN",
                        help="environment variable holding the token (default CAVE_TOKEN); unset: "
                             "caveclient's usual places")
    parser.add_argument("--queries", nargs="*", help="record numbers or record ids to check (default all)")
    parser.add_argument("--json", type=Path, help="also write the per-query report as JSON here")
    args = parser.parse_args(argv)

    manifest = json.loads((args.bundle / "manifest.json").read_text())
    if manifest.get("hash_algorithm") != HASH_ALGORITHM:
        print(f"warning: bundle hashed with {manifest.get('hash_algorithm')}, this script uses {HASH_ALGORITHM}")
    entries = manifest["queries"]
    if args.queries:
        wanted = set(args.queries)
        entries = [e for e in entries if str(e["n"]) in wanted or e["record_id"] in wanted]
        if not entries:
            print(f"no query in the bundle matches {sorted(wanted)}", file=sys.stderr)
            return 2
    token = os.environ.get(args.token_env) or None
    samples = {} if args.server else (manifest.get("sample_services") or {})
    started = []
    try:
        return run(args, entries, token, samples, started)
    finally:
        for handle in started:
            handle.stop()  # also removes the token file it saved


def run(args, entries: list, token, samples: dict, started: list) -> int:
    clients, results = {}, []
    print(f"Reproducing {len(entries)} recorded queries from {args.bundle}")
    for entry in entries:
        datastack = args.datastack or entry.get("datastack")
        server = args.server or entry.get("server")
        client = None
        if entry.get("replay"):
            key = (datastack, server)
            if key not in clients:
                try:
                    clients[key] = connect(datastack, server, token, samples.get(server), started)
                except Exception as err:  # noqa: BLE001
                    clients[key] = err
            client = clients[key]
        if isinstance(client, Exception):
            res = {"n": entry["n"], "record_id": entry["record_id"], "method": entry["method"],
                   "table": entry.get("table"), "status": "ERROR",
                   "message": f"cannot reach {server} ({datastack}): {type(client).__name__}: {str(client)[:200]}"}
        else:
            res = check(entry, client, args.bundle)
        results.append(res)
        print(f"[{res['status']:<{STATUS_WIDTH - 2}}] {describe(entry)}: {res['message']}")
    counts = {s: sum(r["status"] == s for r in results) for s in ("OK", "DIFF", "ERROR", "SKIP")}
    print(f"\n{counts['OK']} identical, {counts['DIFF']} differ, {counts['ERROR']} failed, "
          f"{counts['SKIP']} not re-run")
    if counts["DIFF"]:
        print("Differ: " + ", ".join(f"#{r['n']} {r.get('table') or r['method']}" for r in results
                                     if r["status"] == "DIFF"))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "counts": counts}, indent=2, default=str))
    if counts["DIFF"]:
        return 1
    if counts["ERROR"]:
        return 2
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter teardown: pyarrow's parquet reader threads can still be joinable
    # then and abort the process ("terminate called without an active exception", exit -6,
    # apache/arrow#34314), which would turn a finished comparison into a crash.
    os._exit(status)
