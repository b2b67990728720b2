"""Where a batch run runs: which Ray, checked before it is joined, and stopped after when the run started it.

Which Ray (the first that applies):

1. ``--ray`` (``ray_address``): ``local`` (a private Ray on this machine), ``auto`` (``RAY_ADDRESS``, else
   the cluster this machine joined with ``ray start``), ``HOST:PORT`` (a cluster's GCS, as a driver on the
   cluster's network) or ``ray://HOST:10001`` (Ray Client, from outside);
2. the ``RAY_ADDRESS`` environment variable (the variable Ray's own tools read);
3. ``local``.

An explicit ``--ray local`` while ``RAY_ADDRESS`` is set says so (``Connection.note``) instead of ignoring
the variable silently.

Before joining a cluster the address is probed with one gRPC call (the GCS's ``GetClusterId``, or Ray
Client's ``PING``), sending the token Ray itself would send, so an unreachable cluster, a port that is not
Ray's, or a token the cluster refuses is one line at once instead of Ray's minute of retries and a
traceback. Token authentication (Ray 2.60): a cluster started with ``RAY_AUTH_MODE=token`` accepts only
clients with ``RAY_AUTH_MODE=token`` and its token in ``RAY_AUTH_TOKEN``, in the file that
``RAY_AUTH_TOKEN_PATH`` names, or in ``~/.ray/auth_token`` (that order; ``ray get-auth-token`` prints it).

A private Ray (``local``) is watched by ``watchdog`` so that a driver killed outright leaves no Ray process
behind; on a cluster the job's actors die with the driver (Ray's ownership: they belong to the job).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any

import ray

from artimuse_core import ArtiMuseError, MissingExtra

from . import watchdog

PROBE_SECONDS = 10.0


class ClusterError(ArtiMuseError):
    """The Ray cluster cannot be reached, is not a Ray cluster, or refuses this client (token)."""


@dataclass
class Connection:
    """The Ray a run uses. ``client``: Ray Client (``ray://``): the plan then runs on the cluster (Ray Data
    needs a driver there) and rows come back to this process, which writes them. ``started``: this run
    started a private Ray (and stops it). ``gcs_address``: the joined cluster's GCS (``HOST:PORT``)."""

    address: str
    source: str
    started: bool = False
    client: bool = False
    gcs_address: str | None = None
    note: str | None = None
    watcher: subprocess.Popen[bytes] | None = None

    def describe(self) -> str:
        """``"Ray: the cluster at 10.0.0.5:6379 (from RAY_ADDRESS)"``."""
        if self.started:
            text = "Ray: a private instance on this machine"
        else:
            where = self.address if self.address != "auto" else f"auto, {self.gcs_address}"
            text = f"Ray: the cluster at {where} (from {self.source})"
        return text + (f"; {self.note}" if self.note else "")


def choose_address(flag: str | None, environ: Any = None) -> tuple[str, str, str | None]:
    """``(address, source, note)``: ``--ray`` > ``RAY_ADDRESS`` > ``local`` (module docstring)."""
    environ = os.environ if environ is None else environ
    variable = (environ.get("RAY_ADDRESS") or "").strip()
    if flag:
        note = f"RAY_ADDRESS={variable} is set; --ray local starts a private Ray instead" if flag == "local" else None
        return flag, "--ray", note if variable else None
    if variable:
        return variable, "RAY_ADDRESS", None
    return "local", "default", None


def probe(address: str, timeout: float = PROBE_SECONDS) -> None:
    """One gRPC call to the cluster at ``address`` (``HOST:PORT`` or ``ray://HOST:PORT``) with this client's
    token, if any.

    Raises:
        ClusterError: unreachable, no answer within ``timeout`` seconds, not a Ray endpoint, token refused
            or missing. MissingExtra: grpcio (Ray Client's, in the ``ray`` extra) is not installed.
    """
    try:
        import grpc
    except ImportError as exc:  # Ray installed without its client extra (ray[data] alone)
        raise MissingExtra("ray", "ray[client]", "Ray clusters (--ray HOST:PORT, ray://HOST:PORT)", exc) from None
    from ray._private.authentication import authentication_utils
    from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]  # Ray's stub lacks it

    client = address.startswith("ray://")
    target = address.removeprefix("ray://").split("/", 1)[0]
    token_mode = authentication_utils.is_token_auth_enabled()
    if token_mode and not AuthenticationTokenLoader.instance().has_token():
        raise ClusterError(
            "RAY_AUTH_MODE=token but no token was found: set RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH to a file "
            "holding it, or write it to ~/.ray/auth_token (`ray get-auth-token` on the cluster prints it)"
        )
    try:
        from ray._private.grpc_utils import init_grpc_channel

        channel = init_grpc_channel(target)
    except ImportError:  # another Ray layout: a plain channel (no TLS, no token)
        channel = grpc.insecure_channel(target)
    try:
        if client:
            from ray.core.generated import ray_client_pb2, ray_client_pb2_grpc

            ping = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
            ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(ping, timeout=timeout)
        else:
            from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

            request = gcs_service_pb2.GetClusterIdRequest()
            gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(request, timeout=timeout)
    except grpc.RpcError as exc:
        details = exc.details() or ""
        raise ClusterError(_probe_message(address, exc.code(), details, token_mode, client, timeout)) from None
    finally:
        channel.close()


