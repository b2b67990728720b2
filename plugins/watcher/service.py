"""Run the watcher at login: a systemd user unit (Linux) or a launchd agent (macOS)."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path
from xml.sax.saxutils import escape

LABEL = "com.artimuse.watch"
UNIT = "artimuse-watch.service"


def command_line(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "artimuse_cli", "watch", *args]


def systemd_unit(args: list[str]) -> str:
    home = os.environ.get("ARTIMUSE_HOME")
    env = f"Environment=ARTIMUSE_HOME={home}\n" if home else ""
    return (
        "[Unit]\nDescription=ArtiMuse watcher: scores new images into the library\n"
        "After=default.target\n\n[Service]\nType=simple\n"
        f"ExecStart={shlex.join(command_line(args))}\n{env}"
        "Restart=on-failure\nRestartSec=10\nKillSignal=SIGTERM\nTimeoutStopSec=120\n\n"
        "[Install]\nWantedBy=default.target\n"
    )


def launchd_plist(args: list[str]) -> str:
    arguments = "\n".join(f"    <string>{escape(a)}</string>" for a in command_line(args))
    home = os.environ.get("ARTIMUSE_HOME")
    env = (
        (f"  <key>EnvironmentVariables</key>\n  <dict><key>ARTIMUSE_HOME</key><string>{escape(home)}</string></dict>\n")
        if home
        else ""
    )
    logs = Path.home() / "Library" / "Logs" / "artimuse-watch.log"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        f'<plist version="1.0">\n<dict>\n  <key>Label</key><string>{LABEL}</string>\n'
        f"  <key>ProgramArguments</key>\n  <array>\n{arguments}\n  </array>\n{env}"
        "  <key>RunAtLoad</key><true/>\n  <key>KeepAlive</key><true/>\n"
        f"  <key>StandardErrorPath</key><string>{escape(str(logs))}</string>\n</dict>\n</plist>\n"
    )


def service_file(args: list[str], system: str | None = None) -> tuple[Path, str, str]:
    """(where it goes, its text, how to start it) for this platform."""
    system = system or platform.system()
    if system == "Darwin":
        path = Path.home() / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        return path, launchd_plist(args), f"launchctl load -w {path}"
    if system == "Linux":
        path = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "systemd" / "user" / UNIT
        return path, systemd_unit(args), f"systemctl --user daemon-reload && systemctl --user enable --now {UNIT}"
    raise OSError(f"no login service support for {system}; run `artimuse watch` from your own startup script")
