"""RDS: DB instances, parameter groups and the master user's secret as RDS has them (src/aws/rds.rs
drives them), where moto 5.2.5 differs.

Always on: a DB instance and a manual snapshot are `creating` before `available` (state transitions
rds::dbinstance and rds::dbsnapshot, see
common.patch_status). Implemented in both modes, since moto lacks them: DescribeEngineDefaultParameters,
DescribeDBEngineVersions and Performance Insights.

Realistic mode (realism.on()): ModifyDBParameterGroup refuses `immediate` for a static parameter and
DescribeDBParameters reports each parameter's ApplyType; a parameter group in use cannot be deleted;
the master user secret holds the master user and a generated password, and is refused beside
MasterUserPassword; a Performance Insights or storage KMS key must be Enabled, and Performance
Insights' key cannot change; a PostgreSQL version RDS does not offer is refused. Automated backups
replicated to another region (moto lacks the API) are `pending` before `replicating`.
"""
import json

import moto.rds.models as rds_models
import moto.rds.responses as rds_responses
from moto.core.responses import ActionResult

from .common import account_region, count_reads, partition, patch_status
from .kms import kms_refusal
from .realism import knob, on


# --------------------------------------------------------------------------------------------
# Always on: state transitions


def _rds_instances(self):
    ident = self._get_param("DBInstanceIdentifier")
    dbs = self.backend.databases
    return [dbs[ident]] if ident and ident in dbs else list(dbs.values())


# --------------------------------------------------------------------------------------------
# Realistic mode: static parameters


# postgres families: name -> (ApplyType, DataType)
PG_APPLY_TYPES = {
    "rds.force_ssl": ("static", "boolean"),
    "shared_preload_libraries": ("static", "list"),
    "max_connections": ("static", "integer"),
    "shared_buffers": ("static", "integer"),
    "wal_level": ("static", "string"),
    "rds.logical_replication": ("static", "boolean"),
    "log_connections": ("dynamic", "boolean"),
    "log_disconnections": ("dynamic", "boolean"),
    "log_min_duration_statement": ("dynamic", "integer"),
    "work_mem": ("dynamic", "integer"),
}


def _apply_types(family):
    return PG_APPLY_TYPES if (family or "").startswith("postgres") else {}


def _rds_parameter_group_in_use():
    """AWS: DeleteDBParameterGroup of a group a DB instance still uses answers 400
    InvalidDBParameterGroupState `One or more database instances are still members of this
    parameter group <name>, so the group cannot be deleted` (botocore rds
    InvalidDBParameterGroupStateFault; TF rds/parameter_group.go retries it on delete and documents
    create_before_destroy for a family change). moto deletes it."""
    import moto.rds.models as rds
    from moto.rds.exceptions import RDSClientError

    class InvalidDBParameterGroupState(RDSClientError):
        def __init__(self, name):
            super().__init__(
                "InvalidDBParameterGroupState",
                f"One or more database instances are still members of this parameter group {name}, so the group cannot be deleted",
            )

    orig = rds.RDSBackend.delete_db_parameter_group

    def delete_db_parameter_group(self, db_parameter_group_name):
        if on() and any(getattr(db, "db_parameter_group_name", None) == db_parameter_group_name for db in self.databases.values()):
            raise InvalidDBParameterGroupState(db_parameter_group_name)
        return orig(self, db_parameter_group_name)

    rds.RDSBackend.delete_db_parameter_group = delete_db_parameter_group


# The extensions RDS for PostgreSQL offers (a part of the list every supported major has; the RDS
# for PostgreSQL release notes, "PostgreSQL extensions supported on Amazon RDS"). The knob
# `rds_missing_extensions` ({"postgres17": ["pg_trgm"]}) takes some away from a family.
PG_EXTENSIONS = (
    "amcheck", "aws_commons", "aws_s3", "bloom", "btree_gin", "btree_gist", "citext", "cube", "dblink",
    "dict_int", "earthdistance", "fuzzystrmatch", "hstore", "intarray", "isn", "lo", "ltree", "pg_buffercache",
    "pg_cron", "pg_partman", "pg_prewarm", "pg_repack", "pg_stat_statements", "pg_trgm", "pgaudit", "pgcrypto",
    "pgrowlocks", "pgstattuple", "plpgsql", "postgis", "postgres_fdw", "seg", "tablefunc", "unaccent",
    "uuid-ossp", "vector",
)


