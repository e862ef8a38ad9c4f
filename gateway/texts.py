"""What `zchat web` prints on its console, in English and Portuguese (--lang)."""

from zchat.common.i18n import Catalogue, Texts

_EN: Texts = {
    "web.serving": "zchat web: serving {url} (broker {connect})",
    "web.exposed": "WARNING: the page and its WebSocket at {url} are reachable beyond this "
                   "machine, WITHOUT encryption (http, ws): serve them on loopback and put "
                   "a TLS-terminating proxy in front (docs/WEB.md, Running it).",
    "web.gateway_key": "zchat web: the broker must list this gateway's public key "
                       "({path}) with --gateway-keys DIR",
    "web.listen_failed": "cannot listen on {address}: {reason}",
    "web.stopped": "zchat web: stopped",
}

_PT: Texts = {
    "web.serving": "zchat web: servindo {url} (broker {connect})",
    "web.exposed": "AVISO: a página e seu WebSocket em {url} podem ser alcançados de fora "
                   "desta máquina, SEM criptografia (http, ws): sirva-os no loopback com um "
                   "proxy TLS na frente (docs/WEB.md, Running it).",
    "web.gateway_key": "zchat web: o broker precisa listar a chave pública deste gateway "
                       "({key}) com --gateway-keys DIR",
    "web.listen_failed": "não foi possível escutar em {address}: {reason}",
    "web.stopped": "zchat web: parado",
}


def web_catalogue(lang: str) -> Catalogue:
    return Catalogue({"en": _EN, "pt": _PT}, lang)
