"""The Viewer's widget channel without a browser: the same requests the front-end sends, into the
real channel and proxy code, against the real sample service in this process.

What the browser gets: the neuroglancer bundle once, states pushed in order, kernel-hosted data
answered in process with the token added by the kernel, and never the token itself.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from cavewidgets.testing.channel import ChannelClient
from cavewidgets.viewer.proxy import PLACEHOLDER_TOKEN, KernelProxy, is_loopback, origin_of

BIG = 864691135808684573


@pytest.fixture(scope="module")
def client():
    import cavewidgets

    return cavewidgets.sample.client()


@pytest.fixture
def viewer(client):
    import cavewidgets

    v = cavewidgets.Viewer(client, height=300)
    yield v
    v.close()


def every_byte_sent(side: ChannelClient) -> bytes:
    out = []
    for content, buffers in side.messages:
        out.append(json.dumps(content).encode())
        out.extend(bytes(b) for b in buffers)
    return b"\n".join(out)


def test_origins_of_neuroglancer_urls():
    assert origin_of("graphene://middleauth+http://127.0.0.1:9/segmentation/table/x") == "http://127.0.0.1:9"
    assert origin_of("precomputed://https://bucket.example.org/em") == "https://bucket.example.org"
    assert origin_of("precomputed://gs://bucket/em") == ""
    assert origin_of("not a url") == ""
    assert is_loopback("http://localhost:1/x") and is_loopback("http://127.3.2.1/x") and is_loopback("http://[::1]:8/x")
    assert not is_loopback("https://minnie.microns-daf.com/segmentation")


def test_hello_gives_both_states_and_python_changes_are_pushed_newest_last(viewer):
    side = ChannelClient(viewer)
    hello = side.request("ng_hello", client="abc")
    assert json.loads(hello["s"])["layers"][1]["name"] == "seg"
    assert "inputEventBindings" in json.loads(hello["c"])  # the double-click binding travels in the config
    viewer.segments = {BIG}
    side.wait(lambda c: c.get("kind") == "cw:ng" and c["k"] == "s" and str(BIG) in c["s"])
    # changes from two threads at once: the last state pushed is the final one, exact ids
    def flip(offset):
        for i in range(30):
            viewer.add_segments([BIG + offset + i])

    threads = [threading.Thread(target=flip, args=(k * 100,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final, generation = viewer._ng.shared_state.raw_state_and_generation
    side.wait(lambda c: c.get("kind") == "cw:ng" and c["k"] == "s" and c["g"] == generation, timeout=10)
    pushes = side.pushes("s")
    assert pushes[-1]["g"] == generation
    assert set(pushes[-1]["s"]["layers"][1]["segments"]) == {str(i) for i in viewer.segments}
    assert len({p["g"] for p in pushes}) == len(pushes)  # never the same state twice


def test_a_browser_edit_arrives_as_a_browser_selection(viewer):
    side = ChannelClient(viewer)
    picked = []
    viewer.on_select(lambda root, where: picked.append(root))
    hello = side.request("ng_hello", client="abc")
    state = json.loads(hello["s"])
    state["layers"][1]["segments"] = [str(BIG)]
    reply = side.request("ng_state", s=json.dumps(state), g=3, pg=hello["gs"], c="abc")
    assert reply["g"] == "abc/3"
    assert viewer.segments == {BIG} and picked == [BIG]


def test_a_browser_edit_is_not_echoed_to_its_only_view_but_reaches_a_second_one(viewer):
    side = ChannelClient(viewer)
    hello = side.request("ng_hello", client="abc")
    state = json.loads(hello["s"])
    state["layers"][1]["segments"] = [str(BIG)]
    assert side.request("ng_state", s=json.dumps(state), g=3, pg=hello["gs"], c="abc")["g"] == "abc/3"
    time.sleep(0.5)  # the sender pushes within milliseconds of a change; it must not push this one
    assert side.pushes("s") == []
    viewer.segments = {BIG + 1}  # a later Python change is pushed
    side.wait(lambda c: c.get("kind") == "cw:ng" and c["k"] == "s" and str(BIG + 1) in c["s"])
    # a second view of the same viewer (the cell output shown twice) needs the first one's edits
    hello2 = side.request("ng_hello", client="def")
    state = json.loads(hello2["s"])
    state["layers"][1]["segments"] = [str(BIG + 2)]
    assert side.request("ng_state", s=json.dumps(state), g=1, pg=hello2["gs"], c="abc")["g"] == "abc/1"
    side.wait(lambda c: c.get("kind") == "cw:ng" and c["k"] == "s" and c["g"] == "abc/1")
    assert viewer.segments == {BIG + 2}


def test_bundle_travels_once_with_its_hash(viewer):
    from cavewidgets.viewer.channel import BUNDLE

    side = ChannelClient(viewer)
    result, buffers = side.request_with_buffers("ng_bundle", hash=viewer._ng_bundle_hash)
    assert result["hash"] == viewer._ng_bundle_hash
    assert bytes(buffers[0]) == BUNDLE.read_bytes()
    assert len(BUNDLE.read_bytes()) > 1_000_000  # neuroglancer, workers and wasm inlined


def test_kernel_answers_sample_data_with_its_token_and_the_browser_never_sees_it(viewer, client):
    side = ChannelClient(viewer)
    token = client.auth.token
    seg = viewer.state["layers"][1]["source"]
    assert seg.startswith("graphene://middleauth+http://127.0.0.1:")
    info_url = seg.split("middleauth+", 1)[1] + "/info"
    # the browser asks with the placeholder neuroglancer got from ng_credentials
    creds = side.request("ng_credentials", key="middleauthapp", parameters=origin_of(seg))
    assert creds["credentials"]["accessToken"] == PLACEHOLDER_TOKEN
    meta, body = side.fetch(info_url, headers={"authorization": f"Bearer {PLACEHOLDER_TOKEN}"})
    assert meta["status"] == 200, body[:300]
    info = json.loads(body)
    assert info["app"]["supported_api_versions"] and "data_dir" in info
    # image chunks come through the same way (public precomputed files)
    img = viewer.state["layers"][0]["source"].split("://", 1)[1]
    meta, body = side.fetch(img + "/info")
    assert meta["status"] == 200 and json.loads(body)["type"] == "image"
    # the graphene route really is token-protected: without the kernel's token it is refused
    meta, _ = side.fetch(info_url, headers={})
    assert meta["status"] == 200  # the kernel adds it even when the browser sent none
    bare = KernelProxy([origin_of(seg)])
    from cavewidgets.viewer import credentials

    saved = dict(credentials._origins)
    credentials._origins.clear()
    try:
        assert bare.fetch(info_url)[0]["status"] == 401
    finally:
        credentials._origins.update(saved)
    assert token.encode() not in every_byte_sent(side)


def test_a_gzip_request_from_the_browser_still_gets_plain_bytes(viewer):
    # PyChunkedGraph gzips every 2xx answer that accepts gzip, and so does the sample; the kernel
    # drops content-encoding from what it relays, so it must never relay compressed bytes
    side = ChannelClient(viewer)
    seg = viewer.state["layers"][1]["source"]
    info_url = seg.split("middleauth+", 1)[1] + "/info"
    meta, body = side.fetch(info_url, headers={"Accept-Encoding": "gzip, deflate"})
    assert meta["status"] == 200 and "content-encoding" not in meta["headers"]
    assert json.loads(body)["app"]["supported_api_versions"]


def test_kernel_refuses_origins_it_does_not_answer(viewer):
    side = ChannelClient(viewer)
    with pytest.raises(RuntimeError, match="does not answer"):
        side.fetch("https://example.org/secret")
    with pytest.raises(RuntimeError, match="unknown request"):
        side.request("ng_nonsense")


def test_via_kernel_routes_everything_and_keeps_the_token_in_the_kernel(client):
    import cavewidgets

    v = cavewidgets.Viewer(client, height=300, via_kernel=True)
    try:
        assert v.kernel_origins == ["*"]
        assert v._proxy.routed("https://minnie.microns-daf.com/segmentation/table/x/info")
        got = v._proxy.credentials("middleauthapp", "https://minnie.microns-daf.com")
        assert got["credentials"]["accessToken"] == PLACEHOLDER_TOKEN
    finally:
        v.close()
    with pytest.raises(TypeError, match="via_kernel"):
        cavewidgets.Viewer(client, via_kernel="yes")


def test_data_requests_travel_in_batches_and_answers_coalesce(viewer):
    """A batch of requests is one message; answers ready together are one message; every request
    is answered exactly once, bodies intact."""
    side = ChannelClient(viewer)
    img = viewer.state["layers"][0]["source"].split("://", 1)[1]
    urls = [img + "/info"] * 30 + [img + "/missing-file"] * 5
    got = side.fetch_many([{"url": u} for u in urls])
    assert [a["status"] for a, _ in got] == [200] * 30 + [404] * 5
    assert all(json.loads(body)["type"] == "image" for _, body in got[:30])
    answers = [a["id"] for c, _ in side.messages if c.get("kind") == "cw:fetched" for a in c["answers"]]
    assert sorted(answers) == sorted({a["id"] for a, _ in got})  # each once
    assert not any(c.get("kind") == "cw:res" for c, _ in side.messages)  # no per-batch reply
    assert viewer._channel.served["ng_fetch"] == 35


def test_cancelled_requests_are_skipped_or_not_answered():
    """Requests neuroglancer cancels are not fetched if they have not started, and their answers
    are never sent; the others are answered once, in few messages."""
    from cavewidgets.viewer.fetching import FetchAnswers

    release = threading.Event()
    fetched, sent = [], []
    lock = threading.Lock()

    def fetch(url, method="GET", headers=None, body=None):
        release.wait(10)
        with lock:
            fetched.append(url)
        return {"status": 200, "statusText": "OK", "headers": {}}, url.encode()

    answers = FetchAnswers(lambda content, buffers: sent.append((content, buffers)), fetch)
    reqs = [{"id": f"r{i}", "url": f"http://127.0.0.1:1/{i}", "method": "GET", "headers": {}, "body": -1} for i in range(60)]
    answers.submit({"reqs": reqs}, [])
    # the fetch threads (8) hold r0..r7; r40..r59 wait in the queue, r20 too
    answers.submit({"cancel": [f"r{i}" for i in range(40, 60)] + ["r20", "not-a-request"]}, [])
    release.set()
    deadline = threading.Event()
    for _ in range(100):
        got = [a["id"] for c, _ in sent for a in c["answers"]]
        if len(got) >= 39:
            break
        deadline.wait(0.1)
    deadline.wait(0.3)  # nothing more may arrive
    got = [a["id"] for c, _ in sent for a in c["answers"]]
    assert sorted(got) == sorted(f"r{i}" for i in range(40) if i != 20)
    assert not {u.rsplit("/", 1)[1] for u in fetched} & {str(i) for i in range(40, 60)}  # never fetched
    assert len(sent) < 39  # coalesced
    for content, buffers in sent:
        for a in content["answers"]:
            assert buffers[a["buf"]] == f"http://127.0.0.1:1/{a['id'][1:]}".encode()
    answers.close()
