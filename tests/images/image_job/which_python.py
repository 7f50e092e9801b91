"""Reports the interpreter and packages it runs with (standard library only)."""

import json
import os
import sys

info = {"executable": sys.executable, "prefix": sys.prefix, "base_prefix": sys.base_prefix}
try:
    import six

    info["six"] = six.__version__
    info["six_file"] = six.__file__
except ImportError:
    info["six"] = None
print("IMAGE-INFO " + json.dumps(info), flush=True)
with open(os.path.join(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], "info.json"), "w") as out:
    json.dump(info, out)
