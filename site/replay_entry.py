"""What a replaying interpreter runs for a recorded script or ``-c`` program:
``python THIS_FILE --recording DIR`` (``python -m retrace --recording DIR`` for a
recorded ``-m`` module or directory).

Both run retrace/__main__.py's ``main``; they differ in the frames they leave below
the program. A stack walk (``inspect.stack()``: coverage, a CLI finding its caller)
must meet what the recording had: for ``python script.py`` nothing below the script,
for ``python -m module`` runpy's two frames. This file is in the installation, whose
files a walk may look at without any recorded call (``<frozen runpy>`` costs an
``os.getcwd()`` each time its path is made absolute).
"""

import sys

from retrace.__main__ import main

sys.exit(main(sys.argv[1:]))
