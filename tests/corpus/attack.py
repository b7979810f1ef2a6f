#!/usr/bin/python3
"""tests/corpus/attack.py -- internet background, played from 127.x.y.z.

Run inside the corpus container by scenario.sh. Each mode is one kind of
client that a small server sees all day from the internet: scanners that
open a TLS port and send garbage or hang up mid-handshake, dictionary SMTP,
open-relay probes, IMAP password guessing, web vulnerability scanners.
Every client binds its own 127.x.y.z source address, so the daemons log
distinct "remote" addresses ("unknown[127.3.0.7]": nothing resolves them).

    attack.py MODE SRC [COUNT]

Clients never wait long: a ban by fail2ban (nftables) or a daemon being
restarted by the scenario just makes them give up.
"""
import os
import random
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 4
# Seeded by CORPUS_SEED and the arguments, so a rebuild sends the same bytes
# (the daemons' timing still differs from run to run).
RNG = random.Random("%s %s" % (os.environ.get("CORPUS_SEED", "1"), " ".join(sys.argv[1:])))


def connect(src, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((src, 0))
    s.connect((HOST, port))
    return s


def tls_context(old=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if old:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    return ctx


def recv_some(s, n=4096):
    try:
        return s.recv(n)
    except (OSError, ssl.SSLError):
        return b""


def tls_garbage(src, port):
    """Plain text or random bytes to a TLS port (port scanners, old bots)."""
    s = connect(src, port)
    payload = RNG.choice([
        b"GET / HTTP/1.0\r\n\r\n",
        b"\x16\x03\x01\x00\x05hello",
        bytes(RNG.getrandbits(8) for _ in range(64)),
        b"EHLO scanner\r\n",
    ])
    s.sendall(payload)
    recv_some(s)
    s.close()


def tls_hangup(src, port):
    """A scanner that completes the handshake and hangs up at once."""
    s = connect(src, port)
    if port == 25 or port == 587:
        recv_some(s)
        s.sendall(b"EHLO scan.example.net\r\n")
        recv_some(s)
        s.sendall(b"STARTTLS\r\n")
        recv_some(s)
    t = tls_context().wrap_socket(s)
    t.close()


def tls_old(src, port):
    """A client that only speaks TLS 1.0 (old scanners)."""
    s = connect(src, port)
    if port in (25, 587):
        recv_some(s)
        s.sendall(b"EHLO old.example.net\r\n")
        recv_some(s)
        s.sendall(b"STARTTLS\r\n")
        recv_some(s)
    try:
        tls_context(old=True).wrap_socket(s).close()
    except (OSError, ssl.SSLError):
        pass
    s.close()


def smtp(src, port, lines):
    s = connect(src, port)
    f = s.makefile("rb")
    f.readline()
    for line in lines:
        s.sendall(line.encode() + b"\r\n")
        while True:
            reply = f.readline()
            if len(reply) < 4 or reply[3:4] != b"-":
                break
    s.close()


def smtp_dict(src, _port=25):
    """Dictionary attack: RCPT to guessed local users."""
    users = ["info", "sales", "webmaster", "test", "office", "contact", "admin", "bob"]
    lines = ["EHLO mail.example.net", "MAIL FROM:<newsletter@example.net>"]
    lines += ["RCPT TO:<%s@srv1.example.org>" % RNG.choice(users) for _ in range(3)]
    lines += ["QUIT"]
    smtp(src, 25, lines)


def smtp_relay(src, _port=25):
    """Open-relay probe."""
    smtp(src, 25, ["HELO relaytest", "MAIL FROM:<probe@example.net>",
                   "RCPT TO:<victim@example.com>", "QUIT"])


def smtp_auth(src, _port=587):
    """Password guessing on submission without TLS."""
    smtp(src, 587, ["EHLO guesser", "AUTH LOGIN", "QUIT"])


def smtp_pipelining(src, _port=25):
    """A spambot that does not wait for the greeting."""
    s = connect(src, 25)
    s.sendall(b"EHLO bot\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    time.sleep(0.3)
    recv_some(s)
    s.close()


def smtp_hangup(src, _port=25):
    """Connect, read the banner, leave."""
    s = connect(src, 25)
    recv_some(s)
    s.close()


def ssh_banner(src, _port=22):
    """Connect to sshd, read its banner, leave (port scanners)."""
    s = connect(src, 22)
    recv_some(s)
    s.close()


def ssh_garbage(src, _port=22):
    """Something that is not SSH on port 22."""
    s = connect(src, 22)
    recv_some(s)
    s.sendall(RNG.choice([b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", b"SSH-2.0-Go\r\n\x00\x00"]))
    recv_some(s)
    s.close()


def smtp_mail(src, _port=25):
    """A real mail from outside to a local user."""
    smtp(src, 25, ["EHLO mx.example.net", "MAIL FROM:<friend@example.net>", "RCPT TO:<bob@srv1.example.org>",
                   "DATA", "Subject: hello\r\nFrom: friend@example.net\r\n\r\nsee you at noon\r\n.", "QUIT"])


def imap_login(src, _port=993):
    """bob reads his mail."""
    s = tls_context().wrap_socket(connect(src, 993))
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a1 LOGIN bob bob-secret-2\r\n")
    f.readline()
    s.sendall(b"a2 SELECT INBOX\r\n")
    while not f.readline().startswith(b"a2 "):
        pass
    s.sendall(b"a3 LOGOUT\r\n")
    recv_some(s)
    s.close()


def imap_guess(src, port=993):
    """IMAP password guessing over TLS."""
    s = tls_context().wrap_socket(connect(src, 993))
    f = s.makefile("rb")
    f.readline()
    user = RNG.choice(["admin", "test", "info", "bob"])
    for i in range(3):
        s.sendall(b"a%d LOGIN %s Passw0rd%d\r\n" % (i, user.encode(), RNG.randint(1, 999)))
        f.readline()
    s.sendall(b"z LOGOUT\r\n")
    s.close()


def imap_plain(src, port=143):
    """Plaintext login attempt on 143 (Dovecot refuses it)."""
    s = connect(src, 143)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a1 LOGIN admin letmein\r\n")
    f.readline()
    s.close()


SCAN_PATHS = [
    "/wp-login.php", "/.env", "/phpmyadmin/index.php", "/.git/config",
    "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", "/admin/config.php", "/boaform/admin/formLogin",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/private/", "/.htaccess",
    "/actuator/health", "/solr/admin/info/system", "/owa/auth/logon.aspx", "/favicon.ico",
    "/xmlrpc.php", "/HNAP1/", "/robots.txt", "/sitemap.xml", "/uploads/", "/.aws/credentials",
]


def http(src, port, tls, request):
    s = connect(src, port)
    if tls:
        s = tls_context().wrap_socket(s)
    s.sendall(request)
    while recv_some(s):
        pass
    s.close()


def http_scan(src, port=80):
    """A vulnerability scanner walking well-known paths."""
    tls = port == 443
    for path in RNG.sample(SCAN_PATHS, 6):
        http(src, port, tls, b"GET %s HTTP/1.1\r\nHost: srv1.example.org\r\nUser-Agent: Mozilla/5.0 zgrab/0.x\r\nConnection: close\r\n\r\n" % path.encode())


def http_bad(src, port=80):
    """Requests no browser sends."""
    tls = port == 443
    req = RNG.choice([
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"MGLNDD_127.0.0.1_80\r\n",
    ])
    http(src, port, tls, req)


def http_app(src, port=80):
    """A real visitor of the app behind nginx (its backend is down)."""
    http(src, port, False, b"GET /app/orders HTTP/1.1\r\nHost: srv1.example.org\r\nConnection: close\r\n\r\n")


MODES = {
    "tls-garbage": tls_garbage, "tls-hangup": tls_hangup, "tls-old": tls_old,
    "smtp-dict": smtp_dict, "smtp-relay": smtp_relay, "smtp-auth": smtp_auth,
    "smtp-pipelining": smtp_pipelining, "smtp-hangup": smtp_hangup,
    "ssh-banner": ssh_banner, "ssh-garbage": ssh_garbage, "smtp-mail": smtp_mail,
    "imap-login": imap_login, "imap-guess": imap_guess, "imap-plain": imap_plain,
    "http-scan": http_scan, "http-bad": http_bad, "http-app": http_app,
}


def main():
    mode, src = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else None
    fn = MODES[mode]
    try:
        fn(src, port) if port is not None else fn(src)
    except (OSError, ssl.SSLError, ValueError) as e:
        # Refused, banned or cut off: what scanners live with.
        print("attack %s %s: %s" % (mode, src, e), file=sys.stderr)


if __name__ == "__main__":
    main()
