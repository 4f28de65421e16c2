# empi-infra: a restored copy of the stack's database checked from inside the cluster (run by the
# restore-drill Job, in the backend image: Python 3.13, psycopg 3, boto3), as the application
# connects: its own role, over TLS, with the config secret's credentials, at DRILL_HOST.
#
# Checks, each {"name", "ok", "detail"}, printed as one JSON document and written to the pod's
# termination message, where `empi-infra db restore-drill` reads it:
#   - connect: TLS as the application's role;
#   - migrations: the newest applied migration of upstream's `main` app is the one the stack's
#     version has (EXPECTED_MIGRATION; any, for a version newer than empi-infra's table);
#   - rows: the rows of upstream's main tables (jobs, persons, person records, match groups);
#   - startup query: the read-only query upstream's matching service makes when it starts (the
#     count of new jobs).
# Never prints a password. Exits 1 when a check fails.
import json
import os
import sys

import boto3
import psycopg

TABLES = ("main_job", "main_person", "main_personrecord", "main_matchgroup")


def main():
    client = boto3.client("secretsmanager")
    db = json.loads(client.get_secret_value(SecretId=os.environ["TUVA_EMPI_CONFIG_AWS_SECRET_ARN"])["SecretString"])["db"]
    checks = []

    def check(name, fn):
        try:
            ok, detail = fn()
        except Exception as e:  # a missing table, a refused login: the check fails with PostgreSQL's words
            ok, detail = False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    conn = None

    def connect():
        nonlocal conn
        conn = psycopg.connect(
            host=os.environ["DRILL_HOST"], port=int(os.environ.get("DRILL_PORT") or db["port"]), dbname=db["name"],
            user=db["user"], password=db["password"], sslmode="require", connect_timeout=10, autocommit=True,
        )
        tls = conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0]
        version = conn.execute("show server_version").fetchone()[0]
        return tls, f"as {db['user']} over {'TLS' if tls else 'no TLS'}, PostgreSQL {version}"

    check("connect", connect)
    if conn is not None:
        def migrations():
            rows = conn.execute("select name from django_migrations where app = 'main' order by id").fetchall()
            newest = rows[-1][0] if rows else None
            want = os.environ.get("EXPECTED_MIGRATION") or None
            if want is None:
                return newest is not None, f"{len(rows)} migrations of main applied, the newest {newest}"
            return newest == want, f"the newest applied migration of main is {newest}; the stack's version has {want}"

        def rows():
            counts = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
            return True, ", ".join(f"{t} {n}" for t, n in counts.items())

        def startup():
            n = conn.execute("select count(*) from main_job where status = 'new'").fetchone()[0]
            return True, f"{n} new jobs waiting"

        check("migrations", migrations)
        check("rows", rows)
        check("startup query", startup)
    report = json.dumps({"checks": checks})
    print(report)
    try:
        with open(os.environ.get("TERMINATION_LOG", "/dev/termination-log"), "w") as f:
            f.write(report)
    except OSError:
        pass
    sys.exit(0 if all(c["ok"] for c in checks) else 1)


if __name__ == "__main__":
    main()
