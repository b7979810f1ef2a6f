#!/bin/bash
# tests/corpus/configure.sh -- run by generate.sh in a chroot of a fresh copy
# of the cached tree: turns the stock Debian 12 install into the small
# mail/web server the corpus comes from. Daemons keep Debian's defaults
# except where a line here says why. Nothing here runs a daemon.
set -euo pipefail

# --- people -----------------------------------------------------------------
# admin: the one administrator (sudo, ssh key); bob: a mail user without
# sudo; carol: a mail user whose mailbox is full.
for u in admin bob carol; do
    id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
done
printf '%s\n' 'admin:correct-horse-1' 'bob:bob-secret-2' 'carol:carol-secret-3' | chpasswd
usermod -aG sudo admin
mkdir -p /root/.ssh /home/admin/.ssh
[ -f /root/.ssh/id_admin ] || ssh-keygen -q -t ed25519 -N '' -C admin@laptop -f /root/.ssh/id_admin
cp /root/.ssh/id_admin.pub /home/admin/.ssh/authorized_keys
chown -R admin:admin /home/admin/.ssh
chmod 0700 /home/admin/.ssh

# --- sshd: Debian's defaults (password logins allowed, root by key only) ----
# (nothing to change)

# --- Postfix: "Internet Site" with submission (587) and smtps (465) ----------
# inet_protocols: Debian's postinst found no network in the chroot and left
# it empty, which disables every inet service.
# mynetworks: only the server itself may relay (the corpus's "internet"
# lives in 127.0.0.0/8 too).
postconf -e 'myhostname = srv1.example.org' 'inet_protocols = ipv4' \
    'mynetworks = 127.0.0.1/32' \
    'mydestination = $myhostname, srv1, localhost.localdomain, localhost' \
    'message_size_limit = 1000000' 'mailbox_size_limit = 2000000'
postconf -M 'submission/inet=submission inet n - y - - smtpd' \
    'smtps/inet=smtps inet n - y - - smtpd'
postconf -P 'submission/inet/syslog_name=postfix/submission' \
    'submission/inet/smtpd_tls_security_level=encrypt' \
    'smtps/inet/syslog_name=postfix/smtps' \
    'smtps/inet/smtpd_tls_wrappermode=yes'
newaliases
# carol's mailbox is at the limit: the next mail to her bounces.
head -c 2000000 /dev/zero | tr '\0' 'x' | fold -w 76 >/var/mail/carol
chown carol:mail /var/mail/carol
chmod 0660 /var/mail/carol

# --- Dovecot: IMAP and IMAPS with Debian's snakeoil certificate (default) ---
# (nothing to change)

# --- nginx: port 80 and 443, an app behind a proxy that is down --------------
# Errors go to the journal twice over, as on the server this corpus models:
# to syslog and to stderr (which systemd also puts in the journal).
sed -i 's|^error_log /var/log/nginx/error.log;|error_log syslog:server=unix:/dev/log;\nerror_log stderr;|' \
    /etc/nginx/nginx.conf
cat >/etc/nginx/sites-available/default <<'EOF'
server {
	listen 80 default_server;
	listen 443 ssl default_server;
	ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;
	ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;
	root /var/www/html;
	index index.html index.nginx-debian.html;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
	# Hide dot files (.env, .git, .htaccess): a common hardening line.
	location ~ /\.(?!well-known) {
		deny all;
	}
	location /app/ {
		proxy_pass http://127.0.0.1:9000;
	}
}
EOF

# --- Apache on port 8080, its error log in the journal -----------------------
sed -i 's/^Listen 80$/Listen 8080/' /etc/apache2/ports.conf
sed -i 's/<VirtualHost \*:80>/<VirtualHost *:8080>/' /etc/apache2/sites-available/000-default.conf
sed -i 's|^\(\s*\)ErrorLog \${APACHE_LOG_DIR}/error.log|\1ErrorLog syslog:local1|' \
    /etc/apache2/apache2.conf /etc/apache2/sites-available/000-default.conf
mkdir -p /var/www/html/private /var/www/html/uploads
echo secret >/var/www/html/private/index.html
cat >/etc/apache2/conf-available/corpus.conf <<'EOF'
<Directory /var/www/html/private>
	Require ip 192.0.2.1
</Directory>
EOF
a2enconf -q corpus

