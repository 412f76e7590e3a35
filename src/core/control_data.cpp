#include "pgha/control_data.hpp"
