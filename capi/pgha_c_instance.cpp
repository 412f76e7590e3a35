// The C ABI of pgha::Instance: read-only observations of a local data directory.
#include <cstring>

#include "c_guard.hpp"
#include "c_handles.hpp"
#include "pgha/instance.hpp"
#include "pgha/pgha.h"

using pgha::capi::CheckVersion;
using pgha::capi::CopyOut;
using pgha::capi::Guard;
using pgha::capi::Require;

struct pgha_instance {
  pgha::Instance instance;
};

namespace {

std::string Or(const char* value, const char* fallback) {
  return value == nullptr || *value == '\0' ? fallback : value;
}

}  // namespace

extern "C" {

int pgha_instance_open(const pgha_instance_options* options, pgha_instance** out) {
  return Guard([&] {
    Require(options, "options");
    Require(out, "out");
    *out = nullptr;
    CheckVersion(options->version, "pgha_instance_options");
    Require(options->data_dir, "options->data_dir");
    pgha::InstanceOptions o;
    o.data_dir = options->data_dir;
    o.bindir = Or(options->bindir, "");
    o.host = Or(options->host, "127.0.0.1");
    o.port = options->port == 0 ? 5432 : options->port;
    o.os_user = Or(options->os_user, "postgres");
    o.superuser = Or(options->superuser, "postgres");
    *out = new pgha_instance{pgha::Instance(o)};
  });
}

void pgha_instance_free(pgha_instance* instance) {
  delete instance;
}

int pgha_instance_is_running(const pgha_instance* instance, int* out) {
  return Guard([&] {
    Require(instance, "instance");
    Require(out, "out");
    *out = instance->instance.IsRunning() ? 1 : 0;
  });
}

int pgha_instance_state(const pgha_instance* instance, pgha_node_state* out) {
  return Guard([&] {
    Require(instance, "instance");
    Require(out, "out");
    *out = static_cast<pgha_node_state>(instance->instance.State());
  });
}

int pgha_instance_lsn_facts(const pgha_instance* instance, pgha_lsn_facts* out) {
  return Guard([&] {
    Require(instance, "instance");
    Require(out, "out");
    CheckVersion(out->version, "pgha_lsn_facts");
    pgha::LsnFacts f = instance->instance.ReadLsnFacts();
    out->checkpoint = f.checkpoint.value();
    out->redo = f.redo.value();
    CopyOut(f.wal_file, out->wal_file, sizeof out->wal_file);
    out->timeline = f.timeline;
    out->last_lsn = f.last_lsn.value();
  });
}

int pgha_instance_control_data(const pgha_instance* instance, pgha_control_data* out) {
  return Guard([&] {
    Require(instance, "instance");
    Require(out, "out");
    CheckVersion(out->version, "pgha_control_data");
    pgha::ControlData cd = instance->instance.ReadControlData();
    pgha::capi::FillControlData(cd, out);
  });
}

}  // extern "C"
