"""A moto zygote for the test suite: it loads moto and the local cloud's patches (aws/, installed
by moto_server.py, realistic mode included) once, warms what every fresh server would load the same
way, then forks a private, fresh moto server per test on request.

Each test still gets a server of its own (its own accounts, realism knobs, recorder and process to
pause); what it no longer pays for is Python importing moto and parsing botocore's models, about
four CPU-seconds of the seven a test's moto used (docs/TESTING.md has the figures).

Usage:  moto_zygote.py SOCKET       (scripts/test starts it and exports EMPI_TEST_MOTO_ZYGOTE)

Protocol: a client connects to the Unix socket SOCKET and sends one JSON line
  {"port": 45123, "log": "/tmp/…/moto.log", "owner": 4242, "env": {"MOTO_RECORDER_FILEPATH": "…"}}
and reads one JSON line back, {"pid": 5151} (or {"error": "…"}). The server logs to "log" as
moto_server.py does ("Running on http://127.0.0.1:45123" once it listens) and exits when killed
or when the process "owner" is gone (a test killed before its Drop ran leaves nothing behind).
The zygote itself exits when the process that started it is gone.
"""
import json
import os
import random
import signal
import socket
import sys
import threading
import time

# the process that started the zygote: when it is gone, so is the zygote
PARENT = os.getppid()
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# the patches and realistic mode (aws/), installed by moto_server.py exactly as a standalone server does
import runpy  # noqa: E402

runpy.run_path(os.path.join(HERE, "moto_server.py"), run_name="moto_zygote_patches")

from werkzeug.serving import run_simple  # noqa: E402
from moto import backends  # noqa: E402
from moto.core.utils import get_service_model, get_pagination_model  # noqa: E402
from moto.core.base_backend import AccountSpecificBackend  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

# what a test's server reads on its first requests: the same for every fresh server
SERVICES = [
    "ec2", "iam", "eks", "rds", "s3", "secretsmanager", "cognito-idp", "elbv2", "wafv2", "kms",
    "logs", "sts", "acm", "autoscaling", "cloudtrail",
]
BACKENDS = [
    "ec2", "iam", "eks", "rds", "s3", "secretsmanager", "cognitoidp", "elbv2", "wafv2", "kms",
    "logs", "sts", "acm", "autoscaling", "cloudtrail", "moto_api",
]


def _warm():
    for name in SERVICES:
        try:
            get_service_model(name)
            get_pagination_model(name)
        except Exception:  # a service without paginators
            pass
    session = AccountSpecificBackend.get_session()
    for partition in session.get_available_partitions():
        for name in SERVICES:
            session.get_available_regions(name, partition_name=partition)
    # moto lists its own package directory on every request to route it: once is enough
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)
    # IAM parses AWS's 1,500 managed policies for every partition of every account it creates
    import moto.iam.models as iam_models

    parsed = json.loads(iam_models.aws_managed_policies_data)
    iam_models.aws_managed_policies_data = None

    def _init_aws_policies(self):
        if not iam_models.load_iam_aws_managed_policies():
            return []
        return [
            iam_models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, d)
            for name, d in parsed.items()
        ]

    iam_models.IAMBackend._init_aws_policies = _init_aws_policies
    # ... and every request looks for its access key in each of them: the default account's IAM,
    # AWS's managed policies only, is what every fresh server makes on its first request
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.utilities.utils import PARTITION_NAMES

    for partition in PARTITION_NAMES:
        iam_models.iam_backends[DEFAULT_ACCOUNT_ID][partition]
    # EKS makes a botocore session (reading its endpoint data) to check every role ARN
    import moto.eks.utils as eks_utils

    eks_utils.Session = lambda: session
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    for name in BACKENDS:
        try:
            app.app_instances[name] = create_backend_app(name)
        except Exception:
            pass
    return app


APP = _warm()


def _serve(port, owner):
    """The forked child: a fresh moto server on `port` until killed or `owner` is gone."""
    random.seed()
    from moto.moto_api._internal import mock_random

    mock_random.seed()
    os.environ["MOTO_PORT"] = str(port)

    def stop(signum, frame):
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    def watch_owner():
        while True:
            time.sleep(1)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass

    threading.Thread(target=watch_owner, daemon=True).start()
    run_simple("127.0.0.1", port, APP, threaded=True, use_reloader=False, request_handler=MotoRequestHandler)


def _fork(req):
    if threading.active_count() != 1:
        raise RuntimeError("the zygote has threads: it cannot fork safely")
    log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
            os.closerange(3, 1024)
            for k, v in (req.get("env") or {}).items():
                os.environ[k] = v
            from moto.moto_api import recorder

            recorder._location = os.environ.get("MOTO_RECORDER_FILEPATH", "moto_recording")
            _serve(int(req["port"]), int(req["owner"]))
        finally:
            os._exit(1)
    os.close(log)
    return pid


def main():
    path = sys.argv[1]
    # children are reaped as they exit; a client learns of an exit by the pid being gone
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    server.settimeout(1.0)
    print(f"moto zygote ready on {path}", flush=True)
    while True:
        if os.getppid() != PARENT:
            break
        try:
            conn, _ = server.accept()
        except socket.timeout:
            continue
        with conn:
            conn.settimeout(10)
            try:
                line = conn.makefile("r").readline()
                req = json.loads(line)
                pid = _fork(req)
                conn.sendall((json.dumps({"pid": pid}) + "\n").encode())
                print(f"forked moto {pid} on port {req['port']} for process {req['owner']}", flush=True)
            except Exception as e:  # one bad request does not stop the zygote
                try:
                    conn.sendall((json.dumps({"error": str(e)}) + "\n").encode())
                except OSError:
                    pass
    os.unlink(path)


if __name__ == "__main__":
    main()
