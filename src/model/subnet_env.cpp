#include "model/subnet_env.hpp"
