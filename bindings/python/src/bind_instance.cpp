// pgha.Instance: one local PostgreSQL data directory (include/pgha/instance.hpp).
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <map>

#include "bindings.hpp"
#include "pgha/instance.hpp"

namespace pgha::py {

namespace {

using Release = pb::call_guard<pb::gil_scoped_release>;

std::chrono::milliseconds Millis(double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds))
    throw Error(ErrorCode::kBadInput, "timeout " + std::to_string(seconds) + " must be positive");
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000.0)));
}

Timeout TimeoutOf(std::optional<double> seconds) {
  if (!seconds) return std::nullopt;
  return Millis(*seconds);
}

Instance MakeInstance(const std::string& data_dir, int port, const std::string& host,
                      const std::string& bindir, const std::string& os_user,
                      const std::string& superuser, const std::string& password,
                      const std::string& socket_dir, const std::string& log_file, double timeout,
                      double connect_timeout, const std::string& passfile) {
  InstanceOptions o;
  o.data_dir = data_dir;
  o.port = port;
  o.host = host;
  o.bindir = bindir;
  o.os_user = os_user;
  o.superuser = superuser;
  o.password = password;
  o.passfile = passfile;
  o.socket_dir = socket_dir;
  o.log_file = log_file;
  o.timeout = Millis(timeout);
  o.connect_timeout = Millis(connect_timeout);
  return Instance(std::move(o));
}

void Init(Instance& in, const std::string& subnet, int mask, const std::string& replicate_user,
          const std::string& replicate_password, const std::string& database,
          const std::string& db_user, const std::string& db_password,
          const std::string& superuser_password, std::uint32_t wal_segment_size_mb,
          bool data_checksums, int max_wal_senders, int max_replication_slots,
          std::uint32_t wal_keep_mb, const std::map<std::string, std::string>& settings,
          bool local_trust, const std::string& rewind_user, const std::string& rewind_password) {
  InitOptions o;
  o.local_trust = local_trust;
  o.rewind_user = rewind_user;
  o.rewind_password = rewind_password;
  o.subnet = subnet;
  o.mask = mask;
  o.replicate_user = replicate_user;
  o.replicate_password = replicate_password;
  o.database = database;
  o.db_user = db_user;
  o.db_password = db_password;
  o.superuser_password = superuser_password;
  o.wal_segment_size_mb = wal_segment_size_mb;
  o.data_checksums = data_checksums;
  o.max_wal_senders = max_wal_senders;
  o.max_replication_slots = max_replication_slots;
  o.wal_keep_mb = wal_keep_mb;
  o.settings.assign(settings.begin(), settings.end());
  pb::gil_scoped_release release;
  in.Init(o);
}

pb::dict LsnFactsDict(const Instance& in) {
  LsnFacts f;
  {
    pb::gil_scoped_release release;
    f = in.ReadLsnFacts();
  }
  pb::dict d;
  d["chkPoint"] = f.checkpoint.ToString();
  d["chkRedoPoint"] = f.redo.ToString();
  d["walFile"] = f.wal_file;
  d["timeLineID"] = std::to_string(f.timeline);
  d["lastLsn"] = f.last_lsn.ToString();
  return d;
}

pb::list QueryRows(const Instance& in, const std::string& sql,
                   const std::vector<std::optional<std::string>>& params) {
  std::vector<QueryRow> rows;
  {
    pb::gil_scoped_release release;
    rows = in.Query(sql, params);
  }
  pb::list out;
  for (const QueryRow& r : rows) {
    pb::tuple t(r.size());
    for (std::size_t i = 0; i < r.size(); ++i)
      t[i] = r[i] ? pb::object(pb::str(*r[i])) : pb::object(pb::none());
    out.append(t);
  }
  return out;
}

