/**
 * Versioned schema migrations. Each entry moves the database from version
 * i to i+1 (tracked in `PRAGMA user_version`); they run in one transaction at
 * open, so a crash mid-migration leaves the previous version intact.
 * Never edit a released migration: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: nodes, leases, events, tokens.
  `
  CREATE TABLE nodes (
    mac        TEXT PRIMARY KEY,          -- lowercase aa:bb:cc:dd:ee:ff
    arch       INTEGER,                   -- DHCP option 93 client architecture
    firmware   TEXT CHECK (firmware IN ('bios', 'uefi')),
    ip         TEXT,
    hostname   TEXT,                      -- assigned (pre-assignment skips the prompt)
    phase      TEXT NOT NULL DEFAULT 'discovered',
    kernel     TEXT,
    first_seen INTEGER NOT NULL,          -- ms since epoch
    last_seen  INTEGER NOT NULL
  );
  CREATE TABLE leases (
    ip         TEXT PRIMARY KEY,
    mac        TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'declined', 'released')),
    expires_at INTEGER NOT NULL,
    hostname   TEXT
  );
  CREATE INDEX leases_mac ON leases (mac);
  CREATE TABLE reservations (
    mac      TEXT PRIMARY KEY,
    ip       TEXT NOT NULL UNIQUE,
    hostname TEXT
  );
  CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,               -- e.g. node.booted, dhcp.lease, tftp.transfer
    mac     TEXT,
    message TEXT NOT NULL,
    data    TEXT                         -- JSON
  );
  CREATE INDEX events_mac ON events (mac, id);
  CREATE TABLE tokens (
    name       TEXT PRIMARY KEY,         -- 'admin' or 'node'
    sha256     TEXT NOT NULL,            -- hex; the plaintext is never stored here
    created_at INTEGER NOT NULL
  );
  `,
  // 2: captures (server/capture) and image locks (server/images).
  `
  CREATE TABLE captures (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,              -- image name
    source      TEXT NOT NULL,              -- root@host, rsync://host/module
    state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled')),
    phase       TEXT NOT NULL,              -- probe, rsync, pack, publish, done
    version     INTEGER,                    -- published version, when done
    error_code  TEXT,
    error       TEXT,                       -- one line: what went wrong and what to do
    stats       TEXT,                       -- JSON: rsync and pack figures
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE INDEX captures_name ON captures (name, started_at);
  CREATE TABLE image_locks (
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    holder     TEXT NOT NULL,               -- e.g. deployment:<id>
    reason     TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (name, version, holder)
  );
  `,
  // 3: deployment (server/deploy): what blank nodes receive, and each node's install state.
  `
  ALTER TABLE nodes ADD COLUMN seq INTEGER;                 -- {n} of the hostname pattern, given at first plan
  ALTER TABLE nodes ADD COLUMN image TEXT;                  -- per-node override: NAME or NAME@VERSION
  ALTER TABLE nodes ADD COLUMN install TEXT NOT NULL DEFAULT 'none'
    CHECK (install IN ('none', 'pending', 'installing', 'installed', 'failed'));
  ALTER TABLE nodes ADD COLUMN installed_image TEXT;        -- NAME@VERSION being or last installed
  ALTER TABLE nodes ADD COLUMN error TEXT;                  -- last failure: step and output, one paragraph
  CREATE UNIQUE INDEX nodes_seq ON nodes (seq);
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,                    -- e.g. deploy.image
    value TEXT NOT NULL                        -- JSON
  );
  `,
  // 4: the web console (issue 6): sign-in sessions, configuration groups, retiring nodes, image checks.
  `
  CREATE TABLE sessions (
    id_sha256  TEXT PRIMARY KEY,            -- hex SHA-256 of the cookie value; the cookie itself is never stored
    csrf       TEXT NOT NULL,               -- synchronizer token the console sends in x-csrf-token on writes
    address    TEXT,                        -- where the sign-in came from (for the event log)
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE groups (
    name             TEXT PRIMARY KEY,
    image            TEXT,                  -- NAME (latest) or NAME@VERSION; null = the deploy image
    hostname_pattern TEXT,                  -- null = the global pattern
    keep             TEXT,                  -- JSON array of mount points; null = the global list
    kernel_args      TEXT NOT NULL DEFAULT '[]', -- JSON array, appended to the netboot kernel command line
    target_disk      TEXT,
    prompt_timeout   INTEGER,
    created_at       INTEGER NOT NULL
  );
  ALTER TABLE nodes ADD COLUMN group_name TEXT REFERENCES groups (name) ON DELETE RESTRICT;
  ALTER TABLE nodes ADD COLUMN retired_at INTEGER;          -- set: out of the inventory, never installed again
  ALTER TABLE nodes ADD COLUMN wipe INTEGER NOT NULL DEFAULT 0; -- 1: erase its disk at the next network boot
  CREATE TABLE image_checks (
    name    TEXT NOT NULL,
    version INTEGER NOT NULL,
    ok      INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    detail  TEXT,                            -- JSON array: the problems the verifier found
    PRIMARY KEY (name, version)
  );
  `,
  // 5: node identity (issue 25): who set a hostname (an operator's assignment outranks a node's report), and when a wipe plan was handed out.
  `
  ALTER TABLE nodes ADD COLUMN hostname_by TEXT;            -- 'operator' (API/CLI/console) or 'node' (its own report); null with no hostname
  ALTER TABLE nodes ADD COLUMN wipe_planned_at INTEGER;     -- set when the node was given its wipe plan; a 'retired' report counts only after it
  UPDATE nodes SET hostname_by = 'operator' WHERE hostname IS NOT NULL;
  `,
  // 6: events kept by age (issue 25): the trim deletes old events by this index, never by a scan.
  `
  CREATE INDEX events_at ON events (at);
  `,
  // 7: a node's own target disk hint (issue 23), before its group's and the deployment's.
  `
  ALTER TABLE nodes ADD COLUMN target_disk TEXT;            -- contract/disk-hint.ts; null = the group's or the deployment's
  `,
  // 8: a node's own static address (issue 23), written into its restored system; null = DHCP.
  `
  ALTER TABLE nodes ADD COLUMN network TEXT;                -- JSON {address: "10.0.0.21/24", gateway?, dns?}
  `,
  // 9: BMC credentials (issue 28): per node (its address; user and password optional) and per group
  // (user and password shared by its nodes). The password is sealed (AES-256-GCM, server/power/secret-box.ts)
  // under a key in a file beside the database, never in it: a copied imgsrv.db gives no BMC away.
  `
  CREATE TABLE node_bmcs (
    mac        TEXT PRIMARY KEY REFERENCES nodes (mac) ON DELETE CASCADE,
    driver     TEXT NOT NULL DEFAULT 'ipmi',
    address    TEXT NOT NULL,
    port       INTEGER,
    user       TEXT,                      -- null: the group's
    secret     BLOB,                      -- sealed password; null: the group's
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE group_bmcs (
    name       TEXT PRIMARY KEY REFERENCES groups (name) ON DELETE CASCADE,
    user       TEXT NOT NULL,
    secret     BLOB NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
];
