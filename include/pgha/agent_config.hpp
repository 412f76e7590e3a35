// pgha-agent's configuration: the seed's environment variables plus a JSON file.
#ifndef PGHA_AGENT_CONFIG_HPP
#define PGHA_AGENT_CONFIG_HPP

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pgha/cluster.hpp"
#include "pgha/export.hpp"
#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"

namespace pgha {

/// Everything an agent needs to know. Load() reads the JSON file (when one is named; it must
/// exist), then lets the environment override it:
///
/// - LOCAL_NODE → local_node (default PGNODE01)
/// - REMOTE_NODE → a peer named so: agent http://NAME:LISTENING_PORT, PostgreSQL NAME:5432
///   (unset: no peer from the environment; the seed's compose file set PGNODE02)
/// - LISTENING_PORT → listen_port (8079); PGHA_LISTEN_ADDRESS → listen_address (127.0.0.1)
/// - SUBNET, MASK → subnet, mask: the pg_hba.conf replication line (0.0.0.0, 32)
/// - REPLICATE_USER → replicate_user (replicate); PGDATA → pgdata (/data)
/// - APPLY_DELAY → apply_delay (recovery_min_apply_delay; none)
/// - DATABASE, DB_USER, DB_PASSWD → database, db_user, db_passwd (datasync)
/// - PGHA_PG_PORT, PGHA_PG_BINDIR → the local PostgreSQL port (5432), bindir (pg_config's)
/// - PGHA_API_TOKEN or PGHA_API_TOKEN_FILE → api_token (never in the JSON file; none: the
///   agent refuses to start without a token unless auth_disabled)
/// - PGHA_TLS_CERT_FILE, PGHA_TLS_KEY_FILE → tls_cert_file, tls_key_file (HTTPS)
/// - PGHA_TLS_CA_FILE → tls_ca_file; PGHA_TLS_CLIENT_CA_FILE → tls_client_ca_file
/// - PGHA_TLS_INSECURE_SKIP_VERIFY (true/false) → tls_insecure_skip_verify
/// - PGHA_STATE_REFRESH_MS → state_refresh_interval (100)
/// - PGHA_SYNCHRONOUS → synchronous_mode: on/off, true/false, 1/0 (off)
/// - PGHA_SLOT_SYNC_INTERVAL_MS → slot_sync_interval (2000; 0: off)
/// - PGHA_REPLICATE_PASSWORD or PGHA_REPLICATE_PASSWORD_FILE → replicate_password,
///   PGHA_SUPERUSER_PASSWORD(_FILE) → superuser_password, PGHA_REWIND_USER → rewind_user,
///   PGHA_REWIND_PASSWORD(_FILE) → rewind_password (clear passwords only in the environment
///   or their files, never in the JSON file; the clear variable wins over the file)
/// - PGHA_PASSFILE → passfile; PGHA_LOCAL_TRUST (true/false) → local_trust
/// - PGHA_ETCD_ENDPOINTS (comma-separated URLs) → etcd_endpoints; PGHA_ETCD_PREFIX,
///   PGHA_CLUSTER_NAME, PGHA_ETCD_USER, PGHA_ETCD_PASSWORD(_FILE), PGHA_HA_TTL_S,
///   PGHA_HA_LOOP_MS, PGHA_NOFAILOVER (true/false), PGHA_PRIORITY → the fields of that name
struct PGHA_API AgentConfig {
  std::string config_file;  ///< where POST nodes/env persists the configuration ("" = nowhere)
  std::string local_node = "PGNODE01";
  std::vector<NodeAddress> nodes;  ///< every node, the local one included
  std::string listen_address = "127.0.0.1";
  int listen_port = 8079;
  std::string api_token;
  bool auth_disabled = false;
  /// HTTPS: the agent's PEM certificate (then intermediates) and its unencrypted key; both
  /// or neither. Also presented to peers that ask for a client certificate.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// PEM CA certificates the peers' https certificates must chain to ("" = the system's).
  std::string tls_ca_file;
  /// Mutual TLS: clients must present a certificate one of these CAs signed.
  std::string tls_client_ca_file;
  /// Peers' certificates are not verified (a warning is logged at start). Tests only.
  bool tls_insecure_skip_verify = false;
  std::string pgdata = "/data";
  std::string bindir;
  std::string os_user = "postgres";
  std::string superuser = "postgres";
  std::string subnet = "0.0.0.0";
  int mask = 32;
  std::string replicate_user = "replicate";
  std::string apply_delay;
  std::string database = "datasync";
  std::string db_user = "datasync";
  std::string db_passwd = "datasync";
  std::uint32_t wal_segment_size_mb = 0;  ///< initdb --wal-segsize for pg/init (0 = 16)
  /// Who takes the base backups of pg/sync and of a rejoin by fresh copy (JSON
  /// `base_backup_method`: "auto" = the bindir's pg_basebackup when there is one, else
  /// pgha's own over the replication protocol; "pg_basebackup"; "pgha").
  std::string base_backup_method = "auto";
  /// The source's MAX_RATE for those base backups, kB/s (32 .. 1048576; 0: no limit).
  std::uint32_t base_backup_max_rate_kb = 0;
  std::chrono::milliseconds operation_timeout{120000};
  /// How often a standby's agent brings its copies of the master's logical slots up to date
  /// (PGHA_SLOT_SYNC_INTERVAL_MS; 0: never, the operations still carry slots).
  std::chrono::milliseconds slot_sync_interval{2000};
  /// How often the background observer refreshes the state GET instance/current serves
  /// (JSON `state_refresh_ms`, env PGHA_STATE_REFRESH_MS; 10..10000 ms). Read at start.
  std::chrono::milliseconds state_refresh_interval{100};
  /// Synchronous replication (JSON `synchronous_mode`, env PGHA_SYNCHRONOUS): every node's
  /// pgha.conf names the other nodes in synchronous_standby_names (`ANY 1 (...)`), so a
  /// master acknowledges a commit only once a slave has flushed it, and writes wait while no
  /// slave streams (docs/agent.md, "Synchronous replication"). Off: asynchronous.
  bool synchronous_mode = false;

