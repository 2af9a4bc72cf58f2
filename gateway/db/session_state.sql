-- What asyncpg's own reset clears, for a pooled connection that took
-- session-level state (see gateway/db/session_state.py).
-- name: reset_session_state
SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;
