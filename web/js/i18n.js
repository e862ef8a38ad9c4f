// Every line the page shows its user, in English and Portuguese. Pure. The wording is
// client/texts.py's (the terminal client), plus the page's own (`ui.`). Keys: `client.`
// the client's lines, `reason.` why someone left, `error.` and `notice.` the broker's
// ERROR and NOTICE codes in our words, `ui.` the page's labels.

export const EN = {
  "reason.quit": "left",
  "reason.timeout": "timed out",
  "reason.lost": "connection lost",
  "reason.slow": "too slow to keep up",
  "reason.shutdown": "broker shutting down",
  "reason.flood": "disconnected for flooding",
  "reason.part": "left the room",
  "reason.kicked": "kicked by an operator",
  "reason.banned": "banned by an operator",
  "client.kicked": "an operator removed you from the chat",
  "client.banned": "an operator banned you from the chat",
  "client.welcome": "Welcome to zchat, {name}! Type /help for commands.",
  "client.rejoined": "Reconnected as {name}.",
  "client.online": "Online: {names}",
  "client.online_none": "Nobody else is online yet.",
  "client.and_more": " and {count} more (/who lists everyone)",
  "client.joined": "{name} joined the chat",
  "client.left": "{name} left the chat ({reason})",
  "client.who": "Online ({count}): {names}",
  "client.lost": "Connection to the broker lost; reconnecting...",
  "client.broker_gone": "The broker is shutting down; reconnecting when it is back...",
  "client.not_connected": "Not connected: message not sent.",
  "client.too_long": "Message too long ({length} characters, at most {limit}).",
  "client.bye": "Bye!",
  "client.tag_missed": "(missed)",
  "client.tag_history": "(history)",
  "client.queued": "Not connected: your messages are kept and sent when the broker is back.",
  "client.outbox_full": "Too many messages waiting for the broker: message not sent.",
  "client.lost_events": "History no longer holds everything you missed: up to {count} earlier event(s) are lost.",
  "client.history_reset": "The broker's history was reset: messages sent meanwhile may be missing.",
  "client.help": "Commands:\n"
    + "  text             send a message to the current room\n"
    + "  @name text       send a private message to name (or /msg name text)\n"
    + "  /join #room      enter a room (created if needed) and talk there\n"
    + "  /part [#room]    leave the current room, or the one named\n"
    + "  /msg #room text  send a message to another room you are in\n"
    + "  /rooms           list the rooms\n"
    + "  /topic text      set the current room's topic\n"
    + "  /who [#room|*]   list the room's members (*: everyone online)\n"
    + "  /help            show this help\n"
    + "  sair or /quit    leave",
  "client.no_rooms": "This broker has no rooms.",
  "client.usage_join": "Usage: /join #room",
  "client.usage_msg": "Usage: /msg #room text, or /msg name text",
  "client.usage_topic": "Usage: /topic text",
  "client.joined_room": "{name} joined {room}",
  "client.left_room": "{name} left {room}",
  "client.entered": "You are in {room}.",
  "client.switched": "Now talking in {room}.",
  "client.parted": "You left {room}.",
  "client.room_topic": "Topic of {room}: {topic}",
  "client.room_members": "In {room} ({count}): {names}",
  "client.room_alone": "Nobody else is in {room}.",
  "client.topic_set": "{name} set the topic of {room}: {topic}",
  "client.topic_cleared": "{name} cleared the topic of {room}",
  "client.rooms": "Rooms ({count}):",
  "client.rooms_none": "There are no rooms.",
  "client.room_line": "{room}: {count} member(s){topic}",
  "client.unknown_command": "Unknown command {command}; type /help.",
  "client.flooded": "the broker disconnected us for sending too fast",
  "client.private": "private",
  "client.private_to": "→ {name}",
  "error.BAD_SIGNATURE": "the broker did not understand us (not a ZCHAT frame)",
  "error.VERSION": "protocol version mismatch: the broker speaks ZCHAT/{ref}",
  "error.BAD_FRAME": "the broker refused a malformed frame: {detail}",
  "error.UNKNOWN_COMMAND": "the broker does not know the command {ref}",
  "error.NOT_JOINED": "not joined yet",
  "error.ALREADY_JOINED": "already joined",
  "error.BAD_NAME": "invalid name {ref}: {detail}",
  "error.NAME_TAKEN": "the name {ref} is already taken by someone online",
  "error.BAD_PRIVATE": "malformed private message; use: @name message",
  "error.NO_SUCH_USER": "nobody named {ref} is online",
  "error.EMPTY": "empty message not sent",
  "error.TOO_LONG": "message too long (at most {ref} characters)",
  "error.RATE_LIMITED": "you are sending too fast: message not sent",
  "error.FULL": "the broker is full (at most {ref} users)",
  "error.NAME_OWNED": "the name {ref} belongs to another key",
  "error.BANNED": "you are banned from this chat",
  "error.UNREACHABLE": "private message to {ref} not sent: {ref} is on another broker and the link to the other brokers is down",
  "error.UNAVAILABLE": "this broker cannot do that while its link to the other brokers is down; try again later",
  "error.BAD_ROOM": "invalid room name {ref}: {detail}",
  "error.NOT_IN_ROOM": "you are not in {ref}: /join {ref} first",
  "error.TOO_MANY_ROOMS": "you are in too many rooms (at most {ref}): /part one first",
  "error.ROOMS_FULL": "the broker holds too many rooms (at most {ref})",
  "error.NO_ROOM": "you are in no room: /join #room to join one",
  "error.NOT_OPERATOR": "only operators can do that",
  "error.MUTED": "you are muted in {ref}",
  "error.SLOW_MODE": "slow mode: wait {ref} s before your next message here",
  "error.TOPIC_LOCKED": "the topic of {ref} is locked: only operators can change it",
  "error.unknown": "error {code}: {detail}",
  "notice.CLUSTER_DOWN": "The link to the other brokers is down: you can chat with users of this broker only; these messages are not kept in history.",
  "notice.CLUSTER_UP": "The link to the other brokers is back.",
  "ui.title": "zchat",
  "ui.join_heading": "Join the chat",
  "ui.join_name": "Your name",
  "ui.join_button": "Join",
  "ui.send": "Send",
  "ui.input_placeholder": "Message, @name for a private one, /help for commands",
  "ui.rooms": "Rooms",
  "ui.rooms_toggle": "Rooms",
  "ui.leave": "Leave",
  "ui.state_connecting": "connecting",
  "ui.state_online": "online",
  "ui.state_reconnecting": "reconnecting",
  "ui.state_stopped": "stopped",
  "ui.pending": "sending",
  "ui.failed": "not sent",
  "ui.unread": "{count} unread",
  "ui.no_websocket": "This browser cannot open a WebSocket.",
  "ui.stopped": "Disconnected: {why}",
};

