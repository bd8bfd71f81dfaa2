"""PostgreSQL sink (psycopg 3). The DSN comes from an environment variable, never the config."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.errors import ConfigError, ModelLoadError
from modelyard.telemetry.sinks.base import Item, writer_class
from modelyard.telemetry.sinks.sql import Dialect, SqlStore
from modelyard.telemetry.sinks.store_reads import StoreReads

__all__ = ["POSTGRES", "PostgresSink"]

POSTGRES = Dialect(
    name="postgres",
    param="%s",
    json_type="JSONB",
    float_type="DOUBLE PRECISION",
    # concurrent gateways starting together: one migrates, the others wait, then see it done
    lock="SELECT pg_advisory_xact_lock(7311730)",
    autoinc="BIGSERIAL PRIMARY KEY",
    least="LEAST",
    greatest="GREATEST",
)

INSTALL_HINT = "pip install 'modelyard[postgres]'  (psycopg 3)"


class PostgresSink(StoreReads):
    def __init__(self, dsn_env: str, *, schema: str = "public", env: Mapping[str, str] | None = None) -> None:
        self.dsn_env = dsn_env
        self.schema = schema
        self.name = f"postgres:${dsn_env}"  # never the DSN: it may hold a password
        self._env = env if env is not None else os.environ
        self.store = SqlStore(POSTGRES, self._connect)
        self._conn: Any = None

    def _dsn(self) -> str:
        dsn = self._env.get(self.dsn_env)
        if not dsn:
            raise ConfigError(
                f"environment variable {self.dsn_env} is not set (PostgreSQL DSN)",
                key="telemetry.sinks.dsn_env",
            )
        return dsn

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise ModelLoadError(f"the postgres sink needs psycopg: {INSTALL_HINT}") from None
        conn = psycopg.connect(self._dsn(), connect_timeout=10)
        if self.schema != "public":
            with conn.cursor() as cur:
                cur.execute(POSTGRES.lock or "")
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                cur.execute(f'SET search_path TO "{self.schema}"')
            conn.commit()
        return conn

    def open(self) -> None:
        self._conn = self._connect()
        self.store.migrate(self._conn)

    def write(self, items: Sequence[Item]) -> None:
        assert self._conn is not None, "open() first"
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        self.store.insert(self._conn, items)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def writer_spec(self) -> dict[str, object]:
        """What a writer process builds this sink from: of the environment, only the DSN variable
        (empty when unset: the child's ``open`` then fails as this sink's would). Never log it."""
        return {
            "sink": writer_class(type(self)),
            "dsn_env": self.dsn_env,
            "schema": self.schema,
            "env": {self.dsn_env: self._env.get(self.dsn_env, "")},
        }

    @classmethod
    def from_writer_spec(cls, spec: Mapping[str, Any]) -> PostgresSink:
        """The copy a writer process builds from `writer_spec`."""
        return cls(spec["dsn_env"], schema=spec["schema"], env=dict(spec["env"]))

    def __repr__(self) -> str:
        return f"PostgresSink(dsn_env={self.dsn_env!r}, schema={self.schema!r})"
