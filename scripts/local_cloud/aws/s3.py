"""S3: buckets and objects as S3 has them (src/aws/s3.rs drives them; the state backend's lock uses
conditional writes), where moto 5.2.5 differs. All of it is always on (both modes).

GetBucketVersioning answers S3's root element; CreateBucket sets the tags in its
CreateBucketConfiguration; conditional PutObject, CopyObject and DeleteObject are atomic; a bucket
policy's TLS-only statement does not apply to the local cloud's requests, which stand in for the
SDK's HTTPS ones.
"""


def _s3_versioning_like_aws():
    """moto 5.2.5 answers GetBucketVersioning with a <GetBucketVersioningResponse> root; S3 (and
    the strict Rust SDK) use <VersioningConfiguration>."""
    import moto.s3.responses as r

    def get_bucket_versioning(self):
        status = self.backend.get_bucket_versioning(self.bucket_name)
        body = '<?xml version="1.0" encoding="UTF-8"?>\n<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        if status:
            body += f"<Status>{status}</Status>"
        body += "</VersioningConfiguration>"
        return 200, {"Content-Type": "application/xml"}, body

    r.S3Response.get_bucket_versioning = get_bucket_versioning


def _s3_tags_at_create_bucket():
    """S3: CreateBucket takes the bucket's tags in CreateBucketConfiguration.Tags and sets them
    with the bucket, in one call (S3 API reference, CreateBucket and CreateBucketConfiguration:
    "An array of tags that you can apply to the bucket that you're creating"; it needs
    s3:TagResource). moto 5.2.5 ignores them, so a bucket would be untagged until a second call."""
    import xmltodict
    import moto.s3.responses as r

    orig = r.S3Response._bucket_response_put

    def _bucket_response_put(self, request, bucket_name, querystring):
        out = orig(self, request, bucket_name, querystring)
        if not querystring and self.body:
            try:
                conf = xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}
            except Exception:
                conf = {}
            tags = (conf.get("Tags") or {}).get("Tag")
            if tags:
                tags = tags if isinstance(tags, list) else [tags]
                self.backend.put_bucket_tagging(bucket_name, {t["Key"]: t.get("Value") or "" for t in tags})
        return out

    r.S3Response._bucket_response_put = _bucket_response_put


def _s3_atomic_conditional_put():
    """S3 evaluates If-None-Match/If-Match and writes atomically; moto 5.2.5 checks, then writes,
    so two concurrent conditional PUTs of a new key can both succeed. Serialize PutObject, and
    CopyObject and DeleteObject with it (their conditions below)."""
    import threading

    import moto.s3.responses as r

    lock = threading.RLock()
    orig = r.S3Response.put_object

    def put_object(self, *a, **kw):
        with lock:
            return orig(self, *a, **kw)

    r.S3Response.put_object = put_object

    # CopyObject's `x-amz-copy-source-if-match` (copy only while the source still has that ETag,
    # else 412 PreconditionFailed) is ignored by moto 5.2.5, and DeleteObject's `If-Match` is
    # checked, then deleted: both are evaluated and done under the same lock as PutObject, as S3
    # does them atomically.
    from urllib.parse import parse_qs, unquote, urlparse

    from moto.s3.exceptions import PreconditionFailed

    orig_copy = r.S3Response.copy_object
    orig_delete = r.S3Response.delete_object

    def copy_object(self, *a, **kw):
        with lock:
            wanted = self.headers.get("x-amz-copy-source-if-match")
            if wanted:
                source = self.headers.get("x-amz-copy-source")
                if isinstance(source, bytes):
                    source = source.decode("utf-8")
                parsed = urlparse(source)
                bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
                version = parse_qs(parsed.query).get("versionId", [None])[0]
                obj = self.backend.get_object(bucket, key, version_id=version)
                # a missing source is moto's own 404 NoSuchKey, as on S3
                if obj is not None and wanted.replace('"', "") != obj.etag.replace('"', ""):
                    raise PreconditionFailed("x-amz-copy-source-If-Match")
            return orig_copy(self, *a, **kw)

    def delete_object(self, *a, **kw):
        with lock:
            return orig_delete(self, *a, **kw)

    r.S3Response.copy_object = copy_object
    r.S3Response.delete_object = delete_object


def _s3_bucket_policy_over_tls():
    """A bucket policy statement applies only when its Condition holds. moto 5.2.5 evaluates a
    bucket policy (for DeleteObjects) with only the `StringEquals` operator and takes any other
    operator as holding, so the TLS-only statement every empi-infra bucket carries (Deny `s3:*`
    when `Bool` `aws:SecureTransport` is "false") denies every delete. The SDK reaches AWS over
    HTTPS only, where that statement never applies; the local cloud's plain HTTP stands in for
    those endpoints, so requests are evaluated as made over TLS: a statement whose only condition
    is `aws:SecureTransport` = "false" does not apply. Every other statement is left to moto."""
    import json as _json

    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3 import models as s3_models

    def insecure_only(statement):
        cond = statement.get("Condition") or {}
        if list(cond) != ["Bool"] or list(cond["Bool"]) != ["aws:SecureTransport"]:
            return False
        v = cond["Bool"]["aws:SecureTransport"]
        return str(v[0] if isinstance(v, list) and len(v) == 1 else v).lower() == "false"

    def get_permission(self, action, resource):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = _json.loads(self.policy.decode())
        statements = doc.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        doc["Statement"] = [s for s in statements if not insecure_only(s)]
        if not doc["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(_json.dumps(doc)).is_action_permitted(action, resource)

    s3_models.FakeBucket.get_permission = get_permission


# --------------------------------------------------------------------------------------------


def install():
    _s3_versioning_like_aws()
    _s3_tags_at_create_bucket()
    _s3_atomic_conditional_put()
    _s3_bucket_policy_over_tls()
