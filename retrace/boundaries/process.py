"""(to be written)"""

from retrace.boundaries.spec import Family

FAMILY = Family(name="process")
