"""A stand-in Yosys for the silent-failure tests: it stops like a Yosys whose ABC9 dies without a word.

``FAKE_YOSYS_MODE`` chooses the behaviour, ``FAKE_YOSYS_REAL`` names the real
Yosys it delegates to:

* ``abc9-dies``: ``help synth_xilinx`` answers like a Yosys whose only LUT
  mapper is ABC9; a script that runs synth_xilinx's default LUT mapping
  writes a log that ends inside ABC9 and exits with 0; a script that maps
  LUTs itself (``-run :map_luts``), generic scripts and everything else go
  to the real Yosys.
* ``always-dies``: every script stops like that, whatever it contains.
* ``hang``: every script sleeps for a minute (for the timeout).
"""

import os
import subprocess
import sys
import time

_TRUNCATED_LOG = """
 Yosys 0.99 (fake)

1. Executing Verilog-2005 frontend.

2. Executing SYNTH_XILINX pass.

2.40. Executing ABC9 pass.

2.40.14.5. Executing ABC9.
"""


def main(argv: list[str]) -> int:
    mode = os.environ["FAKE_YOSYS_MODE"]
    real = os.environ["FAKE_YOSYS_REAL"]
    if argv[:3] == ["-Q", "-p", "help synth_xilinx"]:
        print("    synth_xilinx [options]\n\n    -family <family>\n\n    -nodsp\n")
        return 0
    if "-s" in argv and mode == "hang":
        time.sleep(60)
    if "-s" in argv and "-l" in argv:
        with open(argv[argv.index("-s") + 1]) as f:
            script = f.read()
        default_abc9 = "synth_xilinx" in script and "-run :map_luts" not in script
        if mode == "always-dies" or default_abc9:
            with open(argv[argv.index("-l") + 1], "w") as log:
                log.write(_TRUNCATED_LOG)
            return 0
    return subprocess.run([real, *argv]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
