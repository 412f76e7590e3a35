// pgha_bench_core: throughput of the core parsers (slot state files, LSN text, CRC-32C) and of
// the end-of-WAL scan over segment files. Prints figures only; it never fails on a speed
// goal. bench/run.sh sets the WAL figure next to pg_waldump's; docs/benchmarks.md explains.
//
//   pgha_bench_core [--fixtures DIR] [--runs N] [--min-ms MILLISECONDS] [--warmup N]
//                   [--wal-only] [--porcelain] [SEGMENT_FILE...]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "crc32c_internal.hpp"
#include "pgha/crc32c.hpp"
#include "pgha/error.hpp"
#include "pgha/lsn.hpp"
#include "pgha/slot_state.hpp"
#include "pgha/wal_scan.hpp"

namespace pgha::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Every timed batch stores a value computed from all its results here, so the compiler has
// to do the work it is asked to time.
volatile std::uint64_t g_sink = 0;

constexpr std::uint64_t kMaxIterations = std::uint64_t{1} << 30;

struct Options {
  std::string fixtures;
  int runs = 7;
  double min_time = 0.2;  // seconds per timed run of a micro figure
  int warmup = 1;         // untimed WAL scans before the timed ones
  bool wal_only = false;
  bool porcelain = false;  // key=value lines for the WAL scan, for bench/run.sh
  std::vector<std::string> segments;
};

// Seconds of each timed run of one figure.
struct Timing {
  std::vector<double> seconds;   // sorted
  std::uint64_t iterations = 1;  // per run

  double Median() const {
    std::size_t n = seconds.size();
    return n % 2 == 1 ? seconds[n / 2] : (seconds[n / 2 - 1] + seconds[n / 2]) / 2;
  }
  double Fastest() const { return seconds.front(); }
  double Slowest() const { return seconds.back(); }
};

double Seconds(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

// Times `batch(iterations)`, which must do `iterations` units of work: first doubles
// `iterations` until one call lasts at least opt.min_time (bounded by kMaxIterations), then
// times opt.runs calls.
template <typename Batch>
Timing Measure(const Options& opt, Batch&& batch) {
  Timing t;
  for (;;) {
    auto t0 = Clock::now();
    batch(t.iterations);
    if (Seconds(t0, Clock::now()) >= opt.min_time || t.iterations >= kMaxIterations) break;
    t.iterations *= 2;
  }
  for (int r = 0; r < opt.runs; ++r) {
    auto t0 = Clock::now();
    batch(t.iterations);
    t.seconds.push_back(Seconds(t0, Clock::now()));
  }
  std::sort(t.seconds.begin(), t.seconds.end());
  return t;
}

// One line: the rates at the median run and the range over the runs, where one iteration of
// the batch is `units_per_iteration` units (files, ops) and `bytes_per_iteration` bytes.
void PrintRate(const char* name, const Timing& t, double units_per_iteration, const char* unit,
               double bytes_per_iteration) {
  double units = units_per_iteration * static_cast<double>(t.iterations);
  double bytes = bytes_per_iteration * static_cast<double>(t.iterations);
  std::printf("%-44s %10.3f M %-7s", name, units / t.Median() / 1e6, unit);
  if (bytes > 0) {
    std::printf(" %9.1f MB/s", bytes / t.Median() / 1e6);
  } else {
    std::printf(" %14s", "");
  }
  std::printf("   runs %.3f..%.3f M %s\n", units / t.Slowest() / 1e6, units / t.Fastest() / 1e6,
              unit);
}

std::vector<std::uint8_t> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The slot state files of <fixtures>/pg*/slots/*.state that decode; names those that do not.
std::vector<std::vector<std::uint8_t>> LoadSlotFiles(const std::string& fixtures) {
  std::vector<fs::path> paths;
  for (const auto& major : fs::directory_iterator(fixtures)) {
    if (major.path().filename().string().rfind("pg", 0) != 0) continue;
    fs::path slots = major.path() / "slots";
    if (!fs::is_directory(slots)) continue;
    for (const auto& f : fs::directory_iterator(slots)) {
      if (f.path().extension() == ".state") paths.push_back(f.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<std::uint8_t>> files;
  for (const auto& p : paths) {
    std::vector<std::uint8_t> bytes = ReadFile(p);
    if (SlotState::TryDecode(bytes.data(), bytes.size()).ok()) {
      files.push_back(std::move(bytes));
    } else {
      std::printf("note: %s does not decode; left out\n", p.string().c_str());
    }
  }
  if (files.empty()) throw Error(ErrorCode::kNotFound, "no slot state files under " + fixtures);
  return files;
}

void BenchSlots(const Options& opt) {
  std::vector<std::vector<std::uint8_t>> files = LoadSlotFiles(opt.fixtures);
  double bytes = 0;
  for (const auto& f : files) bytes += static_cast<double>(f.size());
  std::printf("slot state files: %zu from %s/pg*/slots (%.0f bytes)\n", files.size(),
              fs::path(opt.fixtures).lexically_normal().string().c_str(), bytes);
  Timing decode = Measure(opt, [&](std::uint64_t n) {
    std::uint64_t acc = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      for (const auto& f : files) acc += SlotState::Decode(f).restart_lsn().value();
    }
    g_sink = acc;
  });
  PrintRate("slot decode (CRC-32C checked)", decode, static_cast<double>(files.size()), "files/s",
            bytes);

  std::vector<SlotState> states;
  for (const auto& f : files) states.push_back(SlotState::Decode(f));
  Timing encode = Measure(opt, [&](std::uint64_t n) {
    std::uint64_t acc = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      for (const auto& s : states) acc += s.Encode().back();
    }
    g_sink = acc;
  });
  PrintRate("slot encode (CRC-32C computed)", encode, static_cast<double>(states.size()), "files/s",
            bytes);
}

