#include "pgha/timeline.hpp"
