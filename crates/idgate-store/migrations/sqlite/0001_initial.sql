-- idgate schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql: the same
-- tables, columns, index names and meanings; only the types differ.
--
-- Encoding (the Any driver only carries basic types): UUIDs are TEXT (hyphenated, lowercase),
-- times are INTEGER unix microseconds (UTC), token hashes are TEXT (lowercase hex of SHA-256),
-- flags are INTEGER 0/1.

CREATE TABLE templates (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX templates_name ON templates (name);

CREATE TABLE provisioner_jobs (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('workspace_build', 'template_version_import')),
    created_at INTEGER NOT NULL
);

CREATE TABLE template_versions (
    id          TEXT    NOT NULL PRIMARY KEY,
    template_id TEXT    NOT NULL REFERENCES templates (id),
    job_id      TEXT    NOT NULL REFERENCES provisioner_jobs (id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX template_versions_template_id ON template_versions (template_id);
CREATE UNIQUE INDEX template_versions_job_id ON template_versions (job_id);

CREATE TABLE workspaces (
    id              TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL,
    owner           TEXT    NOT NULL,
    template_id     TEXT    REFERENCES templates (id),
    created_at      INTEGER NOT NULL,
    deleted_at      INTEGER,
    latest_build_id TEXT,
    -- The latest build is a build of this very workspace, so joining workspaces on
    -- latest_build_id alone finds a build's workspace. (SQLite checks foreign keys when rows
    -- change, so this forward reference is fine here; PostgreSQL adds it with ALTER TABLE.)
    FOREIGN KEY (id, latest_build_id) REFERENCES workspace_builds (workspace_id, id)
);
-- Names are unique per owner, ignoring case, among workspaces that are not deleted.
CREATE UNIQUE INDEX workspaces_owner_name_live ON workspaces (owner, lower(name))
    WHERE deleted_at IS NULL;
CREATE INDEX workspaces_created_at ON workspaces (created_at, id);
CREATE UNIQUE INDEX workspaces_latest_build_id ON workspaces (latest_build_id);

CREATE TABLE workspace_builds (
    id           TEXT    NOT NULL PRIMARY KEY,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id),
    build_number INTEGER NOT NULL,
    transition   TEXT    NOT NULL CHECK (transition IN ('start', 'stop', 'delete')),
    job_id       TEXT    NOT NULL REFERENCES provisioner_jobs (id),
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX workspace_builds_number ON workspace_builds (workspace_id, build_number);
CREATE UNIQUE INDEX workspace_builds_job_id ON workspace_builds (job_id);
-- The parent key of workspaces' latest-build foreign key.
CREATE UNIQUE INDEX workspace_builds_workspace_id_id ON workspace_builds (workspace_id, id);

CREATE TABLE workspace_resources (
    id          TEXT    NOT NULL PRIMARY KEY,
    job_id      TEXT    NOT NULL REFERENCES provisioner_jobs (id),
    ordinal     INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    instance_id TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX workspace_resources_job_id ON workspace_resources (job_id, ordinal);

CREATE TABLE workspace_agents (
    id                    TEXT    NOT NULL PRIMARY KEY,
    resource_id           TEXT    NOT NULL REFERENCES workspace_resources (id),
    -- The resource's job, copied here so that agent names can be unique per build.
    job_id                TEXT    NOT NULL REFERENCES provisioner_jobs (id),
    ordinal               INTEGER NOT NULL,
    name                  TEXT    NOT NULL,
    auth                  TEXT    NOT NULL CHECK (auth IN ('token', 'aws-instance-identity',
                                     'azure-instance-identity', 'google-instance-identity')),
    auth_instance_id      TEXT,
    parent_id             TEXT    REFERENCES workspace_agents (id),
    token_hash            TEXT,
    lifecycle_state       TEXT    NOT NULL,
    last_seen_at          INTEGER,
    last_authenticated_at INTEGER,
    created_at            INTEGER NOT NULL,
    -- Invariant: 1 exactly for the agents of each workspace's latest build, maintained by the
    -- build transaction. Template-version import agents keep 0 forever.
    in_latest_build       INTEGER NOT NULL DEFAULT 0 CHECK (in_latest_build IN (0, 1))
);
CREATE INDEX workspace_agents_resource_id ON workspace_agents (resource_id, ordinal);
-- Agent names are unique, ignoring case, among the agents of one build (or import).
CREATE UNIQUE INDEX workspace_agents_job_name ON workspace_agents (job_id, lower(name));
CREATE UNIQUE INDEX workspace_agents_token_hash ON workspace_agents (token_hash)
    WHERE token_hash IS NOT NULL;
-- Drives the instance-identity candidate lookup. Only live root agents are in it, so it stays
-- as small as the set of running agents however many times a VM has been rebuilt.
CREATE INDEX workspace_agents_candidates ON workspace_agents (auth_instance_id, auth)
    WHERE in_latest_build = 1 AND parent_id IS NULL;

CREATE TABLE agent_sessions (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    agent_id   TEXT    NOT NULL REFERENCES workspace_agents (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX agent_sessions_expires_at ON agent_sessions (expires_at);
CREATE INDEX agent_sessions_agent_id ON agent_sessions (agent_id);
