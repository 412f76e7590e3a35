#include "pgha/wal_scan.hpp"
