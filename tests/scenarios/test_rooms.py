"""Rooms (docs/ROOMS.md) with real processes: entering, talking per room, parting.

Phase 1 (docs/ROOMS.md): a single broker in router mode.
"""



from .harness import Cluster


def test_a_room_is_talked_in_by_its_members_only(chat: Cluster) -> None:
    broker = chat.broker()
    ana = chat.client("ana", broker.endpoint)
    bob = chat.client("bob", broker.endpoint)
    carol = chat.client("carol", broker.endpoint)
    ana.expect("carol joined the chat")
    ana.line("/join #sala")
    ana.expect(r"\* You are in #sala\.")
    bob.line("/join #Sala")
    bob.expect(r"\* In #sala \(2\): .*ana")
    ana.expect(r"\* bob joined #sala")
    bob.line("oi sala")
    ana.expect(r"\] bob: oi sala")
    carol.line("oi geral")
    ana.expect(r"\] #geral carol: oi geral")
    bob.expect(r"\] #geral carol: oi geral")
    carol.assert_not_seen("oi sala")
    ana.line("/part")
    ana.expect(r"\* You left #sala\.")
    bob.expect(r"\* ana left #sala")
    bob.line("/who")
    bob.expect(r"In #sala \(1\): bob")
    carol.assert_not_seen("#sala")
