#include "model/lease.hpp"