  /// Passwords of the roles pgha connects as across hosts. Each is read at start from the
  /// environment or from its file (JSON `*_password_file`: a path), is never written to the
  /// configuration file, a log or an answer, and reaches libpq only through `passfile`.
  std::string replicate_password_file;
  std::string replicate_password;  ///< REPLICATE_USER's (streaming, pg/sync)
  std::string superuser_password_file;
  std::string superuser_password;  ///< the superuser's (pg_rewind without rewind_user)
  /// A role pg/init creates with only pg_rewind's grants; rewinds run as it ("" -> the
  /// superuser rewinds). PostgreSQL 11+.
  std::string rewind_user;
  std::string rewind_password_file;
  std::string rewind_password;
  /// The libpq password file the agent writes at start from the passwords above (mode 0600,
  /// owned by os_user; "" -> PassfilePath(): pgdata + ".pgpass"), named in primary_conninfo
  /// and given to pg_basebackup and pg_rewind, so that no password is in the data directory.
  std::string passfile;
  /// pg/init's pg_hba.conf trusts the local socket and loopback, as the seed's sample does.
  /// Off (the default): no trust line; the agent reaches its server over the socket by peer
  /// (pg_ident.conf), every TCP connection needs a password (scram-sha-256). `pghactl local
  /// up` turns it on: its nodes share one machine's loopback.
  bool local_trust = false;
  /// Server parameters (JSON object `parameters`, as Patroni's `postgresql.parameters`): name
  /// to value (strings, numbers and booleans are taken as their text). Written at every start
  /// into pgha.parameters.conf over DefaultParameters; POST nodes/env applies a change at
  /// once (reload) and names those that wait for a restart. Names pgha sets itself
  /// (Instance::ManagedParameter) and wal_level = minimal are refused.
  std::map<std::string, std::string> parameters;

