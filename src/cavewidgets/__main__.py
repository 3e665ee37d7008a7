"""Command line: ``cavewidgets sample serve [--port N] [--data-dir D]``.

Runs the local CAVE-compatible sample service in the foreground until Ctrl-C. The token is not
printed on purpose (tokens never go to logs); set it with ``--token`` or the
``CAVEWIDGETS_SAMPLE_TOKEN`` environment variable to connect from another process.

Example::

    CAVEWIDGETS_SAMPLE_TOKEN=$(python -c "import secrets; print(secrets.token_hex(16))") \\
        cavewidgets sample serve --port 8765
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _serve(args) -> int:
    from .sample import resolve_data_dir, make_server
    from .sample.service.app import new_token

    token = args.token or os.environ.get("CAVEWIDGETS_SAMPLE_TOKEN") or new_token()
    token_hint = ("the token you passed" if (args.token or os.environ.get("CAVEWIDGETS_SAMPLE_TOKEN"))
                  else "a random token that is not shown (set CAVEWIDGETS_SAMPLE_TOKEN to choose one)")
    data_dir = resolve_data_dir(args.data_dir)
    server, app = make_server(data_dir, token, args.port, args.work_dir)
    url = f"http://127.0.0.1:{server.server_port}"
    datastack = json.loads((data_dir / "datastack.json").read_text())["datastack"]
    print(f"cavewidgets sample service on {url}  (data: {data_dir})")
    print(f"requests must carry {token_hint} as 'Authorization: Bearer <token>'.")
    print("In Python:")
    print("    import os, caveclient")
    print(f"    client = caveclient.CAVEclient({datastack!r}, server_address={url!r},")
    print("        auth_token=os.environ['CAVEWIDGETS_SAMPLE_TOKEN'], write_server_cache=False)")
    print("Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv=None) -> int:
    """Entry point of the ``cavewidgets`` console script."""
    parser = argparse.ArgumentParser(prog="cavewidgets", description="cavewidgets command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="the offline sample datastack")
    sample_sub = sample.add_subparsers(dest="sample_command", required=True)
    serve = sample_sub.add_parser("serve", help="run the local CAVE-compatible service in the foreground")
    serve.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--data-dir", default=None, help="a built sample directory (default: the cached sample)")
    serve.add_argument("--work-dir", default=None, help="where posted annotations/states go (default: DATA_DIR/service)")
    serve.add_argument("--token", default=None, help="token to require (default: $CAVEWIDGETS_SAMPLE_TOKEN or random)")
    args = parser.parse_args(argv)
    if args.command == "sample" and args.sample_command == "serve":
        return _serve(args)
    parser.error("unknown command")
    return 2


if __name__ == "__main__":
    sys.exit(main())
