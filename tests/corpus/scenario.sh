#!/bin/bash
# tests/corpus/scenario.sh -- the corpus's "day", run by PID 1 inside the
# container (corpus-scenario.service, see generate.sh).
#
# Background: internet clients from 127.x.y.z (attack.py, ssh with wrong
# passwords) for the whole run. Foreground, one after another: the admin's
# day, with the real incidents that labels.conf names (incident ids in the
# step lines below). At the end the journal is exported and merged with the
# synthetic entries (synth.py) into /mnt/corpus-out/corpus.export.
set -uo pipefail

C=/mnt/corpus
OUT=/mnt/corpus-out
export SYNTH_EVENTS=$OUT/synthetic.jsonl
export CORPUS_SEED=${CORPUS_SEED:-1}
RANDOM=$CORPUS_SEED
rm -f "$SYNTH_EVENTS"

step() { echo "--- $(date +%T) $*"; }
synth() { python3 "$C/synth.py" event "$@"; }
attack() { timeout 12 python3 "$C/attack.py" "$@" 2>>"$OUT/attack.log"; }
# An admin command through a real ssh login with admin's key. sshd drops
# connections past MaxStartups while the guessers crowd it (seen): retry.
as_admin() {
    local try status
    for try in 1 2 3 4 5 6; do
        status=0
        timeout 30 ssh -q -i /root/.ssh/id_admin -o StrictHostKeyChecking=no \
            -o UserKnownHostsFile=/dev/null -o BatchMode=yes admin@127.0.0.1 "$@" || status=$?
        [ "$status" = 255 ] || return "$status"
        sleep 1
    done
    return "$status"
}
wait_for() { # SECONDS COMMAND...
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}
unit_state() { systemctl show -P ActiveState "$1"; }
is_state() { [ "$(unit_state "$1")" = "$2" ]; }

# An ssh password guesser that sends N wrong passwords in one connection.
cat >/usr/local/bin/askpass-wrong <<'EOF'
#!/bin/sh
# Prints a wrong password, a different one each time.
echo "Passw0rd$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')"
EOF
chmod 0755 /usr/local/bin/askpass-wrong
ssh_guess() { # SRC USER TRIES
    SSH_ASKPASS=/usr/local/bin/askpass-wrong SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
        timeout 20 setsid -w ssh -b "$1" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o PreferredAuthentications=password,keyboard-interactive -o PubkeyAuthentication=no \
        -o NumberOfPasswordPrompts="$3" -o ConnectTimeout=4 "$2@127.0.0.1" true \
        </dev/null >/dev/null 2>&1
}