// splitmix64: a fixed sequence of pseudo-random numbers, the same in every run.
std::uint64_t NextRandom(std::uint64_t* state) {
  std::uint64_t z = (*state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

void BenchLsn(const Options& opt) {
  // LSNs of every magnitude: from 0/0-like to FFFFFFFF/FFFFFFFF, 3 to 17 characters.
  constexpr std::size_t kCount = 4096;
  std::uint64_t seed = 42;
  std::vector<Lsn> values;
  std::vector<std::string> texts;
  double chars = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    std::uint64_t r = NextRandom(&seed);
    values.emplace_back(NextRandom(&seed) >> (r % 64));
    texts.push_back(values.back().ToString());
    chars += static_cast<double>(texts.back().size());
  }
  std::printf("LSN texts: %zu, %.1f characters on average\n", kCount, chars / kCount);
  Timing parse = Measure(opt, [&](std::uint64_t n) {
    std::uint64_t acc = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      for (const auto& s : texts) acc += Lsn::Parse(s).value();
    }
    g_sink = acc;
  });
  PrintRate("LSN parse (Lsn::Parse)", parse, kCount, "ops/s", 0);
  Timing format = Measure(opt, [&](std::uint64_t n) {
    std::uint64_t acc = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      for (const auto& v : values) acc += static_cast<unsigned char>(v.ToString().back());
    }
    g_sink = acc;
  });
  PrintRate("LSN format (Lsn::ToString)", format, kCount, "ops/s", 0);
}

using CrcFunction = std::uint32_t (*)(std::uint32_t, const void*, std::size_t) noexcept;

// Median GB/s of `crc` over `data`, one call per iteration.
double CrcGigabytesPerSecond(const Options& opt, CrcFunction crc,
                             const std::vector<std::uint8_t>& data) {
  Timing t = Measure(opt, [&](std::uint64_t n) {
    std::uint32_t c = kCrc32cInit;
    for (std::uint64_t i = 0; i < n; ++i) c = crc(c, data.data(), data.size());
    g_sink = c;
  });
  return static_cast<double>(data.size()) * static_cast<double>(t.iterations) / t.Median() / 1e9;
}

void BenchCrc(const Options& opt) {
  constexpr std::size_t kSize = 64 * 1024;  // fits L2: measures the code, not memory
  std::vector<std::uint8_t> data(kSize);
  std::uint64_t seed = 7;
  for (auto& b : data) b = static_cast<std::uint8_t>(NextRandom(&seed));
  double table = CrcGigabytesPerSecond(opt, &Crc32cExtendPortable, data);
  if (!Crc32cIsHardwareAccelerated()) {
    std::printf("%-44s %10s   (no CRC-32C instruction on this CPU)\n",
                "CRC-32C CPU instruction, 64 KiB buffer", "n/a");
  } else {
    double hw = CrcGigabytesPerSecond(opt, &Crc32cExtend, data);
    std::printf("%-44s %10.2f GB/s   %.1fx the table\n", "CRC-32C CPU instruction, 64 KiB buffer",
                hw, hw / table);
  }
  std::printf("%-44s %10.2f GB/s\n", "CRC-32C table (slicing-by-8), 64 KiB buffer", table);
}

