"""The cluster's keys in Redis, the Lua script that changes them atomically,
and the decoding of stream entries. No I/O here.

Every change that must be atomic across brokers runs inside one script call:
numbering an event and appending it to the log (so the log's order is the
sequence order), taking or giving up a name, and announcing a dead broker's
users as gone. docs/CLUSTER.md describes each key.
"""

from .store import StoredEvent

#: Default key prefix; every key the cluster uses starts with it.
PREFIX = "zchat:"
#: Public events kept in the shared log (XTRIM MAXLEN ~).
LOG_RETAIN = 100_000
#: Events kept per private stream, and how long an idle one lives (seconds).
PRIV_RETAIN = 1000
PRIV_TTL = 7 * 24 * 3600
#: Transport only: entries kept in a broker's inbox.
INBOX_RETAIN = 10_000
#: How long a (session, cid) pair is remembered for duplicate checks (seconds).
CID_TTL = 24 * 3600
#: After Redis lost its data, numbering restarts this far past the last number a
#: broker knew, so no number a client has seen is given out again.
RESEED_GAP = 100_000

SCRIPT = r"""
local op, P = ARGV[1], ARGV[2]

local function holder(nk)
  local v = redis.call('HGET', P .. 'names', nk)
  if not v then return nil end
  local b, s, u, n = string.match(v, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
  return {b = b, s = s, u = u, n = n}
end

local function remember(origin, cid, seq, prev, kind)
  local key = P .. 'c:' .. origin
  redis.call('HSET', key, cid, seq .. ' ' .. prev .. ' ' .. kind)
  redis.call('EXPIRE', key, tonumber(ARGV[#ARGV]))
end

local function trim(retain)
  local n = redis.call('XTRIM', P .. 'log', 'MAXLEN', '~', retain)
  if n > 0 then
    local first = redis.call('XRANGE', P .. 'log', '-', '+', 'COUNT', 1)
    if first[1] then
      local s = tonumber(string.match(first[1][1], '^(%d+)'))
      redis.call('SET', P .. 'pruned', s - 1)
    end
    redis.call('INCRBY', P .. 'pruned_n', n)
  end
end

-- One public event (MSG, JOINED, LEFT): numbered, linked, logged.
local function publish(kind, ts, name, text, reason, origin, cid, retain)
  local seq = redis.call('INCR', P .. 'seq')
  local prev = tonumber(redis.call('GET', P .. 'head') or '0')
  redis.call('SET', P .. 'head', seq)
  redis.call('XADD', P .. 'log', seq .. '-0', 'k', kind, 'ts', ts, 'n', name, 'x', text,
             'r', reason, 'o', origin, 'c', cid, 'p', prev)
  if cid ~= '0' then remember(origin, cid, seq, prev, kind) end
  if seq % 100 == 0 then trim(retain) end
  return {seq, prev}
end

if op == 'pub' then
  -- ARGV: kind ts name text reason origin cid retain cid_ttl
  return publish(ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9],
                 tonumber(ARGV[10]))

elseif op == 'tell' then
  -- ARGV: ts from to text origin to_key cid from_nk to_nk priv_retain priv_ttl inbox_retain
  --       cid_ttl
  local ts, from, to, text, origin, to_key, cid = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
    ARGV[8], ARGV[9]
  local retain, ttl, inbox = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
  local seq = redis.call('INCR', P .. 'seq')
  local pf = tonumber(redis.call('GET', P .. 'ph:' .. origin) or '0')
  local pt = tonumber(redis.call('GET', P .. 'ph:' .. to_key) or '0')
  redis.call('SET', P .. 'ph:' .. origin, seq, 'EX', ttl)
  redis.call('SET', P .. 'ph:' .. to_key, seq, 'EX', ttl)
  local fields = {'k', 'PRIV', 'ts', ts, 'n', from, 'x', text, 'to', to, 'o', origin,
                  'c', cid, 'p', pf, 'tk', to_key, 'pt', pt}
  for _, key in ipairs(origin == to_key and {origin} or {origin, to_key}) do
    redis.call('XADD', P .. 'p:' .. key, 'MAXLEN', '~', retain, seq .. '-0', unpack(fields))
    redis.call('EXPIRE', P .. 'p:' .. key, ttl)
  end
  -- Delivered by the broker holding each reader, not broadcast to all.
  local readers = {{ARGV[11], to_key}}
  if to_key ~= origin then readers[2] = {ARGV[10], origin} end
  for _, r in ipairs(readers) do
    local h = holder(r[1])
    if h and h.s == r[2] then
      redis.call('XADD', P .. 'i:' .. h.b, 'MAXLEN', '~', inbox, '*', 'f', r[2], 's', seq,
                 unpack(fields))
    end
  end
  if cid ~= '0' then remember(origin, cid, seq, pf, 'PRIV') end
  return {seq, pf, pt}

elseif op == 'hold' then
  -- ARGV: name_key broker stream user display
  local nk, me, stream, user = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local h = holder(nk)
  local status = 'claimed'
  if h then
    if h.s ~= stream or h.u ~= user then return 'taken' end
    if h.b ~= me then redis.call('SREM', P .. 'm:' .. h.b, nk) end
    status = 'resumed'
  end
  redis.call('HSET', P .. 'names', nk, me .. '\t' .. stream .. '\t' .. user .. '\t' .. ARGV[7])
  redis.call('SADD', P .. 'm:' .. me, nk)
  return status

elseif op == 'release' then
  -- ARGV: name_key broker stream
  local h = holder(ARGV[3])
  if h and h.b == ARGV[4] and h.s == ARGV[5] then
    redis.call('HDEL', P .. 'names', ARGV[3])
    redis.call('SREM', P .. 'm:' .. ARGV[4], ARGV[3])
    return 1
  end
  return 0

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
          publish('LEFT', ts, h.n, '', 'lost', '', '0', retain)
          gone = gone + 1
        end
      end
      redis.call('DEL', P .. 'm:' .. b, P .. 'i:' .. b)
      redis.call('SREM', P .. 'brokers', b)
    end
  end
  return gone

elseif op == 'reseed' then
  -- ARGV: epoch known_seq known_head gap. After Redis lost its data, go on
  -- from past what this broker knew, in the same epoch.
  redis.call('SET', P .. 'epoch', ARGV[3], 'NX')
  local known = tonumber(ARGV[4])
  if known > 0 and redis.call('EXISTS', P .. 'seq') == 0 then
    redis.call('SET', P .. 'seq', known + tonumber(ARGV[6]))
    redis.call('SET', P .. 'head', ARGV[5])
    redis.call('SET', P .. 'pruned', known)
    redis.call('SET', P .. 'pruned_n', known)
  end
  return redis.call('GET', P .. 'epoch')
end
return redis.error_reply('unknown operation ' .. tostring(op))
"""


def _text(fields: dict[bytes, bytes], key: bytes) -> str:
    raw = fields.get(key)
    return raw.decode("utf-8", "replace") if raw else ""


def _int(fields: dict[bytes, bytes], key: bytes) -> int:
    raw = fields.get(key)
    return int(raw) if raw else 0


def entry_event(entry_id: bytes, fields: dict[bytes, bytes]) -> StoredEvent:
    """A log, private-stream or inbox entry as the event it records.

    Log and private-stream entries are keyed by sequence number (``seq-0``);
    inbox entries carry it in ``s``."""
    seq = _int(fields, b"s") or int(entry_id.split(b"-", 1)[0])
    return StoredEvent(seq, _text(fields, b"k"), float(fields.get(b"ts") or 0),
                       _text(fields, b"n"), _text(fields, b"x"), _text(fields, b"to"),
                       _text(fields, b"r"), _text(fields, b"o"), _int(fields, b"c"),
                       _int(fields, b"p"), _text(fields, b"tk"), _int(fields, b"pt"))
