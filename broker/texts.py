"""Every line the broker writes, to its console and its log, in English and Portuguese.

The broker's side of the catalogues (the client keeps its own, client/texts.py;
the lookup and the choice of language are common/i18n.py). Keys are grouped by
prefix: `broker.` for the console, `log.` for log lines, `reason.` for the
leave reasons a log line names.
"""

from zchat.common.i18n import Catalogue, Texts

EN: Texts = {
    # the console: the ready line, start and stop, fatal errors
    "broker.listening": "zchat broker {version} listening on {endpoints}",
    "broker.started": "started pid {pid}, heartbeat {heartbeat}s, on {endpoints}",
    "broker.bind_in_use": "cannot listen on {endpoint}: address already in use",
    "broker.bind_failed": "cannot listen on {endpoint}: {reason}",
    "broker.log_file_failed": "cannot open log file {path}: {reason}",
    "broker.stopping": "stopping: told {count} client(s) the broker is going away",
    "broker.stopped": "broker stopped",
    "broker.curve_failed": "cannot turn encryption on: {reason}",
    "broker.exposed": "WARNING: {endpoint} is reachable beyond this machine WITHOUT "
                      "encryption: anyone on the network can read every message and join as "
                      "anyone. Use --curve-secret (see README, Encryption).",
    "broker.crashed": "broker stopped by an unexpected error",
    "broker.metrics_failed": "cannot serve metrics on {address}: {reason}",
    "broker.metrics_exposed": "WARNING: the metrics at {url} are reachable beyond this "
                              "machine, by anyone on the network (plain HTTP, no password). "
                              "Serve them on loopback (--metrics 127.0.0.1:PORT) unless a "
                              "firewall or proxy stands in front (see docs/METRICS.md).",
    # the log
    "log.history": "history: {where}, last sequence number {seq}, keeping {retain}",
    "log.descriptors": "descriptor limit {limit}{raised}: at most {connections} connections, "
                       "{per_address} from one address",
    "log.descriptors_raised": " (raised from {before})",
    "log.no_search": "search is off: {reason}",
    "log.metrics": "metrics at {url}",
    "log.lagging": "lagging {name}: its queue is full; it will catch up from history",
    "log.replay": "replay {name}: {count} event(s) after {pub}/{priv}{more}",
    "log.flood": "flood {name}: {strikes} messages over the rate limit in a row; disconnected",
    "log.join": "join {name} from {peer}",
    "log.enter": "enter {name} {room}",
    "log.part": "part {name} {room}",
    "log.topic": "topic {room} by {name}: {text}",
    "log.cluster_down": "cluster link down: serving this broker's users only; "
                        "their messages are not numbered nor kept",
    "log.cluster_up": "cluster link back: users handed to the cluster again",
    "log.rejoin": "rejoin {name} from {peer} (session resumed)",
    "log.stale_token": "join {name} from {peer}: its session token is retired or another "
                       "name's or key's; given a new session",
    "log.leave": "leave {name} ({reason})",
    "log.public": "public {name}: {text}",
    "log.room_message": "{room} {name}: {text}",
    "log.private": "private {name} -> {to}",
    "log.private_body": "private {name} -> {to}: {text}",
    "log.refused": "refused {code} from {who}: {detail}",
    # why someone left, as a log line names it
    "reason.quit": "left",
    "reason.timeout": "timed out",
    "reason.lost": "connection lost",
    "reason.slow": "too slow to keep up",
    "reason.shutdown": "broker shutting down",
    "reason.flood": "disconnected for flooding",
    "reason.kicked": "kicked by an operator",
    "reason.banned": "banned by an operator",
    "reason.part": "left the room",
}

