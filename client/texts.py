"""Every line the client shows its user, in English and Portuguese.

The client's side of the catalogues (the broker keeps its own, broker/texts.py;
the lookup and the choice of language are common/i18n.py). Keys are grouped by
prefix: `client.` for the client's own lines, `reason.` for why someone left,
`error.` and `notice.` for the broker's ERROR and NOTICE codes, in our words.
"""

from zchat.common.i18n import Catalogue, Texts

EN: Texts = {
    # why someone left (LEFT.reason)
    "reason.quit": "left",
    "reason.timeout": "timed out",
    "reason.lost": "connection lost",
    "reason.slow": "too slow to keep up",
    "reason.shutdown": "broker shutting down",
    "reason.flood": "disconnected for flooding",
    "reason.part": "left the room",
    "reason.kicked": "kicked by an operator",
    "reason.banned": "banned by an operator",
    "error.NOT_OPERATOR": "only operators can do that",
    "error.BANNED": "you are banned from this chat",
    "error.MUTED": "you are muted in {ref}",
    "error.SLOW_MODE": "slow mode: wait {ref} s before your next message here",
    "error.TOPIC_LOCKED": "the topic of {ref} is locked: only operators can change it",
    "client.kicked": "an operator removed you from the chat",
    "client.banned": "an operator banned you from the chat",
    "client.mod_kick": "{by} removed {name} from the chat{reason}",
    "client.mod_ban": "{by} banned {name}{until}{reason}",
    "client.mod_unban": "{by} lifted the ban on {name}",
    "client.mod_mute": "{by} muted {name} in {room}{until}{reason}",
    "client.mod_unmute": "{by} unmuted {name} in {room}",
    "client.mod_slow": "{by} set slow mode in {room}: one message every {seconds} s",
    "client.mod_slow_off": "{by} turned slow mode off in {room}",
    "client.mod_lock": "{by} locked the topic of {room}",
    "client.mod_unlock": "{by} unlocked the topic of {room}",
    "client.mod_until": " until {time}",
    "client.mod_reason": " ({reason})",
    "client.usage_kick": "Usage: /kick name [reason]",
    "client.usage_ban": "Usage: /ban name [duration: 30m, 2h, 7d] [reason]",
    "client.usage_unban": "Usage: /unban name",
    "client.usage_mute": "Usage: /mute name #room [duration: 30m, 2h, 7d]",
    "client.usage_unmute": "Usage: /unmute name #room",
    "client.usage_slow": "Usage: /slow #room seconds (0 turns it off)",
    "client.usage_lock": "Usage: /lock #room",
    "client.usage_unlock": "Usage: /unlock #room",
    # the client's own lines
    "client.connecting": "connecting to {endpoint} as {name}...",
    "client.welcome": "Welcome to zchat, {name}! Type /help for commands.",
    "client.rejoined": "Reconnected as {name}.",
    "client.online": "Online: {names}",
    "client.online_none": "Nobody else is online yet.",
    "client.and_more": " and {count} more (/who lists everyone)",
    "client.joined": "{name} joined the chat",
    "client.left": "{name} left the chat ({reason})",
    "client.private_from": "(private) {name}",
    "client.private_to": "(private to {name})",
    "client.who": "Online ({count}): {names}",
    "client.lost": "Connection to the broker lost; reconnecting...",
    "client.broker_gone": "The broker is shutting down; reconnecting when it is back...",
    "client.not_connected": "Not connected: message not sent.",
    "client.too_long": "Message too long ({length} characters, at most {limit}).",
    "client.bye": "Bye!",
    "client.tag_missed": "(missed)",
    "client.tag_history": "(history)",
    "client.tag_mention": "(mentions you)",
    "client.new_line": "----- new in {room} -----",
    "client.unread_in": "{count} unread in {room}",
    "client.unread_mentions": "{count} mention(s) of you in {room}",
    "client.unread_from": "{count} unread from {name}",
    "client.dms": "Private conversations ({count}), most recent first:",
    "client.dms_none": "No private conversations yet.",
    "client.dm_line": "  {name}: {count} unread, last at {time}",
    "client.no_dms": "This broker keeps no read state.",
    "client.queued": "Not connected: your messages are kept and sent when the broker is back.",
    "client.outbox_full": "Too many messages waiting for the broker: message not sent.",
    "client.delivered": "delivered: {text}",
    "client.lost_events": "History no longer holds everything you missed: "
                          "up to {count} earlier event(s) are lost.",
    "client.history_reset": "The broker's history was reset: messages sent meanwhile "
                            "may be missing.",
    "client.help": (
        "Commands:\n"
        "  text             send a message to the current room\n"
        "  @name text       send a private message to name (or /msg name text)\n"
        "  /join #room      enter a room (created if needed) and talk there\n"
        "  /part [#room]    leave the current room, or the one named\n"
        "  /msg #room text  send a message to another room you are in\n"
        "  /rooms           list the rooms\n"
        "  /topic text      set the current room's topic\n"
        "  /who [#room|*]   list the room's members (*: everyone online)\n"
        "  /history [#room|@name] [N]  show older messages of the room (or of the private\n"
        "                   conversation with name), page by page\n"
        "  /dms             list your private conversations with unread counts\n"
        "  operators: /kick name [reason], /ban name [30m|2h|7d] [reason], /unban name,\n"
        "             /mute name #room [30m], /unmute name #room, /slow #room seconds,\n"
        "             /lock #room, /unlock #room (the topic)\n"
        "  /search words    search messages (from:name, in:#room, @name narrow it)\n"
        "  /around N        show the lines around result N of the last search\n"
        "  /help            show this help\n"
        "  sair or /quit    leave (Ctrl-D and Ctrl-C too)"
    ),
    "client.no_rooms": "This broker has no rooms.",
    "client.usage_join": "Usage: /join #room",
    "client.usage_msg": "Usage: /msg #room text, or /msg name text",
    "client.usage_topic": "Usage: /topic text",
    "client.usage_history": "Usage: /history [#room|@name] [N] (N from 1 to 100)",
    "client.history_start": "Beginning of {room}'s history.",
    "client.history_more": "Older messages of {room}: /history again.",
    "client.tag_found": "(found)",
    "client.tag_context": "(context)",
    "client.usage_search": "Usage: /search words [from:name] [in:#room] [@name]",
    "client.usage_around": "Usage: /around N (N: a result of the last /search)",
    "client.search_none": "No messages found.",
    "client.no_search": "This broker does not offer search.",
    "client.search_busy": "The broker is busy with other searches: try again in a moment.",
    "client.search_more": "Older results: the same /search again. /around N shows the "
                          "lines around result N.",
    "client.search_end": "No more results. /around N shows the lines around result N.",
    "client.around_unknown": "There is no result {number}: /search first.",
    "client.around_private": "Result {number} is a private message: /around shows a "
                             "room's lines only.",
    "error.BAD_SEARCH": "search not understood: {detail}",
    "client.joined_room": "{name} joined {room}",
    "client.left_room": "{name} left {room}",
    "client.left_room_reason": "{name} left {room} ({reason})",
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
    "client.room_line": "  {room}: {count} member(s){topic}",
    "client.unknown_command": "Unknown command {command}; type /help.",
    "client.fatal": "zchat: {message}",
    "client.handshake_failed": "could not open an encrypted session with the broker: wrong "
                               "--server-key, or the broker does or does not use encryption",
    "client.key_refused": "the broker refused our key (it is not in the broker's allow list)",
    "client.flooded": "the broker disconnected us for sending too fast",
    "client.key_created": "Created your key pair {path} (keep it: your name is bound to it).",
    # errors from the broker, by code (ERROR.code)
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
    "error.UNREACHABLE": "private message to {ref} not sent: {ref} is on another broker and "
                         "the link to the other brokers is down",
    "error.UNAVAILABLE": "this broker cannot take new users while its link to the other "
                         "brokers is down; trying again...",
    "client.rooms_cut_off": "rooms cannot be changed or listed while the link to the other "
                            "brokers is down: try again later",
    "error.BAD_ROOM": "invalid room name {ref}: {detail}",
    # why a name or room name is refused (protocol/names.py, the P_ constants)
    "client.problem_empty": "it is empty",
    "client.problem_too_long": "over {max} characters",
    "client.problem_bad_start": "it starts with @ or /",
    "client.problem_bad_character": "it has a space or a control character",
    "client.problem_invisible": "it has an invisible character ({char})",
    "client.problem_no_prefix": "a room's name starts with #",
    "error.NOT_IN_ROOM": "you are not in {ref}: /join {ref} first",
    "error.TOO_MANY_ROOMS": "you are in too many rooms (at most {ref}): /part one first",
    "error.ROOMS_FULL": "the broker holds too many rooms (at most {ref})",
    "error.NO_ROOM": "you are in no room: /join #room to join one",
    "error.unknown": "error {code}: {detail}",
    # service notices from the broker, by code (NOTICE.code)
    "notice.CLUSTER_DOWN": "The link to the other brokers is down: you can chat with users of "
                           "this broker only; these messages are not kept in history.",
    "notice.CLUSTER_UP": "The link to the other brokers is back.",
}

