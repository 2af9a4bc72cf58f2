-- The registry web page: signed-in sessions and the key that signs their cookies.

-- A session id is a random secret kept in the visitor's cookie; only its
-- SHA-256 digest is stored. The session acts with the personal access token it
-- was opened with (never stored: its id), so revoking the token ends it.
CREATE TABLE web_sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_digest  bytea NOT NULL UNIQUE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id        bigint NOT NULL REFERENCES access_tokens (id) ON DELETE CASCADE,
    csrf_secret     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
CREATE INDEX web_sessions_token_id ON web_sessions (token_id);

-- One key, made by whichever gateway process starts first, shared by all.
CREATE TABLE web_signing_keys (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    key         bytea NOT NULL CHECK (length(key) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A registry's totals, for its page header and the home page's project list:
-- listed and hidden packages, and the size of every live file.
CREATE FUNCTION project_package_stats(bigint)
RETURNS TABLE (packages bigint, hidden_packages bigint, size bigint)
LANGUAGE sql STABLE
AS $$
    SELECT count(*) FILTER (WHERE p.status = 'default'),
           count(*) FILTER (WHERE p.status = 'hidden'),
           coalesce((SELECT sum(f.size)
                     FROM packages fp
                     JOIN package_files f ON f.package_id = fp.id AND f.status = 'default'
                     WHERE fp.project_id = $1 AND fp.status <> 'pending_destruction'), 0)::bigint
    FROM packages p
    WHERE p.project_id = $1 AND p.status <> 'pending_destruction'
$$;
