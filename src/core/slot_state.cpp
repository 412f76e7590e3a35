#include "pgha/slot_state.hpp"
