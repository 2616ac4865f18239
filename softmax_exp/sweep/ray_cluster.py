"""Joining a Ray cluster the way Ray's users run one, or starting a local instance.

A cluster started with `ray start --head` (Ray >= 2.59 with a token in ~/.ray/auth_token,
or RAY_AUTH_MODE=token) accepts only drivers that present its token. Ray reads the
token from RAY_AUTH_TOKEN, else the file named by RAY_AUTH_TOKEN_PATH, else
~/.ray/auth_token, but a driver given an address sends it only with RAY_AUTH_MODE=token;
so when the mode is unset and a token is there, we set the mode, as Ray itself does
for `ray start` and `address="auto"`. We never turn authentication off.

Ray's own failures are slow and loud: an unreachable address retries for minutes, a
refused token for 20 s, each printing C++ log lines. So we check, in order and
quickly, that the address is HOST:PORT, that something listens there, and that its
GCS takes our token, then join; Ray's log lines go to a scratch file unless asked for.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..errors import ClusterError, ConfigError

INSTALL_HINT = "install the extra: pip install 'softmax-exp[ray]'"
REACH_TIMEOUT_S = 5.0  # a TCP connect to the head's GCS port
GCS_TIMEOUT_S = 15.0  # its first answer; Ray's own wait is 30 s and more
TOKEN_HELP = (
    "save the output of 'ray get-auth-token', run on the head node, here as "
    "~/.ray/auth_token (or in RAY_AUTH_TOKEN, or in a file named by "
    "RAY_AUTH_TOKEN_PATH)"
)


def default_token_path() -> Path:
    return Path.home() / ".ray" / "auth_token"


def parse_address(address: str) -> tuple[str, int]:
    """HOST:PORT as `ray start --head` prints it; anything else is refused here."""
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
        raise ClusterError(
            address,
            "not HOST:PORT; give the head node's address and GCS "
            "port, as 'ray start --head' prints them (e.g. 10.0.0.5:6379)",
        )
    return host.strip("[]"), int(port)


def token_source() -> Optional[str]:
    """Where Ray will read the cluster token from (its documented order), or None."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:  # Ray aborts the whole process on an unreadable one: say so first
        try:
            text = Path(path).expanduser().read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"RAY_AUTH_TOKEN_PATH={path}: cannot read the Ray token "
                f"({getattr(exc, 'strerror', None) or exc}); {TOKEN_HELP}"
            ) from None
        if not text:
            raise ConfigError(f"RAY_AUTH_TOKEN_PATH={path}: the file is empty; {TOKEN_HELP}")
        return f"RAY_AUTH_TOKEN_PATH ({path})"
    default = default_token_path()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if default.read_text().strip():
            return str(default)
    return None


def present_token() -> Optional[str]:
    """Make Ray send the token when one is available; returns its source. Call before
    Ray is imported (Ray reads RAY_AUTH_MODE at import; refreshed here otherwise)."""
    source = token_source()
    if source and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray" in sys.modules:  # imported already (a library user, a test): re-read it
            with contextlib.suppress(ImportError, AttributeError):
                from ray._raylet import Config  # type: ignore[attr-defined]

                Config.initialize("")
    return source


def import_ray():
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ConfigError(f"executor ray: Ray is not installed; {INSTALL_HINT}") from None


def check_reachable(address: str) -> None:
    host, port = parse_address(address)
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        reason = (
            "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc)).lower()
        )
        raise ClusterError(
            address,
            f"cannot reach a Ray cluster ({reason}); start one there "
            f"with 'ray start --head --port {port}', or use a local one "
            "(no address)",
        ) from None


def check_gcs(address: str, source: Optional[str], hide_logs: bool) -> None:
    """Ask the cluster's GCS for its id, bounded in time: fails fast on a wrong token."""
    from ray._raylet import GcsClient  # type: ignore[attr-defined]

    outcome: list = []

    def ask():
        try:
            GcsClient(address=address).cluster_id  # noqa: B018 - the request is the point
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 - classified below
            outcome.append(exc)

    with ray_output_hidden(hide_logs):
        thread = threading.Thread(target=ask, daemon=True)
        thread.start()
        thread.join(GCS_TIMEOUT_S)
    if not outcome:
        raise ClusterError(
            address,
            f"no Ray cluster answered within {GCS_TIMEOUT_S:.0f} s; "
            "give the head's GCS port, as 'ray start --head' prints it",
        )
    error = outcome[0]
    if error is None:
        return
    if type(error).__name__ == "AuthenticationError" or "Unauthenticated" in str(error):
        raise ClusterError(address, auth_problem(source))
    raise ClusterError(
        address,
        f"the Ray cluster did not answer ({first_line(error)}); "
        "check the address against 'ray status' on the head node",
    )


