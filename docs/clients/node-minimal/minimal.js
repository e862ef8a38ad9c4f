#!/usr/bin/env node
// Minimal ZCHAT/1 client, written from docs/PROTOCOL.md ("Conformance": a minimal client).
// Usage: node minimal.js NAME tcp://HOST:PORT     (lines from stdin; "sair" or EOF leaves)
//   @name text  -> private message (TELL); /who -> WHO; anything else -> SAY
// Env: ZCHAT_NOCHECK=1 sends texts without the local blank/length check (to see the broker's ERROR).
//      ZCHAT_DEBUG=1 prints every frame in and out on stderr.
'use strict';
const zmq = require('zeromq');
const crypto = require('crypto');
const readline = require('readline');

const [, , NAME, ENDPOINT] = process.argv;
if (!NAME || !ENDPOINT) {
  console.error('usage: node minimal.js NAME tcp://HOST:PORT');
  process.exit(2);
}
const DEBUG = !!process.env.ZCHAT_DEBUG;
const NOCHECK = !!process.env.ZCHAT_NOCHECK;

const SIG = 'ZCHAT/1';
const LIVENESS = 3;
const JOIN_TIMEOUT_MS = 3000;               // Conformance 2: no answer within 3 s
const MAX_FRAME = 16384;
const MAX_TEXT = 2000;
const FATAL = new Set(['VERSION', 'BAD_NAME', 'NAME_TAKEN', 'NAME_OWNED', 'FULL']);
// Unicode White_Space, exactly the 25 code points of the page.
const WS = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);

// ---- state ----
const token = crypto.randomBytes(16).toString('hex'); // 32 lower-case hex digits
let session = token;          // WELCOME's `session` (use it if it differs)
let cid = 0;
let H = 1.0;                  // heartbeat interval (s), from WELCOME
let state = 'joining';        // joining | joined | leaving | stopped
let gen = 0;                  // socket generation
let dealer = null, sub = null;
let lastSent = 0, lastRecv = 0, joinSentAt = 0;
let myName = NAME;            // WELCOME's spelling
let pubSeen = 0;              // highest public seq shown (only to drop duplicates / own JOINED)
let sendChain = Promise.resolve();
let pendingOut = [];          // user lines waiting for WELCOME or for the pacing buckets
let msgBucket = null, byteBucket = null;
let byeResolve = null;

// ---- output, escaped (Security: no raw C0/DEL/C1, bidi controls, U+2028/2029) ----
function esc(s) {
  s = String(s);
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) ||
             (c >= 0x2066 && c <= 0x2069) || c === 0x2028 || c === 0x2029)
      out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out;
}
function show(line) { process.stdout.write(line + '\n'); }
function note(line) { show('*** ' + line); }
function dbg(dir, buf) { if (DEBUG) process.stderr.write(`${dir} ${esc(buf.toString('utf8'))}\n`); }

// ---- codec ----
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
function encode(cmd, body) {
  return Buffer.from(body === undefined ? `${SIG} ${cmd}` : `${SIG} ${cmd} ${JSON.stringify(body)}`, 'utf8');
}
function hasLoneSurrogate(v) {
  if (typeof v === 'string') return LONE_SURROGATE.test(v);
  if (Array.isArray(v)) return v.some(hasLoneSurrogate);
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => LONE_SURROGATE.test(k) || hasLoneSurrogate(x));
  return false;
}
function decode(buf) {
  if (buf.length < 9 || buf.subarray(0, 8).toString('latin1') !== SIG + ' ') return null;
  let s;
  try { s = utf8.decode(buf); } catch { return null; }
  const rest = s.slice(8);
  const sp = rest.indexOf(' ');
  const cmd = sp < 0 ? rest : rest.slice(0, sp);
  if (!/^[A-Z]{1,16}$/.test(cmd)) return null;
  let body = {};
  if (sp >= 0) {
    try { body = JSON.parse(rest.slice(sp + 1)); } catch { return null; }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
    if (hasLoneSurrogate(body)) return null;
  }
  return { cmd, body };
}
const isStr = (v) => typeof v === 'string';
const isInt = (v) => Number.isInteger(v) && v >= 0;
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const seqOf = (v) => (v === undefined ? 0 : v); // page: an absent seq/prev MAY be read as 0
function validEvent(type, e) {
  if (!e || typeof e !== 'object') return false;
  const ok = { seq: seqOf(e.seq), prev: seqOf(e.prev) };
  if (!isInt(ok.seq) || !isInt(ok.prev) || !isNum(e.ts)) return false;
  switch (type) {
    case 'MSG': return isStr(e.from) && isStr(e.text);
    case 'PRIV': return isStr(e.from) && isStr(e.to) && isStr(e.text);
    case 'JOINED': return isStr(e.name);
    case 'LEFT': return isStr(e.name) && isStr(e.reason);
  }
  return false;
}

