"""``engage serve``: the web app (webhooks, health, metrics) with the outbox dispatcher and,
when available, the scheduler leader in the same process."""

from __future__ import annotations

import typer

from engage.commands.common import console, err_console, fail
from engage.config import ConfigError, Settings, get_settings

REQUEST_GRACE_SECONDS = 2  # uvicorn's wait for open requests on SIGTERM


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def check_bind(settings: Settings, host: str, dev_on_network: bool) -> None:
    """Development mode trusts a token that is in the source: it must not face a network.
    Outside production a non-loopback ``host`` is refused, or (``--dev-on-network``) allowed
    with a warning nobody can miss."""
    from engage.web.loopback import is_loopback_bind

    if settings.env == "production" or is_loopback_bind(host):
        return
    if not dev_on_network:
        fail(f"refusing to serve ENGAGE_ENV={settings.env} on {host}: development mode accepts "
             "webhooks signed with the development token in the source; bind 127.0.0.1, set "
             "ENGAGE_ENV=production, or pass --dev-on-network to accept the risk")
    banner = "!" * 78
    for line in (banner,
                 f"WARNING: ENGAGE_ENV={settings.env} is listening on {host}, beyond this machine.",
                 "Anyone who can reach it can forge resident messages with the development",
                 "token that is in the source. /dev/* still answers loopback only.",
                 "Never do this with real residents' numbers.", banner):
        err_console.print(line, style="bold red", highlight=False, markup=False)


def _schema_ready(settings: Settings, migrate: bool) -> None:
    """SQLite: migrate now; other databases: check only (see commands/db/connect.py)."""
    from engage.commands.db.connect import ensure_schema

    ensure_schema(settings.effective_database_url, migrate=migrate)
    from engage.commands.db.upgrade import seal_audit_chain

    try:
        seal_audit_chain(settings.effective_database_url)
    except ValueError as exc:
        fail(str(exc))


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    dispatcher: bool = typer.Option(
        True, "--dispatcher/--no-dispatcher",
        help="Send the outbox from this process (turn off when `engage worker` runs)."),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate",
        help="On SQLite, apply database migrations before starting."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
    dev_on_network: bool = typer.Option(
        False, "--dev-on-network",
        help="Development only: allow a non-loopback --host (anyone who reaches it can forge "
             "webhooks with the development token)."),
) -> None:
    """Run engage: Twilio/Telegram webhooks, /healthz, /readyz, /metrics, and the dispatcher."""
    import uvicorn

    from engage.logging import configure
    from engage.web.app import create_app

    try:
        settings = get_settings()
        settings.check_production()
    except ConfigError as exc:
        fail(str(exc))
    check_bind(settings, host, dev_on_network)
    configure(log_level.upper(), json_lines=settings.env == "production")
    _schema_ready(settings, migrate)
    app = create_app(settings, start_background=dispatcher)
    sms = "Twilio" if settings.twilio_enabled else "the development outbox (`engage outbox`)"
    console.print(f"engage on http://{host}:{port} - SMS via {sms}; "
                  f"webhooks are verified against {settings.public_url}",
                  highlight=False, markup=False)
    if not settings.twilio_enabled:
        console.print("Play a resident:  engage chat --from +15550001111 "
                      f"--url http://{host}:{port}", highlight=False, markup=False)
    # No access log: request lines can carry numbers (e.g. /dev/outbox?to=...).
    # On SIGTERM: open requests get GRACE seconds, then the dispatcher releases what it has
    # not sent and drains what is on the network (ENGAGE_SHUTDOWN_DRAIN): exit well within 8 s.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                            access_log=False, timeout_graceful_shutdown=REQUEST_GRACE_SECONDS)
    _server_class()(config).run()


def _server_class() -> type:
    """uvicorn's server, except that a graceful stop on SIGTERM exits 0: uvicorn re-raises
    the signal after shutting down (status 143), which supervisors count as a failure."""
    import signal
    from types import FrameType

    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:
                self._captured_signals = [s for s in self._captured_signals
                                          if s != signal.SIGTERM]

    return Server
