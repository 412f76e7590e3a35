// pghactl: the command-line front of the pgha library.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "inspect.hpp"
#include "pgha/error.hpp"
#include "pgha/version.hpp"

namespace {

constexpr const char* kUsage =
    "usage: pghactl inspect PATH   describe a slot state file, timeline history file,\n"
    "                              WAL segment or pg_controldata output as JSON\n"
    "                              (PATH '-' reads pg_controldata output from stdin)\n"
    "       pghactl --version\n";

std::vector<std::uint8_t> ReadAll(const std::string& path) {
  if (path == "-") {
    return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw pgha::Error(pgha::ErrorCode::kNotFound, "cannot open \"" + path + "\"");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int Inspect(int argc, char** argv) {
  if (argc != 3) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string path = argv[2];
  std::cout << pgha::cli::Inspect(path, ReadAll(path)).dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "inspect") return Inspect(argc, argv);
    if (cmd == "--version") {
      std::cout << "pghactl " << pgha::kVersion << "\n";
      return 0;
    }
    std::fputs(kUsage, stderr);
    return 2;
  } catch (const pgha::Error& e) {
    std::cerr << "pghactl: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "pghactl: internal error: " << e.what() << "\n";
    return 1;
  }
}