void PrintWalScan(const Options& opt, const WalScanResult& r, const Timing& t) {
  double range = static_cast<double>(r.end.value() - r.start.value());
  double read = static_cast<double>(r.bytes_read);
  if (opt.porcelain) {
    std::printf("wal_scan_files=%zu\nwal_scan_runs=%zu\nwal_scan_median_s=%.6f\n",
                opt.segments.size(), t.seconds.size(), t.Median());
    std::printf("wal_scan_fastest_s=%.6f\nwal_scan_slowest_s=%.6f\n", t.Fastest(), t.Slowest());
    std::printf("wal_scan_start=%s\nwal_scan_end=%s\nwal_scan_range_bytes=%.0f\n",
                r.start.ToString().c_str(), r.end.ToString().c_str(), range);
    std::printf("wal_scan_bytes_read=%.0f\nwal_scan_records=%llu\nwal_scan_stop_reason=%s\n", read,
                static_cast<unsigned long long>(r.records), r.stop_reason.c_str());
    return;
  }
  std::printf("WAL end scan: %zu files, WAL %s..%s (%.1f MB), %llu records, %.1f MB read\n",
              opt.segments.size(), r.start.ToString().c_str(), r.end.ToString().c_str(),
              range / 1e6, static_cast<unsigned long long>(r.records), read / 1e6);
  std::printf("  stopped: %s\n", r.stop_reason.c_str());
  std::printf("%-44s %10.1f MB/s   runs %.1f..%.1f MB/s (median %.4f s)\n",
              "WAL end scan (ScanWalFiles), WAL range", range / t.Median() / 1e6,
              range / t.Slowest() / 1e6, range / t.Fastest() / 1e6, t.Median());
}

// Each run is one whole scan; every run must find the same end.
void BenchWalScan(const Options& opt) {
  WalScanResult first;
  for (int i = 0; i < opt.warmup; ++i) first = ScanWalFiles(opt.segments);
  Timing t;
  for (int r = 0; r < opt.runs; ++r) {
    auto t0 = Clock::now();
    WalScanResult res = ScanWalFiles(opt.segments);
    t.seconds.push_back(Seconds(t0, Clock::now()));
    if (r == 0 && opt.warmup == 0) first = res;
    if (res.end != first.end || res.records != first.records) {
      throw Error(ErrorCode::kInternal, "WAL scan ended at " + res.end.ToString() + " in run " +
                                            std::to_string(r + 1) + ", at " + first.end.ToString() +
                                            " before");
    }
  }
  std::sort(t.seconds.begin(), t.seconds.end());
  PrintWalScan(opt, first, t);
}

[[noreturn]] void Usage(const char* message) {
  std::fprintf(
      stderr,
      "pgha_bench_core: %s\nusage: pgha_bench_core [--fixtures DIR] [--runs N] "
      "[--min-ms MILLISECONDS] [--warmup N] [--wal-only] [--porcelain] [SEGMENT_FILE...]\n",
      message);
  std::exit(2);
}

int IntArg(const std::string& text, int low, int high) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < low || v > high) Usage(("bad number: " + text).c_str());
  return static_cast<int>(v);
}

Options ParseOptions(int argc, char** argv) {
  Options opt;
  const char* env = std::getenv("PGHA_FIXTURES_DIR");
  opt.fixtures = env != nullptr && *env != '\0' ? env : PGHA_FIXTURES_DIR;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--fixtures" && has_value) {
      opt.fixtures = argv[++i];
    } else if (a == "--runs" && has_value) {
      opt.runs = IntArg(argv[++i], 1, 1000);
    } else if (a == "--min-ms" && has_value) {
      opt.min_time = IntArg(argv[++i], 1, 60000) / 1000.0;
    } else if (a == "--warmup" && has_value) {
      opt.warmup = IntArg(argv[++i], 0, 100);
    } else if (a == "--wal-only") {
      opt.wal_only = true;
    } else if (a == "--porcelain") {
      opt.porcelain = true;
    } else if (a.rfind("--", 0) == 0) {
      Usage(("unknown option or missing value: " + a).c_str());
    } else {
      opt.segments.push_back(a);
    }
  }
  if (opt.wal_only && opt.segments.empty()) Usage("--wal-only needs segment files");
  return opt;
}

int Main(int argc, char** argv) {
  Options opt = ParseOptions(argc, argv);
  if (!opt.wal_only) {
    std::printf(
        "pgha core micro-benchmarks: %s build; each figure is the median of %d timed runs "
        "of >= %.2f s (range: slowest..fastest run)\n",
        PGHA_BENCH_BUILD_TYPE, opt.runs, opt.min_time);
    BenchSlots(opt);
    BenchLsn(opt);
    BenchCrc(opt);
  }
  if (!opt.segments.empty()) BenchWalScan(opt);
  return 0;
}

}  // namespace
}  // namespace pgha::bench

int main(int argc, char** argv) {
  try {
    return pgha::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgha_bench_core: %s\n", e.what());
    return 1;
  }
}