# --- cron: a nightly backup that fails, a job that works ---------------------
cat >/usr/local/bin/backup-db <<'EOF'
#!/bin/sh
# Dumps the app's data to a backup disk that is no longer mounted.
exec tar czf /srv/backup/db-$(date +%F).tar.gz /var/lib/app 2>&1
EOF
cat >/usr/local/bin/rotate-uploads <<'EOF'
#!/bin/sh
find /var/tmp -name 'upload-*' -mmin +60 -delete
EOF
chmod 0755 /usr/local/bin/backup-db /usr/local/bin/rotate-uploads
mkdir -p /var/lib/app
echo data >/var/lib/app/db
# Debian's cron logs only job starts (-L 1): a failing job would show only in
# root's mailbox. -L 5 adds "failed" lines, so the journal can tell.
echo "EXTRA_OPTS='-L 5'" >>/etc/default/cron
cat >/etc/cron.d/corpus <<'EOF'
# m h dom mon dow user command
*/2 * * * * root /usr/local/bin/backup-db
* * * * * root /usr/local/bin/rotate-uploads
EOF

# --- fail2ban: as Debian 12 ships it ----------------------------------------
# (backend = auto finds no /var/log/auth.log without rsyslog: it fails at
# boot; the scenario fixes it the way the Debian 12 release notes say.)

# --- certbot: a certificate due for renewal, no network to renew it ----------
d=example.org
mkdir -p /etc/letsencrypt/archive/$d /etc/letsencrypt/live/$d /etc/letsencrypt/renewal
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 10 \
    -subj "/CN=$d" -keyout /etc/letsencrypt/archive/$d/privkey1.pem \
    -out /etc/letsencrypt/archive/$d/cert1.pem 2>/dev/null
cp /etc/letsencrypt/archive/$d/cert1.pem /etc/letsencrypt/archive/$d/chain1.pem
cp /etc/letsencrypt/archive/$d/cert1.pem /etc/letsencrypt/archive/$d/fullchain1.pem
for f in cert chain fullchain privkey; do
    ln -sfn ../../archive/$d/${f}1.pem /etc/letsencrypt/live/$d/$f.pem
done
# A registered ACME account, as `certbot register` leaves it.
account=$(python3 - <<'PY'
import datetime, hashlib, json, os
import josepy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = josepy.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
pub = key.key.public_key().public_bytes(encoding=serialization.Encoding.PEM,
                                        format=serialization.PublicFormat.SubjectPublicKeyInfo)
acc = hashlib.md5(pub).hexdigest()
d = "/etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/" + acc
os.makedirs(d, mode=0o700)
with open(d + "/private_key.json", "w") as f:
    f.write(key.json_dumps())
with open(d + "/regr.json", "w") as f:
    json.dump({"body": {}, "uri": "https://acme-v02.api.letsencrypt.org/acme/acct/1234567890"}, f)
with open(d + "/meta.json", "w") as f:
    json.dump({"creation_dt": "2024-01-10T09:00:00Z", "creation_host": "srv1.example.org"}, f)
print(acc)
PY
)
cat >/etc/letsencrypt/renewal/$d.conf <<EOF
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/$d
cert = /etc/letsencrypt/live/$d/cert.pem
privkey = /etc/letsencrypt/live/$d/privkey.pem
chain = /etc/letsencrypt/live/$d/chain.pem
fullchain = /etc/letsencrypt/live/$d/fullchain.pem

[renewalparams]
account = $account
authenticator = webroot
webroot_path = /var/www/html,
[[webroot_map]]
example.org = /var/www/html
server = https://acme-v02.api.letsencrypt.org/directory
key_type = ecdsa
EOF

