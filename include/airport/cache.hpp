// airport-cache: the umbrella header. Includes every public header, nothing else.
#pragma once

#include "airport/cache/backoff.hpp"
#include "airport/cache/client.hpp"
#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/health.hpp"
#include "airport/cache/keys.hpp"
#include "airport/cache/logging.hpp"
#include "airport/cache/observer.hpp"
#include "airport/cache/pipeline.hpp"
#include "airport/cache/reply.hpp"
#include "airport/cache/script.hpp"
#include "airport/cache/subscriber.hpp"
#include "airport/cache/ttl.hpp"
#include "airport/cache/valkey_client.hpp"
#include "airport/cache/version.hpp"
