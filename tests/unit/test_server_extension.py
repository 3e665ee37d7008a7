"""The server extension, as installed: a real Jupyter server with a real kernel sets TCP_NODELAY on
the browser's kernel websocket (enabled by the package's jupyter_server_config.d file), and does
not when the extension is disabled (so the check can fail)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from cavewidgets.testing.lab import WITH_NAGLE, free_port

# Runs a Jupyter server in its own process, starts a kernel, connects a websocket to it as a
# browser does, waits for the kernel's answer over it and reports the server side's socket option.
PROBE = textwrap.dedent(
    """
    import gc, json, socket, sys, uuid
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.ioloop import IOLoop
    from tornado.websocket import websocket_connect

    app = ServerApp()
    app.initialize(argv=sys.argv[1:])
    out = {}

    async def probe():
        try:
            base = f"127.0.0.1:{app.port}"
            auth = {"Authorization": f"token {app.identity_provider.token}"}
            http = AsyncHTTPClient()
            kernel = json.loads((await http.fetch(f"http://{base}/api/kernels", method="POST", body="{}", headers=auth)).body)["id"]
            ws = await websocket_connect(HTTPRequest(f"ws://{base}/api/kernels/{kernel}/channels", headers=auth))
            msg_id = uuid.uuid4().hex
            ws.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": "", "session": "probe",
                           "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell", "buffers": []}))
            while True:  # the reply comes after the server's open() has run
                reply = json.loads(await ws.read_message())
                if reply["parent_header"].get("msg_id") == msg_id and reply["msg_type"] == "kernel_info_reply":
                    break
            handlers = [h for h in gc.get_objects() if isinstance(h, KernelWebsocketHandler) and h.ws_connection]
            out["nodelay"] = [h.ws_connection.stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for h in handlers]
            out["connection"] = [type(h.connection).__name__ for h in handlers]
            ws.close()
            await http.fetch(f"http://{base}/api/kernels/{kernel}", method="DELETE", headers=auth)
        except Exception as err:
            out["error"] = repr(err)
        finally:
            print("PROBE " + json.dumps(out), flush=True)
            app.stop()

    IOLoop.current().add_callback(probe)
    app.start()
    """
)


def run_probe(tmp_path, *extra: str) -> dict:
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    args = [f"--port={free_port()}", "--ip=127.0.0.1", "--no-browser", f"--ServerApp.root_dir={tmp_path}", "--IdentityProvider.token=probe", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, f"the probe server printed nothing (exit {done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1][6:])
    assert "error" not in result, f"{result['error']}\n{done.stderr[-3000:]}"
    return result


def test_installed_extension_turns_nagle_off_on_kernel_websockets(tmp_path):
    result = run_probe(tmp_path)
    assert result["nodelay"] and all(result["nodelay"]), result
    assert result["connection"] == ["NoDelayZMQChannelsWebsocketConnection"], result


def test_without_the_extension_the_websocket_keeps_nagle(tmp_path):
    result = run_probe(tmp_path, *WITH_NAGLE)
    assert result["nodelay"] == [0], result