def offered_extensions(family):
    missing = (knob("rds_missing_extensions") or {}).get(family, []) if on() else []
    return [e for e in PG_EXTENSIONS if e not in missing]


def _rds_static_parameters():
    """AWS: ModifyDBParameterGroup with ApplyMethod=immediate for a static parameter answers
    400 InvalidParameterCombination `cannot use immediate apply method for static parameter`
    (XML quoted in terraform-provider-aws#216); DescribeDBParameters and
    DescribeEngineDefaultParameters report each parameter's ApplyType (botocore rds Parameter)
    and honour the Source filter; a postgres family's engine defaults carry `rds.extensions`, the
    extensions RDS offers for it (RDS User Guide, "Supported PostgreSQL extension versions": "You
    can find a list of extensions supported by Amazon RDS in the default DB parameter group for
    that PostgreSQL version"). moto stores anything, reports only user-set parameters without
    ApplyType, ignores Source and lacks DescribeEngineDefaultParameters."""
    import moto.rds.responses as rds_responses
    from moto.rds.exceptions import DBParameterGroupNotFoundError, InvalidParameterCombination

    R = rds_responses.RDSResponse
    orig_modify = R.modify_db_parameter_group

    def modify_db_parameter_group(self):
        name = self.params.get("DBParameterGroupName")
        group = self.backend.db_parameter_groups.get(name) or self.backend.db_parameter_groups.get((name or "").lower())
        if on() and group is not None:
            table = _apply_types(group.family)
            for p in self.params.get("Parameters", []):
                d = p.original_dict() if hasattr(p, "original_dict") else p
                if table.get(d.get("ParameterName"), ("",))[0] == "static" and d.get("ApplyMethod") == "immediate":
                    raise InvalidParameterCombination("cannot use immediate apply method for static parameter")
        return orig_modify(self)

    def _row(name, family, value=None, source="engine-default"):
        apply_type, data_type = _apply_types(family)[name]
        row = {"ParameterName": name, "Source": source, "ApplyType": apply_type, "DataType": data_type,
               "IsModifiable": True, "Description": name}
        if value is not None:
            row["ParameterValue"] = value
        return row

    orig_describe = R.describe_db_parameters

    def describe_db_parameters(self):
        if not on():
            return orig_describe(self)
        name = self.params.get("DBParameterGroupName")
        groups = self.backend.describe_db_parameter_groups({"db_parameter_group_name": name})
        if not groups:
            raise DBParameterGroupNotFoundError(name)
        group = groups[0]
        table = _apply_types(group.family)
        rows = []
        for p in group.parameters.values():
            row = dict(p)
            row.setdefault("Source", "user")
            if row.get("ParameterName") in table:
                kind, data_type = table[row["ParameterName"]]
                row.setdefault("ApplyType", kind)
                row.setdefault("DataType", data_type)
            row.setdefault("IsModifiable", True)
            rows.append(row)
        user = {r.get("ParameterName") for r in rows}
        rows += [_row(n, group.family) for n in table if n not in user]
        source = self.params.get("Source")
        if source:
            rows = [r for r in rows if r.get("Source") == source]
        return ActionResult({"Parameters": rows})

    def describe_engine_default_parameters(self):
        family = self.params.get("DBParameterGroupFamily")
        rows = [_row(n, family) for n in _apply_types(family)]
        if (family or "").startswith("postgres"):
            rows.append({"ParameterName": "rds.extensions", "Source": "system", "ApplyType": "static",
                         "DataType": "list", "IsModifiable": False, "ParameterValue": ", ".join(offered_extensions(family)),
                         "Description": "list of extensions available for installation"})
        return ActionResult({"EngineDefaults": {"DBParameterGroupFamily": family, "Parameters": rows}})

    R.modify_db_parameter_group = modify_db_parameter_group
    R.describe_db_parameters = describe_db_parameters
    R.describe_engine_default_parameters = describe_engine_default_parameters


# --------------------------------------------------------------------------------------------
# RDS-managed master user secrets


