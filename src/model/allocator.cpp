#include "model/allocator.hpp"