PT: Texts = {
    "reason.quit": "saiu",
    "reason.timeout": "tempo esgotado",
    "reason.lost": "conexão perdida",
    "reason.slow": "lento demais para acompanhar",
    "reason.shutdown": "broker encerrando",
    "reason.flood": "desconectado por inundar o chat",
    "reason.part": "saiu da sala",
    "reason.kicked": "removido(a) por um operador",
    "reason.banned": "banido(a) por um operador",
    "error.NOT_OPERATOR": "só operadores podem fazer isso",
    "error.BANNED": "você está banido(a) deste chat",
    "error.MUTED": "você está silenciado(a) em {ref}",
    "error.SLOW_MODE": "modo lento: espere {ref} s antes da próxima mensagem aqui",
    "error.TOPIC_LOCKED": "o tópico de {ref} está travado: só operadores podem mudá-lo",
    "client.kicked": "um operador tirou você do chat",
    "client.banned": "um operador baniu você do chat",
    "client.mod_kick": "{by} tirou {name} do chat{reason}",
    "client.mod_ban": "{by} baniu {name}{until}{reason}",
    "client.mod_unban": "{by} suspendeu o banimento de {name}",
    "client.mod_mute": "{by} silenciou {name} em {room}{until}{reason}",
    "client.mod_unmute": "{by} devolveu a voz a {name} em {room}",
    "client.mod_slow": "{by} ativou o modo lento em {room}: uma mensagem a cada {seconds} s",
    "client.mod_slow_off": "{by} desativou o modo lento em {room}",
    "client.mod_lock": "{by} travou o tópico de {room}",
    "client.mod_unlock": "{by} destravou o tópico de {room}",
    "client.mod_until": " até {time}",
    "client.mod_reason": " ({reason})",
    "client.usage_kick": "Uso: /kick nome [motivo]",
    "client.usage_ban": "Uso: /ban nome [duração: 30m, 2h, 7d] [motivo]",
    "client.usage_unban": "Uso: /unban nome",
    "client.usage_mute": "Uso: /mute nome #sala [duração: 30m, 2h, 7d]",
    "client.usage_unmute": "Uso: /unmute nome #sala",
    "client.usage_slow": "Uso: /slow #sala segundos (0 desliga)",
    "client.usage_lock": "Uso: /lock #sala",
    "client.usage_unlock": "Uso: /unlock #sala",
    "client.connecting": "conectando a {endpoint} como {name}...",
    "client.welcome": "Bem-vindo(a) ao zchat, {name}! Digite /help para ver os comandos.",
    "client.rejoined": "Reconectado(a) como {name}.",
    "client.online": "Online: {names}",
    "client.online_none": "Ninguém mais está online ainda.",
    "client.and_more": " e mais {count} (/who lista todos)",
    "client.joined": "{name} entrou no chat",
    "client.left": "{name} saiu do chat ({reason})",
    "client.private_from": "(privado) {name}",
    "client.private_to": "(privado para {name})",
    "client.who": "Online ({count}): {names}",
    "client.lost": "Conexão com o broker perdida; reconectando...",
    "client.broker_gone": "O broker está encerrando; reconectando quando ele voltar...",
    "client.not_connected": "Sem conexão: mensagem não enviada.",
    "client.too_long": "Mensagem longa demais ({length} caracteres, no máximo {limit}).",
    "client.bye": "Até logo!",
    "client.tag_missed": "(perdida)",
    "client.tag_history": "(histórico)",
    "client.tag_mention": "(menciona você)",
    "client.new_line": "----- novas em {room} -----",
    "client.unread_in": "{count} não lidas em {room}",
    "client.unread_mentions": "{count} menção(ões) a você em {room}",
    "client.unread_from": "{count} não lidas de {name}",
    "client.dms": "Conversas privadas ({count}), a mais recente primeiro:",
    "client.dms_none": "Nenhuma conversa privada ainda.",
    "client.dm_line": "  {name}: {count} não lidas, última às {time}",
    "client.no_dms": "Este broker não guarda o que foi lido.",
    "client.queued": "Sem conexão: suas mensagens ficam guardadas e serão enviadas quando o "
                     "broker voltar.",
    "client.outbox_full": "Mensagens demais esperando o broker: mensagem não enviada.",
    "client.delivered": "entregue: {text}",
    "client.lost_events": "O histórico não guarda mais tudo o que você perdeu: "
                          "até {count} evento(s) anteriores se perderam.",
    "client.history_reset": "O histórico do broker foi reiniciado: mensagens enviadas nesse "
                            "meio-tempo podem estar faltando.",
    "client.help": (
        "Comandos:\n"
        "  texto            envia uma mensagem para a sala atual\n"
        "  @nome texto      envia uma mensagem privada para nome (ou /msg nome texto)\n"
        "  /join #sala      entra numa sala (criada se preciso) e fala nela\n"
        "  /part [#sala]    sai da sala atual, ou da sala indicada\n"
        "  /msg #sala texto envia uma mensagem para outra sala em que você está\n"
        "  /rooms           lista as salas\n"
        "  /topic texto     define o tópico da sala atual\n"
        "  /who [#sala|*]   lista quem está na sala (*: todos online)\n"
        "  /history [#sala|@nome] [N]  mostra mensagens mais antigas da sala (ou da conversa\n"
        "                   privada com nome), página a página\n"
        "  /dms             lista suas conversas privadas com o número de não lidas\n"
        "  operadores: /kick nome [motivo], /ban nome [30m|2h|7d] [motivo], /unban nome,\n"
        "              /mute nome #sala [30m], /unmute nome #sala, /slow #sala segundos,\n"
        "              /lock #sala, /unlock #sala (o tópico)\n"
        "  /search palavras busca mensagens (from:nome, in:#sala, @nome restringem)\n"
        "  /around N        mostra as linhas em volta do resultado N da última busca\n"
        "  /help            mostra esta ajuda\n"
        "  sair ou /quit    sai do chat (Ctrl-D e Ctrl-C também)"
    ),
    "client.no_rooms": "Este broker não tem salas.",
    "client.usage_join": "Uso: /join #sala",
    "client.usage_msg": "Uso: /msg #sala texto, ou /msg nome texto",
    "client.usage_topic": "Uso: /topic texto",
    "client.usage_history": "Uso: /history [#sala|@nome] [N] (N de 1 a 100)",
    "client.history_start": "Início do histórico de {room}.",
    "client.history_more": "Mensagens mais antigas de {room}: /history de novo.",
    "client.tag_found": "(encontrado)",
    "client.tag_context": "(contexto)",
    "client.usage_search": "Uso: /search palavras [from:nome] [in:#sala] [@nome]",
    "client.usage_around": "Uso: /around N (N: um resultado da última /search)",
    "client.search_none": "Nenhuma mensagem encontrada.",
    "client.no_search": "Este broker não oferece busca.",
    "client.search_busy": "O broker está ocupado com outras buscas: tente de novo daqui a pouco.",
    "client.search_more": "Resultados mais antigos: a mesma /search de novo. /around N "
                          "mostra as linhas em volta do resultado N.",
    "client.search_end": "Não há mais resultados. /around N mostra as linhas em volta do "
                         "resultado N.",
    "client.around_unknown": "Não há resultado {number}: faça uma /search antes.",
    "client.around_private": "O resultado {number} é uma mensagem privada: /around mostra "
                             "só as linhas de uma sala.",
    "error.BAD_SEARCH": "busca não entendida: {detail}",
    "client.joined_room": "{name} entrou em {room}",
    "client.left_room": "{name} saiu de {room}",
    "client.left_room_reason": "{name} saiu de {room} ({reason})",
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
    "client.room_line": "  {room}: {count} membro(s){topic}",
    "client.unknown_command": "Comando desconhecido {command}; digite /help.",
    "client.fatal": "zchat: {message}",
    "client.handshake_failed": "não foi possível abrir uma sessão criptografada com o broker: "
                               "--server-key errada, ou o broker usa (ou não usa) criptografia",
    "client.key_refused": "o broker recusou nossa chave (ela não está na lista do broker)",
    "client.flooded": "o broker nos desconectou por enviar rápido demais",
    "client.key_created": "Seu par de chaves foi criado em {path} (guarde-o: seu nome fica "
                          "ligado a ele).",
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
    "error.UNREACHABLE": "mensagem privada para {ref} não enviada: {ref} está em outro broker "
                         "e a ligação com os outros brokers caiu",
    "error.UNAVAILABLE": "este broker não pode aceitar novos usuários enquanto a ligação com "
                         "os outros brokers estiver caída; tentando de novo...",
    "client.rooms_cut_off": "as salas não podem ser mudadas nem listadas enquanto a ligação com "
                            "os outros brokers estiver caída: tente de novo mais tarde",
    "error.BAD_ROOM": "nome de sala inválido {ref}: {detail}",
    "client.problem_empty": "está vazio",
    "client.problem_too_long": "tem mais de {max} caracteres",
    "client.problem_bad_start": "começa com @ ou /",
    "client.problem_bad_character": "tem um espaço ou um caractere de controle",
    "client.problem_invisible": "tem um caractere invisível ({char})",
    "client.problem_no_prefix": "o nome de uma sala começa com #",
    "error.NOT_IN_ROOM": "você não está em {ref}: /join {ref} antes",
    "error.TOO_MANY_ROOMS": "você está em salas demais (no máximo {ref}): /part uma antes",
    "error.ROOMS_FULL": "o broker tem salas demais (no máximo {ref})",
    "error.NO_ROOM": "você não está em nenhuma sala: /join #sala para entrar numa",
    "error.unknown": "erro {code}: {detail}",
    "notice.CLUSTER_DOWN": "A ligação com os outros brokers caiu: você só pode conversar com "
                           "quem está neste broker; estas mensagens não ficam no histórico.",
    "notice.CLUSTER_UP": "A ligação com os outros brokers voltou.",
}

TEXTS: dict[str, Texts] = {"en": EN, "pt": PT}


def client_catalogue(lang: str) -> Catalogue:
    """The client's lines in ``lang`` (English if zchat does not speak it)."""
    return Catalogue(TEXTS, lang)
