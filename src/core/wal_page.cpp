#include "pgha/wal_page.hpp"
