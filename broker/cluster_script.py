"""The cluster's keys in Redis, the Lua script that changes them atomically,
and the decoding of stream entries. No I/O here.

Every change that must be atomic across brokers runs inside one script call:
numbering an event and appending it to the log (so the log's order is the
sequence order), taking or giving up a name, and announcing a dead broker's
users as gone. docs/CLUSTER.md describes each key.
"""

import msgspec

from .store import PARTED_DEFAULT, StoredEvent

#: Default key prefix; every key the cluster uses starts with it.
PREFIX = "zchat:"
#: Public events kept in the shared log (XTRIM MAXLEN ~).
LOG_RETAIN = 100_000
#: Events kept per private stream, and how long an idle one lives (seconds).
PRIV_RETAIN = 1000
PRIV_TTL = 7 * 24 * 3600
#: Transport only: entries kept in a broker's inbox.
INBOX_RETAIN = 10_000
#: How long a (session, cid) pair is remembered for duplicate checks (seconds), and
#: how many of a session's latest cids (a client resends at most its outbox, 1000).
CID_TTL = 24 * 3600
CID_WINDOW = 10_000
#: Entries one session's duplicate index may hold (consecutive cids keep it at the
#: window; a client that skips numbers would otherwise grow it for CID_TTL).
CID_MOST = 2 * CID_WINDOW
#: How long a session token's binding (`tk:<stream>`) lives once its session is not held
#: (seconds; while held it does not expire). Longer than anything kept under that stream
#: (p:, ph:, c:, written while it is held or, for a PRIV already on its way, just after),
#: so the token never opens what is left of its stream to another name, key or after LEAVE.
TOKEN_TTL = PRIV_TTL + 3600
#: Fields per event in a `batch` call (see `batch_args`).
EVENT_FIELDS = 13
#: A room's stream keeps the events numbered within the last ``retain`` numbers (as the
#: log and a single broker's store do): once its oldest event is ``retain //
#: ROOM_SLACK`` numbers past that window it is trimmed to it, and deleted once empty
#: (see `trim_rooms` in the script). At most ROOM_TRIMS rooms a call beyond one per
#: number the call gave out.
ROOM_SLACK = 10
ROOM_TRIMS = 16
#: The kind of a topic change on the room log (not an event: not numbered, not kept).
ROOM_TOPIC = "TOPIC"
#: After Redis lost its data, numbering restarts this far past the last number a
#: broker knew, so no number a client has seen is given out again.
RESEED_GAP = 100_000
#: Read state (store.ReadState): a reader's conversations and their pages keep the
#: messages numbered within the last ``retain`` numbers, as rooms' streams do. Each
#: call trims at most TALK_TRIMS conversations beyond two per number it gave out (each
#: number that leaves the window was at most one PRIV, in at most two conversations).
TALK_TRIMS = 16
#: The most read marks one reader keeps: a new one past it replaces an arbitrary one.
MARKS_MOST = 1000
#: Digits of a seq in a talk index member (`tl:<reader>`: "<peer>\t<seq>", compared as
#: text): every seq is below 2^53, which has 16.
SEQ_DIGITS = 16
#: Above every seq (2^53, exact as a Lua number): an open end of a talk page.
SEQ_END = 2**53