def _probe_message(address: str, code: Any, details: str, token_mode: bool, client: bool, timeout: float) -> str:
    import grpc

    detail = details.splitlines()[0] if details else str(code)
    speaks_no_grpc = "HTTP/2" in detail  # something listens there, but not a gRPC server (a web server...)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if not token_mode:
            return (
                f"the Ray cluster at {address} requires token authentication: set RAY_AUTH_MODE=token and its "
                "token in RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token)"
            )
        return (
            f"the Ray cluster at {address} refused this client's token (from {token_source()}); use the "
            "cluster's token (`ray get-auth-token` on the head node prints it)"
        )
    if code == grpc.StatusCode.UNAVAILABLE and not speaks_no_grpc:
        return f"cannot reach the Ray cluster at {address} ({detail.rsplit(': ', 1)[-1]})"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer from the Ray cluster at {address} within {timeout:g} s"
    what = "Client server" if client else "cluster"
    if speaks_no_grpc:
        return f"{address} is not a Ray {what}: what listens there does not speak gRPC (a web port, the dashboard's?)"
    hint = (
        "a cluster's GCS port (6379) takes HOST:PORT without ray://"
        if client
        else "a Ray Client port (10001) takes ray://HOST:PORT"
    )
    return f"{address} does not answer as a Ray {what} ({detail}); {hint}"


def token_source() -> str:
    """Where Ray takes this client's token from (its loader's order)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"RAY_AUTH_TOKEN_PATH={os.environ['RAY_AUTH_TOKEN_PATH']}"
    return "~/.ray/auth_token"


def connect(flag: str | None, cpus: int | None = None) -> Connection:
    """Join or start the Ray chosen by ``choose_address``. An already initialised Ray (a notebook, a test)
    is used as it is (``source`` "ray.init").

    Raises:
        ClusterError: the cluster cannot be joined (see ``probe``), or ``ray.init`` fails (one line).
    """
    address, source, note = choose_address(flag)
    if ray.is_initialized():
        return Connection("ray.init", "ray.init", client=ray.util.client.ray.is_connected())
    connection = Connection(address, source, note=note)
    if address != "local" and address != "auto":
        probe(address)
    elif address == "local":
        connection.watcher = watchdog.start()
    try:
        if address == "local":
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=True)
            connection.started = True
        else:
            if cpus is not None:
                connection.note = "--cpus applies to a private Ray only; the cluster's own CPUs are used"
            ray.init(address=address, log_to_driver=True)
    except Exception as exc:  # Ray raises many kinds here; each is the user's one line, not a traceback
        _stop_watcher(connection)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = "start a private Ray" if address == "local" else f"join the Ray cluster at {address}"
        raise ClusterError(f"cannot {where}: {first}") from None
    connection.client = address.startswith("ray://")
    if not connection.client:
        connection.gcs_address = ray.get_runtime_context().gcs_address
    return connection


def cluster_cpus() -> float:
    """The cluster's logical CPUs (all nodes)."""
    return float(ray.cluster_resources().get("CPU", 0.0))


def disconnect(connection: Connection) -> None:
    """Leave the cluster, or stop the private Ray this run started (and its watchdog)."""
    if connection.source == "ray.init":
        return
    try:
        ray.shutdown()
    finally:
        _stop_watcher(connection)


def _stop_watcher(connection: Connection) -> None:
    if connection.watcher is not None and connection.watcher.stdin is not None:
        connection.watcher.stdin.close()  # the watchdog stops what ray.shutdown left, then exits
        connection.watcher = None
