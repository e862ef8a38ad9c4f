"""The seed's design, rebuilt from the original requirements, as a baseline to beat.

One thread per client; a shared list of (socket, name); a public message is
broadcast by looping a blocking ``send`` over that list, skipping the sender.
Newline framing is the one thing added, so messages are not merged. Like the
seed, it logs every message with a timestamp (to stdout) and does not set
TCP_NODELAY. Used only by the benchmarks: run it with ``--port 0`` and read
the ``listening on 127.0.0.1:PORT`` line.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time

lista_clientes: list[tuple[socket.socket, str]] = []
_lock = threading.Lock()  # sendall from two threads must not interleave lines


def broadcast(mensagem: str, cliente_excluido: socket.socket | None = None) -> None:
    """Send one line to every client but ``cliente_excluido``; drop any that fails."""
    data = mensagem.encode()
    with _lock:
        for cliente, nome in list(lista_clientes):
            if cliente is not cliente_excluido:
                try:
                    cliente.sendall(data)
                except OSError:
                    remover(cliente, nome)


def remover(cliente: socket.socket, nome: str) -> None:
    try:
        lista_clientes.remove((cliente, nome))
    except ValueError:
        return
    cliente.close()


def enviar_unicast(nome: str, destino: str, msg: str, origem: socket.socket) -> None:
    for cliente, outro in list(lista_clientes):
        if outro == destino:
            cliente.sendall(f"[privado] {nome}: {msg}\n".encode())
            return
    origem.sendall(f"Usuário {destino} não encontrado.\n".encode())


def recebe_dados(sock: socket.socket) -> None:
    """One client's thread: read its name, then one message per line."""
    buf = b""
    nome = ""
    try:
        while b"\n" not in buf:
            chunk = sock.recv(1024)
            if not chunk:
                sock.close()
                return
            buf += chunk
        raw, _, buf = buf.partition(b"\n")
        nome = raw.decode(errors="replace").strip()
        lista_clientes.append((sock, nome))
        sock.sendall(f"Bem-vindo, {nome}!\n".encode())
        broadcast(f"{nome} entrou no chat!\n", sock)
        print(f"[{time.strftime('%H:%M:%S')}] {nome} entrou", flush=False)
        while True:
            *lines, buf = buf.split(b"\n")
            for line in lines:
                mensagem = line.decode(errors="replace")
                horario = time.strftime("%H:%M:%S")
                if mensagem.startswith("@"):
                    destino, _, msg = mensagem[1:].partition(" ")
                    enviar_unicast(nome, destino, msg, sock)
                    continue
                print(f"[{horario}] {nome}: {mensagem}")
                broadcast(f"[{horario}] {nome}: {mensagem}\n", sock)
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    remover(sock, nome)
    broadcast(f"{nome} saiu do chat.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=128,
                        help="listen() backlog; the seed's bare listen() gets 128")
    args = parser.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(args.backlog)
    print(f"seed server listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)
    while True:
        conn, _addr = server.accept()
        threading.Thread(target=recebe_dados, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
