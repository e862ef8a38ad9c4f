"""The admin socket (issue 19) with real processes: `zchat broker --admin ipc://PATH`
makes it for its user alone, and `zchat admin` asks it; every subcommand, in words and
in JSON, its exit codes, and kick, ban, unban and mute as the chat's users see them,
across a broker killed and restarted on the same data."""

import json
import os
import re
import signal
import stat
import subprocess
import time

import zmq

from .harness import Cluster, zchat_command
from .test_security import keygen


def admin(*args: object, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run `zchat admin ARGS...` to the end (bounded), its output captured."""
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*zchat_command(), "admin", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env,
                          check=False)


def asked(*args: object) -> dict:
    """The broker's JSON reply to `zchat admin ARGS... --json`, which must succeed."""
    done = admin(*args, "--json")
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_the_admin_socket_is_its_users_alone_and_goes_with_the_broker(chat: Cluster) -> None:
    run = chat.tmp / "run"  # missing: the broker makes it, 0700
    sock = run / "admin"
    broker = chat.broker("--admin", f"ipc://{sock}")
    st = sock.lstat()
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    done = admin(sock, "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "health: ok"
    broker.signal(signal.SIGTERM)
    assert broker.wait() == 0
    assert not sock.exists()  # removed at exit
    gone = admin(f"ipc://{sock}", "status")
    assert (gone.returncode, gone.stdout) == (3, "")
    assert gone.stderr == f"zchat: no admin socket at {sock} (is the broker running with " \
                          "--admin?)\n"


def test_an_unsafe_or_taken_place_stops_the_broker_before_it_serves(chat: Cluster) -> None:
    shared = chat.tmp / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    refused = chat.broker("--admin", f"ipc://{shared}/admin", wait=False)
    assert refused.wait() == 2
    refused.expect(r"Invalid value for '--admin'.*may be written by anyone \(mode 0777\), "
                   r"who could replace the admin socket")
    assert not refused.data_dir.exists() and not list(shared.iterdir())  # nothing made
    notes = chat.tmp / "notes.txt"
    notes.write_text("precious")
    refused = chat.broker("--admin", f"ipc://{notes}", wait=False)
    assert refused.wait() == 2
    refused.expect(r"is not a socket \(binding there would delete it\)")
    assert notes.read_text() == "precious"
    sock = chat.tmp / "admin"
    first = chat.broker("--admin", f"ipc://{sock}")
    second = chat.broker("--admin", f"ipc://{sock}", wait=False)
    assert second.wait() == 1
    second.expect(rf"cannot listen on ipc://{re.escape(str(sock))}: address already in use")
    assert asked(sock, "status")["pid"] == first.pid  # the first one still answers


def test_status_who_and_rooms(chat: Cluster) -> None:
    sock = chat.tmp / "admin"
    broker = chat.broker("--admin", f"ipc://{sock}")
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    ana.line("/join #dev")
    ana.expect(r"You are in #dev\.")
    ana.line("/topic lançamento sexta")
    ana.expect(r"ana set the topic of #dev: lançamento sexta")
    for n in range(5):
        bob.line(f"oi {n}")
    ana.expect(r"bob: oi 4")

    status = asked(sock, "status")
    assert status["ok"] and status["healthy"] and status["problems"] == []
    assert status["pid"] == broker.pid and status["version"] == "0.1.0"
    assert status["users"] == {"here": 2, "chat": 2} and status["rooms"] == 2
    assert status["events"]["since_start"] >= 7  # two joins, five messages
    assert status["events"]["per_second_10s"] > 0
    assert status["store"]["kind"] == "sqlite"
    assert status["store"]["where"] == str(broker.data_dir)
    assert status["cluster"] is None
    shown = admin(sock, "status").stdout.splitlines()
    assert re.fullmatch(rf"zchat 0\.1\.0 \(pid {broker.pid}\), up (\d+m )?\d+s", shown[0])
    assert shown[1:3] == ["users: 2 on this broker, 2 in the chat", "rooms: 2"]
    assert re.fullmatch(r"events: [\d.]+/s over 10 s, [\d.]+/s over a minute, \d+ since start",
                        shown[3])
    assert shown[4].startswith(f"store: sqlite ({broker.data_dir}), last event ")
    assert shown[5:] == ["cluster: none", "health: ok"]

    who = admin(sock, "who").stdout.splitlines()
    assert who[0] == "2 online:"
    assert re.fullmatch(r"ana +127\.0\.0\.1 +idle \d+s +no key +#geral #dev", who[1]), who
    assert re.fullmatch(r"bob +127\.0\.0\.1 +idle \d+s +no key +#geral", who[2]), who
    dev = asked(sock, "who", "dev")  # (# optional: in a shell it starts a comment)
    assert dev["room"] == "#dev" and dev["names"] == ["ana"]
    assert [s["name"] for s in dev["sessions"]] == ["ana"]
    assert admin(sock, "who", "#dev").stdout.splitlines()[0] == "1 in #dev:"

    rooms = admin(sock, "rooms").stdout.splitlines()
    assert rooms[0] == "2 room(s):"
    assert re.fullmatch(r"#dev +1 +lançamento sexta", rooms[1])
    assert re.fullmatch(r"#geral +2", rooms[2])
    assert asked(sock, "rooms")["rooms"][0] == {"room": "#dev", "members": 1,
                                                "topic": "lançamento sexta"}
    assert admin(sock, "bans").stdout == "no bans or mutes\n"


def test_kick_ban_and_mute_as_the_users_see_them_across_a_restart(chat: Cluster) -> None:
    sock = chat.tmp / "run" / "admin"
    broker = chat.broker("--admin", f"ipc://{sock}")
    ana, bob = chat.client("ana", broker.endpoint), chat.client("bob", broker.endpoint)
    carol = chat.client("carol", broker.endpoint)

    kicked = admin(sock, "kick", "bob", "chega", "de", "spam")
    assert (kicked.returncode, kicked.stdout) == (0, "kicked bob\n")
    bob.expect(r"admin removed bob from the chat \(chega de spam\)")
    bob.expect(r"an operator removed you from the chat")
    assert bob.wait() != 0  # the client stops: no reconnecting after a kick
    carol.expect(r"admin removed bob from the chat \(chega de spam\)")
    carol.expect(r"bob left the chat \(kicked by an operator\)")

    banned = admin(sock, "ban", "bob", "--for", "2h", "flood")
    assert banned.returncode == 0
    assert re.fullmatch(r"banned bob until \d{4}-\d\d-\d\d \d\d:\d\d\n", banned.stdout)
    bob = chat.client("bob", broker.endpoint, wait=False)
    bob.expect(r"you are banned from this chat")
    assert bob.wait() != 0

    for who in (ana, carol):
        who.line("/join #dev")
        who.expect(r"You are in #dev\.")
    muted = admin(sock, "mute", "carol", "#dev", "--for", "10m", "calma")
    assert re.fullmatch(r"muted carol in #dev until \S+ \S+\n", muted.stdout)
    carol.expect(r"admin muted carol in #dev until \S+ \S+ \(calma\)")
    ana.expect(r"admin muted carol in #dev")
    carol.line("posso falar?")
    carol.expect(r"! you are muted in #dev")
    carol.line("/msg #geral no geral pode")
    ana.expect(r"#geral carol: no geral pode")
    ana.assert_not_seen(r"posso falar")

    bans = admin(sock, "bans").stdout.splitlines()
    assert bans[0] == "2 ban(s) and mute(s):"
    assert re.fullmatch(r"mute +carol in #dev +by name +until \S+ \S+ +by admin: calma", bans[1])
    assert re.fullmatch(r"ban +bob +by name +until \S+ \S+ +by admin: flood", bans[2])
    audit = [json.loads(line) for line in (broker.data_dir / "audit.log").read_text()
             .splitlines()]
    assert [(e["by"], e["op"], e["name"]) for e in audit] == [
        ("admin", "kick", "bob"), ("admin", "ban", "bob"), ("admin", "mute", "carol")]

    # Killed, the broker leaves its socket file; restarted on the same data, it binds
    # there again, and the ban and the mute hold.
    broker.signal(signal.SIGKILL)
    broker.wait()
    assert stat.S_ISSOCK(sock.lstat().st_mode)
    stale = admin(sock, "status")
    assert stale.returncode == 3 and "nothing is listening on" in stale.stderr
    broker = chat.broker("--admin", f"ipc://{sock}", data_dir=broker.data_dir,
                         bind=broker.endpoint)
    ana.expect(r"Reconnected as ana", timeout=10)
    held = asked(sock, "bans")
    assert [(s["op"], s["name"]) for s in held["sanctions"]] == [("mute", "carol"),
                                                                 ("ban", "bob")]
    bob = chat.client("bob", broker.endpoint, wait=False)
    bob.expect(r"you are banned from this chat")
    assert bob.wait() != 0
    lifted = admin(sock, "unban", "bob")
    assert (lifted.returncode, lifted.stdout) == (0, "lifted the ban on bob\n")
    chat.client("bob", broker.endpoint)  # welcome again
    again = admin(sock, "unban", "bob")
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == "zchat: NO_SUCH_USER: no ban of that user (bob)\n"
    assert admin(sock, "unmute", "carol", "dev").stdout == "unmuted carol in #dev\n"
    carol.expect(r"admin unmuted carol in #dev")
    assert asked(sock, "bans") == {"ok": True, "count": 0, "sanctions": []}


def test_what_goes_wrong_is_one_line_and_an_exit_code(chat: Cluster) -> None:
    sock = chat.tmp / "admin"
    chat.broker("--admin", f"ipc://{sock}")
    (chat.tmp / "notes.txt").write_text("not a socket")
    outcomes = {
        "missing socket": admin(chat.tmp / "nothing", "status"),
        "not a socket": admin(chat.tmp / "notes.txt", "status"),
        "bad duration": admin(sock, "ban", "bob", "--for", "2x"),
        "bad name": admin(sock, "kick", "a b"),
        "unknown command": admin(sock, "reboot"),
        "refused": admin(sock, "kick", "nobody"),
        "refused, json": admin(sock, "kick", "nobody", "--json"),
    }
    for what, done in outcomes.items():
        assert "Traceback" not in done.stdout + done.stderr, what
    codes = {what: done.returncode for what, done in outcomes.items()}
    assert codes == {"missing socket": 3, "not a socket": 3, "bad duration": 2, "bad name": 2,
                     "unknown command": 2, "refused": 1, "refused, json": 1}
    assert "is not a socket" in outcomes["not a socket"].stderr
    assert "Invalid value for '--for': '2x'" in outcomes["bad duration"].stderr
    assert "Invalid value for 'NAME'" in outcomes["bad name"].stderr
    assert outcomes["refused"].stderr == \
        "zchat: NO_SUCH_USER: no such user online (nobody)\n"
    assert json.loads(outcomes["refused, json"].stdout) == {
        "ok": False, "code": "NO_SUCH_USER", "detail": "no such user online", "ref": "nobody"}

    # Something listens there but never answers: --timeout bounds the wait.
    ctx = zmq.Context()
    silent = ctx.socket(zmq.ROUTER)
    silent.setsockopt(zmq.LINGER, 0)
    silent.bind(f"ipc://{chat.tmp}/silent")
    try:
        started = time.monotonic()
        done = admin("--timeout", "0.5", chat.tmp / "silent", "status")
        assert time.monotonic() - started < 10
    finally:
        silent.close(0)
        ctx.term()
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == f"zchat: no answer from {chat.tmp}/silent within 0.5 s (is the " \
                          "broker stopped, or busy?)\n"


def test_an_encrypted_broker_answers_its_admin_socket(chat: Cluster) -> None:
    # (ZAP judges the chat's CURVE connections; the admin socket's are local and plain.)
    public, secret = keygen(chat, "server", chat.tmp / "keys")
    sock = chat.tmp / "admin"
    broker = chat.broker("--curve-secret", str(secret), "--admin", f"ipc://{sock}")
    chat.client("ana", broker.endpoint, "--server-key", str(public))
    assert asked(sock, "status")["users"]["here"] == 1
    assert asked(sock, "who")["sessions"][0]["key"]  # ana's CURVE key