# --- unattended-upgrades: a local security archive with one update ----------
# The container has no network; this repository stands in for
# security.debian.org so that a real upgrade run happens.
repo=/srv/repo
mkdir -p $repo/pool /tmp/pkg
mkpkg() { # NAME VERSION POSTINST-EXIT
    local p=/tmp/pkg/$1-$2
    mkdir -p $p/DEBIAN $p/usr/share/doc/$1
    printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Corpus <root@localhost>\nDescription: corpus package %s\n' \
        "$1" "$2" "$1" >$p/DEBIAN/control
    printf '#!/bin/sh\nexit %s\n' "$3" >$p/DEBIAN/postinst
    chmod 0755 $p/DEBIAN/postinst
    echo "$1 $2" >$p/usr/share/doc/$1/README
    dpkg-deb --build $p "$repo/pool/${1}_${2}_all.deb" >/dev/null
}
mkpkg libexample1 1.0 0
mkpkg libexample1 1.1 0
mkpkg example-agent 1.0 0
# The update of example-agent fails in its postinst, as updates sometimes do.
mkpkg example-agent 1.1 1
dpkg -i $repo/pool/libexample1_1.0_all.deb $repo/pool/example-agent_1.0_all.deb >/dev/null
rm $repo/pool/*_1.0_all.deb
(cd $repo && apt-ftparchive packages pool >Packages &&
    apt-ftparchive -o APT::FTPArchive::Release::Origin=Debian \
        -o APT::FTPArchive::Release::Label=Debian-Security \
        -o APT::FTPArchive::Release::Suite=stable-security \
        -o APT::FTPArchive::Release::Codename=bookworm-security release . >Release)
echo "deb [trusted=yes] file:$repo ./" >/etc/apt/sources.list.d/local-security.list
rm -rf /tmp/pkg
# unattended-upgrades logs only to /var/log/unattended-upgrades/ unless told
# to use syslog as well; without this its failures never reach the journal.
echo 'Unattended-Upgrade::SyslogEnable "true";' >/etc/apt/apt.conf.d/51corpus-syslog

# --- units of the admin's own services ---------------------------------------
cat >/etc/systemd/system/report.service <<'EOF'
[Unit]
Description=Nightly report

[Service]
Type=oneshot
ExecStart=/bin/false
EOF
cat >/etc/systemd/system/worker.service <<'EOF'
[Unit]
Description=Queue worker
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
ExecStart=/bin/sh -c 'echo "worker: connecting to queue at 127.0.0.1:5672"; sleep 0.5; echo "worker: connection refused" >&2; exit 1'
Restart=always
RestartSec=1
EOF
cat >/etc/systemd/system/poller.service <<'EOF'
[Unit]
Description=Feed poller
StartLimitIntervalSec=0

[Service]
ExecStart=/bin/sh -c 'echo "poller: nothing to do, exiting"; sleep 1'
Restart=always
RestartSec=5
EOF
cat >/etc/systemd/system/imgconv.service <<'EOF'
[Unit]
Description=Image converter

[Service]
ExecStart=/usr/bin/python3 -c 'import ctypes, time; print("imgconv: ready", flush=True); time.sleep(2); ctypes.string_at(0)'
EOF
cat >/etc/systemd/system/watchdog-demo.service <<'EOF'
[Unit]
Description=Metrics exporter

[Service]
Type=notify
NotifyAccess=all
WatchdogSec=3
ExecStart=/bin/sh -c 'systemd-notify --ready; echo "exporter: serving on :9100"; exec sleep infinity'
EOF
cat >/etc/systemd/system/chatty.service <<'EOF'
[Unit]
Description=Import job

[Service]
Type=oneshot
LogRateLimitIntervalSec=30s
LogRateLimitBurst=20
ExecStart=/bin/sh -c 'i=0; while [ $i -lt 3000 ]; do echo "import: row $i imported"; i=$((i+1)); done; sleep 35; echo "import: 3000 rows imported"'
EOF
cat >/etc/systemd/system/srv-spool.mount <<'EOF'
[Unit]
Description=Upload spool

[Mount]
What=tmpfs
Where=/srv/spool
Type=tmpfs
Options=size=256k,mode=0755
EOF
cat >/etc/systemd/system/upload-queue.service <<'EOF'
[Unit]
Description=Upload queue
Requires=srv-spool.mount
After=srv-spool.mount

[Service]
ExecStart=/usr/bin/python3 /usr/local/bin/upload-queue
EOF
cat >/usr/local/bin/upload-queue <<'EOF'
#!/usr/bin/python3
# Spools uploads to /srv/spool; says so, but not loudly, when it cannot.
import os, sys, time
i = 0
while True:
    path = "/srv/spool/upload-%05d" % i
    try:
        with open(path, "wb") as f:
            f.write(os.urandom(16384))
        print("upload-queue: spooled %s" % path, flush=True) if i % 4 == 0 else None
    except OSError as e:
        print("upload-queue: cannot write %s: %s" % (path, e), flush=True)
        time.sleep(5)
    i += 1
    time.sleep(0.2)
EOF
chmod 0755 /usr/local/bin/upload-queue

# The scenario itself runs as a oneshot unit (see generate.sh).
