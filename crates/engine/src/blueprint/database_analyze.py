# empi-infra: planner statistics rebuilt after a PostgreSQL major upgrade (run by the
# database-analyze Job, in the backend image: Python 3.13, psycopg 3, boto3).
#
# pg_upgrade, which RDS runs for a major version upgrade, does not carry the planner's statistics
# over: until ANALYZE runs, queries are planned on none (RDS User Guide, "Upgrading the PostgreSQL
# DB engine": run ANALYZE after the upgrade). Connected as the master user, which owns the database
# and so may analyze every table in it, over TLS. Prints what it did, never a password.
import json
import os
import time

import boto3
import psycopg


def secret(client, arn):
    return json.loads(client.get_secret_value(SecretId=arn)["SecretString"])


def main():
    client = boto3.client("secretsmanager")
    master = secret(client, os.environ["DATABASE_MASTER_SECRET_ARN"])
    db = secret(client, os.environ["TUVA_EMPI_CONFIG_AWS_SECRET_ARN"])["db"]
    conn = psycopg.connect(
        host=db["host"], port=int(db["port"]), dbname=db["name"], user=master["username"], password=master["password"],
        sslmode="require", connect_timeout=10, autocommit=True,
    )
    with conn:
        version = conn.execute("show server_version").fetchone()[0]
        t0 = time.monotonic()
        conn.execute("analyze")
        tables = conn.execute(
            "select count(*) from pg_stat_user_tables where last_analyze is not null"
        ).fetchone()[0]
        print(f"database-analyze: ANALYZE of {db['name']} on PostgreSQL {version}: {tables} tables, {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
