"""Wire constants of ZCHAT/1: signature, commands, limits, error and leave codes.

This module mirrors docs/PROTOCOL.md one to one. Nothing here does I/O.
"""

from typing import Final

#: Every frame opens with this signature, a slash, the version and a space.
SIGNATURE: Final = b"ZCHAT"
VERSION: Final = 1
HEADER: Final = SIGNATURE + b"/" + str(VERSION).encode() + b" "

# Commands a client sends to the broker.
JOIN: Final = "JOIN"
SAY: Final = "SAY"
TELL: Final = "TELL"
WHO: Final = "WHO"
FETCH: Final = "FETCH"
HISTORY: Final = "HISTORY"
SEARCH: Final = "SEARCH"
#: Read state (issue 18): how far the user has read, and the private conversations.
MARK: Final = "MARK"
DMS: Final = "DMS"
#: Moderation (issue 19): an operator acts on a user or a room (one of MOD_OPS).
MOD: Final = "MOD"
LEAVE: Final = "LEAVE"
# Sent by both sides when they have been idle for one heartbeat interval.
PING: Final = "PING"
# Rooms (docs/ROOMS.md): enter and part a room, list the rooms, set a room's topic.
ENTER: Final = "ENTER"
PART: Final = "PART"
ROOMS: Final = "ROOMS"
TOPIC: Final = "TOPIC"

# Commands the broker sends to a client.
WELCOME: Final = "WELCOME"
MSG: Final = "MSG"
PRIV: Final = "PRIV"
JOINED: Final = "JOINED"
LEFT: Final = "LEFT"
USERS: Final = "USERS"
ERROR: Final = "ERROR"
ACK: Final = "ACK"
#: Several ACKs to one client in one frame, for a client that said so in JOIN (``acks``).
ACKS: Final = "ACKS"
EVENTS: Final = "EVENTS"
BYE: Final = "BYE"
#: A change in the broker's service that its users should know about (see N_* codes).
NOTICE: Final = "NOTICE"
#: Answers to ENTER and PART (ROOMS and TOPIC are the same words both ways).
ENTERED: Final = "ENTERED"
PARTED: Final = "PARTED"
#: After WELCOME: what the user has not read yet, per room and conversation (issue 18).
UNREAD: Final = "UNREAD"
#: What an operator did, to those it concerns (issue 19).
MODERATED: Final = "MODERATED"

# How public events reach clients (WELCOME.fanout).
FANOUT_ROUTER: Final = "router"
FANOUT_PUB: Final = "pub"
#: With "pub", a subscriber shows its session by subscribing to this and its token
#: (as well as to the empty prefix); the feed serves no one else.
FEED_TOPIC: Final = b"ZCHAT/1 FEED "

# EVENTS kinds: recent public messages for a newcomer, or events a client missed.
K_HISTORY: Final = "history"
K_REPLAY: Final = "replay"
#: ... or public events that happened together (e.g. a room joining at once), shown live.
K_LIVE: Final = "live"
#: The answer to HISTORY: a page of a room's stream, for display only (no cursor moves).
K_PAGE: Final = "page"
#: The answer to SEARCH: hits, newest first, for display only.
K_FOUND: Final = "found"

# Limits. A broker MUST refuse frames from clients above MAX_FRAME_BYTES.
MAX_FRAME_BYTES: Final = 16 * 1024
#: Frames from the broker can carry the whole user list, hence a larger bound.
MAX_BROKER_FRAME_BYTES: Final = 4 * 1024 * 1024
MAX_NAME_CHARS: Final = 32
MAX_TEXT_CHARS: Final = 2000
MAX_TOKEN_CHARS: Final = 64
#: Shorter tokens are guessable: a broker ignores them and makes its own.
MIN_TOKEN_CHARS: Final = 16
MAX_COMMAND_CHARS: Final = 16
#: Sequence numbers, cursors and client message ids are integers in [0, MAX_SEQ]: the
#: largest integer every JSON parser holds exactly (a double's 53 bits: JavaScript's too).
MAX_SEQ: Final = 2**53 - 1
#: Events per EVENTS frame (FETCH asks for at most this many).
MAX_FETCH: Final = 200
#: ACKs per ACKS frame (a broker puts in it at most one cycle's batch's worth).
MAX_ACKS: Final = MAX_FETCH
#: Events per HISTORY page (its ``limit``, and the default).
MAX_HISTORY_PAGE: Final = 100
#: Hits per SEARCH answer (its ``limit``), and the default.
MAX_SEARCH_HITS: Final = 50
DEFAULT_SEARCH_HITS: Final = 20
#: A SEARCH's ``words``: characters, and words in them that count.
MAX_SEARCH_CHARS: Final = 200
MAX_SEARCH_WORDS: Final = 16
#: Read state: the entries of one MARK (rooms, and "@name" conversations), the
#: conversations listed in one DMS answer, and the unread events an UNREAD counts in
#: each room (past it, ``more`` says there are more).
MAX_MARKS: Final = 200
MAX_DMS_LISTED: Final = 50
MAX_UNREAD_COUNTED: Final = 100
#: A MARK or UNREAD key for a private conversation: this and the other user's name.
PEER_PREFIX: Final = "@"
#: Names listed in a WELCOME (the rest are counted; WHO lists everyone): joining
#: a room of N must not cost O(N) names per join, O(N^2) in all.
WELCOME_USERS: Final = 100
#: Public messages a newcomer is shown by default.
DEFAULT_HISTORY: Final = 20
#: Events a broker keeps in history by default (a count, --retain); older ones are
#: pruned so storage stays bounded.
DEFAULT_RETAIN: Final = 100_000