// ---- token bucket (Flood control), 90% of the announced rate, burst one smaller ----
class Bucket {
  constructor(rate, cap) { this.r = rate; this.b = cap; this.x = cap; this.s = now(); }
  refill() { const t = now(); if (t > this.s) { this.x = Math.min(this.b, this.x + (t - this.s) * this.r); this.s = t; } }
  wait(n) { this.refill(); const m = Math.min(n, this.b); return this.x >= m ? 0 : (m - this.x) / this.r; }
  take(n) { this.refill(); this.x -= n; }
}
function now() { return performance.now() / 1000; }

// ---- sockets ----
function sendFrame(buf, sock = dealer) {
  if (!sock) return;
  lastSent = Date.now();
  dbg('->', buf);
  // zeromq.js allows one send in flight per socket: chain them.
  sendChain = sendChain.then(() => (sock.closed ? undefined : sock.send(buf))).catch((e) => {
    if (DEBUG) process.stderr.write(`send failed: ${e.message}\n`);
  });
  return sendChain;
}

function closeSockets() {
  gen++;
  for (const s of [dealer, sub]) { if (s && !s.closed) { try { s.linger = 0; s.close(); } catch {} } }
  dealer = null; sub = null;
}

function connect() {
  closeSockets();
  const g = gen;
  dealer = new zmq.Dealer({ linger: 0, maxMessageSize: 4194304, reconnectInterval: 100, reconnectMaxInterval: 1000 });
  dealer.connect(ENDPOINT);
  recvLoop(dealer, g, false);
  state = 'joining';
  joinSentAt = Date.now();
  lastRecv = Date.now();
  sendFrame(encode('JOIN', { name: NAME, token: session }), dealer);
}

async function recvLoop(sock, g, isFeed) {
  try {
    for await (const parts of sock) {
      if (g !== gen) return;
      if (!isFeed) lastRecv = Date.now(); // any DEALER frame counts as a heartbeat; feed frames don't
      if (parts.length !== 1) continue;   // every ZCHAT/1 message is one frame
      dbg(isFeed ? '<feed' : '<-', parts[0]);
      const f = decode(parts[0]);
      if (!f) continue;                   // ignore what we cannot decode
      handle(f, isFeed);
    }
  } catch (e) {
    if (g === gen && DEBUG) process.stderr.write(`recv loop ended: ${e.message}\n`);
  }
}

function openFeed(feeds) {
  // Dialled tcp://HOST:PORT: take tcp://HOST:P, else tcp://*:P with * := HOST; ipc:// -> an ipc:// entry.
  let m = /^tcp:\/\/(.+):(\d+|\*)$/.exec(ENDPOINT);
  let chosen = null;
  if (m) {
    const host = m[1];
    for (const f of feeds) { const n = /^tcp:\/\/(.+):(\d+)$/.exec(f); if (n && n[1] === host) { chosen = f; break; } }
    if (!chosen) for (const f of feeds) { const n = /^tcp:\/\/\*:(\d+)$/.exec(f); if (n) { chosen = `tcp://${host}:${n[1]}`; break; } }
  } else if (ENDPOINT.startsWith('ipc://')) {
    chosen = feeds.find((f) => f.startsWith('ipc://')) || null;
  }
  if (!chosen) { note('pub mode but no feed for this transport: public messages will not be shown live'); return; }
  const g = gen;
  sub = new zmq.Subscriber({ linger: 0, maxMessageSize: 4194304 });
  try {
    sub.connect(chosen);
  } catch (e) { note(`cannot dial feed ${esc(chosen)}: ${esc(e.message)}`); sub.close(); sub = null; return; }
  sub.subscribe('');
  sub.subscribe(`${SIG} FEED ${session}`);
  if (DEBUG) process.stderr.write(`feed: SUB ${chosen}\n`);
  recvLoop(sub, g, true);
}

// ---- frames from the broker ----
function showPublic(type, e, tag) {
  const seq = seqOf(e.seq);
  if (seq > 0 && tag === 'live') {
    if (seq <= pubSeen) return;       // duplicate, or own JOINED (at or below WELCOME pub)
    pubSeen = seq;
  }
  const mark = tag === 'history' ? '[history] ' : tag === 'replay' ? '[missed] ' : '';
  if (type === 'MSG') {
    if (tag === 'live' && e.from === myName) return; // own MSG (pub feed brings it back)
    show(`${mark}<${esc(e.from)}> ${esc(e.text)}`);
  } else if (type === 'JOINED') {
    if (tag === 'live' && e.name === myName) return;
    show(`${mark}--> ${esc(e.name)} joined`);
  } else if (type === 'LEFT') {
    show(`${mark}<-- ${esc(e.name)} left (${esc(e.reason)})`);
  }
}
function showPriv(e, mark = '') {
  show(`${mark}[private] ${esc(e.from)} -> ${esc(e.to)}: ${esc(e.text)}`);
}

