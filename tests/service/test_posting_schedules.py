"""Posting under generated fault schedules: whatever fails, a final retry leaves every draft in
the table exactly once and the drafts files empty.

A real HTTP proxy (``_faulty_proxy``) stands between caveclient and the real sample service.
hypothesis generates the drafts (twins included), the batch size and a schedule of faults on
the protocol's requests (the count before a batch, the POST, the reads that reconcile): 500
before the write, a lost answer or a TCP reset after the write, an answer slower than the
timeout, a request held past the timeout and then written (the server writes after the client
gave up), the connection dropped, the service restarted before or after the write. Some
schedules run the post in a forked "kernel" that is SIGKILLed at a generated step (a request,
a drafts-file write, the posted log); some run two kernels on the same drafts file at once.

Every schedule starts with a fault that fires (drawn from the requests the protocol makes when
nothing fails, ``_sure_fault``); each test counts the schedules that hit a fault and fails below
90 % (``Tally``).

Timings are shrunk so a schedule costs tens of milliseconds: the batch size (the engine's limit
is 10,000; ``test_posting`` posts 25,000), the POST timeout, the window in which an unanswered
POST may still be written (the final retry waits it out, fast-forwarded once the proxy has
nothing in flight) and the backoff. What a schedule
does not test is paid once per module: one service, one proxy, one warm client per side (the
forked kernels inherit theirs), and drafts and the service's database on a RAM disk when there
is one (a SIGKILL loses nothing the page cache holds, so fsync is no part of what is tested).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cavewidgets.posting import AnnotationPoster, DraftStore, PostError, make_draft, read_posted_log
from cavewidgets.posting import drafts as drafts_module
from cavewidgets.posting import poster as poster_module

from _faulty_proxy import FaultyProxy

# the hypothesis profiles (``ci`` / ``long``) live with the unit tests
_spec = importlib.util.spec_from_file_location("hyp", Path(__file__).parents[1] / "unit" / "hyp.py")
hyp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hyp)

# POST (connect, read) timeouts and the margin after them in which an unanswered POST may still be
# written (the poster's window: 2.25 s here, 11 minutes in real use). A slow answer and a held request
# come after the read timeout; a held request is written well inside the window, so the final retry
# (which waits the window out) must find it; a POST slower than the timeout on a loaded machine is
# one more unanswered POST, not a doubled one. The read timeout is what every slow or held answer
# costs; the margin, wide for a loaded machine's late writes, costs nothing (the final retry's wait
# is fast-forwarded once the proxy has nothing in flight: ``_fast_forward``).
TIMEOUT = (0.25, 0.5)
MARGIN = 1.5
SLOW = HOLD = TIMEOUT[1] + 0.25


def _examples(n: int):
    """``hyp.examples(n)`` with module-scoped fixtures allowed (each example makes its own table and folder)."""
    return settings(hyp.examples(n), suppress_health_check=[*settings.default.suppress_health_check,
                                                            HealthCheck.function_scoped_fixture])

POSITIONS = [[100_000.0 + 4_000 * i, 120_000.0 + 3_000 * i, 20_000.0 + 400 * i] for i in range(6)]


class Service:
    """The sample service on a fixed port, restartable (annotations survive in its work dir)."""

    def __init__(self, data_dir, work_dir):
        from cavewidgets.sample import serve

        self._serve = serve
        self.data_dir, self.work_dir = data_dir, work_dir
        self.handle = serve(data_dir=data_dir, work_dir=work_dir)
        self.port, self.token, self.url = self.handle.port, self.handle.token, self.handle.url
        self.restarts = 0
        self._restarting = threading.Lock()

    def restart(self):
        with self._restarting:  # a client may give up (timeout) and go on while this runs
            self.handle.stop()
            self.handle = self._serve(port=self.port, data_dir=self.data_dir, work_dir=self.work_dir, token=self.token)
            self.restarts += 1

    def ready(self):
        """Wait for a restart in progress (the checks and the final retry need the service up)."""
        with self._restarting:
            pass


@pytest.fixture(scope="module")
def scratch():
    """One directory for the module's files, on a RAM disk when there is one (removed afterwards)."""
    ram = "/dev/shm"
    root = Path(tempfile.mkdtemp(prefix="cavewidgets-schedules-",
                                 dir=ram if os.path.isdir(ram) and os.access(ram, os.W_OK) else None))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _folder(scratch: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch))


