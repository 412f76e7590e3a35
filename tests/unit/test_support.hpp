// Helpers shared by the unit tests: fixture paths and file reading.
#ifndef PGHA_TESTS_TEST_SUPPORT_HPP
#define PGHA_TESTS_TEST_SUPPORT_HPP

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pgha::test {

/// `relative` under the fixtures ($PGHA_FIXTURES_DIR, else the configured one: tests/fixtures).
std::string FixturePath(const std::string& relative);
/// The whole file as bytes / text; fails the test (throws) when it cannot be read.
std::vector<std::uint8_t> ReadBytes(const std::string& path);
std::string ReadText(const std::string& path);
/// Files of `dir` whose names end with `suffix`, sorted.
std::vector<std::string> ListFiles(const std::string& dir, const std::string& suffix);
/// A tab-separated file with a header line: one map per row, keyed by column name.
std::vector<std::map<std::string, std::string>> ReadTsv(const std::string& path);

}  // namespace pgha::test

#endif  // PGHA_TESTS_TEST_SUPPORT_HPP