#: Missing this many heartbeat intervals in a row means the peer is dead.
HEARTBEAT_LIVENESS: Final = 3
DEFAULT_HEARTBEAT: Final = 1.0
MIN_HEARTBEAT: Final = 0.05
MAX_HEARTBEAT: Final = 3600.0

# Error codes carried by ERROR.
E_BAD_SIGNATURE: Final = "BAD_SIGNATURE"
E_VERSION: Final = "VERSION"
E_BAD_FRAME: Final = "BAD_FRAME"
E_UNKNOWN_COMMAND: Final = "UNKNOWN_COMMAND"
E_NOT_JOINED: Final = "NOT_JOINED"
E_ALREADY_JOINED: Final = "ALREADY_JOINED"
E_BAD_NAME: Final = "BAD_NAME"
E_NAME_TAKEN: Final = "NAME_TAKEN"
E_BAD_PRIVATE: Final = "BAD_PRIVATE"
E_NO_SUCH_USER: Final = "NO_SUCH_USER"
E_EMPTY: Final = "EMPTY"
E_TOO_LONG: Final = "TOO_LONG"
E_RATE_LIMITED: Final = "RATE_LIMITED"
E_FULL: Final = "FULL"
E_NAME_OWNED: Final = "NAME_OWNED"
#: The target is not on this broker and the cluster link is down.
E_UNREACHABLE: Final = "UNREACHABLE"
#: The broker cannot take new users now (its cluster link is down): JOIN again later.
E_UNAVAILABLE: Final = "UNAVAILABLE"
#: Rooms: a name that breaks the rules, a room one is not in, too many rooms for one
#: session or for the broker, a SAY with no room from a session in none.
E_BAD_ROOM: Final = "BAD_ROOM"
E_NOT_IN_ROOM: Final = "NOT_IN_ROOM"
E_TOO_MANY_ROOMS: Final = "TOO_MANY_ROOMS"
E_ROOMS_FULL: Final = "ROOMS_FULL"
E_NO_ROOM: Final = "NO_ROOM"
E_BAD_SEARCH: Final = "BAD_SEARCH"
#: Moderation: a MOD from a session that is not an operator's; a JOIN of a banned name
#: or key; a SAY in a room one is muted in, or sooner than the room's slow mode allows;
#: a TOPIC of a locked room from a non-operator.
E_NOT_OPERATOR: Final = "NOT_OPERATOR"
E_BANNED: Final = "BANNED"
E_MUTED: Final = "MUTED"
E_SLOW_MODE: Final = "SLOW_MODE"
E_TOPIC_LOCKED: Final = "TOPIC_LOCKED"

# NOTICE codes: the link to the other brokers of a cluster is down, or back.
#: While it is down, events are delivered among this broker's users only, with seq 0.
N_CLUSTER_DOWN: Final = "CLUSTER_DOWN"
N_CLUSTER_UP: Final = "CLUSTER_UP"

#: Errors after which the client cannot go on with the same name.
FATAL_ERRORS: Final = frozenset({E_VERSION, E_BAD_NAME, E_NAME_TAKEN, E_NAME_OWNED, E_FULL,
                                 E_BANNED})