@pytest.fixture(scope="module")
def service(sample_service, scratch):
    svc = Service(sample_service.data_dir, _folder(scratch, "work-"))
    yield svc
    svc.handle.stop()


@pytest.fixture(scope="module")
def proxy(service):
    p = FaultyProxy(service.url, on_restart=service.restart, slow_seconds=SLOW, hold_seconds=HOLD)
    yield p
    p.close()


@pytest.fixture(scope="module", autouse=True)
def shrunk_timings():
    names = ("POST_TIMEOUT", "LATE_WRITE_MARGIN", "BACKOFF_SECONDS", "BATCH")
    saved = [getattr(poster_module, n) for n in names]
    poster_module.POST_TIMEOUT, poster_module.LATE_WRITE_MARGIN, poster_module.BACKOFF_SECONDS = TIMEOUT, MARGIN, 0.01
    yield
    for n, v in zip(names, saved):
        setattr(poster_module, n, v)


def _client(url, token):
    from caveclient import CAVEclient

    client = CAVEclient("minnie65_sample", server_address=url, auth_token=token, write_server_cache=False,
                        max_retries=0)
    for sub in (client.info, client.schema, client.annotation, client.materialize):
        # loopback only: skip requests' per-request scan of the environment for proxies (~1 ms
        # of CPU a request, a tenth of a schedule's); the poster's own POST session follows suit
        sub.session.trust_env = False
    return client


@pytest.fixture(scope="module")
def direct(service):
    return _client(service.url, service.token)


@pytest.fixture(scope="module")
def via_proxy(proxy, service):
    return _client(proxy.url, service.token)


@pytest.fixture(scope="module")
def kernel_client(proxy, service):
    """A client through the proxy for the forked kernels, warmed (datastack info and version
    probes done) and never used by this process: a child inherits it with no open connection,
    as a new kernel's client would be, without paying for its construction each time."""
    client = _client(proxy.url, service.token)
    for sub in (client.info, client.schema, client.annotation, client.materialize):
        sub.session.close()  # no pooled socket for a child to share with another
    return client


# ---------------------------------------------------------------------------- schedules

REQUESTS = {  # what a fault hits: (method, path after the table name)
    "count": ("GET", "/count"),
    "post": ("POST", "/annotations"),
    "read": ("GET", "/annotations"),
}
# repeated entries weigh the draw: a restart costs ~0.7 s, a slow answer the timeout, a POST that
# cannot have been written when its answer was lost (held, dropped or restarted before the write)
# the final retry's wait for the window (~2 s); the rest ~0
ACTIONS = {
    "count": ["pass", "500", "down", "lost"] * 3 + ["restart"],
    "post": ["pass", "500", "lost", "reset"] * 3 + ["down", "hold"] * 2 + ["slow", "restart", "restart_after"],
    "read": ["pass", "500", "down", "lost"],
}
# small batches exercise the batching and cost little; 1,000 holds every draft in one batch and
# its reconciling scans ids a batch past the last row in three windows; the engine's 10,000 scans
# 25 windows (~25 requests, three times a small-batch schedule's cost): now and then
BATCHES = st.sampled_from([2, 3, 5] * 3 + [1_000] * 2 + [10_000])
# a decision is one draft, posted in one batch whatever the size: in review schedules the batch
# only sets how far a reconcile scans past the last row (25 reads at 10,000, covered above)
REVIEW_BATCHES = st.sampled_from([2, 3, 5] * 3 + [1_000] * 2)
_counter = iter(range(10**9))


def _table() -> str:
    return f"sched_{os.getpid()}_{next(_counter)}"


@st.composite
def workloads(draw, max_drafts=8):
    """Drafts in one to three groups (added between attempts); twins share position and tag."""
    n = draw(st.integers(1, max_drafts))
    kinds = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    twins = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    specs = [(k, f"t{k}" if twin else f"u{i}") for i, (k, twin) in enumerate(zip(kinds, twins))]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=2)))
    groups = [specs[a:b] for a, b in zip([0, *cuts], [*cuts, n])]
    return [g for g in groups if g] or [specs]