export const PT = {
  "reason.quit": "saiu",
  "reason.timeout": "tempo esgotado",
  "reason.lost": "conexão perdida",
  "reason.slow": "lento demais para acompanhar",
  "reason.shutdown": "broker encerrando",
  "reason.flood": "desconectado por inundar o chat",
  "reason.part": "saiu da sala",
  "reason.kicked": "removido(a) por um operador",
  "reason.banned": "banido(a) por um operador",
  "client.kicked": "um operador tirou você do chat",
  "client.banned": "um operador baniu você do chat",
  "client.welcome": "Bem-vindo(a) ao zchat, {name}! Digite /help para ver os comandos.",
  "client.rejoined": "Reconectado(a) como {name}.",
  "client.online": "Online: {names}",
  "client.online_none": "Ninguém mais está online ainda.",
  "client.and_more": " e mais {count} (/who lista todos)",
  "client.joined": "{name} entrou no chat",
  "client.left": "{name} saiu do chat ({reason})",
  "client.who": "Online ({count}): {names}",
  "client.lost": "Conexão com o broker perdida; reconectando...",
  "client.broker_gone": "O broker está encerrando; reconectando quando ele voltar...",
  "client.not_connected": "Sem conexão: mensagem não enviada.",
  "client.too_long": "Mensagem longa demais ({length} caracteres, no máximo {limit}).",
  "client.bye": "Até logo!",
  "client.tag_missed": "(perdida)",
  "client.tag_history": "(histórico)",
  "client.queued": "Sem conexão: suas mensagens ficam guardadas e serão enviadas quando o broker voltar.",
  "client.outbox_full": "Mensagens demais esperando o broker: mensagem não enviada.",
  "client.lost_events": "O histórico não guarda mais tudo o que você perdeu: até {count} evento(s) anteriores se perderam.",
  "client.history_reset": "O histórico do broker foi reiniciado: mensagens enviadas nesse meio-tempo podem estar faltando.",
  "client.help": "Comandos:\n"
    + "  texto            envia uma mensagem para a sala atual\n"
    + "  @nome texto      envia uma mensagem privada para nome (ou /msg nome texto)\n"
    + "  /join #sala      entra numa sala (criada se preciso) e fala nela\n"
    + "  /part [#sala]    sai da sala atual, ou da sala indicada\n"
    + "  /msg #sala texto envia uma mensagem para outra sala em que você está\n"
    + "  /rooms           lista as salas\n"
    + "  /topic texto     define o tópico da sala atual\n"
    + "  /who [#sala|*]   lista quem está na sala (*: todos online)\n"
    + "  /help            mostra esta ajuda\n"
    + "  sair ou /quit    sai do chat",
  "client.no_rooms": "Este broker não tem salas.",
  "client.usage_join": "Uso: /join #sala",
  "client.usage_msg": "Uso: /msg #sala texto, ou /msg nome texto",
  "client.usage_topic": "Uso: /topic texto",
  "client.joined_room": "{name} entrou em {room}",
  "client.left_room": "{name} saiu de {room}",
  "client.entered": "Você está em {room}.",
  "client.switched": "Agora falando em {room}.",
  "client.parted": "Você saiu de {room}.",
  "client.room_topic": "Tópico de {room}: {topic}",
  "client.room_members": "Em {room} ({count}): {names}",
  "client.room_alone": "Ninguém mais está em {room}.",
  "client.topic_set": "{name} definiu o tópico de {room}: {topic}",
  "client.topic_cleared": "{name} apagou o tópico de {room}",
  "client.rooms": "Salas ({count}):",
  "client.rooms_none": "Não há salas.",
  "client.room_line": "{room}: {count} membro(s){topic}",
  "client.unknown_command": "Comando desconhecido {command}; digite /help.",
  "client.flooded": "o broker nos desconectou por enviar rápido demais",
  "client.private": "privado",
  "client.private_to": "→ {name}",
  "error.BAD_SIGNATURE": "o broker não nos entendeu (não é um quadro ZCHAT)",
  "error.VERSION": "versão de protocolo incompatível: o broker fala ZCHAT/{ref}",
  "error.BAD_FRAME": "o broker recusou um quadro malformado: {detail}",
  "error.UNKNOWN_COMMAND": "o broker não conhece o comando {ref}",
  "error.NOT_JOINED": "ainda não entrou no chat",
  "error.ALREADY_JOINED": "já está no chat",
  "error.BAD_NAME": "nome inválido {ref}: {detail}",
  "error.NAME_TAKEN": "o nome {ref} já está em uso por alguém online",
  "error.BAD_PRIVATE": "mensagem privada malformada; use: @nome mensagem",
  "error.NO_SUCH_USER": "ninguém chamado {ref} está online",
  "error.EMPTY": "mensagem vazia não enviada",
  "error.TOO_LONG": "mensagem longa demais (no máximo {ref} caracteres)",
  "error.RATE_LIMITED": "você está enviando rápido demais: mensagem não enviada",
  "error.FULL": "o broker está cheio (no máximo {ref} usuários)",
  "error.NAME_OWNED": "o nome {ref} pertence a outra chave",
  "error.BANNED": "você está banido(a) deste chat",
  "error.UNREACHABLE": "mensagem privada para {ref} não enviada: {ref} está em outro broker e a ligação com os outros brokers caiu",
  "error.UNAVAILABLE": "este broker não pode fazer isso enquanto a ligação com os outros brokers estiver caída; tente de novo mais tarde",
  "error.BAD_ROOM": "nome de sala inválido {ref}: {detail}",
  "error.NOT_IN_ROOM": "você não está em {ref}: /join {ref} antes",
  "error.TOO_MANY_ROOMS": "você está em salas demais (no máximo {ref}): /part uma antes",
  "error.ROOMS_FULL": "o broker tem salas demais (no máximo {ref})",
  "error.NO_ROOM": "você não está em nenhuma sala: /join #sala para entrar numa",
  "error.NOT_OPERATOR": "só operadores podem fazer isso",
  "error.MUTED": "você está silenciado(a) em {ref}",
  "error.SLOW_MODE": "modo lento: espere {ref} s antes da próxima mensagem aqui",
  "error.TOPIC_LOCKED": "o tópico de {ref} está travado: só operadores podem mudá-lo",
  "error.unknown": "erro {code}: {detail}",
  "notice.CLUSTER_DOWN": "A ligação com os outros brokers caiu: você só pode conversar com quem está neste broker; estas mensagens não ficam no histórico.",
  "notice.CLUSTER_UP": "A ligação com os outros brokers voltou.",
  "ui.title": "zchat",
  "ui.join_heading": "Entrar no chat",
  "ui.join_name": "Seu nome",
  "ui.join_button": "Entrar",
  "ui.send": "Enviar",
  "ui.input_placeholder": "Mensagem, @nome para uma privada, /ajuda para os comandos",
  "ui.rooms": "Salas",
  "ui.rooms_toggle": "Salas",
  "ui.leave": "Sair",
  "ui.state_connecting": "conectando",
  "ui.state_online": "online",
  "ui.state_reconnecting": "reconectando",
  "ui.state_stopped": "parado",
  "ui.pending": "enviando",
  "ui.failed": "não enviada",
  "ui.unread": "{count} não lidas",
  "ui.no_websocket": "Este navegador não abre WebSockets.",
  "ui.stopped": "Desconectado(a): {why}",
};

export const TEXTS = { en: EN, pt: PT };

/** "pt" for a Portuguese browser (pt, pt-BR, pt-PT...), else "en". */
export function pickLanguage(tag) {
  return typeof tag === "string" && tag.toLowerCase().startsWith("pt") ? "pt" : "en";
}

/** A lookup in one language: t(key, {field: value}). An unknown key throws (callers that
 * meet codes from the network check has() first). */
export function catalogue(lang) {
  const texts = TEXTS[lang] || EN;
  const t = (key, fields = {}) => {
    const text = texts[key];
    if (text === undefined) throw new Error(`no text ${key}`);
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in fields ? String(fields[name]) : whole));
  };
  t.has = (key) => key in texts;
  t.lang = lang in TEXTS ? lang : "en";
  return t;
}
