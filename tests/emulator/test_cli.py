"""`adaptive-deploy emulator serve` output and flags."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.fixtures.emulator import EmulatorServer, _command


def test_serve_generates_an_admin_key(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*_command(), "emulator", "serve", "--port", "0", "--db", str(tmp_path / "p.db")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        url = lines[0].split()[-1]
        assert lines[0].startswith("Listening on http://127.0.0.1:")
        exports = dict(line.strip().removeprefix("export ").split("=", 1)
                       for line in lines if line.strip().startswith("export "))
        assert exports["ADAPTIVE_BASE_URL"] == url
        key = exports["ADAPTIVE_API_KEY"]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.post(f"{url}/api/graphql", json={"query": "{ me { name } }"},
                                      headers={"Authorization": f"Bearer {key}"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.json()["data"]["me"]["name"] == "emulator-admin"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_rejects_bad_flags(tmp_path: Path) -> None:
    bad_key = subprocess.run([*_command(), "emulator", "serve", "--api-key", "nokey"],
                             capture_output=True, text=True, timeout=30)
    assert bad_key.returncode == 1 and "KEY:ROLE" in bad_key.stderr
    bad_role = subprocess.run(
        [*_command(), "emulator", "serve", "--db", str(tmp_path / "x.db"),
         "--api-key", "k:superuser"], capture_output=True, text=True, timeout=30)
    assert bad_role.returncode == 1 and "unknown role" in bad_role.stderr
    bad_rate = subprocess.run(
        [*_command(), "emulator", "serve", "--db", str(tmp_path / "y.db"), "--fail-rate", "3"],
        capture_output=True, text=True, timeout=30)
    assert bad_rate.returncode == 1 and "fail_rate" in bad_rate.stderr
    assert "Traceback" not in bad_key.stderr + bad_role.stderr + bad_rate.stderr


def test_serve_fault_flags(tmp_path: Path) -> None:
    server = EmulatorServer(db_path=tmp_path / "p.db", log_path=tmp_path / "log",
                            extra_args=["--fail-rate", "1", "--fault-seed", "3"])
    server.start()
    try:
        assert server.graphql("{ roles { key } }").status_code == 503
        assert server.stats()["faults"]["seed"] == 3
    finally:
        server.stop()


def _serve_key(db: Path) -> tuple[str, str]:
    """Start `emulator serve` on `db`, return the admin key it prints and its key line."""
    proc = subprocess.Popen(
        [*_command(), "emulator", "serve", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        key_line = next(line for line in lines if line.startswith("Admin API key:"))
        exports = dict(line.strip().removeprefix("export ").split("=", 1)
                       for line in lines if line.strip().startswith("export "))
        return exports["ADAPTIVE_API_KEY"], key_line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_on_an_existing_database_keeps_its_key(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    first, line = _serve_key(db)
    assert "kept in" in line
    key_file = Path(f"{db}.admin-key")
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o077 == 0     # readable by its owner only
    again, line = _serve_key(db)
    assert again == first and "the same as last time" in line
    # A new database gets a new key.
    other, _ = _serve_key(tmp_path / "q.db")
    assert other != first