# --- background: the internet -------------------------------------------------
USERS=(root root root admin test oracle ubuntu user git pi support ftpuser postgres deploy)
ssh_background() { # SECONDS LANE
    local end=$((SECONDS + $1)) lane=$2 n=0
    while [ "$SECONDS" -lt "$end" ]; do
        local src="127.1.$lane.$((RANDOM % 40 + 2))"
        case $((RANDOM % 10)) in
        0) attack ssh-banner "$src" ;;
        1) attack ssh-garbage "$src" ;;
        2) timeout 10 ssh -b "$src" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
            -o KexAlgorithms=diffie-hellman-group1-sha1 -o ConnectTimeout=4 root@127.0.0.1 true \
            </dev/null >/dev/null 2>&1 ;;
        *) ssh_guess "$src" "${USERS[RANDOM % ${#USERS[@]}]}" $((RANDOM % 6 + 1)) ;;
        esac
        n=$((n + 1))
        sleep 0.$((RANDOM % 9 + 1))
    done
}
other_background() { # SECONDS
    local end=$((SECONDS + $1))
    local modes=(tls-garbage:25 tls-garbage:465 tls-garbage:587 tls-garbage:993 tls-garbage:443
        tls-hangup:465 tls-hangup:993 tls-hangup:443 tls-hangup:25 tls-old:465 tls-old:993 tls-old:25
        smtp-dict: smtp-dict: smtp-relay: smtp-auth: smtp-pipelining: smtp-hangup: smtp-hangup:
        imap-guess: imap-guess: imap-plain:
        http-scan:80 http-scan:443 http-scan:8080 http-scan:8080 http-bad:80 http-bad:8080 http-bad:443
        smtp-mail: imap-login:)
    while [ "$SECONDS" -lt "$end" ]; do
        local m=${modes[RANDOM % ${#modes[@]}]} src="127.2.$((RANDOM % 8)).$((RANDOM % 200 + 2))"
        case $m in
        smtp-mail: | imap-login:) src=127.0.0.7 ;; # a friend's server / bob's laptop
        esac
        # shellcheck disable=SC2086 # port may be empty
        attack "${m%%:*}" "$src" ${m#*:}
        sleep 0.$((RANDOM % 9 + 1))
    done
}

step "boot done; fail2ban as shipped: $(unit_state fail2ban.service) (incident fail2ban-no-log)"
synth kernel-boot

DAY=${CORPUS_DAY:-720}
ssh_background $DAY 1 &
ssh_background $DAY 2 &
ssh_background $DAY 3 &
other_background $DAY &
other_background $DAY &

step "admin logs in, reads the news, fixes fail2ban as the Debian 12 release notes say"
as_admin 'uptime; df -h /'
printf '%s\n' '[DEFAULT]' 'backend = systemd' 'banaction = nftables-multiport' \
    'ignoreip = 127.0.0.1/32 ::1' '' '[sshd]' 'enabled = true' >/etc/fail2ban/jail.local
printf '%s\n' '[Definition]' 'logtarget = SYSTEMD-JOURNAL' >/etc/fail2ban/fail2ban.local
systemctl reset-failed fail2ban.service
systemctl start fail2ban.service
sleep 3
# sudo: a typo, then the right password (normal)
as_admin "printf 'correct-horse\ncorrect-horse-1\n' | sudo -S -p '' systemctl status --no-pager nginx >/dev/null"
sleep 5

step "mail: to a user that does not exist (bounce), to a full mailbox (mailbox-full), to bob"
as_admin "printf 'Subject: invoice\n\nsee attachment\n' | /usr/sbin/sendmail -i -f admin@srv1.example.org billing@srv1.example.org"
as_admin "printf 'Subject: lunch\n\nat noon?\n' | /usr/sbin/sendmail -i -f admin@srv1.example.org carol@srv1.example.org"
as_admin "printf 'Subject: hi\n\nhello bob\n' | /usr/sbin/sendmail -i -f admin@srv1.example.org bob@srv1.example.org"
sleep 8

step "a oneshot that fails (unit-failed)"
systemctl start report.service
sleep 4

step "a worker that crash-loops into the start limit (start-limit)"
systemctl start worker.service
wait_for 30 is_state worker.service failed
sleep 3

step "a segfault (segfault)"
systemctl start imgconv.service
wait_for 20 is_state imgconv.service failed
ipid=$(journalctl -b _SYSTEMD_UNIT=imgconv.service --output-fields=_PID -o export | sed -n 's/^_PID=//p' | tail -n 1)
synth segfault "${ipid:-4242}" python3 /usr/bin/python3.11 imgconv.service 0
sleep 4

step "a watchdog timeout (watchdog)"
systemctl start watchdog-demo.service
wait_for 30 is_state watchdog-demo.service failed
sleep 3

step "a job that logs too much (journal-suppressed; journald says so at its next line, 35 s later)"
systemctl start --no-block chatty.service
sleep 5

step "a full disk (disk-full)"
systemctl start upload-queue.service
sleep 25
systemctl stop upload-queue.service
sleep 2

step "errors without keywords (logger-raid, logger-smart)"
logger -t mdadm -p daemon.crit "DegradedArray event detected on md device /dev/md/0"
logger -p user.err "raid degraded"
logger -t smartd -p daemon.crit "Device: /dev/sda [SAT], 8 Currently unreadable (pending) sectors"
sleep 3

step "sudo: bob is not in sudoers (sudo-not-sudoer), admin gives up after three typos (sudo-3-wrong)"
su - bob -c "echo bob-secret-2 | sudo -S -p '' true" </dev/null >/dev/null 2>&1
as_admin "printf 'a\nb\nc\n' | sudo -S -p '' id" >/dev/null 2>&1
sleep 3

step "certbot renews without network (certbot-renew)"
systemctl start certbot.service
wait_for 120 is_state certbot.service failed || true
sleep 2

step "unattended-upgrades: an update whose postinst fails (uu-postinst)"
printf '%s\n' 'APT::Periodic::RandomSleep "0";' >/etc/apt/apt.conf.d/99corpus
systemctl start apt-daily.service
systemctl start apt-daily-upgrade.service
sleep 3

step "kernel noise, then a failing disk (disk-io), a full conntrack table (conntrack), the OOM killer (oom)"
synth kernel-noise 0
synth kernel-noise 1
sleep 2
synth disk
sleep 3
synth conntrack
sleep 2
synth oom thumbnailer.service convert 7342
sleep 2
synth kernel-noise 2
synth journald-missed
sleep 2

step "sshd: a bad option, restart fails (sshd-config)"
echo "PermitRootLogin maybe" >>/etc/ssh/sshd_config
systemctl restart ssh.service
sleep 2
sed -i '$d' /etc/ssh/sshd_config
systemctl reset-failed ssh.service
systemctl restart ssh.service
sleep 3

step "nginx: a typo, reload fails (nginx-config); the app's backend is down (nginx-upstream)"
sed -i 's/^\tindex index.html/\tindx index.html/' /etc/nginx/sites-available/default
systemctl reload nginx.service
sleep 2
sed -i 's/^\tindx index.html/\tindex index.html/' /etc/nginx/sites-available/default
systemctl reload nginx.service
attack http-app 127.0.0.9
attack http-app 127.0.0.9
sleep 3

step "apache: a syntax error, reload fails (apache-config)"
echo "<Directory /var/www/html/typo" >>/etc/apache2/conf-available/corpus.conf
systemctl reload apache2.service
sleep 2
sed -i '$d' /etc/apache2/conf-available/corpus.conf
systemctl reload apache2.service
sleep 3

step "dovecot: a bad setting, restart fails (dovecot-config)"
echo "ssl_min_protocl = TLSv1.2" >>/etc/dovecot/conf.d/10-ssl.conf
systemctl restart dovecot.service
sleep 2
sed -i '$d' /etc/dovecot/conf.d/10-ssl.conf
systemctl reset-failed dovecot.service
systemctl restart dovecot.service
sleep 3

step "postfix: a typo in main.cf, the next mail stays queued (postfix-config)"
postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destinaton'
postfix reload
attack smtp-mail 127.0.0.7
sleep 3
postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination'
postfix reload
sleep 3

step "a poller that exits and restarts every few seconds (flapping), a service restarted once (normal)"
systemd-run --quiet --unit=ticker -p Restart=always -p RestartSec=1 /bin/sh -c 'echo "ticker: tick"; sleep 15'
systemctl start poller.service
sleep 22
systemctl stop poller.service ticker.service

step "the rest of the day"
wait
step "day over; fail2ban banned: $(fail2ban-client status sshd 2>/dev/null | grep -i 'total banned' | tr -s ' \t' ' ')"
sleep 2

journalctl --sync
journalctl -b -o export >"$OUT/real.export"
python3 "$C/synth.py" merge "$OUT/real.export" "$SYNTH_EVENTS" "$OUT/corpus.export"
step "exported"