def _rds_master_user_secret():
    """AWS: with ManageMasterUserPassword, RDS generates the master password and keeps it in a
    secret holding {"username": <the master user>, "password": <generated>} (RDS User Guide,
    "Password management with Amazon RDS and AWS Secrets Manager"); CreateDBInstance and
    ModifyDBInstance with both ManageMasterUserPassword and MasterUserPassword answer 400
    InvalidParameterCombination (RDS API reference, CreateDBInstance `ManageMasterUserPassword`:
    "Can't manage the master user password with AWS Secrets Manager if MasterUserPassword is
    specified"). moto writes {"username": "admin", "password": "P@55w0rd!"} for every instance and
    accepts both."""
    import secrets as pysecrets
    import string

    import moto.rds.models as rds_models
    import moto.rds.responses as rds_responses
    from moto.rds.exceptions import InvalidParameterCombination

    orig_string = rds_models.MasterUserSecret._generate_secret_string

    def _generate_secret_string(self):
        if not on():
            return orig_string(self)
        alphabet = string.ascii_letters + string.digits
        password = "".join(pysecrets.choice(alphabet) for _ in range(32))
        return json.dumps({"username": self.resource.master_username, "password": password})

    rds_models.MasterUserSecret._generate_secret_string = _generate_secret_string

    R = rds_responses.RDSResponse
    for name in ("create_db_instance", "modify_db_instance"):
        orig = getattr(R, name)

        def both_refused(self, orig=orig):
            managed = str(self.params.get("ManageMasterUserPassword", "")).lower() == "true"
            if on() and managed and self.params.get("MasterUserPassword"):
                raise InvalidParameterCombination(
                    "Can't manage the master user password with AWS Secrets Manager if MasterUserPassword is specified."
                )
            return orig(self)

        setattr(R, name, both_refused)


# --------------------------------------------------------------------------------------------
# Performance Insights; encryption with the stack's KMS key


def _performance_insights():
    """moto 5.2 has no Performance Insights: CreateDBInstance and ModifyDBInstance drop
    EnablePerformanceInsights, PerformanceInsightsKMSKeyId and PerformanceInsightsRetentionPeriod
    and DescribeDBInstances never answers them (botocore rds DBInstance members of those names).
    Implemented in both modes: stored on the instance, answered by Describe. AWS, with realism:
    once Performance Insights has a KMS key, ModifyDBInstance with another key answers 400
    InvalidParameterCombination (the RDS User Guide, "Turning Performance Insights on and off":
    after you turn it on with a KMS key you cannot change the key); RDS defaults the key to the
    account's aws/rds key when none is given."""
    import moto.rds.responses as rds_responses
    from moto.rds.exceptions import InvalidParameterCombination

    R = rds_responses.RDSResponse

    def remember(self, db_id):
        enabled = self.params.get("EnablePerformanceInsights")
        if enabled is None:
            return
        db = self.backend.databases.get(db_id)
        if db is None:
            return
        on_ = str(enabled).lower() == "true"
        db.performance_insights_enabled = on_
        if on_:
            key = self.params.get("PerformanceInsightsKMSKeyId") or getattr(db, "performance_insights_kms_key_id", None) \
                or f"arn:{partition(self.region)}:kms:{self.region}:{self.current_account}:key/aws-rds-default"
            db.performance_insights_kms_key_id = key
            db.performance_insights_retention_period = int(self.params.get("PerformanceInsightsRetentionPeriod") or 7)

    orig_create = R.create_db_instance

    def create_db_instance(self):
        reason = kms_refusal(self.current_account, self.region, self.params.get("KmsKeyId"))
        if reason:
            from moto.rds.exceptions import RDSClientError
            raise RDSClientError("KMSKeyNotAccessibleFault", f"The specified KMS key {reason}")
        result = orig_create(self)
        remember(self, self.params.get("DBInstanceIdentifier"))
        return result

    orig_modify = R.modify_db_instance

    def modify_db_instance(self):
        db_id = self.params.get("DBInstanceIdentifier")
        db = self.backend.databases.get(db_id)
        want = self.params.get("PerformanceInsightsKMSKeyId")
        have = getattr(db, "performance_insights_kms_key_id", None) if db is not None else None
        if on() and want and have and want != have:
            raise InvalidParameterCombination(
                "You can't change the KMS key of Performance Insights once it is set; "
                f"DB instance {db_id} uses {have}")
        result = orig_modify(self)
        remember(self, db_id)
        return result

    R.create_db_instance = create_db_instance
    R.modify_db_instance = modify_db_instance