function handle({ cmd, body: b }, isFeed) {
  if (isFeed && !['MSG', 'JOINED', 'LEFT', 'EVENTS'].includes(cmd)) return;
  switch (cmd) {
    case 'WELCOME': {
      if (state !== 'joining') return;
      if (!isStr(b.name) || !isStr(b.session) || !isNum(b.heartbeat) || b.heartbeat < 0.05 || b.heartbeat > 3600 ||
          !Array.isArray(b.users) || !isInt(b.pub)) return; // malformed
      H = b.heartbeat;
      if (b.session && b.session !== session) { session = b.session; }
      // adopt the spelling only if it is the same name (case-insensitive approximation of the key)
      if (b.name.normalize('NFKC').toLowerCase() === NAME.normalize('NFKC').toLowerCase()) myName = b.name;
      pubSeen = Math.max(pubSeen, b.pub);
      state = 'joined';
      const rate = isNum(b.rate) ? b.rate : 0, burst = isInt(b.burst) ? b.burst : 0;
      const brate = isNum(b.byte_rate) ? b.byte_rate : 0, bburst = isInt(b.byte_burst) ? b.byte_burst : 0;
      msgBucket = rate > 0 ? new Bucket(rate * 0.9, Math.max(1, burst - 1)) : null;
      byteBucket = brate > 0 ? new Bucket(brate * 0.9, Math.max(1, bburst)) : null;
      const others = b.users.filter(isStr).map(esc);
      note(`${b.resumed ? 'resumed' : 'joined'} as ${esc(b.name)}; online: ${others.length ? others.join(', ') : 'nobody else'}` +
           (isInt(b.online) && b.online > others.length ? ` (+${b.online - others.length} more)` : ''));
      if (b.fanout === 'pub' && Array.isArray(b.feeds)) openFeed(b.feeds.filter(isStr));
      drain();
      return;
    }
    case 'MSG': case 'JOINED': case 'LEFT':
      if (!validEvent(cmd, b)) return;
      showPublic(cmd, b, 'live');
      return;
    case 'PRIV':
      if (!validEvent('PRIV', b)) return;
      showPriv(b);
      return;
    case 'EVENTS': {
      if (!isStr(b.kind) || !Array.isArray(b.events)) return;
      const evs = b.events;
      if (!evs.every((e) => e && ['MSG', 'PRIV', 'JOINED', 'LEFT'].includes(e.type) && validEvent(e.type, e))) return;
      const kind = ['history', 'live', 'replay'].includes(b.kind) ? b.kind : 'live';
      for (const e of evs) {
        if (e.type === 'PRIV') showPriv(e, kind === 'replay' ? '[missed] ' : '');
        else showPublic(e.type, e, kind);
      }
      if (isInt(b.lost) && b.lost > 0) note(`up to ${b.lost} events were lost from history`);
      return;
    }
    case 'ACK': return;                 // stored; nothing to show in a minimal client
    case 'USERS':
      if (Array.isArray(b.names)) note('online: ' + b.names.filter(isStr).map(esc).join(', '));
      return;
    case 'PING': return;                // heartbeat only
    case 'NOTICE':
      if (b.code === 'CLUSTER_DOWN') note('warning: the broker lost its cluster; chat is local only');
      else if (b.code === 'CLUSTER_UP') note('the cluster link is back');
      else if (isStr(b.detail) && b.detail) note(`notice: ${esc(b.detail)}`);
      return;
    case 'BYE':
      if (state === 'leaving') { if (byeResolve) byeResolve(); return; }
      note(`broker says bye (${esc(b.reason)})`);
      if (b.reason === 'shutdown' || b.reason === 'flood') reconnect('');
      return;
    case 'ERROR': {
      const code = isStr(b.code) ? b.code : '?';
      const ref = isStr(b.ref) && b.ref ? ` (${esc(b.ref)})` : '';
      if (state === 'joining' && FATAL.has(code)) {
        note(`cannot join: ${esc(code)}${ref}`);
        stop(1);
        return;
      }
      if (code === 'NOT_JOINED') {
        if (state === 'joined') reconnect('the broker no longer knows us; joining again');
        return;
      }
      if (state === 'joining' && code === 'RATE_LIMITED') return; // JOIN retry handles it
      note(`error: ${esc(code)}${ref}` + (code === 'RATE_LIMITED' && isInt(b.cid) && b.cid > 0 ? ' — message not sent' : ''));
      return;
    }
    default: return;                    // unknown command: ignore (still a heartbeat)
  }
}