_LUA = r"""
local op, P = ARGV[1], ARGV[2]
local EVENT_FIELDS, TOKEN_TTL, CID_MOST = @EVENT_FIELDS@, @TOKEN_TTL@, @CID_MOST@
local PARTED = '@PARTED@'
local ROOM_SLACK, ROOM_TRIMS = @ROOM_SLACK@, @ROOM_TRIMS@
local TALK_TRIMS, MARKS_MOST, SEQ_FORMAT = @TALK_TRIMS@, @MARKS_MOST@, '%0@SEQ_DIGITS@d'

-- Numbers in this script. A cid is a client's integer up to 2^63 - 1, past a Lua
-- number's exact range (2^53): it stays the decimal string it came as (an ARGV, a
-- hash field), and the cid that leaves the window comes computed by the broker.
-- A seq is a Lua number (INCR's reply, tonumber of a stored one), exact below
-- 2^53, a bound event counts never reach; as a redis.call argument Redis writes it
-- in full (plain digits below 10^17), but '..' and tostring() use %.14g (1e+14 from
-- 10^14 on), so a seq becomes text through digits().
local function digits(n) return string.format('%d', n) end

local function holder(nk)
  local v = redis.call('HGET', P .. 'names', nk)
  if not v then return nil end
  local b, s, u, n = string.match(v, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
  return {b = b, s = s, u = u, n = n}
end

-- What one call changes once, however many events it logs, written by finish():
-- the public head, the cid sets' expiry, the log's trim and the rooms' (a script runs
-- atomically, so no one sees the difference; it halves the calls per event).
local head = nil
local expire = {}
local logged = false
-- The numbers this call gave out, and the last (each moves the retain window by one).
local numbered, last = 0, nil

local function next_seq()
  last = redis.call('INCR', P .. 'seq')
  numbered = numbered + 1
  return last
end

-- The seq of a log, private- or room-stream entry ID ('<seq>-0').
local function id_seq(id) return tonumber(string.match(id, '^(%d+)')) end

-- Raise the pruned mark (the highest number trimmed from any stream) to ``upto``, and
-- count ``n`` more entries trimmed.
local function pruned(upto, n)
  if tonumber(redis.call('GET', P .. 'pruned') or '0') < upto then
    redis.call('SET', P .. 'pruned', upto)
  end
  redis.call('INCRBY', P .. 'pruned_n', n)
end

local function remember(origin, cid, forget, seq, prev, kind, ttl)
  local key = P .. 'c:' .. origin
  -- A client numbering with gaps deletes nothing below: past CID_MOST it starts over
  -- (only such a client's own resends lose their check; consecutive cids never get here).
  if redis.call('HLEN', key) >= CID_MOST then redis.call('DEL', key) end
  redis.call('HSET', key, cid, digits(seq) .. ' ' .. digits(prev) .. ' ' .. kind)
  if forget ~= '0' then redis.call('HDEL', key, forget) end  -- a window, not every cid
  expire[key] = ttl
end

local function trim(retain)
  local n = redis.call('XTRIM', P .. 'log', 'MAXLEN', '~', retain)
  if n > 0 then
    local first = redis.call('XRANGE', P .. 'log', '-', '+', 'COUNT', 1)
    pruned(first[1] and id_seq(first[1][1]) - 1 or 0, n)
  end
end

-- Rooms' streams, bounded by seq as a whole: 'rfirst' scores each room that has a stream
-- with the seq of its oldest event kept. A room whose oldest is retain / ROOM_SLACK
-- numbers below the window (the last `retain` numbers) loses every event below it
-- (XTRIM MINID, exact), and its stream once empty; its head (rh:), members and topic
-- stay. Oldest first, at most one room per number this call gave out, plus ROOM_TRIMS:
-- each number leaving the window makes at most one room due (the one whose event it
-- was), so rooms never wait long, and a call's work stays bounded.
local function trim_rooms(retain)
  local seq = last or tonumber(redis.call('GET', P .. 'seq') or '0')
  local cutoff = seq - retain
  local due = redis.call('ZRANGEBYSCORE', P .. 'rfirst', '-inf',
                         digits(cutoff - math.floor(retain / ROOM_SLACK)), 'LIMIT', 0,
                         numbered + ROOM_TRIMS)
  local top, n = 0, 0
  for _, room in ipairs(due) do
    local key = P .. 'r:' .. room
    local gone = redis.call('XREVRANGE', key, digits(cutoff), '-', 'COUNT', 1)
    if gone[1] then top = math.max(top, id_seq(gone[1][1])) end
    n = n + redis.call('XTRIM', key, 'MINID', digits(cutoff + 1))
    local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
    if first[1] then
      redis.call('ZADD', P .. 'rfirst', id_seq(first[1][1]), room)
    else
      redis.call('DEL', key)
      redis.call('ZREM', P .. 'rfirst', room)
    end
  end
  if n > 0 then pruned(top, n) end
end

-- One public event (MSG, JOINED, LEFT): numbered, linked, logged.
local function publish(kind, ts, name, text, reason, origin, cid, forget, cid_ttl)
  local seq = next_seq()
  if head == nil then head = tonumber(redis.call('GET', P .. 'head') or '0') end
  local prev = head
  head = seq
  redis.call('XADD', P .. 'log', digits(seq) .. '-0', 'k', kind, 'ts', ts, 'n', name,
             'x', text, 'r', reason, 'o', origin, 'c', cid, 'p', prev)
  if cid ~= '0' then remember(origin, cid, forget, seq, prev, kind, cid_ttl) end
  logged = true
  return {seq, prev, 0}
end

-- One event of a room other than the default one: numbered, linked to the room's own
-- head (rh:<room>), kept in the room's stream (r:<room>, its history; a new stream is
-- scored in 'rfirst' for trim_rooms) and put on the room log (rlog: transport, read by
-- every broker, auto IDs with the seq in 's').
local function room_publish(room, kind, ts, name, text, reason, origin, cid, forget,
                            cid_ttl, retain)
  local seq = next_seq()
  local prev = tonumber(redis.call('GET', P .. 'rh:' .. room) or '0')
  redis.call('SET', P .. 'rh:' .. room, seq)
  local fields = {'k', kind, 'ts', ts, 'n', name, 'x', text, 'r', reason, 'o', origin,
                  'c', cid, 'p', prev, 'rm', room}
  redis.call('XADD', P .. 'r:' .. room, digits(seq) .. '-0', unpack(fields))
  if not redis.call('ZSCORE', P .. 'rfirst', room) then  -- (its stream is new)
    local first = redis.call('XRANGE', P .. 'r:' .. room, '-', '+', 'COUNT', 1)
    redis.call('ZADD', P .. 'rfirst', id_seq(first[1][1]), room)
  end
  redis.call('XADD', P .. 'rlog', 'MAXLEN', '~', retain, '*', 's', seq, unpack(fields))
  if cid ~= '0' then remember(origin, cid, forget, seq, prev, kind, cid_ttl) end
  return {seq, prev, 0}
end

-- Who is in which room now: ro:<room> (stream -> name as shown) holds the sessions
-- whose names are held (online on some broker) among the members kept in
-- rm:<stream> (room key -> name as shown; PARTED marks the default room parted,
-- and ro:PARTED lists who is out of it); 'rooms' is the set of rooms with someone in.
local function index(stream, shown)
  for _, room in ipairs(redis.call('HKEYS', P .. 'rm:' .. stream)) do
    redis.call('HSET', P .. 'ro:' .. room, stream, shown)
    if room ~= PARTED then redis.call('SADD', P .. 'rooms', room) end
  end
end

local function unindex_room(stream, room)
  redis.call('HDEL', P .. 'ro:' .. room, stream)
  if room ~= PARTED and redis.call('EXISTS', P .. 'ro:' .. room) == 0 then
    redis.call('SREM', P .. 'rooms', room)
  end
end

local function unindex(stream)
  for _, room in ipairs(redis.call('HKEYS', P .. 'rm:' .. stream)) do
    unindex_room(stream, room)
  end
end

-- The name as shown of the session ``stream``, if its name is held (hs:<stream>: the
-- name key it last held).
local function held_as(stream)
  local nk = redis.call('GET', P .. 'hs:' .. stream)
  if not nk then return nil end
  local h = holder(nk)
  if h and h.s == stream then return h.n end
  return nil
end

-- Read state (store.ReadState), per reader: a CURVE key ('k:...') or a session ('t:...',
-- its stream key). mk:<reader> its marks (key -> seq); cv:<reader> its conversations
-- (peer -> last seq); ci:<reader> each one's "unread\tts\tname"; tl:<reader> every
-- message of them (members "<peer>\t<seq in SEQ_DIGITS digits>", score 0: one
-- conversation's messages are one range of the text order). dlog holds the private
-- messages themselves (ID '<seq>-0'), numbered within the last `retain`, and cvt every
-- conversation ("<reader>\t<peer>" -> its last seq), for trim_talks.
local function read_keys(reader)
  return {P .. 'mk:' .. reader, P .. 'cv:' .. reader, P .. 'ci:' .. reader,
          P .. 'tl:' .. reader}
end

local function pad(seq) return string.format(SEQ_FORMAT, seq) end

-- The newest number out of the window (what the reads and trims of read state use).
local function talk_cutoff(retain)
  return (last or tonumber(redis.call('GET', P .. 'seq') or '0')) - retain
end

-- A session's read state lasts as its token binding does (no expiry while its name is
-- held, TOKEN_TTL after, or what is left of it); a CURVE key's lasts.
local function keep(reader, keys)
  if string.sub(reader, 1, 2) ~= 't:' then return end
  local ttl = redis.call('TTL', P .. 'tk:' .. reader)
  for _, key in ipairs(keys) do
    if ttl == -1 then
      redis.call('PERSIST', key)
    else
      redis.call('EXPIRE', key, ttl > 0 and ttl or TOKEN_TTL)
    end
  end
end

local function expire_reads(stream)
  for _, key in ipairs(read_keys(stream)) do redis.call('EXPIRE', key, TOKEN_TTL) end
end

-- Conversations whose last message left the window leave the list, with their pages and
-- their mark; the messages themselves leave dlog. Oldest first, bounded as trim_rooms is.
local function trim_talks(retain)
  local cutoff = talk_cutoff(retain)
  if cutoff <= 0 then return end
  if numbered > 0 then redis.call('XTRIM', P .. 'dlog', 'MINID', '~', digits(cutoff + 1)) end
  local due = redis.call('ZRANGEBYSCORE', P .. 'cvt', '-inf', digits(cutoff), 'LIMIT', 0,
                         2 * numbered + TALK_TRIMS)
  for _, talk in ipairs(due) do
    local reader, peer = string.match(talk, '^([^\t]*)\t(.*)$')
    local at = redis.call('ZSCORE', P .. 'cv:' .. reader, peer)
    if at and tonumber(at) <= cutoff then
      redis.call('ZREM', P .. 'cv:' .. reader, peer)
      redis.call('HDEL', P .. 'ci:' .. reader, peer)
      redis.call('HDEL', P .. 'mk:' .. reader, '@' .. peer)
      redis.call('ZREMRANGEBYLEX', P .. 'tl:' .. reader, '[' .. peer .. '\t' .. pad(0),
                 '[' .. peer .. '\t' .. pad(cutoff))
    end
    redis.call('ZREM', P .. 'cvt', talk)
  end
end

local function finish(retain)
  if head ~= nil then redis.call('SET', P .. 'head', head) end
  for key, ttl in pairs(expire) do redis.call('EXPIRE', key, ttl) end
  if logged and redis.call('XLEN', P .. 'log') > retain + 1000 then trim(retain) end
  trim_rooms(retain)
  trim_talks(retain)
end

-- One private message: numbered, kept on both private streams, and put in the
-- inbox of the broker that holds each reader.
local function tell(ts, from, to, text, origin, to_key, cid, forget, from_nk, to_nk, retain,
                    ttl, inbox, cid_ttl)
  local seq = next_seq()
  local pf = tonumber(redis.call('GET', P .. 'ph:' .. origin) or '0')
  local pt = tonumber(redis.call('GET', P .. 'ph:' .. to_key) or '0')
  redis.call('SET', P .. 'ph:' .. origin, seq, 'EX', ttl)
  redis.call('SET', P .. 'ph:' .. to_key, seq, 'EX', ttl)
  local fields = {'k', 'PRIV', 'ts', ts, 'n', from, 'x', text, 'to', to, 'o', origin,
                  'c', cid, 'p', pf, 'tk', to_key, 'pt', pt}
  for _, key in ipairs(origin == to_key and {origin} or {origin, to_key}) do
    redis.call('XADD', P .. 'p:' .. key, 'MAXLEN', '~', retain, digits(seq) .. '-0',
               unpack(fields))
    redis.call('EXPIRE', P .. 'p:' .. key, ttl)
  end
  -- Once more, by number, for conversation pages (read state: `talk`).
  redis.call('XADD', P .. 'dlog', digits(seq) .. '-0', unpack(fields))
  -- Delivered by the broker holding each reader, not broadcast to all.
  local readers = {{to_nk, to_key}}
  if to_key ~= origin then readers[2] = {from_nk, origin} end
  for _, r in ipairs(readers) do
    local h = holder(r[1])
    if h and h.s == r[2] then
      redis.call('XADD', P .. 'i:' .. h.b, 'MAXLEN', '~', inbox, '*', 'f', r[2], 's', seq,
                 unpack(fields))
    end
  end
  if cid ~= '0' then remember(origin, cid, forget, seq, pf, 'PRIV', cid_ttl) end
  return {seq, pf, pt}
end

if op == 'batch' then
  -- ARGV: retain priv_retain priv_ttl inbox_retain cid_ttl events, where events is
  -- one JSON array of strings, per event kind ts name text to reason origin cid
  -- to_key from_nk to_nk forget room (one argument, not 13 an event: packing them
  -- one by one was a fifth of a busy broker's time).
  -- Returns seq, prev, prev_to per event, in order.
  local retain, pr, pttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local inbox, cttl = tonumber(ARGV[6]), tonumber(ARGV[7])
  local E = cjson.decode(ARGV[8])
  local out = {}
  for i = 1, #E, EVENT_FIELDS do
    local r
    if E[i] == 'PRIV' then
      r = tell(E[i + 1], E[i + 2], E[i + 4], E[i + 3], E[i + 6], E[i + 8],
               E[i + 7], E[i + 11], E[i + 9], E[i + 10], pr, pttl, inbox, cttl)
    elseif E[i + 12] ~= '' then
      r = room_publish(E[i + 12], E[i], E[i + 1], E[i + 2], E[i + 3],
                       E[i + 5], E[i + 6], E[i + 7], E[i + 11], cttl, retain)
    else
      r = publish(E[i], E[i + 1], E[i + 2], E[i + 3], E[i + 5], E[i + 6],
                  E[i + 7], E[i + 11], cttl)
    end
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
    out[#out + 1] = r[3]
  end
  finish(retain)
  return out

elseif op == 'hold' then
  -- ARGV: name_key broker stream user display
  local nk, me, stream, user = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local h = holder(nk)
  local status = 'claimed'
  if h then
    if h.s ~= stream or h.u ~= user then
      -- (In healing, a session of ours whose name someone took: its token is free to go.)
      if h.s ~= stream then
        redis.call('EXPIRE', P .. 'tk:' .. stream, TOKEN_TTL)
        redis.call('EXPIRE', P .. 'rm:' .. stream, TOKEN_TTL)
        expire_reads(stream)
      end
      return 'taken'
    end
    if h.b ~= me then redis.call('SREM', P .. 'm:' .. h.b, nk) end
    status = 'resumed'
  end
  redis.call('HSET', P .. 'names', nk, me .. '\t' .. stream .. '\t' .. user .. '\t' .. ARGV[7])
  redis.call('SADD', P .. 'm:' .. me, nk)
  redis.call('PERSIST', P .. 'tk:' .. stream)  -- held: its binding lasts while it is
  redis.call('PERSIST', P .. 'rm:' .. stream)  -- and so do its rooms
  for _, key in ipairs(read_keys(stream)) do redis.call('PERSIST', key) end  -- read state
  redis.call('SET', P .. 'hs:' .. stream, nk)
  index(stream, ARGV[7])
  return status

elseif op == 'release' then
  -- ARGV: name_key broker stream
  local h = holder(ARGV[3])
  if h and h.b == ARGV[4] and h.s == ARGV[5] then
    redis.call('HDEL', P .. 'names', ARGV[3])
    redis.call('SREM', P .. 'm:' .. ARGV[4], ARGV[3])
    redis.call('EXPIRE', P .. 'tk:' .. ARGV[5], TOKEN_TTL)
    unindex(ARGV[5])
    redis.call('EXPIRE', P .. 'rm:' .. ARGV[5], TOKEN_TTL)
    expire_reads(ARGV[5])
    redis.call('DEL', P .. 'hs:' .. ARGV[5])
    return 1
  end
  return 0

elseif op == 'bind' then
  -- ARGV: stream name_key user. 1 if a JOIN under this name and key may use the
  -- stream's token: unknown (bound to them now, for TOKEN_TTL unless `hold` keeps it),
  -- or bound to them already. 0: bound to another name or key, or retired.
  local key = P .. 'tk:' .. ARGV[3]
  local want = 'b\t' .. ARGV[4] .. '\t' .. ARGV[5]
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, want, 'EX', TOKEN_TTL)
    return 1
  end
  if v == want then return 1 end
  return 0

elseif op == 'retire' then
  -- ARGV: stream. Its session left: its token opens nothing from now on, and its
  -- rooms and its read state are over.
  redis.call('SET', P .. 'tk:' .. ARGV[3], 'r', 'EX', TOKEN_TTL)
  unindex(ARGV[3])
  redis.call('DEL', P .. 'rm:' .. ARGV[3], unpack(read_keys(ARGV[3])))
  return 1

elseif op == 'enter' then
  -- ARGV: stream room shown. A membership (kept the first name as shown), and the
  -- session in the room now if its name is held.
  local stream, room = ARGV[3], ARGV[4]
  local key = P .. 'rm:' .. stream
  redis.call('HSETNX', key, room, ARGV[5])
  local shown = held_as(stream)
  if shown then
    redis.call('PERSIST', key)
    redis.call('HSET', P .. 'ro:' .. room, stream, shown)
    if room ~= PARTED then redis.call('SADD', P .. 'rooms', room) end
  else
    local ttl = redis.call('TTL', P .. 'tk:' .. stream)
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  end
  return 1

elseif op == 'part' then
  -- ARGV: stream room ('' for every room of the stream).
  local stream, room = ARGV[3], ARGV[4]
  if room == '' then
    unindex(stream)
    redis.call('DEL', P .. 'rm:' .. stream)
  else
    redis.call('HDEL', P .. 'rm:' .. stream, room)
    unindex_room(stream, room)
  end
  return 1

elseif op == 'rooms' then
  -- The rooms with someone in, and how many: room, count, room, count...
  local out = {}
  for _, room in ipairs(redis.call('SMEMBERS', P .. 'rooms')) do
    local n = redis.call('HLEN', P .. 'ro:' .. room)
    if n > 0 then
      out[#out + 1] = room
      out[#out + 1] = n
    end
  end
  return out

elseif op == 'lease' then
  -- ARGV: broker ttl_ms. Returns whether the lease was still alive.
  local key = P .. 'lease:' .. ARGV[3]
  local alive = redis.call('EXISTS', key)
  redis.call('SET', key, '1', 'PX', ARGV[4])
  redis.call('SADD', P .. 'brokers', ARGV[3])
  return alive

elseif op == 'sweep' then
  -- ARGV: broker ts retain cid_ttl. Brokers whose lease expired: their users are gone.
  local me, ts, retain = ARGV[3], ARGV[4], tonumber(ARGV[5])
  local gone = 0
  for _, b in ipairs(redis.call('SMEMBERS', P .. 'brokers')) do
    if b ~= me and redis.call('EXISTS', P .. 'lease:' .. b) == 0 then
      for _, nk in ipairs(redis.call('SMEMBERS', P .. 'm:' .. b)) do
        local h = holder(nk)
        if h and h.b == b then
          redis.call('HDEL', P .. 'names', nk)
          redis.call('EXPIRE', P .. 'tk:' .. h.s, TOKEN_TTL)
          local rooms = redis.call('HKEYS', P .. 'rm:' .. h.s)
          unindex(h.s)
          redis.call('EXPIRE', P .. 'rm:' .. h.s, TOKEN_TTL)
          expire_reads(h.s)
          redis.call('DEL', P .. 'hs:' .. h.s)
          local outside = false
          for _, room in ipairs(rooms) do
            if room == PARTED then outside = true end
          end
          if not outside then publish('LEFT', ts, h.n, '', 'lost', '', '0', '0', 0) end
          table.sort(rooms)
          for _, room in ipairs(rooms) do
            if room ~= PARTED then
              room_publish(room, 'LEFT', ts, h.n, '', 'lost', '', '0', '0', 0, retain)
            end
          end
          gone = gone + 1
        end
      end
      redis.call('DEL', P .. 'm:' .. b, P .. 'i:' .. b)
      redis.call('SREM', P .. 'brokers', b)
    end
  end
  finish(retain)
  return gone

elseif op == 'mark' then
  -- ARGV: reader, then key seq pairs. A mark only goes up; a conversation's mark at or
  -- past its last message clears its unread count.
  local reader = ARGV[3]
  local mk, cv, ci = P .. 'mk:' .. reader, P .. 'cv:' .. reader, P .. 'ci:' .. reader
  for i = 4, #ARGV, 2 do
    local key, seq = ARGV[i], tonumber(ARGV[i + 1])
    local held = redis.call('HGET', mk, key)
    if not held then
      if redis.call('HLEN', mk) >= MARKS_MOST then
        redis.call('HDEL', mk, redis.call('HRANDFIELD', mk))
      end
      redis.call('HSET', mk, key, ARGV[i + 1])
    elseif tonumber(held) < seq then
      redis.call('HSET', mk, key, ARGV[i + 1])
    end
    if string.sub(key, 1, 1) == '@' then
      local peer = string.sub(key, 2)
      local at = redis.call('ZSCORE', cv, peer)
      local v = redis.call('HGET', ci, peer)
      if at and v and seq >= tonumber(at) then
        redis.call('HSET', ci, peer, '0' .. string.match(v, '^%d*(\t.*)$'))
      end
    end
  end
  keep(reader, {mk})
  return 1

elseif op == 'converse' then
  -- ARGV: reader peer name seq ts incoming retain. One message of the reader's
  -- conversation with peer, recorded once (0: recorded already, or out of the window);
  -- from the peer (incoming '1') and above the reader's mark: one more unread.
  local reader, peer, seq = ARGV[3], ARGV[4], tonumber(ARGV[6])
  local cutoff = talk_cutoff(tonumber(ARGV[9]))
  if seq <= cutoff then return 0 end
  local cv, ci, tl = P .. 'cv:' .. reader, P .. 'ci:' .. reader, P .. 'tl:' .. reader
  if redis.call('ZADD', tl, 'NX', 0, peer .. '\t' .. pad(seq)) == 0 then return 0 end
  if cutoff > 0 then  -- (this conversation's messages that left the window: gone)
    redis.call('ZREMRANGEBYLEX', tl, '[' .. peer .. '\t' .. pad(0),
               '[' .. peer .. '\t' .. pad(cutoff))
  end
  local unread, ts, name = 0, ARGV[7], ARGV[5]
  local v = redis.call('HGET', ci, peer)
  if v then unread = tonumber(string.match(v, '^(%d+)')) end
  if ARGV[8] == '1' then
    local read = redis.call('HGET', P .. 'mk:' .. reader, '@' .. peer)
    if not read or tonumber(read) < seq then unread = unread + 1 end
  end
  local at = redis.call('ZSCORE', cv, peer)
  if at and tonumber(at) > seq then  -- (an older message: the last one stays)
    ts, name = string.match(v or '', '^%d*\t([^\t]*)\t(.*)$')
    ts, name = ts or ARGV[7], name or ARGV[5]
  else
    redis.call('ZADD', cv, seq, peer)
    redis.call('ZADD', P .. 'cvt', seq, reader .. '\t' .. peer)
  end
  redis.call('HSET', ci, peer, unread .. '\t' .. ts .. '\t' .. name)
  keep(reader, {cv, ci, tl})
  return 1

elseif op == 'conversations' then
  -- ARGV: reader limit retain. The reader's conversations whose last message is in the
  -- window, most recent first: peer, last, "unread\tts\tname" for each.
  local reader = ARGV[3]
  local got = redis.call('ZREVRANGEBYSCORE', P .. 'cv:' .. reader, '+inf',
                         '(' .. digits(talk_cutoff(tonumber(ARGV[5]))), 'WITHSCORES',
                         'LIMIT', 0, tonumber(ARGV[4]))
  local out = {}
  for i = 1, #got, 2 do
    out[#out + 1] = got[i]
    out[#out + 1] = got[i + 1]
    out[#out + 1] = redis.call('HGET', P .. 'ci:' .. reader, got[i]) or '0\t0\t'
  end
  return out

elseif op == 'talk' then
  -- ARGV: reader peer limit after before forwards retain. A page of one conversation:
  -- its messages numbered between after and before (exclusive; never out of the window),
  -- the oldest `limit` reading forwards, else the newest. Returns whether there are more,
  -- then the dlog entries, in the order read.
  local reader, peer, limit = ARGV[3], ARGV[4], tonumber(ARGV[5])
  local low = math.max(tonumber(ARGV[6]), talk_cutoff(tonumber(ARGV[9])), 0)
  local high = tonumber(ARGV[7])
  if high - low <= 1 then return {0} end
  local key, from, to = P .. 'tl:' .. reader, '(' .. peer .. '\t' .. pad(low),
                        '(' .. peer .. '\t' .. pad(high)
  local got
  if ARGV[8] == '1' then
    got = redis.call('ZRANGEBYLEX', key, from, to, 'LIMIT', 0, limit + 1)
  else
    got = redis.call('ZREVRANGEBYLEX', key, to, from, 'LIMIT', 0, limit + 1)
  end
  local out = {#got > limit and 1 or 0}
  for i = 1, math.min(#got, limit) do
    local id = digits(tonumber(string.sub(got[i], #peer + 2))) .. '-0'
    local entry = redis.call('XRANGE', P .. 'dlog', id, id)
    if entry[1] then out[#out + 1] = entry[1] end
  end
  return out

elseif op == 'reseed' then
  -- ARGV: epoch known_seq known_head gap. After Redis lost its data, go on
  -- from past what this broker knew, in the same epoch.
  redis.call('SET', P .. 'epoch', ARGV[3], 'NX')
  local known = tonumber(ARGV[4])
  -- Missing, or older than what a broker has seen (a stale snapshot, a lagging replica).
  if known > 0 and tonumber(redis.call('GET', P .. 'seq') or '0') < known then
    redis.call('SET', P .. 'seq', known + tonumber(ARGV[6]))
    redis.call('SET', P .. 'head', ARGV[5])
    redis.call('SET', P .. 'pruned', known)
    redis.call('SET', P .. 'pruned_n', known)
  end
  return redis.call('GET', P .. 'epoch')
end
return redis.error_reply('unknown operation ' .. tostring(op))
"""
SCRIPT = (_LUA.replace("@EVENT_FIELDS@", str(EVENT_FIELDS))
          .replace("@PARTED@", PARTED_DEFAULT)  # (among rm:<stream>: no LEFT in the default room)
          .replace("@TOKEN_TTL@", str(TOKEN_TTL))
          .replace("@CID_MOST@", str(CID_MOST))
          .replace("@ROOM_SLACK@", str(ROOM_SLACK))
          .replace("@ROOM_TRIMS@", str(ROOM_TRIMS))
          .replace("@TALK_TRIMS@", str(TALK_TRIMS))
          .replace("@MARKS_MOST@", str(MARKS_MOST))
          .replace("@SEQ_DIGITS@", str(SEQ_DIGITS)))