void BindObservation(pb::module_& m) {
  pb::class_<WalReceiverStatus>(m, "WalReceiverStatus", "pg_stat_wal_receiver of a standby.")
      .def_readonly("status", &WalReceiverStatus::status)
      .def_readonly("sender_host", &WalReceiverStatus::sender_host)
      .def_readonly("sender_port", &WalReceiverStatus::sender_port)
      .def_readonly("received_timeline", &WalReceiverStatus::received_timeline)
      .def_property_readonly("flushed_lsn",
                             [](const WalReceiverStatus& r) { return LsnOrNone(r.flushed_lsn); })
      .def("__repr__", [](const WalReceiverStatus& r) {
        return "WalReceiverStatus(status='" + r.status + "', sender='" + r.sender_host + ":" +
               std::to_string(r.sender_port) + "')";
      });
  pb::class_<StreamingStandby>(m, "StreamingStandby", "One row of pg_stat_replication.")
      .def_readonly("application_name", &StreamingStandby::application_name)
      .def_readonly("client_addr", &StreamingStandby::client_addr)
      .def_readonly("state", &StreamingStandby::state)
      .def_property_readonly("sent_lsn",
                             [](const StreamingStandby& s) { return LsnOrNone(s.sent_lsn); })
      .def_property_readonly("write_lsn",
                             [](const StreamingStandby& s) { return LsnOrNone(s.write_lsn); })
      .def_property_readonly("flush_lsn",
                             [](const StreamingStandby& s) { return LsnOrNone(s.flush_lsn); })
      .def_property_readonly("replay_lsn",
                             [](const StreamingStandby& s) { return LsnOrNone(s.replay_lsn); })
      .def_readonly("sync_state", &StreamingStandby::sync_state)
      .def("__repr__", [](const StreamingStandby& s) {
        return "StreamingStandby(application_name='" + s.application_name + "', state='" + s.state +
               "')";
      });
  using Ob = InstanceObservation;
  pb::class_<Ob>(m, "InstanceObservation", "What Instance.observe() saw.")
      .def_readonly("running", &Ob::running)
      .def_readonly("accepting_connections", &Ob::accepting_connections)
      .def_readonly("in_recovery", &Ob::in_recovery)
      .def_readonly("receiver", &Ob::receiver)
      .def_readonly("standbys", &Ob::standbys)
      .def_property_readonly("current_lsn", [](const Ob& o) { return LsnOrNone(o.current_lsn); })
      .def_property_readonly("flush_lsn", [](const Ob& o) { return LsnOrNone(o.flush_lsn); })
      .def_property_readonly("receive_lsn", [](const Ob& o) { return LsnOrNone(o.receive_lsn); })
      .def_property_readonly("replay_lsn", [](const Ob& o) { return LsnOrNone(o.replay_lsn); })
      .def_readonly("timeline", &Ob::timeline)
      .def_readonly("server_version", &Ob::server_version)
      .def_property_readonly("state",
                             [](const Ob& o) { return std::string(NodeStateName(o.state)); })
      .def("__repr__", [](const Ob& o) {
        return "InstanceObservation(state='" + std::string(NodeStateName(o.state)) +
               "', timeline=" + std::to_string(o.timeline) + ")";
      });
}

}  // namespace