# Reasons carried by LEFT (quit, timeout, lost; slow is reserved) and BYE (quit, shutdown).
R_QUIT: Final = "quit"
R_TIMEOUT: Final = "timeout"
R_LOST: Final = "lost"
R_SLOW: Final = "slow"
R_SHUTDOWN: Final = "shutdown"
R_FLOOD: Final = "flood"
#: LEFT of one room (PART), not of the chat.
R_PART: Final = "part"
#: LEFT and BYE of a session an operator ended (MOD kick, or ban of someone online).
R_KICKED: Final = "kicked"
R_BANNED: Final = "banned"

# Moderation (issue 19): MOD's ``op``.
M_KICK: Final = "kick"
M_BAN: Final = "ban"
M_UNBAN: Final = "unban"
M_MUTE: Final = "mute"
M_UNMUTE: Final = "unmute"
M_SLOW: Final = "slow"
M_LOCK: Final = "lock"
M_UNLOCK: Final = "unlock"
MOD_OPS: Final = frozenset({M_KICK, M_BAN, M_UNBAN, M_MUTE, M_UNMUTE, M_SLOW, M_LOCK, M_UNLOCK})
#: A MOD's reason (code points); its seconds (a ban's or mute's length, 0: until lifted;
#: a slow mode's interval, 0: off).
MAX_REASON_CHARS: Final = 200
MAX_MOD_SECONDS: Final = 10 * 365 * 86_400
MAX_SLOW_SECONDS: Final = 3600

# Rooms' bounds (docs/ROOMS.md).
#: The broker's default room, every new session's first (``--default-room``).
DEFAULT_ROOM: Final = "geral"
#: A room name: "#" and a valid user name.
ROOM_PREFIX: Final = "#"
MAX_ROOMS_PER_USER: Final = 100
DEFAULT_MAX_ROOMS: Final = 10_000
MAX_TOPIC_CHARS: Final = 200
#: Rooms listed in one ROOMS answer.
MAX_ROOMS_LISTED: Final = 1000

# Flood control (docs/PROTOCOL.md, Rate limits). SAY, TELL and WHO cost one
# message and, for SAY and TELL, the UTF-8 length of their text in bytes;
# FETCH has a bucket of its own. The broker announces its rates in WELCOME.
DEFAULT_RATE: Final = 10.0
DEFAULT_BURST: Final = 30
DEFAULT_BYTE_RATE: Final = 32_768.0
DEFAULT_BYTE_BURST: Final = 131_072
FETCH_RATE: Final = 20.0
FETCH_BURST: Final = 600  # a whole catch-up of the default retention fits
#: Refusals in a row after which a client is disconnected as a flooder.
FLOOD_STRIKES: Final = 100
#: Frames per second the broker handles from connections that have not joined, all
#: together: a bound on the work strangers cost, set well above what the per-address
#: budgets let a few addresses spend, so that they cannot empty it for everyone.
UNJOINED_RATE: Final = 5000.0
UNJOINED_BURST: Final = 10_000
#: ... and from any one of them (a JOIN, or a few errors, needs only a handful).
STRANGER_RATE: Final = 5.0
STRANGER_BURST: Final = 20
#: Strangers whose budgets are remembered (the oldest is forgotten first).
STRANGERS_TRACKED: Final = 10_000
DEFAULT_MAX_CLIENTS: Final = 20_000

# What any one peer can make the broker hold (docs/PROTOCOL.md, Limits).
#: Connections open at once from one address (an IPv4 address, an IPv6 /64). Per
#: address too: JOINs, this many at once and as many again each minute; frames from
#: its connections that have not joined, twice this many at once, half as many a second.
DEFAULT_MAX_PER_ADDRESS: Final = 64
#: Seconds a connection may stay without a session (after it is accepted, or after
#: its session ended) before the broker closes it.
UNJOINED_SECONDS: Final = 5.0
#: Seconds a connection's ZMTP handshake (and CURVE's) may take.
HANDSHAKE_SECONDS: Final = 5.0
#: An EVENTS answer (a FETCH page, a newcomer's history) holds at most this many
#: bytes of events: fewer events when texts are long, ``more`` says the rest.
MAX_PAGE_BYTES: Final = 128 * 1024
#: Bytes of answers (FETCH pages, USERS) one session may be sent per second, and
#: at once: past it a FETCH waits, a WHO is refused.
REPLY_RATE: Final = 4 * 1024 * 1024.0
REPLY_BURST: Final = 8 * 1024 * 1024