  /// Automatic failover (docs/ha.md): the etcd cluster that holds the leader key. Empty: no
  /// store, the seed's manual mode.
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix = "/pgha";  ///< keys live under <etcd_prefix>/<cluster_name>/
  std::string cluster_name = "pgha";
  std::string etcd_user;  ///< etcd authentication ("" = none)
  std::string etcd_password_file;
  std::string etcd_password;  ///< environment or file only, like the other passwords
  /// The leader lease: a master that cannot renew it fences itself before it can have
  /// expired; a standby takes over once it has. 2..3600 s.
  std::chrono::seconds ha_ttl{5};
  /// How often the HA loop looks at the store and the local server (a watch on the leader key
  /// wakes it at once). 50..60000 ms, and under a third of ha_ttl.
  std::chrono::milliseconds ha_loop_interval{500};
  bool nofailover = false;  ///< this node never takes over
  int priority = 0;         ///< breaks ties between equally advanced candidates; higher wins

  /// The file's JSON (when `file` is not empty) overridden by `env`. Throws Error(kNotFound)
  /// when `file` does not exist, Error(kBadInput) naming the field for a malformed file or
  /// value.
  static AgentConfig Load(const std::string& file, const std::map<std::string, std::string>& env);
  /// The process environment as a map (for Load).
  static std::map<std::string, std::string> ProcessEnvironment();
  static AgentConfig FromJson(const std::string& json_text);
  /// JSON of every field but the token (which lives in the environment or its own file).
  std::string ToJson() const;
  /// Applies the fields present in `json_text` (POST nodes/env) and checks the result; all
  /// or nothing. Throws Error(kBadInput) naming the field for one that is malformed, and for
  /// a start-only field set to another value than the running one: local_node, pgdata,
  /// bindir, os_user, auth_disabled, listen_address, listen_port, the tls_* fields, the
  /// password files, rewind_user, passfile, local_trust, and api_token / api_token_file and
  /// the clear passwords (never JSON fields: naming them is refused).
  void Update(const std::string& json_text);
  /// Writes config_file atomically (temp file, fsync, rename). Throws Error(kIo).
  void Save() const;
  /// Throws Error(kBadInput) unless the configuration is usable: a local node among the
  /// nodes, unique names, ports in range, a token or auth_disabled, TLS files that load
  /// (see CheckServerTls and CheckClientTls; kNotFound / kIo for a file not read), and values
  /// that go into PostgreSQL's files valid by their grammar (SUBNET/MASK, role and database
  /// names, the password, APPLY_DELAY, PostgreSQL hosts).
  void Validate() const;

  /// The server's TLS settings (tls.enabled() when the agent serves HTTPS).
  HttpServerTls ServerTls() const;
  /// The TLS settings of the agent's calls to its peers.
  HttpClientTls ClientTls() const;

  /// What pgha needs of every server unless `parameters` says otherwise: wal_level logical,
  /// hot_standby and hot_standby_feedback on, wal_log_hints on (pg_rewind), scram-sha-256
  /// password_encryption, and on 13+ max_slot_wal_keep_size 8GB, so that the slot of a standby
  /// that is gone cannot fill the master's disk.
  static std::map<std::string, std::string> DefaultParameters(int major);
  /// DefaultParameters overridden by `parameters`, sorted by name.
  std::vector<std::pair<std::string, std::string>> ServerParameters(int major) const;

  /// True when etcd_endpoints names a store: the HA loop runs.
  bool AutomaticFailover() const { return !etcd_endpoints.empty(); }

  /// `passfile`, or pgdata + ".pgpass" when it is empty.
  std::string PassfilePath() const;
  /// The passfile's content: a line for each role that has a password (replicate_user,
  /// superuser, rewind_user). Empty when none has one.
  std::string PassfileText() const;

  const NodeAddress& Local() const;
  std::vector<NodeAddress> Peers() const;
};

}  // namespace pgha

#endif  // PGHA_AGENT_CONFIG_HPP