_json = msgspec.json.Encoder()


def batch_args(events: list[StoredEvent], from_keys: list[str], to_keys: list[str]
               ) -> bytes:
    """The events of a `batch` call: one JSON array of strings, EVENT_FIELDS an event
    (one argument, encoded in C, rather than 13 an event that redis-py packs one by one).

    Numbers go as decimal strings, as Redis gives every argument to the script: cids
    go past what a Lua number holds exactly. The last, ``forget``, is the cid that
    leaves the session's duplicate window ("0": none), computed here."""
    fields: list[str] = []
    for event, from_nk, to_nk in zip(events, from_keys, to_keys, strict=True):
        cid = event.cid
        fields += [event.kind, repr(event.ts), event.name, event.text, event.to, event.reason,
                   event.origin, str(cid), event.to_key, from_nk, to_nk,
                   str(cid - CID_WINDOW) if cid > CID_WINDOW else "0", event.room]
    return _json.encode(fields)


#: A stream entry as redis-py returns it: (id, fields).
Entry = tuple[bytes, dict[bytes, bytes]]


def entry_event(entry_id: bytes, fields: dict[bytes, bytes]) -> StoredEvent:
    """A log, private-stream or inbox entry as the event it records.

    Log, private-stream and room-stream entries are keyed by sequence number
    (``seq-0``); inbox and room-log entries carry it in ``s`` (a topic change on the
    room log: ``s`` 0, kind TOPIC)."""
    # (Every broker reads every event of the log: the fields are read inline, not
    # through _text and _int, eleven calls an event.)
    get = fields.get
    seq = get(b"s")
    kind, name, text, to, reason, origin, to_key, room, ts, cid, prev, prev_to = (
        get(b"k"), get(b"n"), get(b"x"), get(b"to"), get(b"r"), get(b"o"), get(b"tk"),
        get(b"rm"), get(b"ts"), get(b"c"), get(b"p"), get(b"pt"))
    return StoredEvent(
        int(seq) if seq is not None else int(entry_id.split(b"-", 1)[0]),
        kind.decode("utf-8", "replace") if kind else "", float(ts) if ts else 0.0,
        name.decode("utf-8", "replace") if name else "",
        text.decode("utf-8", "replace") if text else "",
        to.decode("utf-8", "replace") if to else "",
        reason.decode("utf-8", "replace") if reason else "",
        origin.decode("utf-8", "replace") if origin else "",
        int(cid) if cid else 0, int(prev) if prev else 0,
        to_key.decode("utf-8", "replace") if to_key else "",
        int(prev_to) if prev_to else 0,
        room.decode("utf-8", "replace") if room else "")