# --------------------------------------------------------------------------------------------
# Engine versions


# The PostgreSQL versions RDS offers here, as of 2026-11-27 (the minors empi-infra's own fallback
# table lists). The knob `rds_engine_versions` adds versions RDS released since, or retires one
# ({"16.2": "deprecated"}), as RDS's own list changes under a running stack.
RDS_POSTGRES_VERSIONS = ["16.1", "16.2", "16.3", "16.4", "16.5", "16.6", "16.8", "16.9", "16.10",
                         "17.1", "17.2", "17.4", "17.5", "17.6"]


def _minor_key(v):
    return [int(x) for x in v.split(".")]


def postgres_versions(include_all=False):
    """{version: status} of the PostgreSQL versions RDS lists (only `available` ones unless
    include_all), oldest first."""
    table = {v: "available" for v in RDS_POSTGRES_VERSIONS}
    table.update((knob("rds_engine_versions") or {}))
    return {v: st for v, st in sorted(table.items(), key=lambda kv: _minor_key(kv[0]))
            if include_all or st == "available"}


def version_offered(wanted):
    """Whether CreateDBInstance accepts `wanted`: a major ("16": RDS picks its default minor) or
    an available full version."""
    available = postgres_versions()
    return wanted in available or any(v.split(".")[0] == wanted for v in available)


def _rds_engine_versions():
    """AWS: DescribeDBEngineVersions (botocore rds DBEngineVersion: Engine, EngineVersion,
    DBParameterGroupFamily, Status `available`|`deprecated`, ValidUpgradeTarget with
    IsMajorVersionUpgrade) lists only available versions unless IncludeAll; CreateDBInstance and
    ModifyDBInstance with a version RDS does not offer answer 400 InvalidParameterCombination
    "Cannot find version 16.99 for postgres" (terraform-provider-aws #24539, #33469). RDS retires
    minors over time (RDS User Guide, "Supported PostgreSQL minor versions", deprecation).
    moto 5.2.5: no DescribeDBEngineVersions, any version accepted."""
    R = rds_responses.RDSResponse

    def describe_db_engine_versions(self):
        engine = self.params.get("Engine")
        wanted = self.params.get("EngineVersion")
        include_all = str(self.params.get("IncludeAll", "")).lower() == "true"
        rows = []
        if engine in (None, "postgres"):
            versions = postgres_versions(include_all)
            for v, status in versions.items():
                if wanted and not (v == wanted or v.split(".")[0] == wanted):
                    continue
                major = int(v.split(".")[0])
                targets = [{"Engine": "postgres", "EngineVersion": t, "IsMajorVersionUpgrade": int(t.split(".")[0]) > major,
                            "AutoUpgrade": False, "Description": f"PostgreSQL {t}"}
                           for t, st in versions.items() if st == "available" and _minor_key(t) > _minor_key(v)
                           and int(t.split(".")[0]) <= major + 1]
                rows.append({"Engine": "postgres", "EngineVersion": v, "DBParameterGroupFamily": f"postgres{major}",
                             "DBEngineDescription": "PostgreSQL", "DBEngineVersionDescription": f"PostgreSQL {v}-R1",
                             "Status": status, "ValidUpgradeTarget": targets})
        return ActionResult({"DBEngineVersions": rows})

    R.describe_db_engine_versions = describe_db_engine_versions

    def refuse_unknown(orig):
        def handler(self):
            wanted = self.params.get("EngineVersion")
            engine = self.params.get("Engine") or "postgres"
            if on() and wanted and engine == "postgres" and not version_offered(wanted):
                from moto.rds.exceptions import InvalidParameterCombination
                raise InvalidParameterCombination(f"Cannot find version {wanted} for postgres")
            result = orig(self)
            # AWS: a major alone gets that major's default minor, which DescribeDBInstances then
            # shows (RDS User Guide, "Choosing a DB engine version"); moto keeps "16"
            db = self.backend.databases.get(self.params.get("DBInstanceIdentifier"))
            if on() and wanted and "." not in str(wanted) and db is not None:
                minors = [v for v in postgres_versions() if v.split(".")[0] == str(wanted)]
                if minors:
                    db.engine_version = minors[-1]
            return result
        return handler

    R.create_db_instance = refuse_unknown(R.create_db_instance)
    R.modify_db_instance = refuse_unknown(R.modify_db_instance)


