// WAL catalogue benchmark: cold and warm listing with MD5 of N segment-sized files, next to
// md5sum over the same files in the same run (docs/benchmarks.md).
//
//   pgha_bench_catalog [--segments N] [--runs N] [--dir PARENT]
//
// The files are 16 MiB of pseudo-random bytes named like segments 1..N of timeline 1 (MD5 does
// not care whether they are real WAL). They are dated an hour back, as settled WAL is: the
// catalogue does not cache the MD5 of a file modified in the last seconds. Every figure is
// taken with the files in the page cache: "cold" means the catalogue's MD5 cache is empty (a
// new WalCatalog), "warm" a second listing by the same catalogue with nothing changed.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "md5.hpp"
#include "pgha/wal_catalog.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kSegmentSize = 16u << 20;

struct Options {
  int segments = 64;
  int runs = 5;
  std::string parent = "/tmp";  // the files go to a new directory in it, removed at the end
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "catalog_bench: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<std::string> MakeFiles(const std::string& dir, int segments) {
  std::vector<std::string> paths;
  std::vector<std::uint64_t> words(kSegmentSize / 8);
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int s = 1; s <= segments; ++s) {
    for (std::uint64_t& w : words) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w = x;
    }
    std::string name = pgha::WalSegmentFileName(
        1, pgha::SegmentStart(static_cast<std::uint64_t>(s), kSegmentSize), kSegmentSize);
    paths.push_back(dir + "/" + name);
    FILE* f = std::fopen(paths.back().c_str(), "wb");
    if (f == nullptr || std::fwrite(words.data(), 8, words.size(), f) != words.size() ||
        std::fclose(f) != 0) {
      Die("cannot write " + paths.back());
    }
    timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= 3600;
    times[1] = times[0];
    ::utimensat(AT_FDCWD, paths.back().c_str(), times, 0);
  }
  return paths;
}

// Runs md5sum over `paths`; returns its wall time and fills name -> md5.
double RunMd5sum(const std::vector<std::string>& paths, std::map<std::string, std::string>* sums) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) Die("pipe failed");
  std::vector<char*> argv;
  std::string program = "md5sum";
  argv.push_back(program.data());
  std::vector<std::string> args = paths;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipefd[0]);
  const Clock::time_point t0 = Clock::now();
  pid_t pid = 0;
  if (::posix_spawnp(&pid, "md5sum", &actions, nullptr, argv.data(), environ) != 0) {
    Die("cannot run md5sum");
  }
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double elapsed = Seconds(t0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("md5sum failed");
  for (std::size_t at = 0; at < out.size();) {
    std::size_t eol = out.find('\n', at);
    std::string line = out.substr(at, eol - at);
    (*sums)[line.substr(line.find_last_of('/') + 1)] = line.substr(0, 32);
    at = eol == std::string::npos ? out.size() : eol + 1;
  }
  return elapsed;
}

// One thread hashing every file in turn: OpenSSL's MD5 speed on one core, for reference.
double RunOneThread(const std::vector<std::string>& paths) {
  const Clock::time_point t0 = Clock::now();
  for (const std::string& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY);
    pgha::Md5File(fd, p);
    ::close(fd);
  }
  return Seconds(t0);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Die("usage: pgha_bench_catalog [--segments N] [--runs N] [--dir PARENT]");
    if (a == "--segments") {
      o.segments = std::atoi(argv[++i]);
    } else if (a == "--runs") {
      o.runs = std::atoi(argv[++i]);
    } else if (a == "--dir") {
      o.parent = argv[++i];
    } else {
      Die("unknown option " + a);
    }
  }
  if (o.segments < 1 || o.segments > 1024 || o.runs < 1 || o.runs > 100) Die("bad numbers");
  return o;
}

struct Timings {
  std::vector<double> md5sum, cold, warm, one;
  bool agree = true;  // MD5s equal md5sum's, each file hashed once per catalogue
};

Timings RunAll(const std::string& dir, const std::vector<std::string>& paths,
               const pgha::WalPosition& end, int runs) {
  Timings t;
  for (int r = 0; r < runs; ++r) {  // interleaved: a slow moment hits every tool alike
    std::map<std::string, std::string> sums;
    t.md5sum.push_back(RunMd5sum(paths, &sums));
    pgha::WalCatalog catalog(dir, kSegmentSize);
    Clock::time_point t0 = Clock::now();
    std::vector<pgha::WalFileInfo> cold = catalog.List(end);
    t.cold.push_back(Seconds(t0));
    t0 = Clock::now();
    std::vector<pgha::WalFileInfo> warm = catalog.List(end);
    t.warm.push_back(Seconds(t0));
    t.one.push_back(RunOneThread(paths));
    t.agree = t.agree && cold.size() == paths.size() && catalog.HashesComputed() == paths.size();
    for (const pgha::WalFileInfo& f : warm) t.agree = t.agree && sums[f.name] == f.md5;
  }
  return t;
}

void Report(const Options& o, const std::string& dir, double bytes, const Timings& t) {
  const double md5sum = Median(t.md5sum), cold = Median(t.cold), warm = Median(t.warm);
  std::printf(
      "WAL catalogue listing with MD5: %d files of 16 MiB (%.0f MB) in %s, %u CPUs,\n"
      "  page cache warm; median of %d interleaved runs (1 MB = 10^6 bytes)\n",
      o.segments, bytes / 1e6, dir.c_str(), std::thread::hardware_concurrency(), o.runs);
  std::printf("  MD5s of the catalogue equal md5sum's, each file hashed once per catalogue: %s\n",
              t.agree ? "yes" : "NO");
  std::printf("%-52s %9s %9s %8s\n", "", "seconds", "MB/s", "vs md5sum");
  auto row = [&](const char* name, double s) {
    std::printf("%-52s %9.4f %9.1f %8.2fx\n", name, s, bytes / s / 1e6, md5sum / s);
  };
  row("md5sum (one process, one core)", md5sum);
  row("OpenSSL MD5, one thread (pgha's Md5File in turn)", Median(t.one));
  row("cold listing: new WalCatalog, parallel hashing", cold);
  std::printf("%-52s %9.4f %9s %8s\n", "warm listing: same catalogue, nothing changed", warm, "-",
              "-");
  std::printf("target: cold listing >= 1.8x md5sum's throughput: %s (%.2fx)\n",
              md5sum / cold >= 1.8 ? "PASS" : "MISS", md5sum / cold);
  std::printf("target: warm listing of %d unchanged segments within 5 ms: %s (%.3f ms)\n",
              o.segments, warm <= 0.005 ? "PASS" : "MISS", warm * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  std::string tmpl = o.parent + "/pgha-catalog-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp failed in " + o.parent);
  const std::string dir = tmpl;
  const std::vector<std::string> paths = MakeFiles(dir, o.segments);
  RunOneThread(paths);  // into the page cache
  const double bytes = static_cast<double>(paths.size()) * kSegmentSize;
  const pgha::WalPosition end{
      pgha::TimelineHistory(1),
      pgha::SegmentStart(static_cast<std::uint64_t>(o.segments), kSegmentSize).Plus(100)};

  const Timings t = RunAll(dir, paths, end, o.runs);
  Report(o, dir, bytes, t);
  std::filesystem::remove_all(dir);
  return t.agree ? 0 : 1;
}
