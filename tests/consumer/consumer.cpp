#include <iostream>

#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"

int main() {
  pgha::Lsn lsn = pgha::Lsn::Parse("0/7041f58");
  std::cout << pgha::WalSegmentFileName(1, lsn) << " " << lsn.ToString() << "\n";
  return 0;
}