# --------------------------------------------------------------------------------------------


def _rds_restore_defaults():
    """AWS (RDS API reference, RestoreDBInstanceToPointInTime): what the call does not name takes
    AWS's defaults, not the source's: no DBSubnetGroupName restores into the default VPC; no
    VpcSecurityGroupIds gives the VPC's default security group; no DBParameterGroupName the engine's
    default group (default.postgres16: no rds.force_ssl); MultiAZ and DeletionProtection are off;
    PubliclyAccessible unnamed follows CreateDBInstance's rule (public where the VPC has an internet
    gateway, as the default VPC and the stack's do); tags are the call's only. moto copies all of
    them from the source, which would hide a drill that forgot one."""
    import moto.rds.models as rds
    from moto.ec2.models import ec2_backends

    R = rds_responses.RDSResponse
    orig = R.restore_db_instance_to_point_in_time

    def restore_db_instance_to_point_in_time(self):
        result = orig(self)
        if not on():
            return result
        p = self.params
        db = self.backend.databases[p.get("TargetDBInstanceIdentifier").lower()]
        account, region = account_region(self)
        if p.get("DBSubnetGroupName") is None:
            db.db_subnet_group = None
            db._db_subnet_group_name = None
        if not p.get("VpcSecurityGroupIds"):
            ec2 = ec2_backends[account][region]
            default_vpc = next((v for v in ec2.vpcs.values() if getattr(v, "is_default", False)), None)
            sg = ec2.get_default_security_group(default_vpc.id) if default_vpc else None
            db.vpc_security_group_ids = [sg.id] if sg else []
        if p.get("DBParameterGroupName") is None:
            db.db_parameter_group_name = f"default.postgres{str(db.engine_version).split('.')[0]}"
        named = lambda k, default: default if p.get(k) is None else p.get(k) in (True, "true")
        # (moto skips a named false and keeps the source's)
        db.multi_az = named("MultiAZ", False)
        db.deletion_protection = named("DeletionProtection", False)
        db.publicly_accessible = named("PubliclyAccessible", True)
        db.tags = [t if isinstance(t, dict) else t.original_dict() for t in (p.get("Tags") or [])]
        return ActionResult({"DBInstance": db})

    R.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time


def _rds_postgres_backing():
    """So that a restore is more than an API call: an instance the knob `rds_postgres` names
    ({"<id>": {"bin": DIR, "data": DATA}}) is a real PostgreSQL 16 server (scripts/local_cloud/
    postgres.py: WAL archived, a base backup taken at start). RestoreDBInstanceToPointInTime of it
    is PostgreSQL's own point-in-time recovery to RestoreTime (the commits of that time included;
    UseLatestRestorableTime: now), a new server whose address and port the restored instance shows
    as its Endpoint; DeleteDBInstance stops it. Realistic mode only; other instances are moto's."""
    import os
    from datetime import datetime, timezone

    import moto.rds.models as rds

    import postgres  # scripts/local_cloud/postgres.py, beside the aws package

    R = rds_responses.RDSResponse
    base_endpoint = rds.DBInstance.endpoint

    def endpoint(self):
        backed = self.__dict__.get("_empi_endpoint")
        return backed if backed else base_endpoint.fget(self)

    rds.DBInstance.endpoint = property(endpoint)

    def backing(source_id):
        return (knob("rds_postgres") or {}).get(source_id) if on() else None

    orig_restore = R.restore_db_instance_to_point_in_time

    def restore_db_instance_to_point_in_time(self):
        result = orig_restore(self)
        src = backing(self.params.get("SourceDBInstanceIdentifier"))
        if src is None:
            return result
        target = self.params.get("TargetDBInstanceIdentifier").lower()
        when = self.params.get("RestoreTime")
        if isinstance(when, datetime):
            when = when.astimezone(timezone.utc).isoformat()
        when = when or datetime.now(timezone.utc).isoformat()
        newdata = f"{src['data']}-{target}"
        served = postgres.recover(src["bin"], src["data"], newdata, when)
        db = self.backend.databases[target]
        db.__dict__["_empi_endpoint"] = {"Address": "127.0.0.1", "Port": served["port"]}
        db.__dict__["_empi_backing"] = {"bin": src["bin"], "data": newdata}
        return result

    orig_delete = R.delete_db_instance

    def delete_db_instance(self):
        db = self.backend.databases.get((self.params.get("DBInstanceIdentifier") or "").lower())
        backed = db.__dict__.get("_empi_backing") if db is not None else None
        result = orig_delete(self)
        if backed and os.path.isdir(backed["data"]):
            postgres.stop(backed["bin"], backed["data"])
        return result

    R.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time
    R.delete_db_instance = delete_db_instance