PT: Texts = {
    "broker.listening": "zchat broker {version} escutando em {endpoints}",
    "broker.started": "iniciado pid {pid}, heartbeat {heartbeat}s, em {endpoints}",
    "broker.bind_in_use": "não foi possível escutar em {endpoint}: endereço já em uso",
    "broker.bind_failed": "não foi possível escutar em {endpoint}: {reason}",
    "broker.log_file_failed": "não foi possível abrir o arquivo de log {path}: {reason}",
    "broker.stopping": "encerrando: {count} cliente(s) avisado(s) de que o broker vai sair",
    "broker.stopped": "broker encerrado",
    "broker.curve_failed": "não foi possível ligar a criptografia: {reason}",
    "broker.exposed": "AVISO: {endpoint} pode ser alcançado de fora desta máquina SEM "
                      "criptografia: qualquer um na rede pode ler todas as mensagens e entrar "
                      "como qualquer pessoa. Use --curve-secret (veja o README, Encryption).",
    "broker.crashed": "broker encerrado por um erro inesperado",
    "broker.metrics_failed": "não foi possível servir as métricas em {address}: {reason}",
    "broker.metrics_exposed": "AVISO: as métricas em {url} podem ser alcançadas de fora desta "
                              "máquina, por qualquer um na rede (HTTP simples, sem senha). "
                              "Sirva-as no loopback (--metrics 127.0.0.1:PORTA) a menos que um "
                              "firewall ou proxy esteja na frente (veja docs/METRICS.md).",
    "log.history": "histórico: {where}, último número de sequência {seq}, mantendo {retain}",
    "log.descriptors": "limite de descritores {limit}{raised}: no máximo {connections} "
                       "conexões, {per_address} por endereço",
    "log.descriptors_raised": " (elevado de {before})",
    "log.no_search": "busca desligada: {reason}",
    "log.metrics": "métricas em {url}",
    "log.lagging": "atrasado {name}: a fila está cheia; vai recuperar do histórico",
    "log.replay": "reenvio {name}: {count} evento(s) após {pub}/{priv}{more}",
    "log.flood": "inundação {name}: {strikes} mensagens seguidas acima do limite; desconectado",
    "log.join": "entrada {name} de {peer}",
    "log.enter": "entrada {name} em {room}",
    "log.part": "saída {name} de {room}",
    "log.topic": "tópico de {room} por {name}: {text}",
    "log.cluster_down": "ligação ao cluster caiu: atendendo só os usuários deste broker; "
                        "suas mensagens não são numeradas nem guardadas",
    "log.cluster_up": "ligação ao cluster de volta: usuários devolvidos ao cluster",
    "log.rejoin": "reentrada {name} de {peer} (sessão retomada)",
    "log.stale_token": "entrada {name} de {peer}: seu token de sessão foi encerrado ou é de "
                       "outro nome ou chave; recebe uma sessão nova",
    "log.leave": "saída {name} ({reason})",
    "log.public": "pública {name}: {text}",
    "log.room_message": "{room} {name}: {text}",
    "log.private": "privada {name} -> {to}",
    "log.private_body": "privada {name} -> {to}: {text}",
    "log.refused": "recusado {code} de {who}: {detail}",
    "reason.quit": "saiu",
    "reason.timeout": "tempo esgotado",
    "reason.lost": "conexão perdida",
    "reason.slow": "lento demais para acompanhar",
    "reason.shutdown": "broker encerrando",
    "reason.part": "saiu da sala",
    "reason.flood": "desconectado por inundar o chat",
    "reason.kicked": "expulso(a) por um operador",
    "reason.banned": "banido(a) por um operador",
}

TEXTS: dict[str, Texts] = {"en": EN, "pt": PT}


def broker_catalogue(lang: str) -> Catalogue:
    """The broker's lines in ``lang`` (English if zchat does not speak it)."""
    return Catalogue(TEXTS, lang)


def positional(template: str, *fields: str) -> str:
    """``template`` (str.format, named fields) as a %-template that takes ``fields``
    in that order: a per-message log line formats in a sixth of the time
    (docs/PERFORMANCE.md). Each field must appear once, in that order."""
    plain = template.replace("%", "%%")
    at = -1
    for field in fields:
        mark = "{" + field + "}"
        found = plain.find(mark)
        if found <= at or plain.count(mark) != 1:
            raise ValueError(f"{template!r}: {mark} must appear once, after the fields before it")
        at = found
        plain = plain.replace(mark, "%s")
    if "{" in plain or "}" in plain:
        raise ValueError(f"{template!r} has fields besides {fields}")
    return plain
