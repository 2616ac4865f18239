"""`ray start ...` for the tests' clusters, all on 127.0.0.1: run as
`python tests/ray_node.py start --address 127.0.0.1:PORT ...`.

Ray keeps nodes on 127.0.0.1 only in its single-machine mode
(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0); outside it, `ray start` rewrites 127.0.0.1 to
the machine's outward address. In that mode its command line refuses to add a second
node (a rule for Windows and macOS). This lifts that one refusal and keeps the
single-machine address; the rest is `ray start` as a user runs it.
"""

import sys

from ray._private import ray_constants, services
from ray.scripts.scripts import main

ray_constants.ENABLE_RAY_CLUSTER = True  # the refusal's only condition
services.node_ip_address_from_perspective = lambda address=None: services.get_localhost_ip()

if __name__ == "__main__":
    sys.argv[0] = "ray"
    sys.exit(main())
