"""What the services' modules share: moto's state manager made to hold a new resource in a pending
state for a while (patch_status, count_reads), and a request's account, region and partition.

Default transitions: immediate with EMPI_LOCAL_REALISM=0; in realistic mode (the default) about 1 s
(realism.apply_default_transitions). To change them, use moto's own state-manager endpoint, e.g.:

  curl -X POST http://127.0.0.1:5001/moto-api/state-manager/set-transition \\
    -d '{"model_name":"eks::cluster","transition":{"progression":"time","seconds":5}}'
  # or: {"progression":"manual","times":3}  -> pending for the first 3 reads
  #     of the status by a Describe* call, then final state.

Model names: eks::cluster, eks::nodegroup (eks.py), rds::dbinstance (rds.py), ec2::nat_gateway (ec2.py).
"""
import time

from moto.moto_api import state_manager


def patch_status(cls, model_name, pending, final, attr="status"):
    """Makes each new `cls` report `pending` in `attr` where moto sets `final` at once, until the
    transition registered for `model_name` lets it through (immediate by default)."""
    state_manager.register_default_transition(
        model_name=model_name, transition={"progression": "immediate"}
    )
    orig_init = cls.__init__

    def __init__(self, *a, **kw):
        self.__dict__["_emu_status"] = None
        orig_init(self, *a, **kw)
        self.__dict__["_emu_t0"] = time.monotonic()
        self.__dict__["_emu_reads"] = 0
        if self.__dict__["_emu_status"] == final:
            self.__dict__["_emu_status"] = pending

    def _get(self):
        st = self.__dict__.get("_emu_status")
        if st == pending:
            t = state_manager.get_transition(model_name)
            prog = t.get("progression", "immediate")
            if prog == "immediate":
                st = final
            elif prog == "time":
                if time.monotonic() - self.__dict__["_emu_t0"] >= float(t["seconds"]):
                    st = final
            elif prog == "manual":
                if self.__dict__["_emu_reads"] > int(t["times"]):
                    st = final
            self.__dict__["_emu_status"] = st
        return st

    def _set(self, v):
        self.__dict__["_emu_status"] = v

    cls.__init__ = __init__
    setattr(cls, attr, property(_get, _set))
    return cls


def count_reads(resp_cls, method, getter):
    """Wrap a Describe* handler so 'manual' progression counts API reads."""
    orig = getattr(resp_cls, method)

    def wrapped(self, *a, **kw):
        # increment before the handler: moto serializes the result lazily
        for obj in getter(self):
            if "_emu_reads" in obj.__dict__:
                obj.__dict__["_emu_reads"] += 1
        return orig(self, *a, **kw)

    setattr(resp_cls, method, wrapped)


def account_region(self):
    return self.current_account, self.region


def partition(region):
    from moto.utilities.utils import get_partition

    return get_partition(region)


def speed_ups():
    """Speed, not behaviour (profiled with py-spy on a full apply and destroy):
    - moto's server finds the backend of every request by its host under one lock, listing moto's
      package directory each time (`list_of_moto_modules`: a listdir and ~150 isdir calls). The
      answer depends on the host alone, so it is remembered per host. The listing was about a
      tenth of the server's samples, and the threads waiting on the lock around it a fifth.
    - every error response builds its service's table of error shapes anew (`get_error_model`
      makes a new `ErrorLookupFactory`, whose cache therefore never hits). The table depends on
      the service alone, so the factories share one cache. Errors are common here: every
      read of something not there yet or gone already."""
    import moto.core.errors as errors
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication as D

    shared = {}

    def factory_init(self):
        self._error_lut_cache = shared

    errors.ErrorLookupFactory.__init__ = factory_init

    orig = D.get_backend_for_host
    memo = {}

    def get_backend_for_host(self, host):
        key = (id(self), host)
        if key not in memo:
            memo[key] = orig(self, host)
        return memo[key]

    D.get_backend_for_host = get_backend_for_host
