"""Stage 4, store: results written down where nbgrader and instructors expect them.

- :mod:`.records` -- the gradebook, ``autograded/`` and a record per submission;
- :mod:`.gradebook` -- opening nbgrader's gradebook, one clear message when damaged;
- :mod:`.backup`, :mod:`.lock`, :mod:`.atomic` -- never losing a grade;
- :mod:`.results` -- reading scores back, per student and per unit.
"""
