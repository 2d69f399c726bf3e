#include "model/network_config.hpp"
