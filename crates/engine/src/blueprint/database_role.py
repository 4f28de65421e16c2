# empi-infra: the application's own PostgreSQL role (run by the database-role Job, in the backend
# image: Python 3.13, psycopg 3, boto3). Idempotent: every run leaves the same result.
#
# Reads the RDS master credentials (the secret RDS manages, DATABASE_MASTER_SECRET_ARN) and the
# config document (TUVA_EMPI_CONFIG_AWS_SECRET_ARN, its CONFIG_VERSION_STAGE version: AWSCURRENT,
# or AWSPENDING while `rotate db-password` sets a new credential up), then, connected as the
# master user over TLS:
#   - makes db.user a login role with db.password and nothing more, or sets its password again,
#     and fails if it has a power the application must not (SUPERUSER, CREATEROLE, CREATEDB,
#     REPLICATION, BYPASSRLS); the password goes to the server as a SCRAM verifier, so it is in
#     no server log whatever `log_statement` says;
#   - when db.user is not the role that owns the application's objects (DATABASE_OWNER_ROLE; the
#     two login roles of DATABASE_LOGINS alternate), makes it a member of that role that acts as
#     it from the start of every session (`SET ROLE`), so that what migrations make has one owner;
#   - gives the owner the schema `public` (USAGE, CREATE) and creates the extensions upstream's
#     migrations create (they need more than the role has; for an existing one they are a no-op);
#   - hands the owner what the master user owns in `public` (tables, views, sequences, routines):
#     a stack whose migrations ran as the master user before it had its own role;
#   - with DATABASE_RETIRE_LOGIN, removes the password of that other login role: the credential
#     a rotation replaced, once no pod uses it (or, in a restored copy, one it brought back).
# DATABASE_HOST and DATABASE_PORT, when set, name the server instead of db.host and db.port.
# Prints what it did, never a password.
import base64
import hashlib
import hmac
import json
import os
import sys

import boto3
import psycopg
from psycopg import sql


def secret(client, arn, stage="AWSCURRENT"):
    return json.loads(client.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])


def scram_verifier(password, iterations=4096):
    """PostgreSQL's SCRAM-SHA-256 verifier of an ASCII password (SASLprep leaves it as it is)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


POWERS = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")


def refuse_powers(conn, name):
    powers = conn.execute(
        "select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls from pg_roles where rolname = %s", (name,)
    ).fetchone()
    names = [n for n, on in zip(POWERS, powers) if on]
    if names:
        sys.exit(f"database-role: role {name} has {', '.join(names)}, which the application must not have; remove it (ALTER ROLE) and run again")


def main():
    client = boto3.client("secretsmanager")
    master = secret(client, os.environ["DATABASE_MASTER_SECRET_ARN"])
    stage = os.environ.get("CONFIG_VERSION_STAGE") or "AWSCURRENT"
    db = secret(client, os.environ["TUVA_EMPI_CONFIG_AWS_SECRET_ARN"], stage)["db"]
    app, password = db["user"], db["password"]
    owner = os.environ.get("DATABASE_OWNER_ROLE") or app
    logins = [l for l in os.environ.get("DATABASE_LOGINS", "").split(",") if l] or [app]
    retire = os.environ.get("DATABASE_RETIRE_LOGIN", "")
    if master["username"] in (app, owner):
        sys.exit(f"database-role: db.user is the master user {master['username']}; the application needs its own role")
    if app not in logins:
        sys.exit(f"database-role: db.user {app} is none of the application's login roles ({', '.join(logins)})")
    if retire and (retire == app or retire not in logins):
        sys.exit(f"database-role: {retire} cannot be retired: it is db.user or none of the login roles ({', '.join(logins)})")
    if not password.isascii():
        sys.exit("database-role: db.password is not ASCII; store an ASCII password")
    extensions = [e for e in os.environ.get("DATABASE_EXTENSIONS", "").split(",") if e]
    # DATABASE_HOST/PORT: a restored copy, set up before it is checked as the application connects
    host, port = os.environ.get("DATABASE_HOST") or db["host"], os.environ.get("DATABASE_PORT") or db["port"]
    conn = psycopg.connect(
        host=host, port=int(port), dbname=db["name"], user=master["username"], password=master["password"],
        sslmode="require", connect_timeout=10, autocommit=True,
    )
    with conn:
        exists = lambda name: conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone() is not None
        role = sql.Identifier(owner)
        if owner != app and not exists(owner):
            # a new role has no attribute but what is given; only a superuser could change the others later
            conn.execute(sql.SQL("create role {}").format(role))
            print(f"database-role: role {owner} created")
        login = sql.Identifier(app)
        found = exists(app)
        verb = sql.SQL("alter" if found else "create")
        conn.execute(sql.SQL("{} role {} with login password {}").format(verb, login, sql.Literal(scram_verifier(password))))
        print(f"database-role: role {app} {'updated' if found else 'created'}")
        if owner != app:
            # the master user gives the membership: it must hold it (with admin) to give it
            conn.execute(sql.SQL("grant {} to current_user").format(role))
            conn.execute(sql.SQL("grant {} to {}").format(role, login))
            conn.execute(sql.SQL("alter role {} set role to {}").format(login, sql.Literal(owner)))
            print(f"database-role: role {app} acts as {owner}")
        for name in dict.fromkeys([owner, app]):
            refuse_powers(conn, name)
        conn.execute(sql.SQL("grant connect, temporary on database {} to {}").format(sql.Identifier(db["name"]), role))
        conn.execute(sql.SQL("grant usage, create on schema public to {}").format(role))
        for e in extensions:
            conn.execute(sql.SQL("create extension if not exists {}").format(sql.Identifier(e)))
        print(f"database-role: extensions present: {', '.join(extensions) or 'none asked for'}")
        # the master user hands objects to the role: it must be able to act as it
        conn.execute(sql.SQL("grant {} to current_user").format(role))
        owned = conn.execute(
            """
            select format('alter %%s %%s owner to %%I',
                          case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                         when 'S' then 'sequence' when 'f' then 'foreign table' else 'table' end,
                          c.oid::regclass, %s::text)
            from pg_class c
            where c.relnamespace = 'public'::regnamespace and c.relowner = current_user::regrole
              and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
              and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                              and d.deptype in ('a', 'i', 'e'))
            union all
            select format('alter routine %%s owner to %%I', p.oid::regprocedure, %s::text)
            from pg_proc p
            where p.pronamespace = 'public'::regnamespace and p.proowner = current_user::regrole
              and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                              and d.deptype = 'e')
            """,
            (owner, owner),
        ).fetchall()
        for (statement,) in owned:
            conn.execute(statement)
        print(f"database-role: {len(owned)} objects the master user owned in public handed to {owner}")
        if retire:
            if exists(retire):
                # PASSWORD NULL: no password matches, so no new session logs in as it; the role stays
                # (it may own the application's objects) and the next rotation gives it one again
                conn.execute(sql.SQL("alter role {} with password null").format(sql.Identifier(retire)))
                print(f"database-role: the password of {retire} removed; it no longer logs in")
            else:
                print(f"database-role: {retire} does not exist; nothing to retire")


if __name__ == "__main__":
    main()