def auth_problem(source: Optional[str]) -> str:
    mode = os.environ.get("RAY_AUTH_MODE", "")
    if mode and mode.lower() != "token":
        return (
            f"the Ray cluster requires its authentication token, and RAY_AUTH_MODE="
            f"{mode} here sends none; unset RAY_AUTH_MODE and {TOKEN_HELP}"
        )
    if source == "RAY_AUTH_TOKEN":  # it takes precedence: that is where to fix it
        return (
            "the Ray cluster refused the token in RAY_AUTH_TOKEN; set it to the output "
            "of 'ray get-auth-token', run on the head node"
        )
    if source:
        return f"the Ray cluster refused the token from {source}; {TOKEN_HELP}"
    return f"the Ray cluster requires its authentication token and none was found; {TOKEN_HELP}"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def ray_output_hidden(hide: bool = True) -> Iterator[None]:
    """Ray's C++ core writes its log lines to file descriptor 2 and its Python loggers
    to sys.stderr: send both to a scratch file while `hide`."""
    if not hide:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    ray_logger = logging.getLogger("ray")
    level = ray_logger.level
    ray_logger.setLevel(logging.CRITICAL)
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
        ray_logger.setLevel(level)


def quiet_driver() -> Callable[[], None]:
    """Keep Ray's notes out of our output while connected: its loggers, and the lines
    its driver prints about failed tasks and lost workers (retries are ours to report,
    through the results). Returns the function that lets them through again."""
    from ray._private import worker

    ray_logger = logging.getLogger("ray")
    level, printer = ray_logger.level, getattr(worker, "print_to_stdstream", None)
    ray_logger.setLevel(logging.CRITICAL)
    if printer is not None:
        worker.print_to_stdstream = lambda data, ignore_prefix: None

    def undo() -> None:
        ray_logger.setLevel(level)
        if printer is not None:
            worker.print_to_stdstream = printer

    return undo


def shipped_package() -> dict:
    """Ray's runtime environment that ships this package, as the driver has it, to every
    worker: the nodes run the driver's code whatever copy (if any) they have installed."""
    import softmax_exp

    return {"py_modules": [str(Path(softmax_exp.__file__).parent)], "excludes": ["__pycache__"]}


def before_import(address: Optional[str]) -> Optional[str]:
    """What Ray reads when it is imported, set before: for a local instance of ours, on
    127.0.0.1 alone and reporting nothing home (explicit settings of the user's win);
    for a cluster, the token mode. Returns where the token comes from, if anywhere."""
    if address is None:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        return None
    host, _ = parse_address(address)
    if is_loopback(host):
        # Else Ray swaps a loopback address for the machine's outward one, where a head
        # started on 127.0.0.1 does not listen, and ray.init retries it for ever.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    return present_token()


def is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect(address: Optional[str], ray_logs: bool = False):
    """Join the cluster at `address` (HOST:PORT), or start a local instance of our own
    when None; returns the ray module, connected."""
    source = before_import(address)
    if address is None:
        # "local": never the last cluster this machine ran (/tmp/ray/ray_current_cluster),
        # which may be long dead.
        ray = import_ray()
        with ray_output_hidden(not ray_logs):
            ray.init(
                address="local",
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        return ray
    check_reachable(address)
    ray = import_ray()
    check_gcs(address, source, hide_logs=not ray_logs)
    try:
        with ray_output_hidden(not ray_logs):
            ray.init(
                address=address,
                log_to_driver=False,
                configure_logging=False,
                runtime_env=shipped_package(),
            )
    except ConnectionError as exc:
        raise ClusterError(
            address,
            f"cannot join the Ray cluster ({first_line(exc)}); check 'ray status' on the head node",
        ) from None
    return ray