function reconnect(why) {
  if (state === 'stopped' || state === 'leaving') return;
  if (why) note(why);
  connect();
}

// ---- user input ----
function isBlank(t) { for (const ch of t) if (!WS.has(ch.codePointAt(0))) return false; return true; }
function cpLen(t) { let n = 0; for (const _ of t) n++; return n; }

function userLine(line) {
  if (state === 'stopped' || state === 'leaving') return;
  if (line === 'sair' || line === '/quit') { leave(); return; }
  if (line === '/who') { pendingOut.push({ who: true }); drain(); return; }
  let to = null, text = line;
  if (line.startsWith('@')) {
    const m = /^@(\S+)(?:\s+([\s\S]*))?$/.exec(line);
    if (!m) { note('usage: @name message'); return; }
    to = m[1]; text = m[2] || '';
    const n = cpLen(to);
    if (!NOCHECK && (n < 1 || n > 32 || to.startsWith('@') || to.startsWith('/'))) { note('error: bad name ' + esc(to)); return; }
  }
  if (!NOCHECK) {
    if (isBlank(text)) { if (to !== null) note('error: empty private message (usage: @name message)'); else if (text.length) note('error: empty message'); return; }
    if (cpLen(text) > MAX_TEXT) { note(`error: message over ${MAX_TEXT} characters, not sent`); return; }
  }
  cid++;
  const frame = to === null ? encode('SAY', { text, cid }) : encode('TELL', { to, text, cid });
  if (!NOCHECK && frame.length > MAX_FRAME) { cid--; note('error: message too big, not sent'); return; }
  pendingOut.push({ frame, octets: Buffer.byteLength(text, 'utf8') });
  drain();
}

let drainTimer = null;
function drain() {
  if (drainTimer) { clearTimeout(drainTimer); drainTimer = null; }
  while (state === 'joined' && pendingOut.length) {
    const m = pendingOut[0];
    if (m.who) { pendingOut.shift(); sendFrame(encode('WHO')); continue; }
    const w = Math.max(msgBucket ? msgBucket.wait(1) : 0, byteBucket ? byteBucket.wait(m.octets) : 0);
    if (w > 0) { drainTimer = setTimeout(drain, Math.ceil(w * 1000) + 1); return; }
    if (msgBucket) msgBucket.take(1);
    if (byteBucket) byteBucket.take(m.octets);
    pendingOut.shift();
    sendFrame(m.frame);
  }
  if (leaveWanted && state === 'joined' && !pendingOut.length) leave();
}

// ---- heartbeat / liveness / JOIN retry ----
function tick() {
  const t = Date.now();
  if (state === 'joining') {
    if (t - joinSentAt >= JOIN_TIMEOUT_MS) connect();   // new socket, same token
  } else if (state === 'joined') {
    if (t - lastRecv >= LIVENESS * H * 1000) { reconnect('the broker is not answering; reconnecting'); return; }
    if (t - lastSent >= H * 1000) sendFrame(encode('PING'));
  }
}
let tickTimer = null;
function schedule() {
  // tick at a quarter interval (re-armed, since H is learnt from WELCOME)
  tickTimer = setTimeout(() => { tick(); if (state !== 'stopped') schedule(); }, Math.max(10, Math.min(250, (H * 1000) / 4)));
}

// ---- leaving ----
let leaveWanted = false;
async function leave() {
  if (state === 'leaving' || state === 'stopped') return;
  // EOF can come before WELCOME, or while paced lines still wait: leave once they are out.
  if (state === 'joining' || pendingOut.length) { leaveWanted = true; return; }
  const wasJoined = state === 'joined';
  state = 'leaving';
  if (dealer) {
    dealer.linger = 1000;
    sendFrame(encode('LEAVE'));
    if (wasJoined) {
      await new Promise((res) => { byeResolve = res; setTimeout(res, 1000); });
    }
  }
  stop(0);
}
function stop(code) {
  state = 'stopped';
  if (tickTimer) clearTimeout(tickTimer);
  if (drainTimer) clearTimeout(drainTimer);
  gen++;
  for (const s of [dealer, sub]) { if (s && !s.closed) { try { s.close(); } catch {} } }
  setTimeout(() => process.exit(code), 50);
}

// ---- main ----
const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (l) => userLine(l.replace(/\r$/, '')));
rl.on('close', () => leave());
process.on('SIGINT', () => leave());
connect();
schedule();