def _faults(draw, table: str, actions=ACTIONS, max_size=6, requests=REQUESTS):
    what = draw(st.lists(st.sampled_from(sorted(actions)), max_size=max_size))
    out = []
    for target in what:
        method, tail = requests[target]
        out.append((method, f"/{table}{tail}", draw(st.sampled_from(actions[target]))))
    return out


def _sure_fault(draw, table: str, batches: int, actions=ACTIONS, held: bool = False) -> list[tuple[str, str, str]]:
    """A fault that fires, to put first: on the k-th row count or POST, k below ``batches`` (how many
    of each the schedule's posts make when nothing fails: one per batch). Each request takes the first
    fault in the list that matches it, so until a fault other than "pass" is taken the protocol runs
    as if nothing failed, and reaches this one unless another fired before. ``held``: a held POST."""
    target = "post" if held else draw(st.sampled_from(["count", "post"]))
    method, path = REQUESTS[target][0], f"/{table}{REQUESTS[target][1]}"
    skip = draw(st.integers(0, batches - 1))
    action = "hold" if held else draw(st.sampled_from([a for a in actions[target] if a != "pass"]))
    return [(method, path, "pass")] * skip + [(method, path, action)]


def _batches(groups, batch: int) -> int:
    """POSTs (and row counts) of posting ``groups`` one after the other when nothing fails."""
    return sum(-(-len(g) // batch) for g in groups)


class Tally:
    """How many of a test's schedules hit at least one fault (a generated fault whose request never
    came is none), reported and held to a floor when the test ends."""

    FLOOR = 0.9

    def __init__(self, name: str):
        self.name, self.hit, self.runs = name, 0, 0
        self._skipped = len(SKIPPED)

    def note(self, proxy, since: int, killed: bool = False) -> None:
        self.runs += 1
        self.hit += bool(killed or set(proxy.taken[since:]) - {"pass"})

    def check(self, capsys) -> None:
        waits = SKIPPED[self._skipped:]
        with capsys.disabled():
            print(f"\n{self.name}: {self.hit} of {self.runs} schedules hit a fault; {len(waits)} final retries "
                  f"waited for a late-write window ({sum(waits):.0f} s fast-forwarded)")
        assert self.hit >= self.FLOOR * self.runs, f"{self.name}: only {self.hit} of {self.runs} schedules hit a fault"


@pytest.fixture()
def tally(request, capsys):
    """The test's :class:`Tally`, shared by its examples (a function-scoped fixture is made once per
    hypothesis test, not per example) and checked after the last one."""
    counted = Tally(request.node.name)
    yield counted
    counted.check(capsys)


def _make(specs) -> list[dict]:
    return [make_draft(POSITIONS[k], fields={"tag": tag}) for k, tag in specs]


def _check_exactly_once(client, directory: Path, table: str, made: list[dict]) -> None:
    """Every draft in the table once (twins once each), nothing left in any drafts file."""
    count = int(client.annotation.get_annotation_count(table))
    rows = client.annotation.get_annotation(table, list(range(1, count + 30))) if count else []
    assert Counter(r["tag"] for r in rows) == Counter(d["fields"]["tag"] for d in made), "lost or doubled rows"
    assert count == len(made)
    logged = [d for d in read_posted_log("minnie65_sample", directory) if d.get("table") == table]
    assert sorted(d["uid"] for d in logged) == sorted(d["uid"] for d in made)
    assert sorted(d["annotation_id"] for d in logged) == sorted(int(r["id"]) for r in rows)
    assert DraftStore("minnie65_sample", directory=directory).drafts() == []
    assert DraftStore("minnie65_sample", table, directory).drafts() == []
    assert not [p.name for p in directory.glob("*.json")], "a drafts file was left behind"


@contextlib.contextmanager
def _fast_forward(proxy):
    """The poster's wait for a late-write window, without its idle seconds: every request to the
    service passes the proxy, so once none is held or being forwarded (``in_flight``) nothing sent
    earlier can be written later, which is what the window's end stands for. Inside this block the
    poster's ``time.sleep`` waits for that instead of the clock (the final retry is the only
    poster running; the schedule's own posts, in the kernels, keep the real clock). What the real
    sleep would have caught is still caught: a request still in flight when the window the poster
    computed ends (its write could land after the reconcile: a window too short)."""
    def sleep(seconds: float) -> None:
        start = time.monotonic()
        while proxy.in_flight and time.monotonic() < start + max(30.0, seconds):
            time.sleep(0.01)
        assert not proxy.in_flight, "a request to the service was still in flight"
        waited = time.monotonic() - start
        assert waited <= seconds, f"a request reached the service {waited - seconds:.2f} s after the late-write window"
        SKIPPED.append(seconds - waited)

    real = poster_module.time
    poster_module.time = types.SimpleNamespace(sleep=sleep)
    try:
        yield
    finally:
        poster_module.time = real


SKIPPED: list[float] = []  # the seconds each fast-forwarded wait would have slept


def _final_retry(service, proxy, client, directory: Path, table: str):
    """A new kernel's retry, waiting out any unanswered POST's window (fast-forwarded); then
    (before the checks look) every held request must have reached the service: a late write is
    seen, not missed."""
    service.ready()
    with _fast_forward(proxy):
        posted = AnnotationPoster(client).post(DraftStore("minnie65_sample", directory=directory), table, wait=True)
    _no_request_held(proxy)
    return posted


def _note_faults(proxy, since: int) -> None:
    """Name the faults a schedule really hit (``--hypothesis-show-statistics``): a generated fault
    whose request never came is not one."""
    for action in sorted(set(proxy.taken[since:]) - {"pass"}):
        event(f"hit: {action}")


def _no_request_held(proxy, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while proxy.holding and time.monotonic() < end:
        time.sleep(0.02)
    assert not proxy.holding, "a held request was still not forwarded"


def _new_table(service, client, table):
    service.ready()
    # one request (the poster's ensure_table lists tables and schemas first: tested elsewhere)
    client.annotation.create_table(table, "bound_tag", "fault schedule", voxel_resolution=[4.0, 4.0, 40.0])


def _set_batch(size):
    poster_module.BATCH = size


def _drafts_waiting(schedule, proxy, service, direct, table, directory) -> list[dict]:
    """A fresh table, the schedule's one group of drafts saved in ``directory`` and its faults
    armed: where the forked-kernel schedules start. Returns the drafts."""
    _set_batch(schedule["batch"])
    _new_table(service, direct, table)
    made = _make(schedule["groups"][0])
    DraftStore("minnie65_sample", directory=directory).add(made)
    proxy.faults[:] = list(schedule["faults"])
    return made


# ---------------------------------------------------------------------------- in one kernel

@st.composite
def schedules(draw):
    table = _table()
    faults = _faults(draw, table, max_size=5)
    held = draw(st.integers(0, 9)) == 0  # one in ten: the sure fault holds a batch's POST, then it is written
    groups, batch = draw(workloads()), draw(BATCHES)
    return {"table": table, "groups": groups, "batch": batch,
            "faults": _sure_fault(draw, table, _batches(groups, batch), held=held) + faults}


@_examples(170)
@given(schedule=schedules())
def test_fault_schedule_in_one_kernel(schedule, proxy, service, via_proxy, direct, scratch, tally):
    table, directory = schedule["table"], _folder(scratch, "sched-")
    _set_batch(schedule["batch"])
    _new_table(service, direct, table)
    since = len(proxy.taken)
    proxy.faults[:] = list(schedule["faults"])
    made = []
    for group in schedule["groups"]:
        drafts = _make(group)
        made += drafts
        DraftStore("minnie65_sample", directory=directory).add(drafts)
        try:
            AnnotationPoster(via_proxy).post(DraftStore("minnie65_sample", directory=directory), table)
        except PostError:
            pass  # the only failure a fault may cause: drafts kept, pending
    proxy.faults.clear()
    _final_retry(service, proxy, via_proxy, directory, table)
    _note_faults(proxy, since)
    tally.note(proxy, since)
    _check_exactly_once(direct, directory, table, made)


# ---------------------------------------------------------------------------- kernels that die

def _fork_post(client, directory: Path, table: str, kill_at: tuple[str, int] | None = None) -> int:
    """A forked "kernel" posting ``directory``'s drafts; ``kill_at=("write", k)`` SIGKILLs it right
    after its k-th drafts-file write, ``("log", k)`` after its k-th posted-log append.
    Exit codes: 0 posted, 3 PostError, 1 anything else (printed)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        if kill_at is not None:
            step, k = kill_at
            name, module = {"write": ("_write", drafts_module), "log": ("_append_posted_log", poster_module)}[step]
            real, calls = getattr(module, name), [0]

            def dying(*args, **kwargs):
                real(*args, **kwargs)
                calls[0] += 1
                if calls[0] == k:
                    os.kill(os.getpid(), signal.SIGKILL)

            setattr(module, name, dying)
        AnnotationPoster(client).post(DraftStore("minnie65_sample", directory=directory), table)
        code = 0
    except PostError:
        code = 3
    except BaseException:  # noqa: BLE001 - reported by the parent through the exit code
        traceback.print_exc()
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float = 60.0) -> int:
    """The child's exit code (negative: the signal that killed it); never waits forever."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"posting kernel {pid} hung for {timeout} s")


KILL_ACTIONS = {"count": ["kill", "pass"], "post": ["kill", "kill_after", "500", "lost", "pass"],
                "read": ["kill", "pass"]}


@st.composite
def kill_schedules(draw):
    table = _table()
    where = draw(st.sampled_from(["request", "write", "log"]))
    groups, batch = [sum(draw(workloads(max_drafts=8)), [])], draw(BATCHES)
    batches = _batches(groups, batch)
    # a kernel that nothing stops writes its drafts files twice moving the drafts to the table's
    # file, then twice a batch (pending before the POST, removed after it), and logs once a batch
    writes = {"write": 2 + 2 * batches, "log": batches}
    kill_at = None if where == "request" else (where, draw(st.integers(1, writes[where])))
    sure = _sure_fault(draw, table, batches, KILL_ACTIONS) if kill_at is None else []
    return {"table": table, "groups": groups, "batch": batch, "kill_at": kill_at,
            "faults": sure + _faults(draw, table, KILL_ACTIONS, max_size=4)}


@_examples(50)
@given(schedule=kill_schedules())
def test_a_kernel_killed_at_a_generated_step(schedule, proxy, service, via_proxy, direct, kernel_client, scratch,
                                             tally):
    table, directory = schedule["table"], _folder(scratch, "sched-kill-")
    since = len(proxy.taken)
    made = _drafts_waiting(schedule, proxy, service, direct, table, directory)
    pid = _fork_post(kernel_client, directory, table, schedule["kill_at"])
    proxy.victim = pid
    try:
        code = _wait(pid)
        assert code in (0, 3, -signal.SIGKILL), "the posting kernel failed with an unexpected error"
    finally:
        proxy.victim = None
    proxy.faults.clear()
    _final_retry(service, proxy, via_proxy, directory, table)
    _note_faults(proxy, since)
    tally.note(proxy, since, killed=code == -signal.SIGKILL)
    _check_exactly_once(direct, directory, table, made)


# ---------------------------------------------------------------------------- two kernels at once

TWO_ACTIONS = {"count": ["pass", "500"], "post": ["pass", "500", "lost"] * 2 + ["hold"] * 3 + ["slow"],
               "read": ["pass", "500"]}


@st.composite
def two_kernel_schedules(draw):
    table = _table()
    groups, batch = [sum(draw(workloads(max_drafts=8)), [])], draw(BATCHES)
    # whichever kernel posts first makes every request of a post where nothing fails
    sure = _sure_fault(draw, table, _batches(groups, batch), TWO_ACTIONS)
    return {"table": table, "groups": groups, "batch": batch, "stagger": draw(st.sampled_from([0.0, 0.02, 0.1])),
            "faults": sure + _faults(draw, table, TWO_ACTIONS, max_size=4)}


@_examples(30)
@given(schedule=two_kernel_schedules())
def test_two_kernels_post_the_same_drafts_file_at_once(schedule, proxy, service, via_proxy, direct, kernel_client,
                                                       scratch, tally):
    table, directory = schedule["table"], _folder(scratch, "sched-two-")
    since = len(proxy.taken)
    made = _drafts_waiting(schedule, proxy, service, direct, table, directory)
    first = _fork_post(kernel_client, directory, table)
    time.sleep(schedule["stagger"])
    second = _fork_post(kernel_client, directory, table)
    assert {_wait(first), _wait(second)} <= {0, 3}
    proxy.faults.clear()
    _final_retry(service, proxy, via_proxy, directory, table)
    _note_faults(proxy, since)
    tally.note(proxy, since)
    _check_exactly_once(direct, directory, table, made)


# ---------------------------------------------------------------------------- ReviewQueue decisions

REVIEW_REQUESTS = {**REQUESTS, "delete": ("DELETE", "/annotations")}
REVIEW_ACTIONS = {**ACTIONS, "delete": ["pass", "500", "lost", "down"]}
STATUSES = ("clean", "needs work", "merge error")


@pytest.fixture(scope="module")
def review_roots(direct):
    df = direct.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
    return df[df["pt_root_id"] > 0].drop_duplicates("pt_root_id").head(3)[["pt_root_id", "pt_position"]] \
        .reset_index(drop=True)


@st.composite
def review_schedules(draw):
    table = _table()
    decide = st.tuples(st.just("decide"), st.integers(0, 2), st.sampled_from(STATUSES))
    steps = draw(st.lists(st.one_of(decide, st.just(("kernel",))), max_size=4))
    steps.insert(draw(st.integers(0, len(steps))), draw(decide))  # at least one decision
    faults = _faults(draw, table, REVIEW_ACTIONS, max_size=5, requests=REVIEW_REQUESTS)
    held = draw(st.integers(0, 4)) == 0  # one schedule in five: a decision's POST is held, then written
    # each decision is posted (a row count, a POST) when nothing fails
    sure = _sure_fault(draw, table, sum(s[0] == "decide" for s in steps), held=held)
    return {"table": table, "steps": steps, "batch": draw(REVIEW_BATCHES), "faults": sure + faults}


def _queue(client, roots, table, directory):
    from cavewidgets import ReviewQueue

    return ReviewQueue(client, roots, table, statuses=STATUSES, show=False, directory=directory)


@_examples(50)
@given(schedule=review_schedules())
def test_review_decisions_under_a_fault_schedule(schedule, proxy, service, via_proxy, direct, review_roots, scratch,
                                                 tally):
    """Whatever fails while deciding, a new kernel's queue leaves each neuron's last decision in
    the table exactly once (superseded decisions deleted) and no decision waiting on disk."""
    table, directory = schedule["table"], _folder(scratch, "sched-review-")
    _set_batch(schedule["batch"])
    service.ready()
    queue = _queue(via_proxy, review_roots, table, directory)
    since = len(proxy.taken)
    proxy.faults[:] = list(schedule["faults"])
    last = {}
    for step in schedule["steps"]:
        if step[0] == "kernel":
            queue.close()
            queue = _queue(via_proxy, review_roots, table, directory)
            continue
        _, i, status = step
        queue.jump(i)
        queue.decide(status)  # a failure is shown in the queue, never raised
        last[int(review_roots["pt_root_id"][i])] = status
    queue.close()
    proxy.faults.clear()
    service.ready()
    final = _queue(via_proxy, review_roots, table, directory)
    with _fast_forward(proxy):
        final.post_pending(wait=True)
    _no_request_held(proxy)
    _note_faults(proxy, since)
    tally.note(proxy, since)
    decisions = final.decisions
    assert dict(zip(decisions["root_id"].tolist(), decisions["status"])) == last
    assert decisions["posted"].all(), decisions
    ids = [int(i) for i in decisions["annotation_id"]]
    rows = {int(r["id"]): r for r in direct.annotation.get_annotation(table, ids)} if ids else {}
    assert all(rows[i]["valid"] and rows[i]["tag"] == s for i, s in zip(ids, decisions["status"]))
    assert int(direct.annotation.get_annotation_count(table)) == len(last), "a superseded decision is still in the table"
    assert final._waiting() == 0 and not final._decisions.to_delete
    assert not list(Path(final._decisions.drafts_dir).glob("*.json")) if Path(final._decisions.drafts_dir).exists() else True
    final.close()