void BindInstance(pb::module_& m) {
  BindObservation(m);
  pb::class_<Instance> c(m, "Instance", "One local PostgreSQL data directory and its binaries.");
  c.def(pb::init(&MakeInstance), pb::arg("data_dir"), pb::arg("port"),
        pb::arg("host") = "127.0.0.1", pb::arg("bindir") = "", pb::arg("os_user") = "postgres",
        pb::arg("superuser") = "postgres", pb::arg("password") = "", pb::arg("socket_dir") = "",
        pb::arg("log_file") = "", pb::arg("timeout") = 60.0, pb::arg("connect_timeout") = 5.0,
        pb::arg("passfile") = "", Release());
  c.def_property_readonly("data_dir", [](const Instance& in) { return in.options().data_dir; })
      .def_property_readonly("port", [](const Instance& in) { return in.options().port; })
      .def_property_readonly("host", [](const Instance& in) { return in.options().host; })
      .def_property_readonly("socket_dir",
                             [](const Instance& in) { return in.options().socket_dir; })
      .def_property_readonly("log_file", [](const Instance& in) { return in.options().log_file; })
      .def_property_readonly("bindir", [](const Instance& in) { return in.binaries().bindir; })
      .def_property_readonly("version", [](const Instance& in) { return in.binaries().version; })
      .def_property_readonly("major", [](const Instance& in) { return in.binaries().major; });
  c.def("init", &Init, pb::kw_only(), pb::arg("subnet") = "0.0.0.0", pb::arg("mask") = 32,
        pb::arg("replicate_user") = "replicate", pb::arg("replicate_password") = "",
        pb::arg("database") = "datasync", pb::arg("db_user") = "datasync",
        pb::arg("db_password") = "datasync", pb::arg("superuser_password") = "",
        pb::arg("wal_segment_size_mb") = 0, pb::arg("data_checksums") = false,
        pb::arg("max_wal_senders") = 10, pb::arg("max_replication_slots") = 10,
        pb::arg("wal_keep_mb") = 1024, pb::arg("settings") = std::map<std::string, std::string>{},
        pb::arg("local_trust") = true, pb::arg("rewind_user") = "",
        pb::arg("rewind_password") = "");
  c.def(
      "start", [](Instance& in, std::optional<double> t) { in.Start(TimeoutOf(t)); },
      pb::arg("timeout") = pb::none(), Release());
  c.def(
      "stop",
      [](Instance& in, const std::string& mode, std::optional<double> t) {
        in.Stop(ParseStopMode(mode), TimeoutOf(t));
      },
      pb::arg("mode") = "fast", pb::arg("timeout") = pb::none(), Release());
  c.def(
      "restart", [](Instance& in, std::optional<double> t) { in.Restart(TimeoutOf(t)); },
      pb::arg("timeout") = pb::none(), Release());
  c.def(
      "promote", [](Instance& in, std::optional<double> t) { in.Promote(TimeoutOf(t)); },
      pb::arg("timeout") = pb::none(), Release());
  c.def(
      "write_standby_config",
      [](Instance& in, const std::string& host, int port, const std::string& user,
         const std::string& password, const std::string& app, const std::string& slot,
         const std::string& delay, const std::string& passfile) {
        in.WriteStandbyConfig(
            StandbyConfig{host, port, user, password, app, slot, delay, passfile});
      },
      pb::arg("primary_host"), pb::arg("primary_port"), pb::arg("user") = "replicate",
      pb::arg("password") = "", pb::arg("application_name") = "", pb::arg("slot_name") = "",
      pb::arg("apply_delay") = "", pb::arg("passfile") = "", Release());
  c.def("remove_standby_config", &Instance::RemoveStandbyConfig, Release());
  c.def(
      "set_synchronous_standbys",
      [](Instance& in, std::vector<std::string> names, int count) {
        in.SetSynchronousStandbys(SynchronousStandbys{std::move(names), count});
      },
      pb::arg("names"), pb::arg("count") = 1, Release());
  c.def(
      "write_parameters",
      [](Instance& in, const std::map<std::string, std::string>& parameters) {
        ParameterReport r;
        {
          pb::gil_scoped_release release;
          r = in.WriteParameters({parameters.begin(), parameters.end()});
        }
        pb::dict d;
        d["changed"] = r.changed;
        d["pending_restart"] = r.pending_restart;
        return d;
      },
      pb::arg("parameters"));
  c.def("pending_restart", &Instance::PendingRestart, Release());
  c.def_static("managed_parameter", &Instance::ManagedParameter, pb::arg("name"));
  c.def("has_standby_config", &Instance::HasStandbyConfig, Release());
  c.def("ensure_physical_slot", &Instance::EnsurePhysicalSlot, pb::arg("name"), Release());
  c.def(
      "sync",
      [](Instance& in, const std::string& host, int port, const std::string& user,
         const std::string& password, const std::string& slot, const std::string& app,
         const std::string& delay, bool replace, std::optional<double> t, const std::string& method,
         std::uint32_t max_rate_kb) {
        SyncOptions o;
        o.source_host = host;
        o.source_port = port;
        o.user = user;
        o.password = password;
        o.slot_name = slot;
        o.application_name = app;
        o.apply_delay = delay;
        o.replace = replace;
        o.timeout = TimeoutOf(t);
        o.method = ParseBaseBackupMethod(method);
        o.max_rate_kb = max_rate_kb;
        SyncReport r;
        {
          pb::gil_scoped_release release;
          r = in.Sync(o);
        }
        pb::dict d;
        d["method"] = std::string(BaseBackupMethodName(r.method));
        d["bytes"] = r.bytes;
        d["start_lsn"] = r.start_lsn.IsValid() ? pb::object(pb::cast(r.start_lsn)) : pb::none();
        d["end_lsn"] = r.end_lsn.IsValid() ? pb::object(pb::cast(r.end_lsn)) : pb::none();
        return d;
      },
      pb::arg("source_host"), pb::arg("source_port"), pb::arg("user") = "replicate",
      pb::arg("password") = "", pb::arg("slot_name") = "", pb::arg("application_name") = "",
      pb::arg("apply_delay") = "", pb::arg("replace") = false, pb::arg("timeout") = pb::none(),
      pb::arg("method") = "auto", pb::arg("max_rate_kb") = 0);
  c.def(
      "rewind",
      [](Instance& in, const std::string& host, int port, const std::string& user,
         const std::string& password, const std::string& dbname, std::optional<double> t,
         const std::string& checkpoint_user) {
        in.Rewind(RewindSource{host, port, user, password, dbname, checkpoint_user}, TimeoutOf(t));
      },
      pb::arg("source_host"), pb::arg("source_port"), pb::arg("user") = "postgres",
      pb::arg("password") = "", pb::arg("dbname") = "postgres", pb::arg("timeout") = pb::none(),
      pb::arg("checkpoint_user") = "", Release());
  c.def("is_running", &Instance::IsRunning, Release());
  c.def("postmaster_pid", &Instance::PostmasterPid, Release());
  c.def("observe", &Instance::Observe, Release());
  c.def(
      "state", [](const Instance& in) { return std::string(NodeStateName(in.State())); },
      Release());
  c.def("in_recovery", &Instance::InRecovery, Release());
  c.def("control_data", &Instance::ReadControlData, Release());
  c.def("lsn_facts", &LsnFactsDict,
        "The seed's lsn fields: chkPoint, chkRedoPoint, walFile, timeLineID, lastLsn (strings).");
  c.def("history", &Instance::History, Release());
  c.def("end_of_wal", &Instance::EndOfWal, Release());
  c.def("query", &QueryRows, pb::arg("sql"),
        pb::arg("params") = std::vector<std::optional<std::string>>{},
        "Runs one statement with $1.. text parameters; rows as tuples of str or None.");
  c.def("log_tail", &Instance::LogTail, pb::arg("lines") = 20, Release());
  c.def("__repr__", [](const Instance& in) {
    return "Instance(data_dir='" + in.options().data_dir +
           "', port=" + std::to_string(in.options().port) + ")";
  });
}

}  // namespace pgha::py