def _backup_replication():
    """Both modes, since moto lacks the API: automated backups replicated to another region
    (StartDBInstanceAutomatedBackupsReplication, StopDBInstanceAutomatedBackupsReplication,
    DescribeDBInstanceAutomatedBackups). AWS (RDS API reference and User Guide, "Replicating
    automated backups to another AWS Region"): the calls are made in the destination region; the
    source instance lists each replication in DBInstanceAutomatedBackupsReplications; an encrypted
    source needs KmsKeyId, a key of the destination region; the replicated backups are `pending`
    before `replicating` (terraform-provider-aws waits for `replicating`, up to 75 minutes); once
    stopped, the source no longer lists it and the copies made stay, `retained`, until their
    retention ends. Realistic mode: `pending` for `rds_backup_replication_seconds` (or for
`rds_backup_replication_looks` reads of it), and a missing
    or foreign-region key, a source without backups, or the source's own region refused."""
    import random
    import string
    import time as _time

    from moto.rds.exceptions import RDSClientError

    R = rds_responses.RDSResponse
    orig_describe = R.describe_db_instance_automated_backups

    def records(backend):
        return backend.__dict__.setdefault("_empi_replications", {})

    def source_of(arn):
        # arn:aws:rds:<region>:<account>:db:<id>
        parts = (arn or "").split(":")
        if len(parts) < 7 or parts[5] != "db":
            raise RDSClientError("InvalidParameterValue", f"{arn} is not a DB instance ARN")
        src_backend = rds_models.rds_backends[parts[4]][parts[3]]
        db = src_backend.databases.get(parts[6])
        if db is None:
            raise RDSClientError("DBInstanceNotFound", f"DBInstance {parts[6]} not found.")
        return parts[3], db

    def status(rec, look=False):
        if rec["Status"] == "pending":
            looks = rec.get("_looks")
            if looks is not None:
                if look:
                    rec["_looks"] = looks - 1
                if rec["_looks"] < 0:
                    rec["Status"] = "replicating"
            elif _time.time() - rec["_started"] >= ((knob("rds_backup_replication_seconds") or 0) if on() else 0):
                rec["Status"] = "replicating"
        return rec["Status"]

    def public(rec, look=False):
        status(rec, look)
        return {k: v for k, v in rec.items() if not k.startswith("_")}

    def start(self):
        account, region = account_region(self)
        src_arn = self._get_param("SourceDBInstanceArn")
        src_region, db = source_of(src_arn)
        key = self._get_param("KmsKeyId")
        retention = int(self._get_param("BackupRetentionPeriod") or db.backup_retention_period or 7)
        if on():
            if src_region == region:
                raise RDSClientError(
                    "InvalidParameterValue",
                    "The destination Region must be different from the source DB instance's Region.",
                )
            if not int(db.backup_retention_period or 0):
                raise RDSClientError(
                    "InvalidDBInstanceState",
                    f"Automated backups are not enabled for DB instance {db.db_instance_identifier}.",
                )
            if db.storage_encrypted and not key:
                raise RDSClientError(
                    "InvalidParameterCombination",
                    "KmsKeyId is required to replicate the automated backups of an encrypted DB instance.",
                )
            if key and f":kms:{region}:" not in key:
                raise RDSClientError(
                    "KMSKeyNotAccessibleFault",
                    f"The specified KMS key {key} is not in the destination Region {region}.",
                )
            refusal = kms_refusal(account, region, key)
            if refusal:
                raise RDSClientError("KMSKeyNotAccessibleFault", f"The specified KMS key {refusal}")
        listed = db.__dict__.setdefault("db_instance_automated_backups_replications", [])
        if any(f":rds:{region}:" in r["DBInstanceAutomatedBackupsArn"] for r in listed):
            raise RDSClientError(
                "DBInstanceAutomatedBackupQuotaExceeded",
                f"DB instance {db.db_instance_identifier} already replicates its backups to {region}.",
            )
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(26))
        arn = f"arn:{partition(region)}:rds:{region}:{account}:auto-backup:ab-{suffix}"
        rec = {
            "DBInstanceArn": src_arn,
            "DbiResourceId": getattr(db, "dbi_resource_id", ""),
            "Region": src_region,
            "DBInstanceIdentifier": db.db_instance_identifier,
            "Status": "pending",
            "Engine": db.engine,
            "EngineVersion": db.engine_version,
            "Encrypted": bool(db.storage_encrypted),
            "KmsKeyId": key,
            "BackupRetentionPeriod": retention,
            "DBInstanceAutomatedBackupsArn": arn,
            "_started": _time.time(),
            "_looks": knob("rds_backup_replication_looks") if on() else None,
        }
        records(self.backend)[arn] = rec
        listed.append({"DBInstanceAutomatedBackupsArn": arn})
        return ActionResult({"DBInstanceAutomatedBackup": public(rec)})

    def stop(self):
        _, region = account_region(self)
        _, db = source_of(self._get_param("SourceDBInstanceArn"))
        listed = db.__dict__.setdefault("db_instance_automated_backups_replications", [])
        mine = [r for r in listed if f":rds:{region}:" in r["DBInstanceAutomatedBackupsArn"]]
        if not mine:
            raise RDSClientError(
                "InvalidDBInstanceState",
                f"DB instance {db.db_instance_identifier} does not replicate its backups to {region}.",
            )
        for r in mine:
            listed.remove(r)
            rec = records(self.backend).get(r["DBInstanceAutomatedBackupsArn"])
            if rec:
                rec["Status"] = "retained"
        return ActionResult({"DBInstanceAutomatedBackup": public(rec) if rec else {}})

    def describe(self):
        arn = self._get_param("DBInstanceAutomatedBackupsArn")
        ours = records(self.backend)
        if arn:
            if arn not in ours:
                raise RDSClientError(
                    "DBInstanceAutomatedBackupNotFound", f"Automated backup {arn} not found."
                )
            return ActionResult({"DBInstanceAutomatedBackups": [public(ours[arn], look=True)]})
        result = orig_describe(self)
        # AWS filters by instance as it does moto's own records
        ident = self._get_param("DBInstanceIdentifier")
        resource = self._get_param("DbiResourceId")
        mine = [
            public(r)
            for r in ours.values()
            if (not ident or r["DBInstanceIdentifier"] == ident)
            and (not resource or r["DbiResourceId"] == resource)
        ]
        if mine:
            listed = list(result.result.get("DBInstanceAutomatedBackups", [])) if hasattr(result, "result") else []
            return ActionResult({"DBInstanceAutomatedBackups": listed + mine})
        return result

    R.start_db_instance_automated_backups_replication = start
    R.stop_db_instance_automated_backups_replication = stop
    R.describe_db_instance_automated_backups = describe


def install():
    # always on
    patch_status(rds_models.DBInstance, "rds::dbinstance", "creating", "available")
    # AWS: a manual snapshot is `creating` (minutes, by the database's size) before `available`
    # (botocore rds DBSnapshot.Status; RDS User Guide, "Creating a DB snapshot")
    patch_status(rds_models.DBSnapshot, "rds::dbsnapshot", "creating", "available")
    count_reads(rds_responses.RDSResponse, "describe_db_instances", _rds_instances)
    # realistic mode (and the APIs moto lacks)
    _rds_static_parameters()
    _rds_parameter_group_in_use()
    _rds_master_user_secret()
    # after _rds_master_user_secret: both wrap RDSResponse.create_db_instance and modify_db_instance,
    # so the KMS and Performance Insights checks run before the master password's
    _performance_insights()
    # last: a version RDS does not offer is refused before anything else looks at the call
    _rds_engine_versions()
    _rds_restore_defaults()
    _rds_postgres_backing()
    _backup_replication()
